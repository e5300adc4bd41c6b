"""Catalog sources against real local git repositories (URL = a path; no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import git
import pytest
from catalog_fixtures import write_entry

from spbe_share.catalog.loader import catalog_roots, get_entry
from spbe_share.catalog.sources import (
    SourcesFile,
    accept_commit,
    add_source,
    list_sources,
    read_sources,
    remove_source,
    update_sources,
)
from spbe_share.errors import Conflict, InvalidInput, NotFound, Unreachable
from spbe_share.yamlio import load_model


def make_donor_repo(path: Path, *apps: str, branch: str = "main") -> git.Repo:
    for app in apps:
        write_entry(path, app)
    repo = git.Repo.init(path, initial_branch=branch)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Donor").set_value("user", "email", "donor@contoh.go.id")
    repo.git.add("--all")
    repo.index.commit("katalog awal")
    return repo


def commit_all(repo: git.Repo, message: str) -> str:
    repo.git.add("--all")
    return repo.index.commit(message).hexsha


@pytest.fixture
def ws(tmp_path: Path):  # type: ignore[no-untyped-def]
    from spbe_share.workspace import Workspace

    ws = Workspace(home=tmp_path / "home", root=tmp_path / "builtin")
    write_entry(ws.root, "lokal")
    return ws


def test_add_clones_and_records_commit(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    donor = make_donor_repo(tmp_path / "donor", "sipd")
    s = add_source(ws, name="papua", url=str(tmp_path / "donor"))
    assert s.commit == donor.head.commit.hexsha
    assert s.branch == "main"
    assert (ws.sources_dir / "papua" / "catalog" / "sipd" / "spbe-app.yaml").is_file()
    # recorded as a typed, valid YAML file
    recorded = load_model(SourcesFile, ws.sources_file)
    assert [(x.name, x.url, x.commit) for x in recorded.sources] == [("papua", str(tmp_path / "donor"), s.commit)]
    # the source takes part in the catalog with its commit
    assert [(r.name, r.commit) for r in catalog_roots(ws)] == [("builtin", None), ("papua", s.commit)]
    le = get_entry(ws, "sipd")
    assert (le.source, le.commit, le.repo_root) == ("papua", s.commit, ws.sources_dir / "papua")


def test_add_refuses_bad_names_duplicates_and_non_catalogs(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    make_donor_repo(tmp_path / "donor", "sipd")
    for bad in ("Papua", "builtin", "a/b"):
        with pytest.raises(InvalidInput):
            add_source(ws, name=bad, url=str(tmp_path / "donor"))
    add_source(ws, name="papua", url=str(tmp_path / "donor"))
    with pytest.raises(Conflict):
        add_source(ws, name="papua", url=str(tmp_path / "donor"))
    other = git.Repo.init(tmp_path / "bukan", initial_branch="main")
    (tmp_path / "bukan" / "README").write_text("bukan katalog\n")
    other.git.add("--all")
    other.git.commit("-m", "x", "--author", "A <a@b.c>", env={"GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@b.c"})
    with pytest.raises(InvalidInput, match="not a catalog repository"):
        add_source(ws, name="bukan", url=str(tmp_path / "bukan"))
    with pytest.raises(Unreachable, match="cannot clone"):
        add_source(ws, name="hilang", url=str(tmp_path / "tidak-ada"))
    with pytest.raises(InvalidInput):
        add_source(ws, name="opsi", url="--upload-pack=touch /tmp/x")
    assert [s.name for s in list_sources(ws)] == ["papua"]
    assert sorted(p.name for p in ws.sources_dir.iterdir()) == ["papua"]  # no leftovers


def test_branch_option(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    donor = make_donor_repo(tmp_path / "donor", "sipd")
    donor.git.checkout("-b", "stabil")
    write_entry(tmp_path / "donor", "khusus-stabil")
    stabil = commit_all(donor, "hanya di cabang stabil")
    donor.git.checkout("main")
    s = add_source(ws, name="papua", url=str(tmp_path / "donor"), branch="stabil")
    assert (s.branch, s.commit) == ("stabil", stabil)
    assert get_entry(ws, "khusus-stabil").commit == stabil


def test_update_follows_the_branch(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    donor = make_donor_repo(tmp_path / "donor", "sipd")
    first = add_source(ws, name="papua", url=str(tmp_path / "donor")).commit
    [r] = update_sources(ws)
    assert (r.old, r.new, r.error, r.changed) == (first, first, None, False)
    write_entry(tmp_path / "donor", "baru")
    second = commit_all(donor, "aplikasi baru")
    [r] = update_sources(ws, name="papua")
    assert (r.old, r.new, r.pending, r.changed) == (first, first, second, False)  # pending, not pinned
    accept_commit(ws, name="papua", commit=second)
    assert read_sources(ws).get("papua").commit == second
    assert get_entry(ws, "baru").commit == second


def test_unreachable_source_keeps_last_good_copy(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    make_donor_repo(tmp_path / "donor", "sipd")
    good = add_source(ws, name="papua", url=str(tmp_path / "donor")).commit
    shutil.rmtree(tmp_path / "donor")  # the donor's server is gone
    [r] = update_sources(ws)
    assert r.error and "cannot fetch" in r.error
    assert (r.old, r.new, r.usable) == (good, good, True)
    recorded = read_sources(ws).get("papua")
    assert recorded.commit == good and recorded.error == r.error
    assert get_entry(ws, "sipd").commit == good  # still in use
    # without a usable copy, nothing is usable
    shutil.rmtree(ws.sources_dir / "papua")
    [r] = update_sources(ws)
    assert r.error and "cannot clone" in r.error and not r.usable
    assert [x.name for x in catalog_roots(ws)] == ["builtin"]


def test_update_recovers_a_lost_copy(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    donor = make_donor_repo(tmp_path / "donor", "sipd")
    add_source(ws, name="papua", url=str(tmp_path / "donor"))
    shutil.rmtree(ws.sources_dir / "papua")
    [r] = update_sources(ws)
    assert (r.old, r.new, r.error) == (None, donor.head.commit.hexsha, None)
    assert get_entry(ws, "papua/sipd").id == "sipd"


def test_remove(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    make_donor_repo(tmp_path / "donor", "sipd")
    add_source(ws, name="papua", url=str(tmp_path / "donor"))
    remove_source(ws, name="papua")
    assert list_sources(ws) == [] and not (ws.sources_dir / "papua").exists()
    with pytest.raises(NotFound, match="no catalog source 'papua'"):
        remove_source(ws, name="papua")
    with pytest.raises(NotFound):
        update_sources(ws, name="papua")


def test_invalid_sources_file_is_reported_with_line(ws) -> None:  # type: ignore[no-untyped-def]
    ws.ensure()
    ws.sources_file.write_text("version: 1\nsources:\n  - name: papua\n    url: /x\n    warna: merah\n")
    with pytest.raises(InvalidInput) as err:
        list_sources(ws)
    assert err.value.details == [f"{ws.sources_file}:5: sources[0].warna: unknown key"]


def test_a_symlinked_head_in_a_source_clone_is_not_followed(tmp_path: Path, ws) -> None:  # type: ignore[no-untyped-def]
    """The clone's .git/HEAD is donor data: a symlink there (to a file that holds the pinned
    commit) is refused, and the source takes no part in the catalog."""
    make_donor_repo(tmp_path / "donor", "sipd")
    s = add_source(ws, name="papua", url=str(tmp_path / "donor"))
    head = ws.sources_dir / "papua" / ".git" / "HEAD"
    elsewhere = tmp_path / "elsewhere-HEAD"
    elsewhere.write_text(s.commit + "\n")
    head.unlink()
    head.symlink_to(elsewhere)
    assert [r.name for r in catalog_roots(ws)] == ["builtin"]
    head.unlink()
    head.write_text(s.commit + "\n")  # the same content as a plain file: usable again
    assert [r.name for r in catalog_roots(ws)] == ["builtin", "papua"]
