"""``spbe-share backup``, ``backup list``, ``backup fetch``, ``backup schedule``: operations on
the core (:mod:`.core`) over the target-side backup engine (``docs/backups.md``).

* **backup**: seal the deployment's secrets to the operator's key(s) if the sealed copy on
  the target is stale (:func:`ensure_sealed`; values only in memory here), then
  ``backup.yml`` under the lock: create (engine-consistent, sealed secrets copied in), verify,
  prune to ``keep``, and with ``fetch`` copy it to this machine, checked against its sums.
* **backup list**: the target's backups (``backup-list.yml``, read-only), each marked when a
  verified copy of it is on this machine.
* **backup fetch**: an off-site copy of an existing backup (``backup-fetch.yml``).
* **backup schedule**: plain cron (or systemd timer) files on the target (``backup-schedule.yml``).

Fetched copies live in ``<base>/<target>/<app>/<id>/`` (``base``: ``--fetch DIR`` or the
workspace's ``backups/``), written through ``<id>.partial/`` and renamed only after every file
matched the backup's SHA-256 here. Folders 0700, files 0600: the data is the Pemda's.
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..errors import NotFound, RemoteFailed, Unreachable, VerificationFailed
from ..outside import child_path
from ..plans.opvars import (
    DEFAULT_KEEP,
    backup_vars,
    check_backup_id,
    fetch_dir,
    fetch_vars,
    list_vars,
    schedule_vars,
)
from ..plans.values import secret_names
from ..records import state
from ..records.backups import (
    BackupManifest,
    BackupPlayResult,
    BackupRow,
    HostCopy,
    Verification,
)
from ..records.fetch import check_copy
from ..remote.outcome import host_data
from ..remote.secretsync import call, read_secrets
from .backuphost import backup_host, copies, ensure_link
from .checks import agreement_for, checked_target, require_slug, spread_data_host, spread_parts
from .context import OpContext
from .core import Attempt, new_lock, operation, run_locked

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..remote.runner import RunResult
    from ..targets.inventory import Target
    from ..workspace import Workspace


def fetched_root(ws: Workspace) -> Path:
    """The workspace's folder of off-site backup copies."""
    return ws.home / "backups"


def catalog_entry(ctx: OpContext, app: str) -> Entry:
    from ..catalog.loader import get_entry

    return get_entry(ctx.ws, app).entry


def op_attempt(target: Target, *, app: str, op: str, who: str, stamp: str, details: dict[str, Any]) -> Attempt:
    """Where the target records an interrupted day-2 operation (``<app>/operations/``)."""
    return Attempt(
        path=f"{state.app_dir(target.root, app)}/operations/{stamp}-{op}.json",
        record={"operation": op, "app": app, "target": target.name, "who": who, "when": stamp, **details},
    )


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def finish_fetch(base: Path, manifest: BackupManifest, *, manifest_sha256: str) -> Path:
    """Check ``<base>/<id>.partial`` again (no link, nothing else, every sum), then make it ``<base>/<id>``."""
    partial = child_path(base, f"{manifest.id}.partial", what="backup id", error=RemoteFailed)
    final = child_path(base, manifest.id, what="backup id", error=RemoteFailed)
    check_copy(partial, manifest_sha256=manifest_sha256, expect=manifest)
    for p in [partial, *partial.iterdir()]:
        os.chmod(p, 0o700 if p.is_dir() else 0o600)
    if final.is_symlink() or final.is_file():
        final.unlink()
    elif final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return final


def local_copies(base: Path, *, target: str, app: str) -> dict[str, Path]:
    """backup id -> folder of every complete local copy (a manifest present; not re-hashed)."""
    folder = fetch_dir(base, target=target, app=app)
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.iterdir()):
        try:
            check_backup_id(p.name)
        except Exception:  # noqa: BLE001 - .partial and foreign names are not copies
            continue
        if (p / "manifest.json").is_file():
            out[p.name] = p
    return out


# ---------------------------------------------------------------- backup


