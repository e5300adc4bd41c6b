"""``spbe-share uninstall``: remove an app's containers, network and backup schedule from a
target, on the core (:mod:`.core`). Its data (volumes), secrets, config, records and backups
stay, so installing again brings the same app back on the same data.

With ``delete_data`` (``--delete-data``): first the deployment's secrets are sealed to the
operator's key, then ``uninstall.yml`` takes a final verified backup (``why: pre-purge``) and
copies it to this workspace, checked against its sums; only then do the volumes and the
app's folder (secrets, config, records, backups) go. If the backup or its copy fails, nothing
is removed. The final copy is the only one left: its folder is in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..plans.opvars import fetch_dir, uninstall_vars
from ..plans.placement import host_entry
from ..records import state
from ..records.backups import BackupManifest, Verification
from ..remote.outcome import host_data
from .backups import (
    catalog_entry,
    fetched_root,
    finish_fetch,
    op_attempt,
    private_dir,
    seal_secrets,
)
from .checks import agreement_for, checked_target, require_slug, spread_data_host, spread_parts
from .context import OpContext
from .core import new_lock, operation, run_locked


class UninstallStats(BaseModel):
    """What ``uninstall.yml`` publishes (``spbe_uninstall``); from the target: untrusted."""

    model_config = ConfigDict(extra="forbid")
    purged: bool
    backup: BackupManifest | None = None
    verification: Verification | None = None


@dataclass
class UninstallResult:
    app: str
    target: str
    data_deleted: bool
    final_backup: str | None
    final_copy: Path | None
    run_dir: Path

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "data_deleted": self.data_deleted,
                "final_backup": self.final_backup, "final_copy": str(self.final_copy) if self.final_copy else None,
                "run_dir": str(self.run_dir)}


def uninstall(ctx: OpContext, *, app: str, target_name: str, delete_data: bool = False,
              fetch: Path | None = None, break_lock: bool = False) -> UninstallResult:
    """Uninstall ``app`` from ``target_name``; with ``delete_data`` after a final fetched backup."""
    with operation(ctx, name="uninstall", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name)
        parts = spread_parts(ctx, target, app=app)  # several hosts: each removes its part
        entry = catalog_entry(ctx, app)
        op.note(agreement=agreement_for(ctx, target=target, entry=entry, scope="support"), delete_data=delete_data)
        dest = None
        data_host = target
        if parts is not None:
            data_host = spread_data_host(target, entry, parts, what="uninstall --delete-data" if delete_data else None)
        if delete_data:
            if parts is None:
                seal_secrets(ctx, target, app, entry)  # the final backup carries the secrets, sealed
            else:  # the host of the data seals the secrets it has
                seal_secrets(ctx, data_host, app, None)
            dest = private_dir(fetch_dir(fetch or fetched_root(ctx.ws), target=target.name, app=app))
        stamp = state.stamp(ctx.now)
        extravars = uninstall_vars(entry, target=target, purge=delete_data, who=ctx.operator, stamp=stamp,
                                   fetch_to=dest)
        host_vars = None
        if parts is not None:
            host_vars = {}
            for part in parts:
                sub = host_entry(entry, part)
                here = target.model_copy(update={"root": part.host.root})
                v = uninstall_vars(sub, target=here, purge=delete_data, who=ctx.operator, stamp=stamp, fetch_to=dest)
                last = [state.container_name(target.name, app, c) for c in part.first]
                host_vars[part.host.name] = {
                    "spbe_root": part.host.root, "spbe_backup_spec": v["spbe_backup_spec"],
                    "spbe_volumes": v["spbe_volumes"], "spbe_record_here": part.lock_host,
                    "spbe_containers": [c for c in v["spbe_containers"] if c not in last],
                    "spbe_containers_after": last, "spbe_backup_here": part.host.name == data_host.name,
                }
            extravars = {k: v for k, v in extravars.items() if k not in UNINSTALL_HOST_KEYS}
            extravars["spbe_play_hosts"] = list(host_vars)
        run = run_locked(
            ctx, op, playbook="uninstall.yml", target=target, extravars=extravars,
            lock=new_lock(ctx, operation=f"uninstall {app}"), break_lock=break_lock,
            attempt=op_attempt(target, app=app, op="uninstall", who=ctx.operator, stamp=stamp,
                               details={"delete_data": delete_data}),
            hosts=[p.host for p in parts or ()], host_vars=host_vars,
        )
        done = host_data(run, target=data_host.name, key="spbe_uninstall", model=UninstallStats)
        copy = None
        if delete_data and done.backup is not None and done.verification is not None and dest is not None:
            copy = finish_fetch(dest, done.backup, manifest_sha256=done.verification.manifest_sha256)
        final = done.backup.id if done.backup else None
        op.note(final_backup=final, final_copy=str(copy) if copy else None, run=str(run.run_dir))
        return UninstallResult(app=app, target=target.name, data_deleted=done.purged, final_backup=final,
                               final_copy=copy, run_dir=run.run_dir)


# uninstall.yml's variables that differ per host of a data center (host vars)
UNINSTALL_HOST_KEYS = ("spbe_root", "spbe_backup_spec", "spbe_volumes", "spbe_record_here", "spbe_containers",
                       "spbe_containers_after", "spbe_backup_here")


__all__ = ["UNINSTALL_HOST_KEYS", "UninstallResult", "uninstall"]
