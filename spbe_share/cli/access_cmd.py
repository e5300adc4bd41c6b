"""``spbe-share credentials`` and ``logs``: the first login and the containers' logs of an
installed app, read over SSH (thin wrappers over :mod:`spbe_share.ops.credentials` and
:mod:`spbe_share.ops.logs`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import InvalidInput
from .lang import raw_echo
from .output import info

TARGET_HELP = "Target name (see `spbe-share target list`), or 'local'."


def _ctx(ws: Any) -> Any:
    from ..ops.context import OpContext

    return OpContext.create(ws, say=info)


@click.command("credentials")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--seal-to", "seal_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE.pub", help="Seal them to this age public key (a named officer's) instead of showing them.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --seal-to: the sealed file to write (new; default ./APP-TARGET-credentials.age).")
@click.pass_obj
def credentials(ws: Any, app: str, target: str, seal_to: Path | None, out: Path | None) -> None:
    """The first-admin credentials of APP on a target (the entry's first_login), read over SSH.

    Shown only on a terminal, after you confirm; never into a pipe or a file. With --seal-to
    they are sealed to an officer's age public key and written to a file instead (open it with
    `age -d -i KEY FILE`). Either way the audit log records who revealed them, where and how,
    never the value.
    """
    from ..ops.credentials import reveal
    from ..outside import terminal_text

    if seal_to is None:
        if out is not None:
            raise InvalidInput("--out is only used with --seal-to")
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise InvalidInput("credentials: not on a terminal; the password is shown only on one."
                               " Use --seal-to FILE.pub to seal it to an officer's age key instead")
        click.confirm(f"Show the first password of {app} on {target} on this screen? The audit log records it",
                      abort=True)
        creds = reveal(_ctx(ws), app=app, target_name=target)
        click.echo(f"user:     {creds.hint.user}")
        click.echo(f"password: {terminal_text(creds.password, one_line=True)}")
        for url in creds.hint.login_urls:
            click.echo(f"login:    {url}")
        click.echo("Change it at the first login.")
        return
    out = out or Path(f"{app}-{target}-credentials.age")
    creds = reveal(_ctx(ws), app=app, target_name=target, seal_to=seal_to, out=out)
    click.echo(f"sealed: the first password of user {creds.hint.user} ({app} on {target}) to {creds.sealed_to}")
    click.echo(f"  written to {creds.sealed_file}; the officer opens it with: age -d -i KEY {creds.sealed_file}")


@click.command("logs")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--component", "-c", "component", default=None, help="Only this component (e.g. web, db).")
@click.option("--since", "since", default=None, metavar="WHEN",
              help="Only lines since: a duration (30m, 1h, 2d) or a date (2026-12-01, 2026-12-01T08:00:00Z).")
@click.option("--lines", "-n", "tail", type=int, default=200, show_default=True,
              help="The last N lines of each component (at most 10000).")
@click.option("--grep", "grep", default=None, metavar="TEXT",
              help="Only lines containing TEXT (case-insensitive; matched after secrets are redacted).")
@click.option("--follow", "-f", is_flag=True, help="Keep showing new lines as they come (Ctrl-C ends).")
@click.pass_obj
def logs(ws: Any, app: str, target: str, component: str | None, since: str | None, tail: int, grep: str | None,
         follow: bool) -> None:
    """The containers' logs of APP on a target, read over SSH.

    Every secret value of the deployment is replaced by [secret NAME] on the target, before
    anything leaves it. Lines are cut at 2000 characters; without --follow at most 16 MB come.
    """
    from ..ops.logs import log_request
    from ..ops.logs import logs as do_logs
    from ..outside import terminal_text

    request = log_request(component=component, since=since, tail=tail, grep=grep, follow=follow)

    def show(comp: str, line: str) -> None:
        raw_echo(f"{terminal_text(comp, one_line=True)} | {terminal_text(line, one_line=True)}")

    count = do_logs(_ctx(ws), app=app, target_name=target, request=request, on_line=show)
    if not count and grep:
        info(f"no log line of {app} on {target} contains the text given")
    elif not count:
        info(f"no log lines of {app} on {target}")