@dataclass
class BackupResult:
    app: str
    target: str
    id: str
    version: str
    size: int
    verified: bool
    secrets: list[str]
    secrets_note: str | None
    deleted: list[str]
    fetched: Path | None
    run_dir: Path
    seconds: float
    sealing: dict[str, Any] = field(default_factory=dict)
    backup_host: str | None = None  # the host its copy landed on, checked there (issue 19)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backup_host": self.backup_host,
            "app": self.app,
            "target": self.target,
            "id": self.id,
            "version": self.version,
            "size": self.size,
            "verified": self.verified,
            "secrets": self.secrets,
            "secrets_note": self.secrets_note,
            "deleted": self.deleted,
            "fetched": str(self.fetched) if self.fetched else None,
            "run_dir": str(self.run_dir),
            "seconds": round(self.seconds, 2),
            "sealing": self.sealing,
        }


def seal_secrets(ctx: OpContext, target: Target, app: str, entry: Entry | None) -> SealStatus:

    status = ensure_sealed(ctx, target=target, app=app, entry=entry)
    if status.state == "sealed":
        ctx.say(f"sealed the secrets of {app} ({', '.join(status.names)}) to {len(status.sealed_to)} key(s)")
    elif status.state == "incomplete":
        ctx.say(f"warning: {app} on {target.name} lacks the secrets {', '.join(status.missing)}: they are not sealed")
    return status


def backup(
    ctx: OpContext,
    *,
    app: str,
    target_name: str,
    keep: int = DEFAULT_KEEP,
    fetch: Path | None = None,
    why: str = "manual",
    break_lock: bool = False,
) -> BackupResult:
    """Back up ``app`` on ``target_name`` now (verified, pruned to ``keep``); with ``fetch``
    (a base folder) also copy it to ``<fetch>/<target>/<app>/<id>/``."""
    from ..plans.backup import backup_spec

    with operation(ctx, name="backup", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name)
        entry = catalog_entry(ctx, app)
        op.note(agreement=agreement_for(ctx, target=target, entry=entry, scope="support"), keep=keep)
        spread = spread_backup(ctx, target, app=app, entry=entry, what="backup")
        host = spread.host if spread is not None else target  # where the backup is made
        # the host's secrets (several hosts: the host of the data seals those it has)
        sealing = seal_secrets(ctx, host, app, entry if spread is None else None)
        offsite = ensure_link(ctx.ws, target, app_host=host)  # the copy goes host to host, onto the backup host
        spec = backup_spec(spread.entry if spread else entry, target=target.name, root=host.root)
        dest = private_dir(fetch_dir(fetch, target=target.name, app=app)) if fetch is not None else None
        stamp = state.stamp(ctx.now)
        extravars = backup_vars(spec, who=ctx.operator, keep=keep, why=why, fetch_to=dest)
        if spread is not None:
            extravars = spread.play_vars(extravars)
        run = run_locked(
            ctx, op, playbook="backup.yml", target=target, extravars=extravars,
            lock=new_lock(ctx, operation=f"backup {app}"), break_lock=break_lock,
            attempt=op_attempt(target, app=app, op="backup", who=ctx.operator, stamp=stamp, details={"why": why}),
            hosts=spread.hosts if spread else (), host_vars=spread.host_vars if spread else None,
        )
        done = host_data(run, target=host.name, key="spbe_backup", model=BackupPlayResult)
        fetched = None
        if dest is not None:
            fetched = finish_fetch(dest, done.backup, manifest_sha256=done.verification.manifest_sha256)
        m = done.backup
        if offsite is not None and (done.offsite is None or done.offsite.manifest_sha256
                                    != done.verification.manifest_sha256):
            raise RemoteFailed(f"{target.name}: backup {m.id} was made but its copy on {offsite.name} is not"
                               " confirmed; run the backup again")
        op.note(backup=m.id, bytes=m.size, secrets=m.secrets is not None, deleted=len(done.deleted),
                fetched=str(fetched) if fetched else None, run=str(run.run_dir),
                backup_host=offsite.name if offsite else None)
        return BackupResult(
            app=app, target=target.name, id=m.id, version=m.release.version, size=m.size,
            verified=done.verification.ok, secrets=m.secrets.names if m.secrets else [], secrets_note=m.secrets_note,
            deleted=list(done.deleted), fetched=fetched, run_dir=run.run_dir, seconds=run.seconds,
            sealing=sealing.as_dict(), backup_host=offsite.name if offsite else None,
        )


