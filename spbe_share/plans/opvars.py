"""Pure builders of the day-2 operations on data and secrets: backup, fetch, restore,
schedule, uninstall, rotate, and the data/secrets check shared by install, upgrade, restore.

Data in, data out (no I/O, no target): unit tests compare their output by equality. The
operations (``backups.py``, ``restore.py``, ``uninstall.py``, ``rotate.py``) call them after
their checks; the core adds the lock's variables (``builders.lock_vars``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..records import state
from .backup import BACKUP_ID as BACKUP_ID_PATTERN
from .backup import DEFAULT_KEEP, WHY

if TYPE_CHECKING:
    from ..catalog.models import Entry, Secret
    from ..records.backups import BackupManifest
    from ..records.backupspec import BackupSpec
    from ..targets.inventory import Target

BACKUP_ID = re.compile(BACKUP_ID_PATTERN)


def check_backup_id(backup_id: str) -> str:
    if not BACKUP_ID.match(backup_id or ""):
        raise InvalidInput(f"{backup_id!r} is not a backup id (e.g. 20261122T101500Z-manual-3fa2)")
    return backup_id


def check_keep(keep: int) -> int:
    if keep < 1:
        raise InvalidInput("--keep must be at least 1")
    return keep


# ---------------------------------------------------------------- data and secrets (issue 12)


def data_volumes(entry: Entry, *, target: str, images: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The Docker volumes holding the app's data: every volume the entry's ``backup:`` names,
    and the volumes of its database components (the PostgreSQL data directory, the volume
    holding an SQLite file). ``images``: component -> image id (to archive a volume with)."""
    from .backup import backup_spec

    spec = backup_spec(entry, target=target, root="/")
    seen: dict[str, dict[str, Any]] = {}
    wanted = [(v.name, v.component, v.mount) for v in spec.volumes]
    for db in spec.databases:
        if db.engine == "sqlite":
            wanted.append((db.volume, db.component, db.mount))
        else:
            comp = next(c for c in entry.components if c.name == db.component)
            wanted += [(v.name, comp.name, v.path) for v in comp.volumes]
    for name, component, mount in wanted:
        docker_name = state.volume_name(target, entry.id, name)
        if docker_name in seen:
            continue
        row: dict[str, Any] = {"name": docker_name, "volume": name, "component": component, "mount": mount}
        if images is not None:
            row["image"] = images[component]
        seen[docker_name] = row
    return list(seen.values())


def data_check_vars(
    entry: Entry, *, target: str, images: Mapping[str, str] | None = None, reset: bool = False,
    may_be_new: Sequence[str] = (),
) -> dict[str, Any]:
    """Variables of ``tasks/data_secrets.yml`` (merged into install's; upgrade passes the
    secrets the serving release did not have as ``may_be_new``)."""
    return {
        "spbe_data_volumes": data_volumes(entry, target=target, images=images),
        "spbe_reset_data": reset,
        "spbe_secrets_may_be_new": sorted(may_be_new),
    }


# ---------------------------------------------------------------- backup, fetch, list, schedule


def _slug(value: str, what: str) -> str:
    if not state.SLUG.match(value or ""):
        raise InvalidInput(f"{what} {value!r} is not a valid name (lowercase letters, digits and '-')")
    return value


def fetch_dir(base: Path, *, target: str, app: str) -> Path:
    """``<base>/<target>/<app>``: where fetched backups of ``app`` on ``target`` live."""
    return base / _slug(target, "target") / _slug(app, "app")


