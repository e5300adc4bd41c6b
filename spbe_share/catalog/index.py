"""Search index over every catalog entry: SQLite FTS5 (stdlib), cached in ``ws.cache_dir``.

The index is a cache: it can be deleted at any time and is rebuilt by itself. Before every
query it is brought up to date *incrementally*, cheaply:

* a git source is trusted by its commit (recorded in ``sources.yml``): same commit as
  indexed, nothing is read; another commit, its entry files are compared by mtime/size;
* the built-in catalog (a working tree that donors edit) is compared by the mtime and
  size of each ``spbe-app.yaml`` (one ``stat`` per entry; no file is read unless changed).

Only new or changed entry files are parsed and checked again; invalid ones are remembered
with their problems (not searchable, counted so the CLI can point at ``catalog validate``).
Text search matches name, summary and description (id and en), keywords, donor, domain and
the names of regulations of every release; filters combine with AND.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .loader import ENTRY_FILE, check_entry, find_duplicates
from .models import Entry
from .roots import BUILTIN, CatalogRoot

if TYPE_CHECKING:
    from ..workspace import Workspace

SCHEMA_VERSION = "5"
INDEX_FILE = "catalog-index.sqlite3"

_DDL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE roots(name TEXT PRIMARY KEY, repo_root TEXT NOT NULL, commit_id TEXT);
CREATE TABLE files(
    path TEXT PRIMARY KEY, root TEXT NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    problems TEXT);
CREATE INDEX files_root ON files(root);
CREATE TABLE entries(
    rowid INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, source TEXT NOT NULL, id TEXT NOT NULL,
    name TEXT NOT NULL, jenis TEXT NOT NULL, layanan TEXT NOT NULL, domain TEXT NOT NULL,
    donor TEXT NOT NULL, kode_wilayah TEXT NOT NULL, regulations TEXT NOT NULL, row TEXT NOT NULL);
CREATE INDEX entries_id ON entries(id);
CREATE VIRTUAL TABLE fts USING fts5(
    name, summary, description, keywords, donor, domain, regulations,
    tokenize = "trigram");
"""
# bm25 weights, in the column order of the fts table
_WEIGHTS = "10.0, 4.0, 1.0, 6.0, 3.0, 3.0, 3.0"


@dataclass(frozen=True)
class RefreshStats:
    scanned_roots: int = 0
    stat_files: int = 0
    parsed: int = 0
    removed: int = 0


@dataclass
class SearchResult:
    rows: list[dict[str, Any]]
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    invalid: int = 0  # entry files that failed validation (not searchable)
    refresh: RefreshStats = field(default_factory=RefreshStats)


def entry_row(entry: Entry, *, source: str, path: Path) -> dict[str, Any]:
    """The summary of an entry that ``catalog list/search`` print (and ``--json`` gives)."""
    latest = entry.latest
    regulations = sorted({reg.name for r in entry.releases for reg in r.regulations})
    return {
        "source": source,
        "id": entry.id,
        "name": entry.name,
        "version": latest.version,
        "date": latest.date.isoformat(),
        "summary": {"id": entry.summary.id, "en": entry.summary.en},
        "jenis": entry.classification.jenis.value,
        "layanan": entry.classification.layanan.value,
        "domain": entry.classification.domain,
        "donor": entry.donor.pemda,
        "kode_wilayah": entry.donor.kode_wilayah,
        "license": entry.license,
        "keywords": list(entry.keywords),
        "regulations": regulations,
        "path": str(path),
    }


# (problems, (values of the entries row, values of the fts row) or None if invalid)
_Analysed = tuple[list[str], tuple[tuple[Any, ...], tuple[Any, ...]] | None]
PARALLEL_FROM = 400
RANK_ALL = 3000  # rank by BM25 when at most this many entries match the words (see search)  # parse in worker processes when this many entry files changed