@dataclass
class SpreadBackup:
    """The backup of an app across the hosts of a data center: made on the host of its data
    (the database host) under the app's one lock on the first host; ``backup.yml`` (and
    ``backup-schedule.yml``) run on both, the host of the data with ``spbe_backup_here``."""

    target: Target
    host: Target  # the host of the data
    entry: Entry  # the entry as that host runs it (its backup spec: its databases and volumes)

    @property
    def hosts(self) -> list[Target]:
        return [self.target] if self.host.name == self.target.name else [self.target, self.host]

    @property
    def host_vars(self) -> dict[str, dict[str, Any]]:
        here = self.host.name
        return {h.name: {"spbe_root": h.root, "spbe_backup_here": h.name == here} for h in self.hosts}

    def play_vars(self, extravars: dict[str, Any]) -> dict[str, Any]:
        """``extravars`` without the per-host ones, plus the hosts of the play."""
        out = {k: v for k, v in extravars.items() if k != "spbe_root"}
        out["spbe_play_hosts"] = [h.name for h in self.hosts]
        return out


def spread_backup(ctx: OpContext, target: Target, *, app: str, entry: Entry,
                  what: str | None) -> SpreadBackup | None:
    """Where a backup of ``app`` is made when it runs across the hosts of ``target``; None: on its one host."""
    from ..plans.placement import host_entry

    parts = spread_parts(ctx, target, app=app)
    if parts is None:
        return None
    host = spread_data_host(target, entry, parts, what=what)
    part = next(p for p in parts if p.host.name == host.name)
    return SpreadBackup(target=target, host=host, entry=host_entry(entry, part))


# ---------------------------------------------------------------- list


class _Current(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    when: str | None = None


class ListStats(BaseModel):
    """What ``backup-list.yml`` publishes (``spbe_backups``); from the target: untrusted."""

    model_config = ConfigDict(extra="forbid")
    backups: list[BackupRow]
    incomplete: list[str]
    current: dict[str, Any] | None
    schedule: list[str]


@dataclass
class BackupListing:
    app: str
    target: str
    rows: list[BackupRow]
    incomplete: list[str]
    serving: str | None
    schedule: list[str]
    local: dict[str, Path]
    backup_host: str | None = None  # the target's backup host (issue 19), when it has one
    host_copies: dict[str, HostCopy] = field(default_factory=dict)
    app_host: str | None = None  # the host that makes the backups (an app across hosts: the host of its data)

    def where(self, backup_id: str) -> str:
        """Where a backup is: ``app host``, ``backup host`` or ``both`` (a copy that failed its
        checks there does not count)."""
        here = any(r.id == backup_id for r in self.rows)
        copy = self.host_copies.get(backup_id)
        there = copy is not None and copy.ok
        return "both" if here and there else "backup host" if there else "app host" if here else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "target": self.target,
            "serving": self.serving,
            "schedule": self.schedule,
            "incomplete": self.incomplete,
            "backup_host": self.backup_host,
            "app_host": self.app_host,
            "backups": [{**r.model_dump(mode="json"), "local_copy": str(self.local[r.id]) if r.id in self.local
                         else None, "where": self.where(r.id),
                         "backup_host_copy": _copy_dict(self.host_copies.get(r.id))} for r in self.rows],
            "local_only": sorted(set(self.local) - {r.id for r in self.rows}),
            "backup_host_only": [c.model_dump(mode="json") for i, c in sorted(self.host_copies.items(), reverse=True)
                                 if not any(r.id == i for r in self.rows)],
        }


def _copy_dict(copy: HostCopy | None) -> dict[str, Any] | None:
    return copy.model_dump(mode="json") if copy is not None else None


def _list_run(ctx: OpContext, op: Any, target: Target, entry: Entry,
              host: Target | None = None) -> tuple[ListStats, RunResult]:
    """``backup-list.yml`` on ``host`` (an app across hosts: the host of its data, ``entry``
    as it runs there), default the target."""
    from ..plans.backup import backup_spec
    from ..remote.runner import run_playbook

    host = host or target
    spec = backup_spec(entry, target=target.name, root=host.root)
    extravars = {**list_vars(spec), "spbe_schedule_paths": schedule_vars(spec, kind="cron", daily=None,
                                                                          off=True)["spbe_schedule_paths"],
                 "spbe_target": host.name}  # fmt: skip
    op.started = True
    run = run_playbook(ctx.ws, op="backup-list", target=target.name, app=entry.id, playbook="backup-list.yml",
                       targets=[host], extravars=extravars, progress=ctx.progress, now=ctx.now, cancel=ctx.cancel)
    if run.cancelled:
        from ..errors import Cancelled

        raise Cancelled(f"backup list stopped by {ctx.cancel.signal_name}; it changes nothing")
    from ..remote.outcome import raise_for_run

    raise_for_run(run, host.name, "backup list")
    return host_data(run, target=host.name, key="spbe_backups", model=ListStats), run


