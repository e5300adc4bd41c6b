"""A release's source tree: the component folder at the commit the catalog entry records.

A release is an immutable snapshot. ``releases[].commit`` in the entry names the commit of
the catalog repository whose component folders are that release; every build of the
release (``app build``, ``bundle build``, ``publish``) takes its files from there with
``git archive``, never from the working tree. A release without a commit (a release being
prepared) is built from the working tree, and says so in its ``revision`` label.

Commands to git are argument lists built by pure functions (``*_argv``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from ..errors import EnvironmentProblem, InvalidInput, NotFound

# Skipped when copying a working-tree component folder (never part of a git commit either).
SKIP_NAMES = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache", "wheels"}
SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class SourceTree:
    """Where a component's files came from."""

    revision: str  # the commit, or "<HEAD>-dirty"/"<HEAD>"/"unknown" for a working tree
    pinned: bool  # True when taken from the release's recorded commit
    files: tuple[str, ...]


# ------------------------------------------------------------------ argv builders


def git_toplevel_argv(repo: Path) -> list[str]:
    return ["git", "-C", str(repo), "rev-parse", "--show-toplevel"]


def git_has_commit_argv(repo: Path, commit: str) -> list[str]:
    return ["git", "-C", str(repo), "cat-file", "-e", f"{commit}^{{commit}}"]


def git_is_shallow_argv(repo: Path) -> list[str]:
    return ["git", "-C", str(repo), "rev-parse", "--is-shallow-repository"]


def git_archive_argv(repo: Path, commit: str, path: str) -> list[str]:
    """``git archive`` of one folder of ``commit`` as a tar on stdout."""
    return ["git", "-C", str(repo), "archive", "--format=tar", commit, "--", path]


def git_log_argv(repo: Path, path: str) -> list[str]:
    return ["git", "-C", str(repo), "log", "-1", "--format=%H", "--", path]


def git_status_argv(repo: Path, path: str) -> list[str]:
    return ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all", "--", path]


# ------------------------------------------------------------------ running git


def _git(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, capture_output=True, check=False)  # noqa: S603 - argv list
    except FileNotFoundError:
        raise EnvironmentProblem("git is not installed (Debian: apt-get install git)") from None


def _toplevel(repo_root: Path) -> Path | None:
    proc = _git(git_toplevel_argv(repo_root))
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def check_commit(repo_root: Path, commit: str, *, where: str) -> Path:
    """The git top level of ``repo_root`` after checking it holds ``commit``."""
    top = _toplevel(repo_root)
    if top is None:
        raise NotFound(f"{where}: commit {commit} cannot be read: {repo_root} is not a git repository")
    if _git(git_has_commit_argv(top, commit)).returncode != 0:
        shallow = _git(git_is_shallow_argv(top)).stdout.decode().strip() == "true"
        hint = (
            "the clone is shallow: fetch the full history (git fetch --unshallow)"
            if shallow
            else "fetch it from the donor's repository (git fetch --tags)"
        )
        raise NotFound(f"{where}: commit {commit} is not in the repository {top}; {hint}")
    return top


def _rel(top: Path, folder: Path) -> str:
    try:
        return folder.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise InvalidInput(f"{folder} is outside the git repository {top}") from None


def export_commit(repo_root: Path, commit: str, folder: Path, dest: Path, *, where: str) -> list[str]:
    """Write ``folder`` as it is at ``commit`` into ``dest``; returns the relative paths written.

    Regular files get mode 0644 (0755 when executable in git) and no other metadata;
    symbolic links and submodules are refused.
    """
    top = check_commit(repo_root, commit, where=where)
    rel = _rel(top, folder)
    proc = subprocess.Popen(  # noqa: S603 - argv list
        git_archive_argv(top, commit, rel), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    written: list[str] = []
    prefix = PurePosixPath(rel)
    unreadable = False
    try:
        with _tar_or_none(proc.stdout) as tar:
            if tar is None:
                unreadable = True
                return []  # the finally below reports git's own error
            for m in tar:
                name = PurePosixPath(m.name)
                if m.type == tarfile.XGLTYPE or m.name == "pax_global_header":
                    continue
                try:
                    sub = name if rel == "." else name.relative_to(prefix)
                except ValueError:
                    continue
                if any(p in ("..", "") for p in sub.parts) or sub.is_absolute():
                    raise InvalidInput(f"{where}: {m.name}: unsafe path in commit {commit}")
                target = dest.joinpath(*sub.parts) if sub.parts else dest
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not m.isreg():
                    raise InvalidInput(
                        f"{where}: {m.name} at commit {commit[:12]} is a symbolic link or submodule;"
                        " build sources must be regular files"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None
                with target.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)
                written.append(sub.as_posix())
    except tarfile.TarError as exc:
        raise InvalidInput(f"{where}: git archive {commit[:12]} {rel}: unreadable output ({exc})") from None
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        rc = proc.wait()
        if rc != 0 or unreadable:
            if "did not match any files" in err or (rc == 0 and unreadable):
                raise NotFound(f"{where}: {rel} does not exist at commit {commit}")
            raise InvalidInput(
                f"{where}: git archive {commit[:12]} {rel} failed: {err.splitlines()[-1] if err else rc}"
            )
    if not written:
        raise NotFound(f"{where}: {rel} does not exist at commit {commit}")
    return sorted(written)


@contextlib.contextmanager
def _tar_or_none(stream: IO[bytes]) -> Iterator[tarfile.TarFile | None]:
    try:
        tar = tarfile.open(fileobj=stream, mode="r|")
    except tarfile.TarError:
        yield None
        return
    with tar:
        yield tar


def copy_working_tree(source: Path, dest: Path) -> list[str]:
    """Copy a working-tree folder (sorted; caches skipped; 0644/0755); returns relative paths."""
    if not source.is_dir():
        raise NotFound(f"{source}: build context folder not found")
    copied: list[str] = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_NAMES)
        rel_dir = Path(dirpath).relative_to(source)
        (dest / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            if name.endswith(SKIP_SUFFIXES):
                continue
            src = Path(dirpath) / name
            dst = dest / rel_dir / name
            if src.is_symlink():
                raise InvalidInput(f"{src}: symbolic links are not allowed in a build context")
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o755 if os.access(src, os.X_OK) else 0o644)
            copied.append((rel_dir / name).as_posix())
    return copied


def working_tree_revision(repo_root: Path, folder: Path) -> str:
    """The last commit touching ``folder``, ``-dirty`` when it has uncommitted changes."""
    top = _toplevel(repo_root)
    if top is None:
        return "unknown"
    try:
        rel = _rel(top, folder)
    except InvalidInput:
        return "unknown"
    sha = _git(git_log_argv(top, rel)).stdout.decode().strip()
    if not sha:
        return "unknown"
    dirty = bool(_git(git_status_argv(top, rel)).stdout.strip())
    return f"{sha}-dirty" if dirty else sha


def materialize(
    repo_root: Path, folder: Path, dest: Path, *, commit: str | None, where: str
) -> SourceTree:
    """The files of ``folder`` for a release: from ``commit`` if given, else the working tree."""
    dest.mkdir(parents=True, exist_ok=True)
    if commit:
        files = export_commit(repo_root, commit, folder, dest, where=where)
        return SourceTree(revision=commit, pinned=True, files=tuple(files))
    files = copy_working_tree(folder, dest)
    return SourceTree(
        revision=working_tree_revision(repo_root, folder), pinned=False, files=tuple(files)
    )


__all__ = [
    "SourceTree",
    "check_commit",
    "copy_working_tree",
    "export_commit",
    "git_archive_argv",
    "materialize",
    "working_tree_revision",
]