def _analyse(root: CatalogRoot, path: str) -> _Analysed:
    """Load and check one entry file; return what the index stores about it."""
    loaded, problems = check_entry(Path(path), source=root.name, commit=root.commit, repo_root=root.repo_root)
    if loaded is None:
        return problems, None
    e = loaded.entry
    row = entry_row(e, source=root.name, path=Path(path))
    donor = f"{e.donor.pemda} {e.donor.unit} {e.donor.kode_wilayah}"
    regs = "\n".join(row["regulations"])
    entries_values = (
        path, root.name, e.id, e.name, row["jenis"], row["layanan"], row["domain"],
        donor, e.donor.kode_wilayah, regs, json.dumps(row, ensure_ascii=False),
    )
    fts_values = (
        f"{e.name} {e.id}", f"{e.summary.id}\n{e.summary.en}", f"{e.description.id}\n{e.description.en}",
        " ".join(e.keywords), donor, row["domain"], regs,
    )
    return problems, (entries_values, fts_values)


def _analyse_chunk(root: CatalogRoot, paths: list[str]) -> list[_Analysed]:
    return [_analyse(root, p) for p in paths]


def _analyse_many(root: CatalogRoot, paths: list[str]) -> Iterator[_Analysed]:
    """Analyse entry files, in worker processes when there are many (a new big source)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(paths) < PARALLEL_FROM or workers < 2:
        for p in paths:
            yield _analyse(root, p)
        return
    from concurrent.futures import ProcessPoolExecutor

    size = 200
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    with ProcessPoolExecutor(workers) as pool:
        for results in pool.map(_analyse_chunk, [root] * len(chunks), chunks):
            yield from results


def _scan(catalog_dir: Path) -> dict[str, tuple[int, int]]:
    """path -> (mtime_ns, size) of every entry file; one scandir plus one stat per entry."""
    out: dict[str, tuple[int, int]] = {}
    try:
        it = os.scandir(catalog_dir)
    except (FileNotFoundError, NotADirectoryError):
        return out
    with it:
        for d in it:
            if d.name.startswith(("_", ".")):
                continue
            p = os.path.join(d.path, ENTRY_FILE)
            try:
                st = os.stat(p)
            except (FileNotFoundError, NotADirectoryError):
                continue
            out[p] = (st.st_mtime_ns, st.st_size)
    return out


_TOKEN = re.compile(r"\w+", re.UNICODE)


def split_words(text: str) -> tuple[str | None, list[str]]:
    """User text -> (FTS5 query for words of 3+ letters, shorter words).

    The index is a trigram index: a word matches anywhere inside a word, so "arsip" finds
    "kearsipan" and "layan" finds "pelayanan" (Indonesian affixes). Every word must match.
    Words shorter than 3 letters cannot use trigrams; they are matched with LIKE.
    """
    words = _TOKEN.findall(text)
    long = [w for w in words if len(w) >= 3]
    short = [w for w in words if len(w) < 3]
    return (" ".join(f'"{w}"' for w in long) if long else None), short


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CatalogIndex:
    """The index file; use :func:`open_index` to get one that is up to date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._open()
        except sqlite3.DatabaseError:  # a corrupt cache: start again
            self.path.unlink(missing_ok=True)
            db = self._open()
        return db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            r = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            version = r[0] if r else None
        except sqlite3.OperationalError:  # an empty file, or not ours
            version = None
        if version == SCHEMA_VERSION:
            return db
        # another layout (older spbe-share) or a new file: it is a cache, start afresh
        db.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript("BEGIN;" + _DDL + f"INSERT INTO meta VALUES ('schema', '{SCHEMA_VERSION}');COMMIT;")
        return db

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ refresh

    def refresh(self, roots: Sequence[CatalogRoot]) -> RefreshStats:
        """Bring the index up to date with ``roots`` (see the module docstring)."""
        db = self.db
        known = {r[0]: (r[1], r[2]) for r in db.execute("SELECT name, repo_root, commit_id FROM roots")}
        wanted = {r.name: r for r in roots}
        scanned = stat_files = parsed = removed = 0
        todo: list[tuple[CatalogRoot, dict[str, tuple[int, int]]]] = []
        for root in roots:
            prev = known.get(root.name)
            if root.commit is not None and prev == (str(root.repo_root), root.commit):
                continue  # a git source at the commit already indexed
            scanned += 1
            files = _scan(root.catalog_dir)
            stat_files += len(files)
            todo.append((root, files))
        gone_roots = [name for name in known if name not in wanted]
        if not todo and not gone_roots:
            return RefreshStats()
        db.execute("BEGIN IMMEDIATE")
        try:
            for name in gone_roots:
                removed += self._drop_root(name)
            for root, files in todo:
                indexed = {
                    r[0]: (r[1], r[2])
                    for r in db.execute("SELECT path, mtime_ns, size FROM files WHERE root=?", (root.name,))
                }
                for path in indexed.keys() - files.keys():
                    self._drop_file(path)
                    removed += 1
                changed = sorted(p for p, sig in files.items() if indexed.get(p) != sig)
                for path, analysed in zip(changed, _analyse_many(root, changed), strict=True):
                    self._store(root, path, files[path], analysed)
                    parsed += 1
                db.execute(
                    "INSERT OR REPLACE INTO roots VALUES (?, ?, ?)",
                    (root.name, str(root.repo_root), root.commit),
                )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('duplicates', ?), ('invalid', ?)",
                (json.dumps(self._duplicates()), str(self._invalid_count())),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return RefreshStats(scanned, stat_files, parsed, removed)

    def _drop_root(self, name: str) -> int:
        paths = [r[0] for r in self.db.execute("SELECT path FROM files WHERE root=?", (name,))]
        for p in paths:
            self._drop_file(p)
        self.db.execute("DELETE FROM roots WHERE name=?", (name,))
        return len(paths)

    def _drop_file(self, path: str) -> None:
        db = self.db
        r = db.execute("SELECT rowid FROM entries WHERE path=?", (path,)).fetchone()
        if r:
            db.execute("DELETE FROM fts WHERE rowid=?", (r[0],))
            db.execute("DELETE FROM entries WHERE rowid=?", (r[0],))
        db.execute("DELETE FROM files WHERE path=?", (path,))

    def _store(self, root: CatalogRoot, path: str, sig: tuple[int, int], analysed: _Analysed) -> None:
        problems, record = analysed
        self._drop_file(path)
        self.db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?)",
            (path, root.name, sig[0], sig[1], json.dumps(problems) if problems else None),
        )
        if record is None:
            return
        entries_values, fts_values = record
        cur = self.db.execute(
            "INSERT INTO entries(path, source, id, name, jenis, layanan, domain, donor, kode_wilayah, "
            "regulations, row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entries_values,
        )
        self.db.execute(
            "INSERT INTO fts(rowid, name, summary, description, keywords, donor, domain, regulations) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cur.lastrowid, *fts_values),
        )

    # ------------------------------------------------------------ queries

    def search(
        self,
        text: str = "",
        *,
        jenis: str | None = None,
        domain: str | None = None,
        donor: str | None = None,
        regulation: str | None = None,
        source: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Matching entry rows, best first.

        Ranking: BM25 (name and keywords weigh most) when at most :data:`RANK_ALL` entries
        match the words; for very common words (BM25 over tens of thousands of rows costs
        more than the time budget) entries whose name or keywords match come first, then the
        rest, each by id.
        """
        where: list[str] = []
        params: list[Any] = []
        q, short = split_words(text)
        for w in short:
            where.append(
                "(fts.name || ' ' || fts.summary || ' ' || fts.description || ' ' || fts.keywords || ' ' "
                "|| fts.donor || ' ' || fts.domain || ' ' || fts.regulations) LIKE ? ESCAPE '\\'"
            )
            params.append(_like(w))
        for cond, value in (
            ("e.jenis = ?", jenis),
            ("e.domain LIKE ? ESCAPE '\\'", _like(domain) if domain else None),
            ("e.donor LIKE ? ESCAPE '\\'", _like(donor) if donor else None),
            ("e.regulations LIKE ? ESCAPE '\\'", _like(regulation) if regulation else None),
            ("e.source = ?", source),
        ):
            if value:
                where.append(cond)
                params.append(value)
        filters = "".join(f" AND {w}" for w in where)
        join = "SELECT e.rowid, e.row FROM fts JOIN entries e ON e.rowid = fts.rowid WHERE "
        if q is None:
            base = join + "1" if short else "SELECT e.rowid, e.row FROM entries e WHERE 1"
            return self._rows(base + filters + " ORDER BY e.id, e.source", params, limit)
        many = self.db.execute(
            "SELECT count(*) FROM (SELECT rowid FROM fts WHERE fts MATCH ? LIMIT ?)", (q, RANK_ALL + 1)
        ).fetchone()[0] > RANK_ALL
        if not many:
            sql = join + "fts MATCH ?" + filters + f" ORDER BY bm25(fts, {_WEIGHTS}), e.id, e.source"
            return self._rows(sql, [q, *params], limit)
        first = self._rows(
            join + "fts MATCH ?" + filters + " ORDER BY e.id, e.source", [f"{{name keywords}} : ({q})", *params],
            limit,
        )
        if limit is not None and len(first) >= limit:
            return first
        rest = self._rows(
            join + "fts MATCH ?" + filters + " AND e.rowid NOT IN (SELECT rowid FROM fts WHERE fts MATCH ?)"
            " ORDER BY e.id, e.source",
            [q, *params, f"{{name keywords}} : ({q})"],
            None if limit is None else limit - len(first),
        )
        return first + rest

    def _rows(self, sql: str, params: list[Any], limit: int | None) -> list[dict[str, Any]]:
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        return [json.loads(r[1]) for r in self.db.execute(sql, params)]

    def duplicates(self) -> dict[str, list[str]]:
        """App id -> sources carrying it (ids in several sources); computed at refresh."""
        r = self.db.execute("SELECT value FROM meta WHERE key='duplicates'").fetchone()
        return json.loads(r[0]) if r else self._duplicates()

    def _duplicates(self) -> dict[str, list[str]]:
        rows = self.db.execute(
            "SELECT id, source FROM entries WHERE id IN "
            "(SELECT id FROM entries GROUP BY id HAVING count(*) > 1) ORDER BY id"
        ).fetchall()
        pairs = sorted(rows, key=lambda r: (r[0], r[1] != BUILTIN, r[1]))
        return find_duplicates(pairs)

    def invalid_count(self) -> int:
        r = self.db.execute("SELECT value FROM meta WHERE key='invalid'").fetchone()
        return int(r[0]) if r else self._invalid_count()

    def _invalid_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM files WHERE problems IS NOT NULL").fetchone()[0])

    def problems(self) -> list[str]:
        out: list[str] = []
        for (p,) in self.db.execute("SELECT problems FROM files WHERE problems IS NOT NULL ORDER BY path"):
            out += json.loads(p)
        return out

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM entries").fetchone()[0])


def index_path(ws: Workspace) -> Path:
    return ws.cache_dir / INDEX_FILE


def open_index(ws: Workspace, roots: Iterable[CatalogRoot] | None = None) -> tuple[CatalogIndex, RefreshStats]:
    """The workspace's index, brought up to date with the catalog (built-in + sources)."""
    from .loader import catalog_roots

    ws.ensure()  # the workspace home is created 0700 before the cache inside it
    index = CatalogIndex(index_path(ws))
    stats = index.refresh(list(roots) if roots is not None else catalog_roots(ws))
    return index, stats


def search_catalog(
    ws: Workspace,
    text: str = "",
    *,
    jenis: str | None = None,
    domain: str | None = None,
    donor: str | None = None,
    regulation: str | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> SearchResult:
    """Search the whole catalog (the index is refreshed first). ``text=''`` lists everything."""
    index, stats = open_index(ws)
    try:
        rows = index.search(
            text, jenis=jenis, domain=domain, donor=donor, regulation=regulation, source=source, limit=limit
        )
        return SearchResult(rows, index.duplicates(), index.invalid_count(), stats)
    finally:
        index.close()
