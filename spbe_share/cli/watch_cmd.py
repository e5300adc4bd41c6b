"""``spbe-share watch enable|off|run --target T``: a thin wrapper over :mod:`spbe_share.ops.watch`."""

from __future__ import annotations

from typing import Any

import click

from ..outside import terminal_text
from .ops_cmd import TARGET_HELP, _ctx
from .output import emit_json, info, json_option


@click.group("watch")
def watch() -> None:
    """The scheduled check of a target: health, disk, backups, restarts, certificates; alerts.

    \b
    Settings (alert channels, thresholds, interval): <workspace>/watch.yml
      spbe-share watch enable --target T [--kind cron|systemd]
      spbe-share watch run --target T
      spbe-share watch off --target T
    """


def _show(r: Any) -> None:
    for path in r.written:
        click.echo(f"wrote {path}")
    for path in r.removed:
        click.echo(f"removed {path}")
    if r.mode == "enable" and not r.channels:
        info("no alert channel in watch.yml: warnings show in status and fleet status only")
    if r.view is None:
        return
    click.echo(f"checked {r.target}: {len(r.view.warnings)} warning(s)")
    for w in r.view.warnings:
        click.echo(f"  warning: {terminal_text(w.message, one_line=True)}")
    for e in r.view.alert_errors:
        click.echo(f"  alert not sent: {terminal_text(e, one_line=True)}")


def _run(ws: Any, target: str, mode: str, as_json: bool, kind: str = "cron") -> None:
    from ..ops.watch import watch as run_watch
    from ..remote.interrupts import interrupts

    ctx = _ctx(ws, as_json)
    with interrupts(ctx.cancel):
        r = run_watch(ctx, target_name=target, mode=mode, kind=kind)  # type: ignore[arg-type]
    if as_json:
        emit_json(r.as_dict())
    else:
        _show(r)


@watch.command("enable")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--kind", type=click.Choice(["cron", "systemd"]), default="cron", show_default=True)
@json_option
@click.pass_obj
def watch_enable(ws: Any, target: str, kind: str, as_json: bool) -> None:
    """Install the check on a target, schedule it (watch.yml's interval) and run it once."""
    _run(ws, target, "enable", as_json, kind)


@watch.command("run")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@json_option
@click.pass_obj
def watch_run(ws: Any, target: str, as_json: bool) -> None:
    """Run the installed check on a target now (alerts as a scheduled run would)."""
    _run(ws, target, "run", as_json)


@watch.command("off")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@json_option
@click.pass_obj
def watch_off(ws: Any, target: str, as_json: bool) -> None:
    """Remove the check's schedule from a target (its last record stays, and shows as stale)."""
    _run(ws, target, "off", as_json)
