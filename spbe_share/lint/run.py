"""Linting the catalog seen by the CLI (built-in + sources), and the quality cache of ``catalog list``."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog.loader import ENTRY_FILE, catalog_roots, discover_entries, get_entry
from ..catalog.roots import CatalogRoot
from ..errors import ValidationFailed
from . import lint_entry, lint_file
from .checks import CHECKS
from .findings import EntryLint

if TYPE_CHECKING:
    from ..workspace import Workspace

CACHE_FILE = "lint-cache.sqlite3"
#: bump when a check changes meaning; the check ids are part of it too
CACHE_VERSION = "1:" + ",".join(sorted(CHECKS))


def lint_catalog(ws: Workspace, app: str | None = None) -> list[EntryLint]:
    """Lint APP (``APP`` or ``SOURCE/APP``) or every entry of every catalog root, invalid ones too."""
    roots = catalog_roots(ws)
    if app is None:
        return [
            lint_file(f, source=r.name, commit=r.commit, repo_root=r.repo_root)
            for r in roots
            for f in discover_entries(r.catalog_dir)
        ]
    try:
        return [lint_entry(get_entry(ws, app))]
    except ValidationFailed:
        source, _, app_id = app.rpartition("/")
        for r in roots:
            f = r.catalog_dir / app_id / ENTRY_FILE
            if (not source or r.name == source) and f.is_file():
                return [lint_file(f, source=r.name, commit=r.commit, repo_root=r.repo_root)]
        raise


def _sig(files: Sequence[str]) -> str:
    out: list[Any] = []
    for f in files:
        try:
            st = os.stat(f)
            out.append([f, st.st_mtime_ns, st.st_size])
        except OSError:
            out.append([f, None, None])
    return json.dumps(out)


class QualityCache:
    """entry file -> quality summary, valid while every file the linter read is unchanged (stat)."""

    def __init__(self, ws: Workspace) -> None:
        ws.ensure()
        ws.cache_dir.mkdir(parents=True, exist_ok=True)
        path = ws.cache_dir / CACHE_FILE
        try:
            self.db = self._open(path)
        except sqlite3.DatabaseError:  # a corrupt cache: start again
            path.unlink(missing_ok=True)
            self.db = self._open(path)
        self.roots = {r.name: r for r in catalog_roots(ws)}

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS quality(path TEXT PRIMARY KEY, version TEXT NOT NULL, "
                   "files TEXT NOT NULL, sig TEXT NOT NULL, quality TEXT NOT NULL)")  # fmt: skip
        return db

    def close(self) -> None:
        self.db.close()

    def quality(self, entry_file: str, source: str) -> dict[str, Any]:
        row = self.db.execute("SELECT version, files, sig, quality FROM quality WHERE path=?", (entry_file,)).fetchone()
        if row and row[0] == CACHE_VERSION and _sig(json.loads(row[1])) == row[2]:
            return dict(json.loads(row[3]))
        root: CatalogRoot | None = self.roots.get(source)
        result = lint_file(Path(entry_file), source=source, commit=root.commit if root else None,
                           repo_root=root.repo_root if root else None)  # fmt: skip
        files = [str(p) for p in result.files_read]
        q = result.quality()
        self.db.execute("INSERT OR REPLACE INTO quality VALUES (?, ?, ?, ?, ?)",
                        (entry_file, CACHE_VERSION, json.dumps(files), _sig(files), json.dumps(q)))  # fmt: skip
        return q


def add_quality(ws: Workspace, rows: list[dict[str, Any]]) -> None:
    """Give every ``catalog list/search`` row its ``quality`` (cached; linted when files changed)."""
    if not rows:
        return
    cache = QualityCache(ws)
    try:
        cache.db.execute("BEGIN")
        for r in rows:
            r["quality"] = cache.quality(r["path"], r["source"])
        cache.db.execute("COMMIT")
    finally:
        cache.close()
