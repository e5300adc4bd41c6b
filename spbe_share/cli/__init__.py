"""The ``spbe-share`` command line. Only this package imports click.

Sub-command modules are imported lazily, so ``spbe-share --help`` does not pay for
ansible-runner, docker or git. Every :class:`~spbe_share.errors.SpbeError` becomes one
line on stderr and its exit code here, in :func:`main`, and nowhere else.

May import: every layer below it (the contract: ``tests/unit/test_layers.py``). Imported by:
``spbe_share.__main__`` and the developer's message-catalog tool.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from .. import __version__, i18n
from ..errors import Cancelled, ExitCode, SpbeError
from . import lang as cli_i18n

# name -> (module, attribute, short help). Help text lives here so --help imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "catalog": ("catalog_cmd", "catalog", "Browse, search, validate and source the app catalog."),
    "publiccode": ("publiccode_cmd", "publiccode", "Validate publiccode.yml files offline."),
    "app": ("app_cmd", "app", "Build an app's images from shared_apps/ (donor)."),
    "keys": ("keys_cmd", "keys", "Manage the donor's Ed25519 signing keys."),
    "bundle": ("bundle_cmd", "bundle", "Build and verify signed app bundles."),
    "publish": ("publish_cmd", "publish", "Validate, build, bundle, sign and record a release."),
    "target": ("target_cmd", "target", "Manage Pemda data centers (Ansible inventory), provision them."),
    "provision-bundle": ("provision_cmd", "provision_bundle", "Build and verify offline provision bundles (.deb)."),
    "mou": ("mou_cmd", "mou", "Record MoU/PKS agreements between donor and adopter."),
    "preflight": ("deploy_cmd", "preflight", "Check a target against an app's requirements."),
    "install": ("deploy_cmd", "install", "Install an app into a target's data center."),
    "status": ("deploy_cmd", "status", "Which apps and versions run where, and their health."),
    "upgrade": ("day2_cmd", "upgrade", "Upgrade an app on a target, data-safe (automatic rollback)."),
    "rollback": ("day2_cmd", "rollback", "Bring the previous release of an app back, with its data."),
    "credentials": ("access_cmd", "credentials", "Show an app's first-admin credentials (terminal, audited) or seal them."),
    "logs": ("access_cmd", "logs", "Show an app's container logs from a target, secrets redacted."),
    "history": ("day2_cmd", "history", "Every install/upgrade/rollback attempt of an app, from the target."),
    "unlock": ("day2_cmd", "unlock", "Break an app's lock whose holder is gone (audited)."),
    "site": ("site_cmd", "site", "Build and preview the static web catalog."),
    "backup": ("ops_cmd", "backup", "Back up an app now (verified), list, fetch and schedule backups."),
    "restore": ("ops_cmd", "restore", "Put a backup back (in place, or onto a new server with its secrets)."),
    "secrets": ("ops_cmd", "secrets_group", "Rotate a secret the app allows; your sealing and recovery keys."),
    "tls": ("tls_cmd", "tls", "The TLS certificate of an app on the Pemda's domain (tls set)."),
    "uninstall": ("ops_cmd", "uninstall", "Remove an app from a target (data stays unless --delete-data)."),
    "prune": ("ops_cmd", "prune", "Give back the disk of an app's old releases on a target (keeps the newest)."),
    "regulation": ("regulation_cmd", "regulation", "Regulations named by catalog releases (list, show)."),
    "fleet": ("fleet_cmd", "fleet", "Many targets at once: fleet status, fleet upgrade."),
    "plan": ("plan_cmd", "plan", "Who must upgrade for a regulation or version, what each ships (read-only)."),
    "vulndb": ("vuln_cmd", "vulndb", "Import OSV vulnerability exports for offline matching."),
    "audit": ("vuln_cmd", "audit", "Which Pemda run a release with a known flaw (SBOMs x OSV, advisories)."),
    "report": ("report_cmd", "report", "Evidence reports (SPBE evaluation) from what spbe-share knows."),
    "config": ("settings_cmd", "config", "Read and change an installed app's settings (health-gated, rolled back)."),
    "support-bundle": ("support_cmd", "support_bundle", "Collect, redact and seal what the donor needs to help."),
    "watch": ("watch_cmd", "watch", "The scheduled check of a target between commands, and its alerts."),
}


class LazyGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # before click parses anything: `--help` and click's errors already speak the language
        option = cli_i18n.lang_from_args(args, list(COMMANDS))
        # an invalid --lang is reported by click, in the environment's language
        i18n.activate(i18n.choose_language(option if option in i18n.LANGUAGES else None))
        cli_i18n.install_hooks()
        cli_i18n.translate_command(self, recurse=False)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(f"{__name__}.{spec[0]}")
        cmd: click.Command = getattr(module, spec[1])
        cli_i18n.translate_command(cmd)
        return cmd

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the table is ExitCode itself (names are tokens scripts match); only the heading is words
        self.epilog = i18n.gettext("Exit codes:") + "\n\n\b\n" + EXIT_CODES_HELP
        super().format_epilog(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, i18n.gettext(COMMANDS[name][2])) for name in sorted(COMMANDS)]
        with formatter.section(i18n.gettext("Commands")):
            formatter.write_dl(rows)


EXIT_CODES_HELP = "\n".join(f"  {c.value:>2}  {c.name.lower()}" for c in ExitCode)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="SPBE_SHARE_HOME",
    help="Operator workspace (targets, agreements, keys, logs). Default: $SPBE_SHARE_HOME "
    "or ~/.local/share/spbe-share.",
)
@click.option(
    "--lang",
    type=click.Choice(i18n.LANGUAGES),
    expose_value=False,
    is_eager=True,
    help="Language of messages: id (Bahasa Indonesia) or en. Default: from LC_ALL, "
    "LC_MESSAGES or LANG (id_ID* = id), else en.",
)
@click.version_option(__version__, prog_name="spbe-share")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """spbe-share: share and adopt government applications between Pemda (SPBE)."""
    from ..workspace import Workspace

    ctx.obj = Workspace.from_options(workspace)


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="spbe-share", standalone_mode=False)
    except SpbeError as exc:
        prefix = i18n.gettext("cancelled" if isinstance(exc, Cancelled) else "error")
        cli_i18n.raw_echo(f"{prefix}: {i18n.translate(exc.message)}", err=True)
        for line in exc.details:
            cli_i18n.raw_echo(i18n.translate(line), err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo(i18n.gettext("aborted"), err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.message = i18n.translate(exc.message)
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo(i18n.gettext("interrupted"), err=True)
        sys.exit(130)
