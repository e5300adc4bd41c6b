"""``spbe-share preflight``, ``install``, ``status``: thin wrappers over :mod:`spbe_share.ops`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from ..outside import terminal_text
from .output import emit_json, info, json_option, table


class _Progress:
    """Task-by-task progress on stderr.

    On a terminal (without ``-v``): one status line rewritten in place, a step counter and the
    task running now; a failed or unreachable task stays printed; the line is cleared when the
    playbook ends. In a pipe, or with ``-v``: one line per task with its outcome per host. Every
    task's full output is in the run's log folder either way (its path is printed at the end).
    """

    def __init__(self, quiet: bool, *, verbose: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.current: str | None = None
        self.stream = stream if stream is not None else sys.stderr
        self.live = not quiet and not verbose and self.stream.isatty()
        self.steps = 0
        self.shown = False  # the status line is on screen

    def _status(self, text: str) -> None:
        # our own terminal controls: carriage return, erase the line; the task name is text
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self.shown = bool(text)

    def __call__(self, event: Any) -> None:
        if self.quiet:
            return
        if event.kind == "done":
            if self.shown:
                self._status("")
            return
        if event.kind == "task":
            self.current = event.task
            if self.live:
                self.steps += 1
                width = max(shutil.get_terminal_size().columns - 1, 20)
                self._status(terminal_text(f"  [{self.steps:>3}] {event.task}", one_line=True)[:width])
            return
        if self.live and event.outcome not in ("failed", "unreachable"):
            return
        mark = {"ok": "ok", "changed": "changed", "failed": "FAILED", "skipped": "skip",
                "unreachable": "UNREACHABLE"}.get(event.outcome or "", event.outcome or "")
        line = f"  [{mark:>7}] {event.task}"
        if event.message and event.outcome in ("failed", "unreachable"):
            line += f": {event.message.splitlines()[0][:200]}"
        if self.shown:
            self._status("")
        click.echo(line, file=self.stream)


def _checks_table(report: Any) -> None:
    def status(c: Any) -> str:
        return ("WARN" if c.warn else "ok") if c.ok else "FAIL"

    title = f"preflight {report.app} on {report.target}"
    if any(c.host for c in report.checks):  # a data center with several hosts
        by_host = [(c.host, c.check, c.required, c.found, status(c)) for c in report.checks]
        table(["host", "check", "required", "found", "ok"], by_host, title=title)
        return
    rows = [(c.check, c.required, c.found, status(c)) for c in report.checks]
    table(["check", "required", "found", "ok"], rows, title=title)


@click.command("preflight")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name (see `spbe-share target list`), or 'local'.")
@json_option
@click.pass_obj
def preflight(ws: Any, app: str, target: str, as_json: bool) -> None:
    """Check a target against APP's requirements (CPU, memory, disk, OS, ports, Docker).

    Read-only: nothing changes on the target. Exit 5 when a check fails.
    """
    from ..ops.context import OpContext
    from ..ops.preflight import preflight as do_preflight
    from ..ops.preflight import require_ok
    from ..remote.interrupts import interrupts

    ctx = OpContext.create(ws, say=info, progress=_Progress(quiet=as_json))
    with interrupts(ctx.cancel):
        report = do_preflight(ctx, app=app, target_name=target)
    if as_json:
        emit_json(report.as_dict())
    else:
        _checks_table(report)
    require_ok(report)


@click.command("install")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name, or 'local' (this machine).")
@click.option("--version", "version", default=None, help="Release to install (default: the newest).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="A setting of the app (repeatable).")
@click.option("--values", "values_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of settings (NAME: value); --set wins over it.")
@click.option("--bundle", "bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="Signed bundle to install (default: the cached one, else built now).")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@click.option("--reset-data", is_flag=True,
              help="Data found without its secrets (a wiped root) is archived on the target, then removed, and the"
              " app starts empty. Asks on a terminal.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before breaking a lock or resetting data.")
@click.option("--verbose", "-v", is_flag=True, help="List every step with its outcome, one line each (default on a"
              " terminal: one progress line).")
@click.option("--self-signed-i-know-this-skips-the-donor-signature", "allow_self_signed", is_flag=True,
              help="Without --bundle, into an adopter's data center: install a bundle built and signed on this"
              " machine from the catalog. Nothing then proves the donor made it. Audited.")
@click.option("--domain", "domain", default=None, metavar="NAME",
              help="The Pemda's registered domain (ppdb.example.go.id): a TLS proxy (nginx) serves the app on 443"
              " of the target's public address, 80 redirects; the app's own ports stay on loopback.")
@click.option("--tls-cert", "tls_cert", type=click.Path(dir_okay=False, path_type=Path),
              help="The domain's certificate chain (PEM, e.g. fullchain.pem); without it and --tls-key, the Pemda's"
              " internal CA (in this workspace) issues one.")
@click.option("--tls-key", "tls_key", type=click.Path(dir_okay=False, path_type=Path),
              help="The certificate's private key (PEM, e.g. privkey.pem): a secret, stored 0600 on the target.")
@json_option
@click.pass_obj
def install(
    ws: Any,
    app: str,
    target: str,
    version: str | None,
    sets: tuple[str, ...],
    values_file: Path | None,
    bundle: Path | None,
    break_lock: bool,
    reset_data: bool,
    yes: bool,
    verbose: bool,
    allow_self_signed: bool,
    domain: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    as_json: bool,
) -> None:
    """Install APP into a target's data center over SSH (or on this machine: --target local).

    Checks first, changes nothing until all pass: host key, agreement (MoU/PKS), values,
    bundle signature, signer trusted for the bundle's donor (= the agreement's donor),
    preflight, lock. Running it again changes nothing and says so.
    """
    from ..ops.context import OpContext
    from ..ops.install import install as do_install
    from ..remote.interrupts import interrupts

    if break_lock and not yes and sys.stdin.isatty():
        click.confirm(f"Break the lock of {app} on {target}? Only if its holder is really gone", abort=True)
    if reset_data and not yes:
        from ..errors import InvalidInput

        if not sys.stdin.isatty():
            raise InvalidInput("install --reset-data: not on a terminal, so nobody can confirm; give --yes")
        click.confirm(f"If {app} on {target} has data without its secrets, archive it on the target and start"
                      " empty?", abort=True)
    ctx = OpContext.create(ws, say=info, progress=_Progress(quiet=as_json, verbose=verbose))
    with interrupts(ctx.cancel):
        result = do_install(
            ctx,
            app=app,
            target_name=target,
            version=version,
            sets=sets,
            values_file=values_file,
            bundle=bundle,
            break_lock=break_lock,
            allow_self_signed=allow_self_signed,
            reset_data=reset_data,
            domain=domain,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    if as_json:
        emit_json(result.as_dict())
        return
    if not result.changed and not result.new_release:
        click.echo(f"already installed: {result.app} {result.version} on {result.target}, nothing changed")
    else:
        mb = result.bytes_sent / 1e6
        click.echo(
            f"installed: {result.app} {result.version} on {result.target}"
            f" (sent {result.blobs_sent}/{result.blobs_total} blobs, {mb:.1f} MB, {result.seconds:.0f}s)"
        )
    for url in result.urls:
        click.echo(f"  {url}")
    if result.login is not None:
        show_login(result.login)
    info(f"log: {result.run_dir}")


def show_login(hint: Any) -> None:
    """How to log in first (never the password), then the donor's post-install message (outside
    text: printed as plain text, control characters dropped, never translated or formatted)."""
    import shlex

    from .. import i18n
    from .lang import raw_echo

    if hint.user is not None:
        if hint.login_urls:
            click.echo(f"first login: user {hint.user} at {hint.login_urls[0]}")
        else:
            click.echo(f"first login: user {hint.user}")
        click.echo(f"  its first password (on a terminal, audited): {shlex.join(hint.command)}")
        click.echo(f"  or sealed to an officer's age key: {shlex.join(hint.command)} --seal-to OFFICER.pub")
    message = hint.message_in(i18n.active())
    if message:
        raw_echo("")
        raw_echo(message)


@click.command("status")
@click.option("--target", "-t", "target", default=None, help="Only this target (default: every target).")
@json_option
@click.pass_obj
def status(ws: Any, target: str | None, as_json: bool) -> None:
    """Which apps and versions run where, and their health (read from the targets).

    Exit 6 when a target's host key does not match the pinned one (that target is not
    contacted; its row says so).
    """
    from ..errors import HostKeyMismatch
    from ..ops.status import collect_status, host_key_mismatches

    rows = collect_status(ws, target_name=target)
    if as_json:
        emit_json([r.as_dict() for r in rows])
    else:
        table(
            ["app", "version", "target", "pemda", "health", "since", "url", "tls expires", "watch",
             "initial password"],
            [(r.app, r.version, r.target, r.pemda, r.health, r.since, " ".join(r.urls), r.tls_expires or "-", r.watch,
              r.first_login) for r in rows],
        )
        for r in rows:
            if r.tls_warning:
                info(f"warning: {r.app} on {r.target}: {r.tls_warning}")
            for message in r.warnings:
                info(f"warning: {r.target}/{r.app}: {message}")
    bad = host_key_mismatches(rows)
    if bad:
        names = sorted({r.target for r in bad})
        raise HostKeyMismatch(
            f"host key mismatch on target(s) {', '.join(names)}: not contacted",
            details=sorted({r.detail for r in bad}),
        )