def backup_vars(
    spec: BackupSpec, *, who: str, keep: int = DEFAULT_KEEP, why: str = "manual",
    fetch_to: Path | None = None, backup_id: str | None = None, release: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Variables of ``playbooks/backup.yml`` (and of ``tasks/backup.yml`` inside other plays);
    the core adds the lock's. ``fetch_to`` (a folder on this machine) adds the copy of the new
    backup there (``<fetch_to>/<id>.partial/``, checked against the sums); ``backup_id`` the id
    to give it (one a journal names already); ``release`` ``{version, bundle_digest}`` of the
    data (default: the target's ``current.json``)."""
    if why not in WHY:
        raise InvalidInput(f"why must be one of {', '.join(WHY)}")
    out: dict[str, Any] = {
        "spbe_target": spec.target,
        "spbe_root": spec.root,
        "spbe_app": spec.app,
        "spbe_backup_spec": spec.as_data(),
        "spbe_backup_why": why,
        "spbe_backup_who": who,
        "spbe_backup_keep": check_keep(keep),
    }
    if backup_id is not None:
        out["spbe_backup_id"] = check_backup_id(backup_id)
    if release is not None:
        out["spbe_backup_release"] = dict(release)
    if fetch_to is not None:
        out["spbe_fetch_dir"] = str(fetch_to)
    return out


def fetch_vars(spec: BackupSpec, *, backup_id: str, fetch_to: Path) -> dict[str, Any]:
    """Variables of ``playbooks/backup-fetch.yml`` (copy one existing backup here)."""
    return {
        "spbe_target": spec.target,
        "spbe_root": spec.root,
        "spbe_app": spec.app,
        "spbe_backup_spec": spec.as_data(),
        "spbe_fetch_id": check_backup_id(backup_id),
        "spbe_fetch_dir": str(fetch_to),
    }


def list_vars(spec: BackupSpec) -> dict[str, Any]:
    return {"spbe_target": spec.target, "spbe_root": spec.root, "spbe_app": spec.app,
            "spbe_backup_spec": spec.as_data()}


def schedule_vars(
    spec: BackupSpec, *, kind: str, daily: str | None, keep: int = DEFAULT_KEEP, off: bool = False,
    python: str | None = None,
) -> dict[str, Any]:
    """Variables of ``playbooks/backup-schedule.yml``: the files to write (from the pure
    generator in ``backup/schedule.py``), or, with ``off``, every file a schedule may have."""
    from . import schedule

    name = schedule.unit_name(spec.app, target=spec.target)
    every = [f"/etc/cron.d/{name}", f"/etc/systemd/system/{name}.service", f"/etc/systemd/system/{name}.timer"]
    out: dict[str, Any] = {
        "spbe_target": spec.target,
        "spbe_root": spec.root,
        "spbe_app": spec.app,
        "spbe_backup_spec": spec.as_data(),
        "spbe_schedule_paths": every,
    }
    if off:
        out["spbe_schedule_files"] = []
        return out
    if daily is None:
        raise InvalidInput("--daily HH:MM is required (or --off)")
    if kind not in ("cron", "systemd"):
        raise InvalidInput(f"schedule kind {kind!r}: cron or systemd")
    files = schedule.schedule_files(kind="cron" if kind == "cron" else "systemd", app=spec.app, root=spec.root, daily=daily, keep=check_keep(keep),
                                    target=spec.target, **({"python": python} if python else {}))
    out["spbe_schedule_files"] = [{"path": f.path, "content": f.content, "mode": f"{f.mode:04o}"} for f in files]
    return out


# ---------------------------------------------------------------- restore


def restore_vars(
    spec: BackupSpec, *, backup_id: str, who: str, version: str | None = None, safety_backup: bool = True,
    restart: bool = True,
) -> dict[str, Any]:
    """Variables of ``playbooks/restore.yml`` (the core adds the lock's); ``version`` = the
    version that will run (default: the target's ``current.json``)."""
    out: dict[str, Any] = {
        "spbe_target": spec.target,
        "spbe_root": spec.root,
        "spbe_app": spec.app,
        "spbe_backup_spec": spec.as_data(),
        "spbe_backup_who": who,
        "spbe_restore_id": check_backup_id(backup_id),
        "spbe_restore_safety": safety_backup,
        "spbe_restore_restart": restart,
    }
    if version is not None:
        out["spbe_restore_version"] = version
    return out


def upload_vars(manifest: BackupManifest, *, local_dir: Path) -> dict[str, Any]:
    """Copy a backup from this machine onto the target before restoring it (restore.yml)."""
    return {
        "spbe_upload_dir": str(local_dir),
        "spbe_upload_id": check_backup_id(manifest.id),
        "spbe_upload_files": sorted(manifest.files()),
    }


# ---------------------------------------------------------------- uninstall


def uninstall_vars(
    entry: Entry, *, target: Target, purge: bool, who: str, stamp: str, fetch_to: Path | None = None,
) -> dict[str, Any]:
    """Variables of ``playbooks/uninstall.yml``. Without ``purge`` only containers and the
    network go; with it a final verified backup is fetched to ``fetch_to`` first, then the
    volumes and the app's folder (secrets, config, records, backups) go too."""
    from . import schedule
    from .backup import backup_spec
    from .containers import start_order
    from .proxy import proxy_container_name

    if purge and fetch_to is None:
        raise InvalidInput("a purge keeps its final backup on this machine: fetch_to is required")
    spec = backup_spec(entry, target=target.name, root=target.root)
    volumes = sorted({state.volume_name(target.name, entry.id, v.name) for c in entry.components for v in c.volumes})
    name = schedule.unit_name(entry.id, target=target.name)
    out: dict[str, Any] = {
        "spbe_target": target.name,
        "spbe_root": target.root,
        "spbe_app": entry.id,
        "spbe_stamp": stamp,
        "spbe_purge": purge,
        # the TLS proxy first (it holds the network too; absent when the app has no domain)
        "spbe_containers": [proxy_container_name(target.name, entry.id)]
        + [state.container_name(target.name, entry.id, c.name) for c in reversed(start_order(entry.components))],
        "spbe_network": state.network_name(target.name, entry.id),
        "spbe_volumes": volumes if purge else [],
        "spbe_schedule_paths": [f"/etc/cron.d/{name}", f"/etc/systemd/system/{name}.service",
                                f"/etc/systemd/system/{name}.timer"],
        "spbe_backup_spec": spec.as_data(),
        "spbe_backup_who": who,
    }
    if purge:
        out["spbe_backup_why"] = "pre-purge"
        out["spbe_fetch_dir"] = str(fetch_to)
    return out


# ---------------------------------------------------------------- rotate


def rotation_of(entry: Entry, name: str) -> Secret:
    """The secret ``name`` of ``entry`` if the entry allows rotating it; InvalidInput otherwise."""
    secret = next((s for s in entry.secrets if s.name == name), None)
    if secret is None:
        known = ", ".join(s.name for s in entry.secrets) or "none"
        raise InvalidInput(f"{entry.id} has no secret {name!r} (its secrets: {known})")
    if secret.rotation == "never":
        raise InvalidInput(
            f"{entry.id}: secret {name} must never change after installation (the entry marks it"
            f" rotation: never{': ' + secret.description if secret.description else ''}); refusing to rotate it"
        )
    if secret.rotation is None:
        raise InvalidInput(f"{entry.id}: the entry does not say secret {name} can be rotated (no 'rotation'); refusing")
    return secret


def rotate_vars(entry: Entry, *, target: Target, name: str) -> dict[str, Any]:
    """Variables of ``playbooks/secrets-rotate.yml``: which secret, how it changes (data from
    the entry: for ``postgresql-role`` the component and role, never SQL or shell) and which
    components use it (restarted; the playbook gates on the serving release's health checks)."""
    secret = rotation_of(entry, name)
    users = [c.name for c in entry.components if name in c.secrets]
    if not users:
        raise InvalidInput(f"{entry.id}: no component uses secret {name}; nothing to rotate")
    method: dict[str, Any] = {"type": secret.rotation}
    if secret.postgresql_role is not None:
        pg = secret.postgresql_role
        method.update(component=pg.component, container=state.container_name(target.name, entry.id, pg.component),
                      role=pg.role)
    return {
        "spbe_target": target.name,
        "spbe_root": target.root,
        "spbe_app": entry.id,
        "spbe_rotate": {
            "name": name,
            "length": secret.length,
            "method": method,
            "components": [{"component": c, "container": state.container_name(target.name, entry.id, c)}
                           for c in users],
        },
    }


__all__ = [
    "DEFAULT_KEEP",
    "backup_vars",
    "check_backup_id",
    "check_keep",
    "data_check_vars",
    "data_volumes",
    "fetch_dir",
    "fetch_vars",
    "list_vars",
    "restore_vars",
    "rotate_vars",
    "rotation_of",
    "schedule_vars",
    "uninstall_vars",
    "upload_vars",
]
