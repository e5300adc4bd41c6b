"""``spbe-share backup`` (+ ``list``, ``fetch``, ``schedule``), ``restore``, ``uninstall``, ``prune``:
thin wrappers over :mod:`spbe_share.ops.backups`, ``.restore``, ``.uninstall`` and ``.prune``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import InvalidInput
from .deploy_cmd import _Progress
from .output import emit_json, info, json_option, table

TARGET_HELP = "Target name (see `spbe-share target list`)."


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(n)  # pragma: no cover


def _confirm(question: str, *, yes: bool, what: str) -> None:
    """Ask on a terminal; without one, only ``--yes`` goes on (exit 2 otherwise, nothing changed)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"{what}: not on a terminal, so nobody can confirm; give --yes (nothing was changed)")
    click.confirm(question, abort=True)


def _ctx(ws: Any, quiet: bool) -> Any:
    from ..ops.context import OpContext

    return OpContext.create(ws, say=info, progress=_Progress(quiet=quiet))


class _DefaultGroup(click.Group):
    """``backup APP ...`` runs the default command; ``backup list|fetch|schedule ...`` the others."""

    default_command = "create"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "APP --target T [--fetch DIR] | list | fetch | schedule ...")


@click.group("backup", cls=_DefaultGroup)
def backup() -> None:
    """Back up an app on a target now (verified), list its backups, fetch one, schedule them.

    \b
      spbe-share backup APP --target T [--fetch DIR] [--keep N]
      spbe-share backup list APP --target T
      spbe-share backup fetch APP --target T BACKUP_ID [--to DIR]
      spbe-share backup schedule APP --target T --daily HH:MM [--keep N] | --off
    """


@backup.command("create")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--fetch", "fetch", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Also copy the backup to DIR/<target>/<app>/<id>/ on this machine (off-site), checked there"
              " (DIR default: the workspace's backups/, where restore looks).")
@click.option("--keep", type=int, default=None, help="Backups to keep on the target (default 14).")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@json_option
@click.pass_obj
def backup_create(ws: Any, app: str, target: str, fetch: str | None, keep: int | None, break_lock: bool,
                  as_json: bool) -> None:
    """Back up APP on a target now: each database with its engine's consistent method, volumes
    archived, the secrets sealed to your key; verified, then older backups pruned."""
    from ..ops.backups import backup as do_backup
    from ..ops.backups import fetched_root
    from ..plans.opvars import DEFAULT_KEEP
    from ..remote.interrupts import interrupts

    base = None if fetch is None else (Path(fetch) if fetch else fetched_root(ws))
    ctx = _ctx(ws, as_json)
    with interrupts(ctx.cancel):
        r = do_backup(ctx, app=app, target_name=target, keep=keep or DEFAULT_KEEP, fetch=base, break_lock=break_lock)
    if as_json:
        emit_json(r.as_dict())
        return
    click.echo(f"backup {r.id}: {r.app} {r.version} on {r.target}, {_human(r.size)}, "
               f"{'verified' if r.verified else 'NOT verified'}")
    click.echo(f"  secrets: {'sealed to your key: ' + ', '.join(r.secrets) if r.secrets else 'not included'}"
               + (f" ({r.secrets_note})" if r.secrets_note and not r.secrets else ""))
    if r.fetched:
        click.echo(f"  copy on this machine: {r.fetched}")
    if r.backup_host:
        click.echo(f"  copy on the backup host {r.backup_host}: sent host to host, checked there")
    if r.deleted:
        click.echo(f"  pruned: {', '.join(r.deleted)}")


