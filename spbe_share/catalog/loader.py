"""Loading and checking catalog entries, ``<repo>/catalog/<app-id>/spbe-app.yaml``.

A *catalog repository* is a folder (usually a git repository) that holds ``catalog/``;
each entry folder ``catalog/<id>/`` holds ``spbe-app.yaml`` and the files it names
(docs, compose manifest). Entry folders whose name starts with ``_`` or ``.`` are skipped
(drafts, ``.git``). Paths under ``build.context`` and ``config[].template`` are relative to
the repository root, so ``shared_apps/`` and ``templates/`` live next to ``catalog/``.

Every problem is one line ``file:line: field.path: message``; checking never stops at the
first problem or the first file. The catalog seen by the CLI is the built-in catalog
(``ws.root``, overridable with ``$SPBE_SHARE_CATALOG``) plus every git source
(:mod:`spbe_share.catalog.sources`); the same app id in two sources is reported, never
silently shadowed: :func:`get_entry` asks for ``SOURCE/APP`` then.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInput, NotFound, ValidationFailed
from ..outside import LINK, link_problem
from ..yamlio import LoadedYaml, format_loc, load_yaml, validate_model
from .models import ENV_NAME, KODE_WILAYAH, SEMVER, SLUG, Entry
from .roots import BUILTIN, CATALOG_DIR, CatalogRoot

if TYPE_CHECKING:
    from ..workspace import Workspace

ENTRY_FILE = "spbe-app.yaml"
@dataclass(frozen=True)
class LoadedEntry:
    """A validated entry and where it came from."""

    entry: Entry
    path: Path  # .../catalog/<id>/spbe-app.yaml
    entry_dir: Path  # .../catalog/<id>
    repo_root: Path  # the folder that holds catalog/
    source: str = BUILTIN  # "builtin" or the name of a git source
    commit: str | None = None  # the source's commit in use, when it comes from git

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def qualified_id(self) -> str:
        return f"{self.source}/{self.entry.id}"

    def resolve(self, relpath: str, base: str = "entry") -> Path:
        """Absolute path of a file the entry names (``base`` 'entry' or 'repo')."""
        return (self.entry_dir if base == "entry" else self.repo_root) / relpath


@dataclass
class ValidationReport:
    """The result of checking files: every problem found, and how many entries were read."""

    entries: list[LoadedEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # entry files read (valid or not)

    @property
    def ok(self) -> bool:
        return not self.problems


# pydantic says "String should match pattern '<regex>'": say what is wanted instead
_PATTERN_HELP = {
    SLUG: "must be lowercase letters, digits and '-' (e.g. 'surat-masuk')",
    SEMVER: "must be a Semantic Version such as 1.2.0 or 2.0.0-rc.1",
    KODE_WILAYAH: "must be a kode wilayah Kemendagri such as 94 or 94.71",
    ENV_NAME: "must be UPPER_CASE letters, digits and '_' (e.g. DB_PASSWORD)",
}


def friendly(problem: str) -> str:
    for pattern, help_text in _PATTERN_HELP.items():
        problem = problem.replace(f"String should match pattern '{pattern}'", help_text)
    return problem


# ---------------------------------------------------------------- discovery


def _skipped(name: str) -> bool:
    return name.startswith(("_", "."))


def discover_entries(catalog_dir: Path) -> list[Path]:
    """``spbe-app.yaml`` of every entry folder under ``catalog_dir``, sorted by folder name."""
    try:
        with os.scandir(catalog_dir) as it:
            names = sorted(d.name for d in it if not _skipped(d.name) and d.is_dir())
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    out = []
    for name in names:
        f = catalog_dir / name / ENTRY_FILE
        if f.is_file():
            out.append(f)
    return out


def repo_root_of(entry_file: Path) -> Path | None:
    """The repository root of ``<root>/catalog/<id>/spbe-app.yaml``, or None if not laid out so."""
    entry_dir = entry_file.parent
    if entry_dir.parent.name != CATALOG_DIR:
        return None
    return entry_dir.parent.parent


# ---------------------------------------------------------------- one entry


def _file_problems(entry: Entry, doc: LoadedYaml, entry_dir: Path, repo_root: Path | None) -> list[str]:
    problems: list[str] = []
    missing_contexts: set[str] = set()
    for loc, rel, base in entry.referenced_files():
        line = doc.line_of(loc)
        where = f"{doc.path}:{line}: {format_loc(loc)}"
        if base == "repo" and repo_root is None:
            problems.append(
                f"{where}: cannot check {rel}: the entry is not inside <repository>/{CATALOG_DIR}/<id>/"
            )
            continue
        root = entry_dir if base == "entry" else repo_root
        assert root is not None
        kind = _kind_of(root / rel)
        if kind.startswith("cannot"):
            problems.append(f"{where}: {kind}: {rel[:200]}")
            continue
        is_context = loc[-1] == "context"
        if loc[-1] == "dockerfile" and any(rel.startswith(c + "/") for c in missing_contexts):
            continue  # already reported as a missing (or linked) build context
        link = _link(root, rel, folder=is_context)
        if link is not None:  # a symlink on its way: it could lead to the operator's own files
            missing_contexts.add(rel)
            problems.append(f"{where}: {rel}: {link}")
            continue
        if is_context:
            if kind != "dir":
                missing_contexts.add(rel)
                problems.append(f"{where}: directory not found: {rel}")
            continue
        if kind != "file":
            what = "not a file" if kind != "missing" else "file not found"
            problems.append(f"{where}: {what}: {rel}")
    return problems


def _link(root: Path, rel: str, *, folder: bool = False) -> str | None:
    """The refusal of a donor file (or folder) ``rel`` because of a symlink on its way, or None
    (also when it is just missing or of the wrong kind: the caller says so). ``a/./b`` is ``a/b``."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    problem = link_problem(root, "/".join(parts), folder=folder) if parts else None
    return problem if problem is not None and LINK in problem else None