def serving_version(current: dict[str, Any] | None) -> str | None:
    if not current:
        return None
    try:
        return _Current.model_validate(current).version
    except Exception:  # noqa: BLE001 - an unreadable record serves nothing we can name
        return None


def list_backups(ctx: OpContext, *, app: str, target_name: str, local_base: Path | None = None) -> BackupListing:
    with operation(ctx, name="backup list", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name)
        entry = catalog_entry(ctx, app)
        spread = spread_backup(ctx, target, app=app, entry=entry, what=None)  # several hosts: the host of the data
        stats, _ = (_list_run(ctx, op, target, entry) if spread is None
                    else _list_run(ctx, op, target, spread.entry, host=spread.host))
        local = local_copies(local_base or fetched_root(ctx.ws), target=target.name, app=app)
        bh = backup_host(target)
        try:
            there = {c.id: c for c in copies(ctx.ws, target) or []}
        except (RemoteFailed, Unreachable) as exc:  # the app host's list is still worth showing
            ctx.say(f"warning: the copies on the backup host could not be read: {exc}")
            there = {}
        op.note(backups=len(stats.backups), backup_host_copies=len(there))
        return BackupListing(app=app, target=target.name, rows=stats.backups, incomplete=stats.incomplete,
                             serving=serving_version(stats.current), schedule=stats.schedule, local=local,
                             backup_host=bh.name if bh else None, host_copies=there,
                             app_host=spread.host.name if spread else target.name)


# ---------------------------------------------------------------- fetch an existing backup


class FetchStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backup: BackupManifest
    verification: Verification


def fetch_backup(ctx: OpContext, *, app: str, target_name: str, backup_id: str, base: Path | None = None) -> Path:
    """Copy backup ``backup_id`` of ``app`` from ``target_name`` to ``<base>/<target>/<app>/<id>/``."""
    from ..plans.backup import backup_spec

    with operation(ctx, name="backup fetch", app=app, target=target_name) as op:
        require_slug(app, what="app")
        check_backup_id(backup_id)
        target = checked_target(ctx, target_name)
        entry = catalog_entry(ctx, app)
        dest = private_dir(fetch_dir(base or fetched_root(ctx.ws), target=target.name, app=app))
        stamp = state.stamp(ctx.now)
        run = fetch_run(ctx, op, target, backup_spec(entry, target=target.name, root=target.root), backup_id, dest,
                        stamp)
        done = host_data(run, target=target.name, key="spbe_fetch", model=FetchStats)
        if done.backup.id != backup_id:
            raise VerificationFailed(f"{target.name}: asked for backup {backup_id}, got {done.backup.id}")
        folder = finish_fetch(dest, done.backup, manifest_sha256=done.verification.manifest_sha256)
        op.note(backup=backup_id, fetched=str(folder))
        return folder


def fetch_run(ctx: OpContext, op: Any, target: Target, spec: Any, backup_id: str, dest: Path, stamp: str) -> RunResult:
    """``backup-fetch.yml`` (no lock: a complete backup never changes)."""
    from ..remote.outcome import raise_for_run
    from ..remote.runner import run_playbook

    op.started = True
    run = run_playbook(ctx.ws, op="backup-fetch", target=target.name, app=spec.app, playbook="backup-fetch.yml",
                       targets=[target], extravars=fetch_vars(spec, backup_id=backup_id, fetch_to=dest),
                       progress=ctx.progress, now=ctx.now, cancel=ctx.cancel)
    if run.cancelled and not run.ok:
        from ..errors import Cancelled

        shutil.rmtree(dest / f"{backup_id}.partial", ignore_errors=True)
        raise Cancelled(f"backup fetch stopped by {ctx.cancel.signal_name}; nothing on {target.name} changed")
    message = run.failed_message or ""
    if not run.ok and ("no backup" in message or "is missing" in message):
        raise NotFound(f"{target.name}: {message}")
    raise_for_run(run, target.name, "backup fetch")
    return run


