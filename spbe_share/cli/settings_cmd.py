"""``spbe-share config get|set``: the settings of an installed app (thin wrappers over
:mod:`spbe_share.ops.settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .deploy_cmd import _Progress
from .output import emit_json, info, json_option, table

TARGET_HELP = "Target name."


@click.group("config")
def config() -> None:
    """Read and change the settings of an installed app (no upgrade needed).

    \b
      spbe-share config get APP --target T
      spbe-share config set APP --target T NAME=VALUE [NAME=VALUE ...]
    """


@config.command("get")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@json_option
@click.pass_obj
def config_get(ws: Any, app: str, target: str, as_json: bool) -> None:
    """Show every setting of APP on the target: its value, default, and whether it may change."""
    from ..ops.context import OpContext
    from ..ops.settings import config_get as do_get
    from ..remote.interrupts import interrupts

    ctx = OpContext.create(ws, say=info)
    with interrupts(ctx.cancel):
        view = do_get(ctx, app=app, target_name=target)
    if as_json:
        emit_json(view.as_dict())
        return
    table(["setting", "value", "default", "changes", "description"],
          [(r.name, r.value, r.default, "no (fixed at install)" if r.immutable else "config set", r.description)
           for r in view.rows],
          title=f"settings of {view.app} {view.version} on {view.target}")


@config.command("set")
@click.argument("app")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--bundle", "bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="The signed bundle of the serving release, when this workspace does not hold it.")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@json_option
@click.pass_obj
def config_set(ws: Any, app: str, assignments: tuple[str, ...], target: str, bundle: Path | None, break_lock: bool,
               as_json: bool) -> None:
    """Change settings of APP on the target: its config is rendered again, only the components
    using it restart, health decides; on failure the old settings come back by themselves
    (exit 13). Unknown settings, invalid values and settings fixed at install are refused
    before anything changes (exit 2)."""
    from ..ops.context import OpContext
    from ..ops.settings import config_set as do_set
    from ..remote.interrupts import interrupts

    ctx = OpContext.create(ws, say=info, progress=_Progress(quiet=as_json))
    with interrupts(ctx.cancel):
        r = do_set(ctx, app=app, target_name=target, sets=assignments, bundle=bundle, break_lock=break_lock)
    if as_json:
        emit_json(r.as_dict())
        return
    if not r.changed:
        click.echo(f"{r.app} on {r.target}: the settings already have these values; nothing changed")
        return
    click.echo(f"changed: {', '.join(sorted(r.changed))} of {r.app} {r.version} on {r.target};"
               f" restarted {', '.join(r.restarted) or 'nothing'}; healthy")
