"""``spbe-share restore``: put a backup's data (and, when the target lacks them, its sealed
secrets) back into an app, on the core (:mod:`.core`).

* **In place** (``restore APP --target T ID``): the backup is on ``T``, or a verified copy of it
  is in this workspace (``backup --fetch``) and goes up first. Secrets the target lacks (a wiped
  root) are put back from the backup's sealed copy, opened here in memory with the operator's
  key. Then ``restore.yml`` under the lock: a safety backup of the data as it is now, the
  restore (verified again by the engine), the app's health checks.
* **From the backup host** (issue 19): when the target has a host carrying ``backup`` and the
  backup is neither in this workspace nor on the app host (a lost or new app host), it is first
  brought back from the backup host over the hosts' own link, then restored as above.
* **Onto another server** (``restore APP --target T ID --to-target NEW``): from the copy of
  ``T``'s backup fetched to this workspace (``T`` itself is not contacted: it may be gone). The
  sealed secrets are opened here and written on ``NEW`` (only where missing; a different value
  already there is a Conflict), then the backup's release is installed on ``NEW`` with the
  backup's settings (so the app starts with the old secrets on an empty database), then the
  data is uploaded and restored as above. Every row and every signature comes back, because
  the key that wraps e-office's signing keys came back with them.

A backup without sealed secrets cannot go to a new server (refused before anything changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound, RemoteFailed
from ..plans.opvars import check_backup_id, fetch_dir, upload_vars
from ..records import state
from ..records.backups import BackupManifest, RestorePlayResult
from ..records.fetch import check_copy
from ..remote.outcome import host_data
from .backuphost import ensure_link, pull
from .backups import SpreadBackup, catalog_entry, fetched_root, op_attempt, spread_backup
from .checks import agreement_for, checked_target, read_state, require_slug
from .context import OpContext
from .core import new_lock, operation, run_locked

if TYPE_CHECKING:
    from ..sealing import Envelope
    from ..targets.inventory import Target


@dataclass
class RestoreResult:
    app: str
    target: str
    id: str
    version: str
    restored: list[str]
    safety_backup: str | None
    secrets_put: list[str]
    installed: bool
    uploaded: bool
    run_dir: Path
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app, "target": self.target, "id": self.id, "version": self.version,
            "restored": self.restored, "safety_backup": self.safety_backup, "secrets_put": self.secrets_put,
            "installed": self.installed, "uploaded": self.uploaded, "run_dir": str(self.run_dir),
            "seconds": round(self.seconds, 2),
        }


def local_copy(ctx: OpContext, *, app: str, source: str, backup_id: str, from_dir: Path | None) -> Path | None:
    """The folder of a fetched copy of backup ``backup_id``: ``from_dir`` itself (a backup folder)
    or ``<from_dir or workspace backups>/<source>/<app>/<id>``; None when there is none."""
    if from_dir is not None and (from_dir / "manifest.json").is_file():
        return from_dir
    folder = fetch_dir(from_dir or fetched_root(ctx.ws), target=source, app=app) / backup_id
    return folder if (folder / "manifest.json").is_file() else None


def open_secrets(ctx: OpContext, manifest: BackupManifest, data: bytes | None, *, where: str,
                 identity_files: list[Path]) -> Envelope:
    """The backup's sealed secrets (``data``), opened here (memory only) with the operator's key(s)."""
    from .. import sealing

    if manifest.secrets is None:
        why = f" ({manifest.secrets_note})" if manifest.secrets_note else ""
        raise InvalidInput(
            f"backup {manifest.id} carries no sealed secrets{why}: its data cannot be opened on another server",
            details=["take a new backup (spbe-share backup seals the secrets first), or put the secrets back by hand"],
        )
    meta = sealing.parse_meta({"format": 1, **manifest.secrets.model_dump(mode="json"), "file": manifest.secrets.file},
                              where=where)
    if data is None:
        raise NotFound(f"{where}: the sealed secrets file {manifest.secrets.file} is missing")
    envelope = sealing.unseal(data, keys=sealing.identities(ctx.ws, identity_files), where=where, meta=meta)
    if envelope.app != manifest.app:
        raise InvalidInput(f"{where}: the sealed secrets belong to {envelope.app!r}, not {manifest.app!r}")
    return envelope


def _sealed_of(ctx: OpContext, target: Target, *, app: str, backup_id: str, folder: Path | None,
               manifest: BackupManifest | None) -> tuple[BackupManifest, bytes | None, str]:
    """(manifest, sealed secrets bytes, where) of the backup: from the local copy, else from the target."""
    from ..records.backups import parse_manifest
    from ..remote.secretsync import backup_sealed

    if folder is not None and manifest is not None:
        data = (folder / manifest.secrets.file).read_bytes() if manifest.secrets else None
        return manifest, data, str(folder)
    raw, data = backup_sealed(ctx.ws, target, app=app, backup_id=backup_id)
    where = f"{target.name}: backup {backup_id}"
    found = parse_manifest(raw, where=where)
    if found.app != app or found.id != backup_id:
        raise RemoteFailed(f"{where}: the target answered with backup {found.id} of {found.app}; nothing was used")
    return found, data, where


def _restore_run(ctx: OpContext, op: Any, *, target: Target, app: str, manifest: BackupManifest | None, backup_id: str,
                 upload: Path | None, spread: SpreadBackup | None = None) -> tuple[RestorePlayResult, Any]:
    from ..plans.backup import backup_spec
    from ..plans.opvars import restore_vars

    host = spread.host if spread is not None else target  # several hosts: the host of the data restores
    spec = backup_spec(spread.entry if spread else catalog_entry(ctx, app), target=target.name, root=host.root)
    lock = new_lock(ctx, operation=f"restore {app} {backup_id}")
    extravars = restore_vars(spec, backup_id=backup_id, who=ctx.operator)
    if upload is not None and manifest is not None:
        extravars.update(upload_vars(manifest, local_dir=upload))
    if spread is not None:
        extravars = spread.play_vars(extravars)
    run = run_locked(
        ctx, op, playbook="restore.yml", target=target, extravars=extravars, lock=lock,
        attempt=op_attempt(target, app=app, op="restore", who=ctx.operator, stamp=state.stamp(ctx.now),
                           details={"backup": backup_id}),
        hosts=spread.hosts if spread else (), host_vars=spread.host_vars if spread else None,
    )
    return host_data(run, target=host.name, key="spbe_restore", model=RestorePlayResult), run


def restore(
    ctx: OpContext,
    *,
    app: str,
    target_name: str,
    backup_id: str,
    to_target: str | None = None,
    from_dir: Path | None = None,
    identity_files: list[Path] | None = None,
    bundle: Path | None = None,
) -> RestoreResult:
    """Restore backup ``backup_id`` of ``app`` into ``target_name`` (or, with ``to_target``, from
    the fetched copy of ``target_name``'s backup onto that other target)."""
    from ..plans.values import secret_names, set_args
    from ..remote.secretsync import put_secrets, read_secrets

    require_slug(app, what="app")
    check_backup_id(backup_id)
    require_slug(target_name, what="target")
    where = to_target or target_name
    with operation(ctx, name="restore", app=app, target=where) as op:
        op.note(backup=backup_id, **({"from_target": target_name} if to_target else {}))
        target = checked_target(ctx, where)
        entry = catalog_entry(ctx, app)
        # several hosts: the backup is the host of the data's (the database host), restored there
        spread = spread_backup(ctx, target, app=app, entry=entry, what="restore")
        if spread is not None and to_target is not None:
            raise InvalidInput(f"restore --to-target: {app} runs across the hosts of {target.name}; restore onto a new"
                               f" host of it instead (target add {target.name} --replace with the new host, then"
                               f" restore {app} {backup_id} --target {target.name})")
        host = spread.host if spread is not None else target
        op.note(agreement=agreement_for(ctx, target=target, entry=entry, scope="support"))
        folder = local_copy(ctx, app=app, source=target_name, backup_id=backup_id, from_dir=from_dir)
        manifest = check_copy(folder) if folder is not None else None
        if manifest is not None and (manifest.id != backup_id or manifest.app != app):
            raise InvalidInput(f"{folder}: holds backup {manifest.id} of {manifest.app}, not {backup_id} of {app}")
        installed, put, ids = False, [], list(identity_files or [])
        reinstall = to_target is not None
        if to_target is not None and (folder is None or manifest is None):
            raise NotFound(
                f"no fetched copy of backup {backup_id} of {app} from {target_name} in"
                f" {fetch_dir(from_dir or fetched_root(ctx.ws), target=target_name, app=app)}",
                details=[f"fetch it first: spbe-share backup fetch {app} {backup_id} --target {target_name}"
                         " (or give the backup's folder with --from DIR)"],
            )
        pulled = False
        if to_target is None and folder is None and ensure_link(ctx.ws, target, app_host=host) is not None:
            # the target keeps its backups on its backup host too: one missing here (a lost or
            # new app host) comes back from there, host to host, before anything else
            got = pull(ctx.ws, target, app=app, backup_id=backup_id, app_host=host)
            pulled = got.pulled
            if got.pulled:
                ctx.say(f"backup {backup_id} brought back onto {host.name} from its backup host"
                        f" ({got.pulled_from}), checked against its manifest")
        # across hosts with the data on another host than the first: the first host keeps the
        # secrets and hands them over; data on the first host (or one host): the sealed copy
        new_data_host = spread is not None and host.name != target.name
        if to_target is None:
            names = secret_names(entry if spread is None else spread.entry)
            have = read_secrets(ctx.ws, host, app=app, names=names)
            if have.missing:  # a wiped root: the data is there, its secrets and records are not
                reinstall = True
                if new_data_host:  # a new host of the data: the first host hands it the secrets
                    ctx.say(f"{host.name}: {app} lacks its secrets {', '.join(have.missing)} (a new host): installing"
                            f" the backup's release across {target.name} again (the secrets come from"
                            f" {target.name}), then restoring the data")
                else:
                    ctx.say(f"{target.name}: {app} lacks its secrets {', '.join(have.missing)}: putting them back"
                            f" from backup {backup_id}, installing its release again, then restoring the data")
        if reinstall and spread is not None and new_data_host:
            sealed_manifest, _, _ = _sealed_of(ctx, host, app=app, backup_id=backup_id, folder=folder,
                                               manifest=manifest)
            serving = read_state(ctx, target=target, app=app).current
            if serving is not None and serving.domain:  # an install without the proxy would publish the web
                release = sealed_manifest.release  # its settings too: an install asks for them again
                again = " ".join(["spbe-share", "install", app, "--target", target.name, "--version", release.version,
                                  *set_args(spread.entry, release.values), "--domain", serving.domain])
                raise InvalidInput(
                    f"restore of {app} onto a new host of {target.name}: {app} is served behind the TLS proxy of"
                    f" {serving.domain}, which this restore cannot install again without its certificate; install"
                    f" release {release.version} first ({again} --tls-cert FULLCHAIN --tls-key KEY), then run this"
                    " restore again"
                )
            installed = _install_release(ctx, app=app, target=target, release=sealed_manifest.release, bundle=bundle)
        elif reinstall:
            sealed_manifest, data, source = _sealed_of(ctx, target, app=app, backup_id=backup_id, folder=folder,
                                                       manifest=manifest)
            envelope = open_secrets(ctx, sealed_manifest, data, where=source, identity_files=ids)
            put = put_secrets(ctx.ws, target, app=app, values=envelope.secrets).written
            ctx.say(f"secrets of {app} on {target.name}: {', '.join(put) or 'none'} put back from the sealed copy")
            installed = _install_release(ctx, app=app, target=target, release=sealed_manifest.release, bundle=bundle)
        done_restore, run = _restore_run(ctx, op, target=target, app=app, manifest=manifest, backup_id=backup_id,
                                         upload=folder, spread=spread)
        r = done_restore.restore
        op.note(version=r.version, safety_backup=done_restore.safety_backup, secrets_put=put, installed=installed,
                run=str(run.run_dir), from_backup_host=pulled)
        return RestoreResult(
            app=app, target=target.name, id=r.id, version=r.version, restored=list(r.restored),
            safety_backup=done_restore.safety_backup, secrets_put=put, installed=installed,
            uploaded=folder is not None, run_dir=run.run_dir, seconds=run.seconds,
        )


def _install_release(ctx: OpContext, *, app: str, target: Target, release: Any, bundle: Path | None) -> bool:
    """Install the backup's release (``{version, values}``) on ``target`` again; whether it changed anything."""
    from .install import install

    sets = [f"{k}={v}" for k, v in sorted((release.values or {}).items())]
    done = install(ctx, app=app, target_name=target.name, version=release.version, sets=sets, bundle=bundle)
    return done.changed or done.new_release


__all__ = ["RestoreResult", "local_copy", "open_secrets", "restore"]