def _kind_of(path: Path) -> str:
    """``file``, ``dir``, ``other``, ``missing`` or ``cannot check (<why>)`` (name too long, ...)."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        return f"cannot check ({exc.strerror})"
    import stat

    return "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"


def check_entry(
    path: Path,
    *,
    source: str = BUILTIN,
    commit: str | None = None,
    repo_root: Path | None = None,
) -> tuple[LoadedEntry | None, list[str]]:
    """Load and check one ``spbe-app.yaml``; return the entry (None if invalid) and ALL problems.

    Checks: YAML syntax, the model, the folder name equals ``id``, every named file exists and is
    reached without a symlink (:func:`spbe_share.outside.link_problem`): a donor's file is never
    a way to the operator's own files.
    """
    entry_dir = path.parent
    root = repo_root if repo_root is not None else repo_root_of(path)
    own = f"{CATALOG_DIR}/{entry_dir.name}/{ENTRY_FILE}"
    if root is not None and path == root / own and (link := _link(root, own)):
        # a linked entry file or folder: the entry, and every file it names, would be read from
        # wherever the link leads (and a YAML error would quote that file)
        return None, [f"{path}:1: {own}: {link}"]
    try:
        doc = load_yaml(path)
    except InvalidInput as exc:
        return None, [exc.message]
    problems: list[str] = []
    data = doc.data
    # the folder-name check also runs when the model fails, so one pass shows everything
    raw_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(raw_id, str) and raw_id.strip() != entry_dir.name:
        problems.append(
            f"{path}:{doc.line_of(('id',))}: id: must equal the entry's folder name "
            f"{entry_dir.name!r}"
        )
    try:
        entry = validate_model(Entry, doc)
    except ValidationFailed as exc:
        return None, [friendly(p) for p in exc.problems] + problems
    problems += _file_problems(entry, doc, entry_dir, root)
    if problems:
        return None, problems
    return (
        LoadedEntry(
            entry=entry,
            path=path,
            entry_dir=entry_dir,
            repo_root=root if root is not None else entry_dir,
            source=source,
            commit=commit,
        ),
        [],
    )


def load_entry(
    path: Path, *, source: str = BUILTIN, commit: str | None = None, repo_root: Path | None = None
) -> LoadedEntry:
    """Load one entry file; raise :class:`ValidationFailed` listing every problem."""
    loaded, problems = check_entry(path, source=source, commit=commit, repo_root=repo_root)
    if loaded is None:
        raise ValidationFailed(problems)
    return loaded


# ---------------------------------------------------------------- many entries


def _expand(path: Path) -> tuple[list[Path], list[str]]:
    """Entry files named by ``path``: an entry file, an entry folder, catalog/ or a repository."""
    if path.is_file():
        return [path], []
    if not path.exists():
        return [], [f"{path}: not found"]
    if not path.is_dir():
        return [], [f"{path}: not a file or folder"]
    if (path / ENTRY_FILE).is_file():
        return [path / ENTRY_FILE], []
    if (path / CATALOG_DIR).is_dir():
        path = path / CATALOG_DIR
    files = discover_entries(path)
    if not files:
        return [], [f"{path}: no catalog entries found (expected {CATALOG_DIR}/<id>/{ENTRY_FILE})"]
    return files, []


def validate_paths(paths: Iterable[Path]) -> ValidationReport:
    """Check entry files, entry folders or catalog roots; collect every problem of the run."""
    report = ValidationReport()
    seen: set[Path] = set()
    for p in paths:
        files, problems = _expand(Path(p))
        report.problems += problems
        for f in files:
            key = f.resolve()
            if key in seen:
                continue
            seen.add(key)
            report.checked += 1
            loaded, probs = check_entry(f)
            report.problems += probs
            if loaded is not None:
                report.entries.append(loaded)
    return report


@dataclass
class Catalog:
    """Entries of several catalog roots; duplicates are kept (and reported), never shadowed."""

    roots: list[CatalogRoot]
    entries: list[LoadedEntry]
    problems: list[str]

    def duplicates(self) -> dict[str, list[str]]:
        """App id -> the sources that carry it, for every id in more than one source."""
        return find_duplicates((e.id, e.source) for e in self.entries)

    def get(self, app: str) -> LoadedEntry:
        source, _, app_id = app.rpartition("/")
        matches = [e for e in self.entries if e.id == app_id and (not source or e.source == source)]
        return _pick(app, matches, [r.name for r in self.roots])


def find_duplicates(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    by_id: dict[str, list[str]] = {}
    for app_id, source in pairs:
        by_id.setdefault(app_id, []).append(source)
    return {k: v for k, v in sorted(by_id.items()) if len(v) > 1}


def duplicate_warnings(dups: dict[str, list[str]]) -> list[str]:
    return [
        f"app {app!r} is in several sources ({', '.join(srcs)}); "
        f"name it as SOURCE/APP, e.g. {srcs[-1]}/{app}"
        for app, srcs in dups.items()
    ]


def _pick(app: str, matches: Sequence[LoadedEntry], source_names: Sequence[str]) -> LoadedEntry:
    if len(matches) == 1:
        return matches[0]
    if not matches:
        source, _, _ = app.rpartition("/")
        if source and source not in source_names:
            raise NotFound(f"unknown catalog source {source!r} (known: {', '.join(source_names)})")
        raise NotFound(f"no app {app!r} in the catalog (try: spbe-share catalog search)")
    srcs = ", ".join(m.source for m in matches)
    raise InvalidInput(
        f"app {app!r} is in several sources ({srcs}); name it as SOURCE/APP, "
        f"e.g. {matches[-1].source}/{app}"
    )


def load_catalog(roots: Sequence[CatalogRoot]) -> Catalog:
    """Load every entry of every root (slow for huge catalogs: search uses the index)."""
    entries: list[LoadedEntry] = []
    problems: list[str] = []
    for root in roots:
        for f in discover_entries(root.catalog_dir):
            loaded, probs = check_entry(f, source=root.name, commit=root.commit, repo_root=root.repo_root)
            problems += probs
            if loaded is not None:
                entries.append(loaded)
    return Catalog(roots=list(roots), entries=entries, problems=problems)


# ---------------------------------------------------------------- workspace level


def catalog_roots(ws: Workspace) -> list[CatalogRoot]:
    """The built-in catalog first, then every git source that has a usable copy."""
    from .sources import source_roots

    return [CatalogRoot(BUILTIN, ws.root), *source_roots(ws)]


def open_catalog(ws: Workspace) -> Catalog:
    return load_catalog(catalog_roots(ws))


def get_entry(ws: Workspace, app: str) -> LoadedEntry:
    """The entry of ``app`` (``APP`` or ``SOURCE/APP``), loaded and fully checked.

    Raises :class:`NotFound` (unknown app or source), :class:`InvalidInput` (the id is in
    several sources: name it ``SOURCE/APP``) or :class:`ValidationFailed` (the entry is broken).
    Cheap: it reads only the entry folders named ``app``, not the whole catalog.
    """
    source, _, app_id = app.rpartition("/")
    roots = catalog_roots(ws)
    names = [r.name for r in roots]
    if source and source not in names:
        raise NotFound(f"unknown catalog source {source!r} (known: {', '.join(names)})")
    if _skipped(app_id) or not app_id or "/" in app_id or app_id in {".", ".."}:
        raise NotFound(f"no app {app!r} in the catalog")
    candidates = [
        r for r in roots if (not source or r.name == source) and (r.catalog_dir / app_id / ENTRY_FILE).is_file()
    ]
    if len(candidates) > 1:
        srcs = ", ".join(r.name for r in candidates)
        raise InvalidInput(
            f"app {app!r} is in several sources ({srcs}); name it as SOURCE/APP, "
            f"e.g. {candidates[-1].name}/{app_id}"
        )
    if not candidates:
        raise NotFound(f"no app {app!r} in the catalog (try: spbe-share catalog search)")
    root = candidates[0]
    return load_entry(
        root.catalog_dir / app_id / ENTRY_FILE, source=root.name, commit=root.commit, repo_root=root.repo_root
    )


__all__ = [
    "BUILTIN",
    "ENTRY_FILE",
    "Catalog",
    "CatalogRoot",
    "LoadedEntry",
    "ValidationReport",
    "catalog_roots",
    "check_entry",
    "discover_entries",
    "duplicate_warnings",
    "find_duplicates",
    "get_entry",
    "load_catalog",
    "load_entry",
    "open_catalog",
    "validate_paths",
]