@backup.command("list")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@json_option
@click.pass_obj
def backup_list(ws: Any, app: str, target: str, as_json: bool) -> None:
    """The backups of APP on a target (read-only): where each is (the app's host, the target's
    backup host, or both), and whether a copy is on this machine."""
    from ..ops.backups import list_backups
    from ..remote.interrupts import interrupts

    ctx = _ctx(ws, True)
    with interrupts(ctx.cancel):
        listing = list_backups(ctx, app=app, target_name=target)
    if as_json:
        emit_json(listing.as_dict())
        return
    rows: list[tuple[Any, ...]] = [
        (r.id, r.state, r.version, _human(r.size), r.why, r.who, "yes" if r.secrets else "no", listing.where(r.id),
         "yes" if r.id in listing.local else "", ",".join(r.pinned_by)) for r in listing.rows]
    rows += [(c.id, "verified" if c.ok else "failed", "", _human(c.size or 0), "", "", "", "backup host",
              "yes" if c.id in listing.local else "", "") for c in listing.host_copies.values()
             if not any(r.id == c.id for r in listing.rows)]
    rows.sort(key=lambda row: row[0], reverse=True)
    table(["id", "state", "version", "size", "why", "who", "secrets", "where", "local copy", "pinned by"], rows,
          title=f"backups of {app} on {listing.target} (serving: {listing.serving or 'nothing'})")
    if listing.backup_host:
        info(f"backup host: {listing.backup_host}")
    if listing.schedule:
        info(f"schedule: {', '.join(listing.schedule)}")
    for p in listing.incomplete:
        info(f"incomplete (left by a killed run): {p}")


