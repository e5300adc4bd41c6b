"""What to back up, derived from a catalog entry and a target (pure), and the playbook variables.

The spec is the input of the target-side engine (``playbooks/module_utils/spbe_backup_*.py``,
module ``spbe_backup``); it is also kept on the target as ``<root>/apps/<app>/backup-spec.json``
so scheduled backups (cron/systemd) run without the controller.

Rules (the entry's ``backup:`` section):

* ``databases[]`` of engine ``postgresql``: dumped with ``pg_dump --format=custom`` inside the
  component's container as the superuser ``postgres`` (local socket, peer auth). The name
  must be a plain identifier. Every volume of that component holds the engine's files: it is
  recorded as ``covered`` (by the dump) and never archived raw while the server runs, since
  such a copy is not consistent (see the engine's docstring for why not a cold copy).
* ``databases[]`` of engine ``sqlite``: ``name`` is the file's path inside the component; it
  must lie on one of the component's volumes (a file in the container layer does not
  survive the container, so it cannot be backed up or restored meaningfully).
* ``volumes[]``: archived with ``docker cp`` from the component that mounts them (the SQLite
  database's component when the volume holds one; the database file and its ``-wal``,
  ``-shm``, ``-journal`` are left out of the archive: the SQLite copy covers them).
"""

from __future__ import annotations

import re

from ..catalog.models import Component, Entry
from ..errors import InvalidInput
from ..records import state
from ..records.backupspec import (
    PG_IDENT,
    BackupSpec,
    PgDatabase,
    SpecComponent,
    SpecVolume,
    SqliteDatabase,
)
from .containers import start_order

WHY = ("manual", "scheduled", "pre-upgrade", "pre-restore", "pre-rollback", "pre-purge")
DEFAULT_KEEP = 14  # matches the engine's default and the SOPs (daily backups, 14 days)
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
BACKUP_ID = r"^\d{8}T\d{6}Z-[a-z0-9][a-z0-9-]{0,40}$"


def _mount_of(component: Component, path: str) -> tuple[str, str] | None:
    """(volume name, mount) of the component's volume holding ``path`` (longest mount wins)."""
    best: tuple[str, str] | None = None
    for v in component.volumes:
        mount = v.path.rstrip("/")
        if path.startswith(mount + "/") and (best is None or len(mount) > len(best[1])):
            best = (v.name, mount)
    return best


def backup_spec(entry: Entry, *, target: str, root: str) -> BackupSpec:
    """The backup spec of ``entry`` deployed on ``target`` with data folder ``root`` (pure)."""
    ordered = start_order(entry.components)
    by_name = {c.name: c for c in ordered}
    components = [SpecComponent(name=c.name, container=state.container_name(target, entry.id, c.name))
                  for c in ordered]
    databases: list[PgDatabase | SqliteDatabase] = []
    pg_components: dict[str, str] = {}
    sqlite_by_volume: dict[str, list[SqliteDatabase]] = {}
    for i, db in enumerate(entry.backup.databases):
        where = f"{entry.id}: backup.databases[{i}]"
        comp = by_name[db.component]
        if db.engine == "postgresql":
            if not re.match(PG_IDENT, db.name):
                raise InvalidInput(f"{where}.name: {db.name!r} must be a plain PostgreSQL identifier "
                                   "(lowercase letters, digits, '_')")
            databases.append(PgDatabase(component=db.component, name=db.name))
            pg_components.setdefault(db.component, db.name)
            continue
        path = db.name
        if not path.startswith("/") or ".." in path.split("/") or not re.match(r"^[A-Za-z0-9._/-]+$", path):
            raise InvalidInput(f"{where}.name: {path!r} must be the absolute path of the SQLite file "
                               "inside the component")
        found = _mount_of(comp, path)
        if found is None:
            raise InvalidInput(f"{where}.name: {path} is not on a volume of component {db.component}; "
                               "a database outside a volume is lost with its container")
        sq = SqliteDatabase(component=db.component, name=path, volume=found[0], mount=found[1])
        databases.append(sq)
        sqlite_by_volume.setdefault(found[0], []).append(sq)

    volumes: list[SpecVolume] = []
    for name in entry.backup.volumes:
        mounting = [c for c in ordered if any(v.name == name for v in c.volumes)]
        pg = next((c for c in mounting if c.name in pg_components), None)
        if pg is not None:
            mount = next(v.path for v in pg.volumes if v.name == name)
            volumes.append(SpecVolume(
                name=name, component=pg.name, mount=mount, method="covered",
                covered_by=f"postgresql database {pg_components[pg.name]} of component {pg.name} (pg_dump)",
            ))
            continue
        sqlites = sqlite_by_volume.get(name, [])
        comp = by_name[sqlites[0].component] if sqlites else mounting[0]
        mount = next(v.path for v in comp.volumes if v.name == name).rstrip("/")
        exclude = [sq.name[len(mount) + 1:] + suffix for sq in sqlites if sq.component == comp.name
                   for suffix in SQLITE_COMPANIONS]
        volumes.append(SpecVolume(name=name, component=comp.name, mount=mount, method="archive", exclude=exclude))
    return BackupSpec(app=entry.id, target=target, root=root, components=components, databases=databases,
                      volumes=volumes)


# ---------------------------------------------------------------- playbook variables (pure)

