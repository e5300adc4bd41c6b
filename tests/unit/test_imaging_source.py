"""Release sources: the component folder at the recorded commit (real git, no engine)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput, NotFound
from spbe_share.imaging.source import export_commit, materialize, working_tree_revision


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,  # noqa: S603,S607
                          env=env).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    root = tmp_path / "repo"
    app = root / "shared_apps" / "demo"
    (app / "pkg").mkdir(parents=True)
    _git(tmp_path, "init", "-q", "-b", "main", str(root))
    (app / "Dockerfile").write_text("FROM x\n")
    (app / "pkg" / "main.py").write_text("VERSION = '1.0.0'\n")
    (app / "run.sh").write_text("#!/bin/sh\n")
    (app / "run.sh").chmod(0o755)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "1.0.0")
    one = _git(root, "rev-parse", "HEAD")
    (app / "pkg" / "main.py").write_text("VERSION = '1.1.0'\n")
    (app / "pkg" / "new.py").write_text("X = 1\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "1.1.0")
    two = _git(root, "rev-parse", "HEAD")
    return root, one, two


def test_each_release_builds_its_own_commit(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, one, two = repo
    folder = root / "shared_apps" / "demo"
    (folder / "pkg" / "main.py").write_text("VERSION = 'work in progress'\n")  # never used for 1.0.0
    a = materialize(root, folder, tmp_path / "a", commit=one, where="demo releases[0]")
    assert (a.revision, a.pinned, a.files) == (one, True, ("Dockerfile", "pkg/main.py", "run.sh"))
    assert (tmp_path / "a" / "pkg" / "main.py").read_text() == "VERSION = '1.0.0'\n"
    assert os.stat(tmp_path / "a" / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(tmp_path / "a" / "Dockerfile").st_mode & 0o777 == 0o644
    b = materialize(root, folder, tmp_path / "b", commit=two, where="demo releases[1]")
    assert "pkg/new.py" in b.files and (tmp_path / "b" / "pkg" / "main.py").read_text() == "VERSION = '1.1.0'\n"
    w = materialize(root, folder, tmp_path / "w", commit=None, where="demo")
    assert (w.pinned, w.revision) == (False, f"{two}-dirty")
    assert (tmp_path / "w" / "pkg" / "main.py").read_text() == "VERSION = 'work in progress'\n"
    assert working_tree_revision(tmp_path, tmp_path) == "unknown"  # not a repository


def test_missing_commit_is_a_clear_error(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, one, _ = repo
    folder = root / "shared_apps" / "demo"
    with pytest.raises(NotFound, match=r"demo releases\[0\]: commit 0{40} is not in the repository .*git fetch"):
        export_commit(root, "0" * 40, folder, tmp_path / "x", where="demo releases[0]")
    shallow = tmp_path / "shallow"
    _git(tmp_path, "clone", "-q", "--depth", "1", f"file://{root}", str(shallow))
    with pytest.raises(NotFound, match=r"shallow: fetch the full history \(git fetch --unshallow\)"):
        export_commit(shallow, one, shallow / "shared_apps" / "demo", tmp_path / "y", where="demo")
    with pytest.raises(NotFound, match="does not exist at commit"):
        export_commit(root, one, root / "shared_apps" / "other", tmp_path / "z", where="demo")
    with pytest.raises(NotFound, match="not a git repository"):
        export_commit(tmp_path / "nowhere", one, tmp_path, tmp_path / "q", where="demo")


def test_symbolic_links_in_a_commit_are_refused(repo: tuple[Path, str, str], tmp_path: Path) -> None:
    root, _, _ = repo
    (root / "shared_apps" / "demo" / "link").symlink_to("/etc/passwd")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "link")
    head = _git(root, "rev-parse", "HEAD")
    with pytest.raises(InvalidInput, match="symbolic link"):
        export_commit(root, head, root / "shared_apps" / "demo", tmp_path / "s", where="demo")


def test_builtin_catalog_releases_are_pinned_to_commits_in_this_repository(tmp_path: Path) -> None:
    """Each built-in release records the commit of its source, and the clone holds it (a
    shallow clone fails here with the fix in the message)."""
    from spbe_share.catalog.loader import get_entry
    from spbe_share.imaging.source import check_commit
    from spbe_share.workspace import Workspace

    repo = Path(__file__).resolve().parents[2]
    ws = Workspace(home=tmp_path / "ws", root=repo)
    for app in ("e-office", "pengaduan", "ppdb"):
        entry = get_entry(ws, app).entry
        for release in entry.releases:
            assert release.commit, f"{app} {release.version} records no commit"
            check_commit(repo, release.commit, where=f"{app} {release.version}")
            for c in entry.components:
                files = _git(repo, "ls-tree", "-r", "--name-only", release.commit, "--", c.build.context)
                assert f"{c.build.context}/{c.build.dockerfile}" in files.splitlines()
    eo = {r.version: r.commit for r in get_entry(ws, "e-office").entry.releases}
    # 1.1.0 is 1.0.0 plus its own commit(s): the 1.0.0 tree has no migration 0002
    assert _git(repo, "merge-base", "--is-ancestor", eo["1.0.0"], eo["1.1.0"]) == ""
    tree = _git(repo, "ls-tree", "-r", "--name-only", eo["1.0.0"], "--", "shared_apps/e-office/web/eoffice/migrations")
    assert tree.splitlines() == ["shared_apps/e-office/web/eoffice/migrations/0001_surat_disposisi.sql"]


def test_ppdb_releases_are_two_source_states() -> None:
    """ppdb 2.0.0 is 1.0.0 plus its own commit(s): the 1.0.0 tree has the routes of
    Permendikbud 1/2021 and no migration 0002."""
    from spbe_share.catalog.loader import load_entry

    repo = Path(__file__).resolve().parents[2]
    pins = {r.version: r.commit for r in load_entry(repo / "catalog" / "ppdb" / "spbe-app.yaml").entry.releases}
    assert _git(repo, "merge-base", "--is-ancestor", pins["1.0.0"], pins["2.0.0"]) == ""
    tree = _git(repo, "ls-tree", "-r", "--name-only", pins["1.0.0"], "--", "shared_apps/ppdb/web/ppdb/migrations")
    assert tree.splitlines() == ["shared_apps/ppdb/web/ppdb/migrations/0001_ppdb.sql"]
    assert '__version__ = "1.0.0"' in _git(repo, "show", f"{pins['1.0.0']}:shared_apps/ppdb/web/ppdb/__init__.py")
    assert '__version__ = "2.0.0"' in _git(repo, "show", f"{pins['2.0.0']}:shared_apps/ppdb/web/ppdb/__init__.py")
