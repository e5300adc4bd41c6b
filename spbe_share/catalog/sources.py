"""Catalog sources: donors publish their catalogs as git repositories.

``catalog source add NAME URL`` clones the repository into ``ws.sources_dir/NAME`` and
records it in ``ws.sources_file`` (YAML, :class:`SourcesFile`) with the commit it is PINNED
to: entries are read from that commit (the clone is checked out there, detached), and only
that commit. ``catalog update`` fetches each source and records the newest commit of its
branch as ``pending``; the pin moves only when the operator accepts it
(:func:`accept_commit`, ``catalog update NAME --accept COMMIT`` or a confirmation on a
terminal), after seeing the commit and the log since the pinned one.

A source added with ``--allowed-signers FILE`` is pinned only to commits signed (or carrying a
tag signed) with git's SSH signatures by a key of that file (a copy is kept in the workspace,
``sources/NAME.allowed_signers``); see :mod:`spbe_share.catalog.signatures`. An unsigned or
wrongly signed commit is refused with :class:`~spbe_share.errors.VerificationFailed` (exit 6).

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import Conflict, InvalidInput, NotFound, Unreachable, VerificationFailed
from ..files import atomic_write_text
from ..yamlio import dump_yaml, load_model
from .models import SLUG
from .roots import BUILTIN, CATALOG_DIR, CatalogRoot

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
    commit: str | None = Field(default=None, description="the pinned commit: entries are read from it")
    pending: str | None = Field(default=None, description="newest fetched commit, not accepted yet")
    allowed_signers: str | None = Field(
        default=None, description="allowed-signers file (workspace copy): commits must be signed by one of its keys"
    )
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
    new: str | None  # the pinned commit after the update (moves only when accepted)
    error: str | None = None  # set when the source could not be reached
    pending: str | None = None  # a newer commit waiting for the operator
    log: tuple[str, ...] = ()  # git log --oneline pinned..pending
    signed: str | None = None  # how ``pending`` is signed, for a source with allowed signers

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
    atomic_write_text(ws.sources_file, "# spbe-share catalog sources (managed by `spbe-share catalog source ...`)\n"
                      + dump_yaml(data), mode=0o600)


def source_dir(ws: Workspace, name: str) -> Path:
    return ws.sources_dir / name


def _usable(ws: Workspace, s: Source) -> bool:
    """A clone exists, checked out at the pinned commit (read from ``.git/HEAD``: no git run)."""
    folder = source_dir(ws, s.name)
    if s.commit is None or not (folder / CATALOG_DIR).is_dir():
        return False
    from ..errors import SpbeError
    from ..outside import read_inside

    try:  # the donor's clone: a symlinked HEAD (or .git) is refused, not followed
        head = read_inside(folder, ".git/HEAD", limit=4096).decode("ascii").strip()
    except (SpbeError, UnicodeDecodeError):
        return False
    return head == s.commit


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


FETCHED_REF = "refs/spbe/fetched"


def _fetch(path: Path, url: str, branch: str) -> str:
    """Fetch ``branch`` (and tags) of ``url`` into the clone at ``path``; return the commit.

    Nothing is checked out: the working tree stays at the pinned commit.
    """
    import git

    repo = git.Repo(path)
    env = dict(os.environ, **GIT_ENV)
    try:
        repo.git.fetch("--quiet", "--tags", "--force", "--", url, f"+{branch}:{FETCHED_REF}", env=env)
    except git.GitCommandError as exc:
        raise Unreachable(f"cannot fetch {url}: {_git_error(exc)}") from None
    return str(repo.git.rev_parse(f"{FETCHED_REF}^{{commit}}")).strip()


def _checkout(path: Path, commit: str) -> None:
    import git

    git.Repo(path).git.checkout("--quiet", "--force", "--detach", commit)


def _signers_path(ws: Workspace, s: Source) -> Path | None:
    return Path(s.allowed_signers) if s.allowed_signers else None


def _verify(ws: Workspace, s: Source, commit: str, folder: Path | None = None) -> str | None:
    """How ``commit`` is signed (None when the source has no allowed signers); else exit 6."""
    from .signatures import require_signed

    signers = _signers_path(ws, s)
    if signers is None:
        return None
    return require_signed(folder or source_dir(ws, s.name), signers, commit, source=s.name).describe()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _fresh_clone(
    ws: Workspace,
    name: str,
    url: str,
    branch: str | None,
    *,
    verify: Callable[[Path, str], object] | None = None,
) -> tuple[str, str]:
    """Clone into a temporary folder and move it into place only when it is a catalog (and
    ``verify(folder, commit)`` accepted its commit)."""
    ws.sources_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=ws.sources_dir))
    try:
        commit, used_branch = _clone(url, tmp / "repo", branch)
        if not (tmp / "repo" / CATALOG_DIR).is_dir():
            raise InvalidInput(f"{url} is not a catalog repository: it has no {CATALOG_DIR}/ folder")
        if verify is not None:
            verify(tmp / "repo", commit)
        _checkout(tmp / "repo", commit)  # detached: the pin, not a branch
        dest = source_dir(ws, name)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp / "repo", dest)
        return commit, used_branch
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- operations


def add_source(
    ws: Workspace, *, name: str, url: str, branch: str | None = None, allowed_signers: Path | None = None
) -> Source:
    """Clone a donor's catalog repository and pin its current commit. Nothing is recorded if
    cloning fails or, with ``allowed_signers``, if that commit is not signed by one of its keys."""
    import re

    from .signatures import check_allowed_signers

    if not re.match(SLUG, name):
        raise InvalidInput(f"invalid source name {name!r}: use lowercase letters, digits and '-'")
    if name == BUILTIN:
        raise InvalidInput(f"the source name {BUILTIN!r} is reserved for the built-in catalog")
    sources = read_sources(ws)
    if any(s.name == name for s in sources.sources):
        raise Conflict(f"catalog source {name!r} exists already (remove it first)")
    url = _normalise_url(url)
    signers_text = check_allowed_signers(allowed_signers) if allowed_signers is not None else None
    signers_copy = ws.sources_dir / f"{name}.allowed_signers"
    source = Source(name=name, url=url, allowed_signers=str(signers_copy) if signers_text else None)
    if signers_text is not None:
        ws.sources_dir.mkdir(parents=True, exist_ok=True)
        signers_copy.write_text(signers_text, encoding="utf-8")
    try:
        commit, used_branch = _fresh_clone(
            ws, name, url, branch, verify=lambda folder, c: _verify(ws, source, c, folder)
        )
    except BaseException:
        signers_copy.unlink(missing_ok=True)
        raise
    source = source.model_copy(update={"branch": used_branch, "commit": commit, "fetched": _now()})
    write_sources(ws, SourcesFile(sources=[*sources.sources, source]))
    return source


def remove_source(ws: Workspace, *, name: str) -> Source:
    sources = read_sources(ws)
    source = sources.get(name)
    write_sources(ws, SourcesFile(sources=[s for s in sources.sources if s.name != name]))
    shutil.rmtree(source_dir(ws, name), ignore_errors=True)
    (ws.sources_dir / f"{name}.allowed_signers").unlink(missing_ok=True)
    return source


def list_sources(ws: Workspace) -> list[Source]:
    return list(read_sources(ws).sources)


def update_sources(ws: Workspace, *, name: str | None = None) -> list[UpdateResult]:
    """Fetch every source (or ``name``); a newer commit becomes ``pending``, never the pin.

    Returns one result per source. A source that cannot be reached keeps its pin and gets
    ``error`` set; the caller decides how loud to be (see module docstring). A source whose
    copy is lost is cloned again and checked out at its pin. With allowed signers, a pending
    commit that is not signed is refused (:class:`VerificationFailed`, exit 6) after every
    source was fetched; the pins stay where they were.
    """
    sources = read_sources(ws)
    chosen = [sources.get(name)] if name else list(sources.sources)
    results: list[UpdateResult] = []
    refused: list[VerificationFailed] = []
    for s in chosen:
        old = s.commit if _usable(ws, s) else None
        folder = source_dir(ws, s.name)
        try:
            if old is None:  # the copy is lost: clone again, back at the pin
                head, branch = _fresh_clone(ws, s.name, s.url, s.branch)
                if not s.commit or not _has_commit(folder, s.commit):
                    why = f"the pinned commit {(s.commit or 'none')[:12]} is not in the source any more"
                    updated = s.model_copy(update={"pending": head, "branch": branch, "error": why})
                    results.append(UpdateResult(s.name, None, None, error=why, pending=head))
                    sources = sources.replace(updated)
                    write_sources(ws, sources)
                    continue
                pin = s.commit
                _checkout(folder, pin)
            else:
                branch = s.branch or "HEAD"
                head = _fetch(folder, s.url, branch)
                pin = old
            pending = head if head != pin else None
            signed = _verify(ws, s, pending) if pending else None
            log = tuple(_short_log(folder, pin, pending)) if pending else ()
            updated = s.model_copy(
                update={"commit": pin, "pending": pending, "branch": branch, "fetched": _now(), "error": None}
            )
            results.append(UpdateResult(s.name, old, pin, pending=pending, log=log, signed=signed))
        except VerificationFailed as exc:
            updated = s.model_copy(update={"pending": None, "error": exc.message})
            results.append(UpdateResult(s.name, old, old, error=exc.message))
            refused.append(exc)
        except (Unreachable, InvalidInput) as exc:
            updated = s.model_copy(update={"error": exc.message})
            results.append(UpdateResult(s.name, old, old, error=exc.message))
        sources = sources.replace(updated)
        write_sources(ws, sources)
    if refused:
        raise VerificationFailed(refused[0].message, details=[e.message for e in refused[1:]])
    return results


def accept_commit(ws: Workspace, *, name: str, commit: str) -> Source:
    """Move source ``name``'s pin to ``commit`` (a full id or a prefix of at least 7 hex digits
    of a fetched commit): verified first when the source has allowed signers."""
    import re

    import git

    sources = read_sources(ws)
    s = sources.get(name)
    folder = source_dir(ws, name)
    if not re.fullmatch(r"[0-9a-f]{7,64}", commit):
        raise InvalidInput(f"--accept: {commit!r} is not a commit id (7 to 64 hex digits)")
    if not (folder / ".git").is_dir():
        raise NotFound(f"catalog source {name!r} has no local copy: run spbe-share catalog update {name}")
    repo = git.Repo(folder)
    try:
        full = str(repo.git.rev_parse("--verify", "--quiet", f"{commit}^{{commit}}")).strip()
        repo.git.merge_base("--is-ancestor", full, FETCHED_REF if _has_ref(folder, FETCHED_REF) else "HEAD")
    except git.GitCommandError:
        raise NotFound(
            f"commit {commit} is not among the fetched commits of source {name!r}"
            f" (see: spbe-share catalog update {name})"
        ) from None
    _verify(ws, s, full)
    _checkout(folder, full)
    pending = None if s.pending in (None, full) else s.pending
    updated = s.model_copy(update={"commit": full, "pending": pending, "error": None})
    write_sources(ws, sources.replace(updated))
    return updated


def _has_commit(folder: Path, commit: str) -> bool:
    import git

    try:
        git.Repo(folder).git.cat_file("-e", f"{commit}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _has_ref(folder: Path, ref: str) -> bool:
    import git

    try:
        git.Repo(folder).git.rev_parse("--verify", "--quiet", ref)
    except git.GitCommandError:
        return False
    return True


def _short_log(folder: Path, old: str, new: str) -> list[str]:
    from .signatures import short_log

    return short_log(folder, old, new)
