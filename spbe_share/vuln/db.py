"""The offline vulnerability database of a workspace: OSV exports imported with ``spbe-share
vulndb import FILE``, carried into the operator's network like the provision bundles.

Layout: ``<workspace>/vulndb/osv.sqlite3`` (the records, indexed by ecosystem and package) and
``<workspace>/vulndb/imports.json`` (every import: file name, SHA-256, when, the newest
``modified`` date of its records, how many records and which ecosystems). An import reads a zip
of OSV JSON records (an ecosystem's ``all.zip``), or one JSON file holding a record or a list of
records, each validated; a record already imported is replaced by the newer import (by id), a
withdrawn one is removed. A file that does not read or validate changes nothing (one
transaction), and the error names the member.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidInput, NotFound, VerificationFailed
from .osv import OsvRecord

if TYPE_CHECKING:
    from ..workspace import Workspace

MAX_RECORD_BYTES = 64 << 20
MAX_TOTAL_BYTES = 16 << 30
MAX_RECORDS = 5_000_000
DB_NAME = "osv.sqlite3"
IMPORTS_NAME = "imports.json"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, modified TEXT, doc TEXT NOT NULL, import TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS affected (id TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS affected_name ON affected (name, ecosystem);
CREATE INDEX IF NOT EXISTS affected_id ON affected (id);
"""


class ImportRecord(BaseModel):
    """One import of an OSV export."""

    model_config = ConfigDict(extra="forbid")
    file: str = Field(description="the file's name as given")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    imported_at: dt.datetime
    newest_modified: str | None = Field(default=None, description="the newest 'modified' of its records: data as of")
    records: int
    withdrawn: int = 0
    ecosystems: list[str]


def vulndb_dir(ws: Workspace) -> Path:
    return ws.home / "vulndb"


def package_key(ecosystem: str, name: str) -> str:
    """The name a package is indexed by: PyPI names normalized (PEP 503), others as written."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        from packaging.utils import canonicalize_name

        return str(canonicalize_name(name))
    return name


def read_imports(ws: Workspace) -> list[ImportRecord]:
    path = vulndb_dir(ws) / IMPORTS_NAME
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        return [ImportRecord.model_validate(x) for x in json.loads(raw)]
    except (ValueError, ValidationError, TypeError) as exc:
        raise InvalidInput(f"{path}: not an imports file ({str(exc).splitlines()[0]})") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: a folder, not an OSV export") from None
    return h.hexdigest()


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, JSON bytes) of every record document in the export."""
    from ..outside import zip_members

    with path.open("rb") as f:
        zip_magic = f.read(4) == b"PK\x03\x04"
    if zip_magic:
        yield from ((f"{path}: {name}", data) for name, data in zip_members(
            path, suffix=".json", member_limit=MAX_RECORD_BYTES, total_limit=MAX_TOTAL_BYTES, count_limit=MAX_RECORDS))  # fmt: skip
        return
    size = path.stat().st_size
    if size > MAX_TOTAL_BYTES:
        raise InvalidInput(f"{path}: larger than {MAX_TOTAL_BYTES} bytes")
    yield str(path), path.read_bytes()


def _records(path: Path) -> Iterator[tuple[str, OsvRecord]]:
    from ..outside import OutsideJSONError, loads_json

    for where, data in _documents(path):
        try:
            doc = loads_json(data)
        except OutsideJSONError as exc:
            raise InvalidInput(f"{where}: not an OSV record ({exc})") from None
        docs = doc if isinstance(doc, list) else [doc]
        for i, one in enumerate(docs):
            shown = f"{where}[{i}]" if isinstance(doc, list) else where
            if not isinstance(one, dict):
                raise InvalidInput(f"{shown}: not an OSV record (a JSON object)")
            try:
                yield shown, OsvRecord.model_validate(one)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                loc = ".".join(str(p) for p in first["loc"]) or "(record)"
                raise InvalidInput(f"{shown}: {loc}: {first['msg']}") from None


def connect(ws: Workspace) -> sqlite3.Connection:
    folder = vulndb_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / DB_NAME)
    db.executescript(_SCHEMA)
    return db


