"""Numbered SQL migrations, each tagged with the release that introduced it.

A file ``migrations/NNNN_name.sql`` starts with ``-- introduced: X.Y.Z``. A process of
version V applies, in order, every migration introduced at or before V that the database
has not recorded in ``schema_migrations`` -- all in ONE transaction, under a PostgreSQL
advisory lock, so two starting containers never migrate at the same time and a failing
migration leaves the schema exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .versioning import version_key

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK_KEY = 7_320_451_003  # pg_advisory_xact_lock key of the ppdb schema
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TAG = re.compile(r"^--\s*introduced:\s*(\S+)\s*$", re.MULTILINE)


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    introduced: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def parse(path: Path) -> Migration:
    m = _NAME.match(path.name)
    if not m:
        raise MigrationError(f"{path.name}: nama harus NNNN_nama.sql")
    sql = path.read_text(encoding="utf-8")
    tag = _TAG.search(sql)
    if not tag:
        raise MigrationError(f"{path.name}:1: baris '-- introduced: X.Y.Z' tidak ada")
    version_key(tag.group(1))  # validates SemVer
    return Migration(int(m.group(1)), m.group(2), tag.group(1), sql)


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = sorted((parse(p) for p in directory.glob("*.sql")), key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise MigrationError(f"nomor migrasi harus berurutan dari 0001, ditemukan {numbers}")
    for a, b in zip(found, found[1:], strict=False):
        if version_key(b.introduced) < version_key(a.introduced):
            raise MigrationError(f"migrasi {b.number:04d} diperkenalkan sebelum {a.number:04d}")
    return found


def for_version(migrations: list[Migration], app_version: str) -> list[Migration]:
    """Migrations a process of ``app_version`` knows: introduced at or before it."""
    key = version_key(app_version)
    return [m for m in migrations if version_key(m.introduced) <= key]


def pending(known: list[Migration], applied: dict[int, str]) -> list[Migration]:
    """Known migrations not yet applied; ``applied`` maps number -> checksum.

    A migration applied with a different checksum means the file changed after release:
    refuse to run rather than guess.
    """
    for m in known:
        if m.number in applied and applied[m.number] != m.checksum:
            raise MigrationError(f"migrasi {m.number:04d}_{m.name} berubah setelah diterapkan")
    return [m for m in known if m.number not in applied]


class Runner(Protocol):
    def run(self, sql: str, **params: Any) -> Any: ...


def apply(conn: Runner, app_version: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations for ``app_version``; returns what was applied."""
    known = for_version(discover(directory), app_version)
    conn.run("BEGIN")
    try:
        conn.run("SELECT pg_advisory_xact_lock(:k)", k=LOCK_KEY)
        conn.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number integer PRIMARY KEY, name text NOT NULL, introduced text NOT NULL,"
            " checksum text NOT NULL, app_version text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {int(r[0]): str(r[1]) for r in conn.run("SELECT number, checksum FROM schema_migrations")}
        todo = pending(known, applied)
        for m in todo:
            conn.run(m.sql)
            conn.run(
                "INSERT INTO schema_migrations (number, name, introduced, checksum, app_version)"
                " VALUES (:n, :name, :intro, :sum, :ver)",
                n=m.number, name=m.name, intro=m.introduced, sum=m.checksum, ver=app_version,
            )
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return todo


def schema_version(conn: Runner) -> int:
    rows = conn.run("SELECT coalesce(max(number), 0) FROM schema_migrations")
    return int(rows[0][0])