@backup.command("fetch")
@click.argument("app")
@click.argument("backup_id")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Base folder (default: the workspace's backups/).")
@click.pass_obj
def backup_fetch(ws: Any, app: str, backup_id: str, target: str, to: Path | None) -> None:
    """Copy backup BACKUP_ID of APP from a target to this machine, checked against its sums."""
    from ..ops.backups import fetch_backup
    from ..remote.interrupts import interrupts

    ctx = _ctx(ws, False)
    with interrupts(ctx.cancel):
        folder = fetch_backup(ctx, app=app, target_name=target, backup_id=backup_id, base=to)
    click.echo(f"fetched {backup_id}: {folder}")


@backup.command("schedule")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--daily", default=None, metavar="HH:MM", help="Time of day (the target's clock).")
@click.option("--keep", type=int, default=None, help="Backups to keep (default 14).")
@click.option("--kind", type=click.Choice(["cron", "systemd"]), default="cron", show_default=True)
@click.option("--off", is_flag=True, help="Remove the schedule.")
@click.pass_obj
def backup_schedule(ws: Any, app: str, target: str, daily: str | None, keep: int | None, kind: str, off: bool) -> None:
    """Write a plain cron file (or systemd timer) on the target that backs APP up daily."""
    from ..ops.backups import schedule
    from ..plans.opvars import DEFAULT_KEEP
    from ..remote.interrupts import interrupts

    ctx = _ctx(ws, False)
    with interrupts(ctx.cancel):
        r = schedule(ctx, app=app, target_name=target, daily=daily, keep=keep or DEFAULT_KEEP, kind=kind, off=off)
    for path in r.written:
        click.echo(f"wrote {path} (daily at {r.daily}, keep {r.keep})")
    for path in r.removed:
        click.echo(f"removed {path}")
    if not r.written and not r.removed:
        click.echo("no schedule was there; nothing changed")


@click.command("restore")
@click.argument("app")
@click.argument("backup_id")
@click.option("--target", "-t", "target", required=True,
              help="The target the backup belongs to (with --to-target: the one it was fetched from).")
@click.option("--to-target", "to_target", default=None,
              help="Restore onto this other target (a new server) from the fetched copy, secrets included.")
@click.option("--from", "from_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of fetched backups (default: the workspace's backups/), or the backup's own folder.")
@click.option("--identity", "identities", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="An age identity that opens the sealed secrets (e.g. the recovery key); repeatable.")
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --to-target: the signed bundle of the backup's release.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (scripts).")
@json_option
@click.pass_obj
def restore(ws: Any, app: str, backup_id: str, target: str, to_target: str | None, from_dir: Path | None,
            identities: tuple[Path, ...], bundle: Path | None, yes: bool, as_json: bool) -> None:
    """Put backup BACKUP_ID of APP back: a safety backup of the data as it is now first, then the
    restore (verified), then the app's health checks. The data written since the backup is
    replaced (it stays in the safety backup)."""
    from ..ops.restore import restore as do_restore
    from ..remote.interrupts import interrupts

    where = to_target or target
    _confirm(f"Replace the data of {app} on {where} with backup {backup_id}? (a safety backup is taken first)",
             yes=yes, what="restore")
    ctx = _ctx(ws, as_json)
    with interrupts(ctx.cancel):
        r = do_restore(ctx, app=app, target_name=target, backup_id=backup_id, to_target=to_target,
                       from_dir=from_dir, identity_files=list(identities), bundle=bundle)
    if as_json:
        emit_json(r.as_dict())
        return
    click.echo(f"restored {r.id} into {r.app} {r.version} on {r.target}: {', '.join(r.restored)}")
    if r.safety_backup:
        click.echo(f"  safety backup of the data before: {r.safety_backup}")
    if r.secrets_put:
        click.echo(f"  secrets put back (from the sealed copy): {', '.join(r.secrets_put)}")
    info(f"log: {r.run_dir}")


@click.command("uninstall")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--delete-data", "--purge", "delete_data", is_flag=True,
              help="Also delete the data, secrets and backups, after a final backup copied to this machine.")
@click.option("--fetch", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --delete-data: base folder for the final copy (default: the workspace's backups/).")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (scripts).")
@json_option
@click.pass_obj
def uninstall(ws: Any, app: str, target: str, delete_data: bool, fetch: Path | None, break_lock: bool, yes: bool,
              as_json: bool) -> None:
    """Remove APP's containers, network and backup schedule from a target. Its data, secrets
    and backups stay (installing again brings it back) unless --delete-data is given."""
    from ..ops.uninstall import uninstall as do_uninstall
    from ..remote.interrupts import interrupts

    if delete_data and not yes:
        if not sys.stdin.isatty():
            raise InvalidInput("uninstall --delete-data: not on a terminal; give --yes (nothing was changed)")
        typed = click.prompt(f"This deletes the data of {app} on {target} after a final backup. Type the app id"
                             " to confirm", default="", show_default=False)
        if typed.strip() != app:
            raise click.exceptions.Abort()
    elif not delete_data:
        _confirm(f"Stop and remove {app} on {target}? (its data stays)", yes=yes, what="uninstall")
    ctx = _ctx(ws, as_json)
    with interrupts(ctx.cancel):
        r = do_uninstall(ctx, app=app, target_name=target, delete_data=delete_data, fetch=fetch, break_lock=break_lock)
    if as_json:
        emit_json(r.as_dict())
        return
    if r.data_deleted:
        click.echo(f"uninstalled {r.app} from {r.target}; data deleted after final backup {r.final_backup}")
        click.echo(f"  the only copy left: {r.final_copy}")
    else:
        click.echo(f"uninstalled {r.app} from {r.target}; its data, secrets and backups stay on the target")
    info(f"log: {r.run_dir}")


@click.group("secrets")
def secrets_group() -> None:
    """A deployment's secrets: rotate one the app allows; your sealing key and recovery key.

    Backups carry the secrets sealed (age, X25519) to your key in this workspace
    (keys/sealing/identity.txt) and to every recovery key added here.
    """


@secrets_group.command("rotate")
@click.argument("app")
@click.argument("name")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@json_option
@click.pass_obj
def secrets_rotate(ws: Any, app: str, name: str, target: str, break_lock: bool, as_json: bool) -> None:
    """Give secret NAME of APP a new value, if the app's entry marks it rotatable; health-gated,
    the old value comes back on failure. Refused for secrets marked never to change."""
    from ..ops.rotate import rotate
    from ..remote.interrupts import interrupts

    ctx = _ctx(ws, as_json)
    with interrupts(ctx.cancel):
        r = rotate(ctx, app=app, target_name=target, name=name, break_lock=break_lock)
    if as_json:
        emit_json(r.as_dict())
        return
    click.echo(f"rotated {r.name} of {r.app} on {r.target}; restarted {', '.join(r.restarted)}; healthy")
    click.echo(f"  sealed copy for backups: {r.sealed}")


@secrets_group.command("recovery-key")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the new identity here (keep it off-line: paper, a USB stick in the office safe).")
@click.option("--label", default="recovery", show_default=True, help="Name of its public key in this workspace.")
@click.pass_obj
def secrets_recovery_key(ws: Any, out: Path, label: str) -> None:
    """Make a second key that opens every secret sealed from now on (if this workstation is lost)."""
    from ..sealing import add_recovery_key

    key = add_recovery_key(ws, out=out, label=label)
    click.echo(f"recovery key written to {out} (0600); its public key {key.recipient} is now sealed to")
    info("secrets sealed earlier are not: take a new backup of each app")


@click.command("prune")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help=TARGET_HELP)
@click.option("--keep", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Releases to keep: the serving one and the newest others that served (rollback finds them).")
@click.option("--blob-grace", "blob_grace", type=click.IntRange(0, 8760), default=24, show_default=True,
              metavar="HOURS", help="Blobs younger than this stay (another app's ship may be under way).")
@click.option("--dry-run", is_flag=True, help="Say what would go, remove nothing.")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (scripts).")
@json_option
@click.pass_obj
def prune(ws: Any, app: str, target: str, keep: int, blob_grace: int, dry_run: bool, break_lock: bool, yes: bool,
          as_json: bool) -> None:
    """Give back the disk of APP's old releases on a target: their images, bundle files and
    blobs. The serving release and the newest others that served stay (--keep); the others can
    no longer be rolled back to. Release records stay: history still shows every release."""
    from ..ops.prune import prune as do_prune
    from ..remote.interrupts import interrupts

    if not dry_run:
        _confirm(f"Remove the releases of {app} on {target} but the {keep} newest that served?"
                 " (those can no longer be rolled back to)", yes=yes, what="prune")
    ctx = _ctx(ws, as_json)
    with interrupts(ctx.cancel):
        r = do_prune(ctx, app=app, target_name=target, keep=keep, dry_run=dry_run, blob_grace_s=blob_grace * 3600,
                     break_lock=break_lock)
    if as_json:
        emit_json(r.as_dict())
        return
    s = r.stats
    kept, gone, size = ", ".join(r.keep), ", ".join(r.gone) or "-", _human(s.bytes)
    images, files, blobs = len(s.images), len(s.files), s.blobs
    images_size, files_size, blobs_size = _human(s.images_bytes), _human(s.files_bytes), _human(s.blobs_bytes)
    if r.dry_run:
        click.echo(f"{r.app} on {r.target}: kept {kept}; would free up to {size} (versions {gone}: {images} images"
                   f" {images_size}, {files} files {files_size}, {blobs} blobs {blobs_size}); nothing was removed")
    else:
        freed = _human(s.disk_freed)
        click.echo(f"{r.app} on {r.target}: kept {kept}; freed {freed} of disk as measured, up to {size} as counted"
                   f" (versions {gone}: {images} images {images_size}, {files} files {files_size}, {blobs} blobs"
                   f" {blobs_size})")
    for k in s.images_kept:
        image = k.id[7:19]
        click.echo(f"  image {image} kept: {k.why}")
    if s.blobs_young:
        click.echo(f"  {s.blobs_young} blobs younger than {blob_grace} h kept (a ship may be under way; --blob-grace)")
    info(f"log: {r.run_dir}")