# ---------------------------------------------------------------- schedule


@dataclass
class ScheduleResult:
    app: str
    target: str
    written: list[str]
    removed: list[str]
    daily: str | None
    keep: int

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "written": self.written, "removed": self.removed,
                "daily": self.daily, "keep": self.keep}


class ScheduleStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    written: list[str]
    removed: list[str]


def schedule(
    ctx: OpContext, *, app: str, target_name: str, daily: str | None, keep: int = DEFAULT_KEEP,
    kind: str = "cron", off: bool = False, break_lock: bool = False,
) -> ScheduleResult:
    """Write (or with ``off`` remove) the daily backup schedule of ``app`` on the target."""
    from ..plans.backup import backup_spec

    with operation(ctx, name="backup schedule", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name)
        entry = catalog_entry(ctx, app)
        spread = spread_backup(ctx, target, app=app, entry=entry, what="backup schedule")
        host = spread.host if spread is not None else target  # where the scheduled backups are made
        spec = backup_spec(spread.entry if spread else entry, target=target.name, root=host.root)
        extravars = schedule_vars(spec, kind=kind, daily=daily, keep=keep, off=off)
        if not off:
            op.note(agreement=agreement_for(ctx, target=target, entry=entry, scope="support"))
            seal_secrets(ctx, host, app, entry if spread is None else None)  # scheduled backups copy the sealed secrets in
            ensure_link(ctx.ws, target, app_host=host)  # and copy each backup onto the backup host
        if spread is not None:
            extravars = spread.play_vars(extravars)
        run = run_locked(
            ctx, op, playbook="backup-schedule.yml", target=target, extravars=extravars,
            lock=new_lock(ctx, operation=f"backup schedule {app}"), break_lock=break_lock,
            attempt=op_attempt(target, app=app, op="backup-schedule", who=ctx.operator, stamp=state.stamp(ctx.now),
                               details={}),
            hosts=spread.hosts if spread else (), host_vars=spread.host_vars if spread else None,
        )
        done = host_data(run, target=host.name, key="spbe_schedule", model=ScheduleStats)
        op.note(daily=None if off else daily, keep=keep, kind=kind, written=done.written, removed=done.removed)
        return ScheduleResult(app=app, target=target.name, written=done.written, removed=done.removed,
                              daily=None if off else daily, keep=keep)


__all__ = [
    "BackupListing",
    "BackupResult",
    "ScheduleResult",
    "SealStatus",
    "backup",
    "ensure_sealed",
    "fetch_backup",
    "fetched_root",
    "finish_fetch",
    "list_backups",
    "local_copies",
    "schedule",
]


@dataclass(frozen=True)
class SealStatus:
    state: str  # "sealed" (now), "current" (already), "incomplete" (secrets missing), "none" (no secrets)
    names: list[str]
    sealed_to: list[str]
    missing: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "names": self.names, "sealed_to": self.sealed_to, "missing": self.missing}


def ensure_sealed(ctx: OpContext, *, target: Target, app: str, entry: Entry | None = None) -> SealStatus:
    """Seal the deployment's secrets on ``target`` to the operator's key(s) when the sealed
    copy there is missing or stale. The values exist only in this process's memory.

    Every secret file the deployment has is sealed (the target's backup engine checks the
    sealed copy against exactly those); with ``entry``, a secret it needs but the target lacks
    makes the state ``incomplete`` (nothing sealed)."""
    from .. import sealing

    found = read_secrets(ctx.ws, target, app=app, names=None)
    missing = [n for n in (secret_names(entry) if entry is not None else []) if n not in found.values]
    if missing:
        return SealStatus("incomplete", sorted(found.values), [], missing)
    if not found.values:
        return SealStatus("none", [], [], [])
    names = sorted(found.values)
    to = sealing.recipients(ctx.ws)
    if found.sealed is not None and sealing.matches(found.sealed, found.values, to):
        return SealStatus("current", names, list(found.sealed.sealed_to), [])
    sealed = sealing.seal(app=app, target=target.name, values=found.values, to=to, now=ctx.now)
    call(ctx.ws, target, app, "store-sealed",
         {"meta": sealed.meta.model_dump(mode="json"), "data": base64.b64encode(sealed.data).decode("ascii")})
    return SealStatus("sealed", names, list(sealed.meta.sealed_to), [])
