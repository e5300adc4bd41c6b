"""Catalog sources: donors publish their catalogs as git repositories.

``catalog source add NAME URL`` clones the repository into ``ws.sources_dir/NAME`` and
records it in ``ws.sources_file`` (YAML, :class:`SourcesFile`) with the commit in use.
``catalog update`` fetches each source and moves it to the newest commit of its branch.

When a source cannot be reached, the last good copy stays in use: its commit does not
change, the failure is recorded (``error``) and reported as a warning. Only a source
that has no usable copy at all (never cloned, or the clone folder is gone) makes the
update fail with :class:`~spbe_share.errors.Unreachable` (exit 10).

GitPython is imported inside the functions that use it, so the CLI starts fast.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import Conflict, InvalidInput, NotFound, Unreachable
from ..yamlio import dump_yaml, load_model
from .loader import BUILTIN, CATALOG_DIR, CatalogRoot
from .models import SLUG

if TYPE_CHECKING:
    from ..workspace import Workspace

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """One catalog source as recorded in ``sources.yml``."""

    name: Annotated[str, Field(pattern=SLUG)]
    url: str = Field(min_length=1, description="git URL or local path of the catalog repository")
    branch: str | None = Field(default=None, description="branch followed; default: the remote's default")
    commit: str | None = Field(default=None, description="commit in use (the last good copy)")
    fetched: dt.datetime | None = Field(default=None, description="last successful clone/fetch")
    error: str | None = Field(default=None, description="why the last update failed, if it did")


class SourcesFile(_Model):
    version: Literal[1] = 1
    sources: list[Source] = Field(default_factory=list)

    def get(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sources) or "none"
        raise NotFound(f"no catalog source {name!r} (known: {known})")

    def replace(self, source: Source) -> SourcesFile:
        return SourcesFile(sources=[source if s.name == source.name else s for s in self.sources])


@dataclass(frozen=True)
class UpdateResult:
    name: str
    old: str | None
    new: str | None  # commit in use after the update
    error: str | None = None  # set when the source could not be reached

    @property
    def usable(self) -> bool:
        return self.new is not None

    @property
    def changed(self) -> bool:
        return self.error is None and self.old != self.new


# ---------------------------------------------------------------- sources.yml


def read_sources(ws: Workspace) -> SourcesFile:
    if not ws.sources_file.exists():
        return SourcesFile()
    return load_model(SourcesFile, ws.sources_file)


def write_sources(ws: Workspace, sources: SourcesFile) -> None:
    ws.ensure()
    data = sources.model_dump(mode="json", exclude_none=True)
    fd, tmp = tempfile.mkstemp(prefix=".sources.", suffix=".yml", dir=ws.home)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# spbe-share catalog sources (managed by `spbe-share catalog source ...`)\n")
            f.write(dump_yaml(data))
        os.replace(tmp, ws.sources_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def source_dir(ws: Workspace, name: str) -> Path:
    return ws.sources_dir / name


def _usable(ws: Workspace, s: Source) -> bool:
    return s.commit is not None and (source_dir(ws, s.name) / CATALOG_DIR).is_dir()


def source_roots(ws: Workspace) -> list[CatalogRoot]:
    """Catalog roots of every source with a usable local copy (cheap: no git involved)."""
    try:
        sources = read_sources(ws)
    except InvalidInput:
        raise
    return [
        CatalogRoot(s.name, source_dir(ws, s.name), s.commit) for s in sources.sources if _usable(ws, s)
    ]


# ---------------------------------------------------------------- git


def _normalise_url(url: str) -> str:
    url = url.strip()
    if not url or url.startswith("-"):
        raise InvalidInput(f"invalid source URL {url!r}")
    if "://" not in url and not url.startswith("git@") and Path(url).expanduser().exists():
        return str(Path(url).expanduser().resolve())
    return url


def _git_error(exc: Exception) -> str:
    stderr = getattr(exc, "stderr", "") or str(exc)
    lines = [ln.strip() for ln in str(stderr).replace("stderr:", "").splitlines() if ln.strip()]
    lines = [ln.strip("'\" ") for ln in lines]
    msg = next((ln for ln in reversed(lines) if ln.startswith(("fatal", "error"))), lines[-1] if lines else "")
    return msg or exc.__class__.__name__


def _clone(url: str, dest: Path, branch: str | None) -> tuple[str, str]:
    """Clone into ``dest``; return (commit, branch)."""
    import git

    kwargs: dict[str, Any] = {"env": dict(os.environ, **GIT_ENV)}
    if branch:
        kwargs["branch"] = branch
    try:
        repo = git.Repo.clone_from(url, dest, **kwargs)
    except (git.GitCommandError, git.exc.UnsafeProtocolError) as exc:
        raise Unreachable(f"cannot clone {url}: {_git_error(exc)}") from None
    try:
        used_branch = branch or repo.active_branch.name
    except TypeError:  # detached HEAD on a remote without a default branch
        used_branch = branch or "HEAD"
    return repo.head.commit.hexsha, used_branch


def _fetch(path: Path, url: str, branch: str) -> str:
    """Fetch ``branch`` of ``url`` into the clone at ``path`` and check it out; return the commit."""
    import git

    repo = git.Repo(path)
    env = dict(os.environ, **GIT_ENV)
    try:
        repo.git.fetch("--quiet", "--", url, branch, env=env)
    except git.GitCommandError as exc:
        raise Unreachable(f"cannot fetch {url}: {_git_error(exc)}") from None
    commit = repo.git.rev_parse("FETCH_HEAD^{commit}")
    repo.git.checkout("--quiet", "--force", "--detach", commit)
    return str(commit).strip()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _fresh_clone(ws: Workspace, name: str, url: str, branch: str | None) -> tuple[str, str]:
    """Clone into a temporary folder and move it into place only when it is a catalog."""
    ws.sources_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=ws.sources_dir))
    try:
        commit, used_branch = _clone(url, tmp / "repo", branch)
        if not (tmp / "repo" / CATALOG_DIR).is_dir():
            raise InvalidInput(f"{url} is not a catalog repository: it has no {CATALOG_DIR}/ folder")
        dest = source_dir(ws, name)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp / "repo", dest)
        return commit, used_branch
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- operations


def add_source(ws: Workspace, *, name: str, url: str, branch: str | None = None) -> Source:
    """Clone a donor's catalog repository and record it. Nothing is recorded if cloning fails."""
    import re

    if not re.match(SLUG, name):
        raise InvalidInput(f"invalid source name {name!r}: use lowercase letters, digits and '-'")
    if name == BUILTIN:
        raise InvalidInput(f"the source name {BUILTIN!r} is reserved for the built-in catalog")
    sources = read_sources(ws)
    if any(s.name == name for s in sources.sources):
        raise Conflict(f"catalog source {name!r} exists already (remove it first)")
    url = _normalise_url(url)
    commit, used_branch = _fresh_clone(ws, name, url, branch)
    source = Source(name=name, url=url, branch=used_branch, commit=commit, fetched=_now())
    write_sources(ws, SourcesFile(sources=[*sources.sources, source]))
    return source