def import_file(ws: Workspace, path: Path, *, expect_sha256: str | None = None,
                now: dt.datetime | None = None) -> ImportRecord:  # fmt: skip
    """Import the OSV export ``path`` (see the module doc); returns what was recorded."""
    digest = _sha256(path)
    if expect_sha256 is not None and digest != expect_sha256.lower().removeprefix("sha256:"):
        raise VerificationFailed(f"{path}: sha256 {digest}, not the expected {expect_sha256}; nothing was imported")
    db = connect(ws)
    count = withdrawn = 0
    ecosystems: set[str] = set()
    newest: str | None = None
    try:
        with db:  # one transaction: all or nothing
            for _where, rec in _records(path):
                db.execute("DELETE FROM affected WHERE id = ?", (rec.id,))
                if rec.withdrawn:
                    db.execute("DELETE FROM records WHERE id = ?", (rec.id,))
                    withdrawn += 1
                    continue
                slim = rec.model_dump(mode="json", exclude={"details"}, exclude_none=True)
                db.execute("INSERT OR REPLACE INTO records (id, modified, doc, import) VALUES (?, ?, ?, ?)",
                           (rec.id, rec.modified, json.dumps(slim, separators=(",", ":")), digest))  # fmt: skip
                keys = {(a.package.ecosystem, package_key(a.package.ecosystem, a.package.name))
                        for a in rec.affected if a.package is not None}  # fmt: skip
                db.executemany("INSERT INTO affected (id, ecosystem, name) VALUES (?, ?, ?)",
                               [(rec.id, e, n) for e, n in sorted(keys)])  # fmt: skip
                ecosystems.update(e for e, _n in keys)
                if rec.modified and (newest is None or rec.modified > newest):
                    newest = rec.modified
                count += 1
    finally:
        db.close()
    if count == 0 and withdrawn == 0:
        raise InvalidInput(f"{path}: no OSV record in it")
    done = ImportRecord(file=path.name, sha256=digest, imported_at=now or dt.datetime.now(dt.UTC),
                        newest_modified=newest, records=count, withdrawn=withdrawn, ecosystems=sorted(ecosystems))  # fmt: skip
    from ..files import atomic_write_text

    log = [*read_imports(ws), done]
    atomic_write_text(vulndb_dir(ws) / IMPORTS_NAME,
                      json.dumps([r.model_dump(mode="json") for r in log], indent=2) + "\n")  # fmt: skip
    return done


class VulnDB:
    """Read access to the imported records (``open_db``: None when nothing was imported)."""

    def __init__(self, db: sqlite3.Connection, imports: list[ImportRecord]) -> None:
        self._db = db
        self.imports = imports
        self._cache: dict[tuple[str, str], list[tuple[str, OsvRecord]]] = {}

    def close(self) -> None:
        self._db.close()

    def candidates(self, key_ecosystem: str, name: str) -> list[tuple[str, OsvRecord]]:
        """(ecosystem as the record writes it, record) for every record naming package ``name``
        in an ecosystem whose base is ``key_ecosystem`` ("Debian", "PyPI")."""
        key = package_key(key_ecosystem, name)
        if (key_ecosystem, key) in self._cache:
            return self._cache[(key_ecosystem, key)]
        rows = self._db.execute(
            "SELECT a.ecosystem, r.doc FROM affected a JOIN records r ON r.id = a.id WHERE a.name = ?"
            " ORDER BY r.id, a.ecosystem", (key,),
        ).fetchall()  # fmt: skip
        out = [(eco, OsvRecord.model_validate_json(doc)) for eco, doc in rows
               if eco.split(":", 1)[0] == key_ecosystem]  # fmt: skip
        self._cache[(key_ecosystem, key)] = out
        return out


def open_db(ws: Workspace) -> VulnDB | None:
    imports = read_imports(ws)
    if not imports or not (vulndb_dir(ws) / DB_NAME).is_file():
        return None
    return VulnDB(connect(ws), imports)


__all__ = ["ImportRecord", "VulnDB", "import_file", "open_db", "package_key", "read_imports", "vulndb_dir"]
