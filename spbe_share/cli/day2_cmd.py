"""``spbe-share upgrade``, ``rollback``, ``history``, ``unlock``: thin wrappers over :mod:`spbe_share.ops`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .deploy_cmd import _Progress
from .output import emit_json, info, json_option, table
from .progress import byte_meter


def _print_plan(plan: Any) -> None:
    d = plan.as_dict()
    out = click.echo
    out(f"upgrade {d['app']} on {d['target']}: {d['from']} -> {d['to']}"
        + (f" (path {' -> '.join(d['path'])})" if len(d["path"]) > 2 else ""))
    for r in d["releases"]:
        flags = []
        if r["migrates_data"]:
            flags.append("MIGRATES DATA")
        if r["upgrades_from"]:
            flags.append(f"upgrades from {r['upgrades_from']}")
        out(f"  {r['version']} ({r['date']}){': ' + ', '.join(flags) if flags else ''}")
        for line in r["changelog"]:
            out(f"    - {line}")
        for g in r["regulations"]:
            out(f"    regulation: {g['name']} <{g['uri']}>")
    out(f"  data migrates: {'yes: a verified backup is taken first, restored if the upgrade fails' if d['migrates_data'] else 'no'}")
    out(f"  bundle: {d['bundle_digest']} signed by {d['signer']}; agreement: {d['agreement']}")
    out(f"  to ship: {d['blobs_to_ship']} blobs the target lacks, {d['bytes_to_ship'] / 1e6:.1f} MB"
        f" (of {d['bytes_total'] / 1e6:.1f} MB)")
    out(f"  settings: {'; '.join(d['values']) if d['values'] else 'unchanged'}")
    if d["config"]:
        out("  config files (values only; secrets are never shown):")
        for c in d["config"]:
            out(f"    {c['change']}: {c['component']}/{c['file']}")
            for line in c["diff"][2:40]:
                out(f"      {line}")
    else:
        out("  config files: unchanged")
    out(f"  path: {d['route']['path']}: {d['route']['why']}")
    if d["backup"]:
        out(f"  backup before anything stops: {d['backup']}")
    out(f"  downtime: {d['expected_downtime']}")


def _go_on(*, yes: bool, dry_run: bool) -> bool:
    """After the plan: a dry run stops; on a terminal ask unless --yes; a script goes on."""
    if dry_run:
        return False
    if not yes and sys.stdin.isatty():
        return click.confirm("Go on?", default=False)
    return True


@click.command("upgrade")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name.")
@click.option("--to", "to", default=None, help="Release to upgrade to (default: the newest).")
@click.option("--bundle", "bundle", type=click.Path(dir_okay=False, path_type=Path), help="Signed bundle of the new release.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Change a setting (repeatable).")
@click.option("--values", "values_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file of settings; the deployment's current settings are kept otherwise.")
@click.option("--dry-run", is_flag=True, help="Print the plan, change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before going on (scripts).")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@click.option("--verbose", "-v", is_flag=True, help="List every step with its outcome, one line each (default on a"
              " terminal: one progress line).")
@click.option("--self-signed-i-know-this-skips-the-donor-signature", "allow_self_signed", is_flag=True,
              help="Without --bundle: a bundle built and signed on this machine. Audited.")
@json_option
@click.pass_obj
def upgrade(ws: Any, app: str, target: str, to: str | None, bundle: Path | None, sets: tuple[str, ...],
            values_file: Path | None, dry_run: bool, yes: bool, break_lock: bool, verbose: bool,
            allow_self_signed: bool, as_json: bool) -> None:
    """Upgrade APP on a target to a newer release, data-safe.

    Prints the plan first (releases in between with changelog and regulations, data migration,
    upgrade path, bytes to ship, config diff). Then: ship and load while the old release serves,
    back up and verify, stop old, start new, health. Any failure after the old release stopped is
    rolled back automatically (data restored, old release healthy): exit 13.
    """
    from ..ops.context import OpContext
    from ..ops.upgrade import upgrade as do_upgrade
    from ..remote.interrupts import interrupts

    def confirm(plan: Any) -> bool:
        if as_json and dry_run:
            emit_json({"plan": plan.as_dict()})
        elif not as_json:
            _print_plan(plan)
        return _go_on(yes=yes, dry_run=dry_run)

    ctx = OpContext.create(ws, say=info, progress=_Progress(quiet=as_json, verbose=verbose),
                           meter=byte_meter(as_json=as_json))
    with interrupts(ctx.cancel):
        plan, result = do_upgrade(ctx, app=app, target_name=target, to=to, bundle=bundle, sets=sets,
                                  values_file=values_file, allow_self_signed=allow_self_signed,
                                  break_lock=break_lock, confirm=confirm, dry_run=dry_run)
    if result is None:
        if not dry_run:
            info("not upgraded: nothing changed")
        return
    if as_json:
        emit_json({"plan": plan.as_dict(), "result": result.as_dict()})
        return
    click.echo(f"upgraded: {result.app} {result.from_version} -> {result.to_version} on {result.target}"
               f" (sent {result.blobs_sent} blobs, {result.bytes_sent / 1e6:.1f} MB; downtime {result.downtime_s:.0f}s;"
               f" backup {result.backup})")
    for url in result.urls:
        click.echo(f"  {url}")
    info(f"log: {result.run_dir}")


@click.command("rollback")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name.")
@click.option("--to", "to", default=None, help="Version to go back to (default: the release before the current one).")
@click.option("--dry-run", is_flag=True, help="Print what it would do and discard, change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before going on (scripts).")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@json_option
@click.pass_obj
def rollback(ws: Any, app: str, target: str, to: str | None, dry_run: bool, yes: bool, break_lock: bool,
             as_json: bool) -> None:
    """Bring the previous release of APP back (or --to VERSION): its images, its config and, when
    a release being undone migrated data, the data of the backup taken before that upgrade.

    A backup of the data as it is now is taken first and kept; the plan says what the restore
    discards.
    """
    from ..ops.context import OpContext
    from ..ops.rollback import rollback as do_rollback
    from ..remote.interrupts import interrupts

    def confirm(plan: Any) -> bool:
        d = plan.as_dict()
        if as_json and dry_run:
            emit_json({"plan": d})
        elif not as_json:
            click.echo(f"rollback {d['app']} on {d['target']}: {d['from']} -> {d['to']}"
                       f" (undoes {', '.join(d['undone'])})")
            click.echo(f"  data: {'restore backup ' + d['restore'] if d['restore'] else 'kept as it is'}")
            click.echo(f"  discards: {d['discards']}")
            click.echo(f"  path: {d['route']['path']}: {d['route']['why']}")
            if d["safety_backup"]:
                click.echo(f"  backup of the data now, taken first and kept: {d['safety_backup']}")
        return _go_on(yes=yes, dry_run=dry_run)

    ctx = OpContext.create(ws, say=info, progress=_Progress(quiet=as_json))
    with interrupts(ctx.cancel):
        plan, result = do_rollback(ctx, app=app, target_name=target, to=to, break_lock=break_lock, confirm=confirm,
                                   dry_run=dry_run)
    if result is None:
        if not dry_run:
            info("not rolled back: nothing changed")
        return
    if as_json:
        emit_json({"plan": plan.as_dict(), "result": result.as_dict()})
        return
    restored = f"; data of backup {result.restored} restored" if result.restored else "; data kept"
    kept = f"; the data before it is in backup {result.safety_backup}" if result.safety_backup else ""
    click.echo(f"rolled back: {result.app} {result.from_version} -> {result.to_version} on {result.target}{restored}"
               f"{kept}")
    info(f"log: {result.run_dir}")


@click.command("history")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name.")
@json_option
@click.pass_obj
def history(ws: Any, app: str, target: str, as_json: bool) -> None:
    """Every install, upgrade and rollback attempt of APP on a target, read from the target:
    result, cause, who, when, from which host, bundle digest, backup id; the last journal and the lock."""
    from ..ops.context import OpContext
    from ..ops.history import history as do_history

    h = do_history(OpContext.create(ws, say=info), app=app, target_name=target)
    if as_json:
        emit_json(h.as_dict())
        return
    table(["when", "operation", "from", "version", "result", "who", "host", "backup", "bundle", "cause"],
          [(r["when"], r["operation"], r["from"], r["version"], r["result"], r["who"], r["host"], r["backup"],
            (r["bundle_digest"] or "")[:19], (r["cause"] or "")[:160]) for r in h.rows],
          title=f"{app} on {target} (serving: {h.current or 'nothing'})")
    if h.journal:
        j = h.journal
        click.echo(f"last {j['operation']} {j['from']} -> {j['to']}: {j['state']}"
                   f" (steps: {', '.join(j['steps'])}){'; cause: ' + j['cause'] if j['cause'] else ''}")
    if h.journal_problem:
        click.echo(f"journal: {h.journal_problem}")
    click.echo(f"lock: {h.lock or 'free'}")


@click.command("unlock")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name.")
@click.option("--reason", required=True, help="Why (recorded in the audit log).")
@click.option("--force", is_flag=True, help="Break a lock whose lease is still renewed (its holder is alive!).")
@click.pass_obj
def unlock(ws: Any, app: str, target: str, reason: str, force: bool) -> None:
    """Break the lock of APP on a target when its holder is gone (its lease ran out). Audited."""
    from ..ops.context import OpContext
    from ..ops.history import unlock as do_unlock

    broken = do_unlock(OpContext.create(ws, say=info), app=app, target_name=target, reason=reason, force=force)
    click.echo(f"unlocked {app} on {target}: the lock held by {broken} was broken (audited)")