def remove_source(ws: Workspace, *, name: str) -> Source:
    sources = read_sources(ws)
    source = sources.get(name)
    write_sources(ws, SourcesFile(sources=[s for s in sources.sources if s.name != name]))
    shutil.rmtree(source_dir(ws, name), ignore_errors=True)
    return source


def list_sources(ws: Workspace) -> list[Source]:
    return list(read_sources(ws).sources)


def update_sources(ws: Workspace, *, name: str | None = None) -> list[UpdateResult]:
    """Bring sources to the newest commit of their branch; never loses the last good copy.

    Returns one result per source. A source that cannot be reached keeps its commit and
    gets ``error`` set; the caller decides how loud to be (see module docstring).
    """
    sources = read_sources(ws)
    chosen = [sources.get(name)] if name else list(sources.sources)
    results: list[UpdateResult] = []
    for s in chosen:
        old = s.commit if _usable(ws, s) else None
        try:
            if old is None:
                commit, branch = _fresh_clone(ws, s.name, s.url, s.branch)
            else:
                branch = s.branch or "HEAD"
                commit = _fetch(source_dir(ws, s.name), s.url, branch)
            updated = s.model_copy(update={"commit": commit, "branch": branch, "fetched": _now(), "error": None})
            results.append(UpdateResult(s.name, old, commit))
        except (Unreachable, InvalidInput) as exc:
            updated = s.model_copy(update={"error": exc.message})
            results.append(UpdateResult(s.name, old, old, error=exc.message))
        sources = sources.replace(updated)
        write_sources(ws, sources)
    return results
