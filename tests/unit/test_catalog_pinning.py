"""Catalog sources are pinned: update shows what is new, the pin moves only when accepted;
with --allowed-signers only commits (or tags) signed by those SSH keys are pinned.

Real local git repositories, signed with SSH keys generated here (git commit -S / tag -s,
gpg.format=ssh), verified by real ``git verify-commit`` / ``verify-tag``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import git
import pytest
from catalog_fixtures import write_entry
from test_catalog_cli import run as run_cli  # same folder (pytest rootdir-relative import)

from spbe_share.catalog import signatures as sig
from spbe_share.catalog.loader import get_entry
from spbe_share.catalog.sources import accept_commit, add_source, read_sources, update_sources
from spbe_share.errors import InvalidInput, NotFound, VerificationFailed
from spbe_share.workspace import Workspace

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(home=tmp_path / "home", root=tmp_path / "builtin")
    write_entry(ws.root, "lokal")
    return ws


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)  # noqa: S603,S607
    return path


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    donor = keygen(tmp_path / "donor_key", "donor")
    evil = keygen(tmp_path / "evil_key", "evil")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'diskominfo@buleleng.go.id namespaces="git" {Path(f"{donor}.pub").read_text().split(" donor")[0]}\n')
    return {"donor": donor, "evil": evil, "allowed": allowed}


class Donor:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = git.Repo.init(path, initial_branch="main")
        with self.repo.config_writer() as cw:
            cw.set_value("user", "name", "Donor").set_value("user", "email", "donor@buleleng.go.id")

    def commit(self, app: str, message: str, *, key: Path | None = None, **entry: object) -> str:
        write_entry(self.path, app, **entry)
        self.repo.git.add("--all")
        args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}.pub"] if key else []
        self.repo.git.execute(["git", *args, "commit", "-q", *(["-S"] if key else []), "-m", message])
        return self.repo.head.commit.hexsha

    def tag(self, name: str, key: Path) -> None:
        self.repo.git.execute(["git", "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}.pub", "tag", "-s", "-m", name, name])


def test_argv_builders_are_lists_without_shell() -> None:
    repo, allowed, c = Path("/ws/sources/papua"), Path("/ws/sources/papua.allowed_signers"), "a" * 40
    assert sig.verify_commit_argv(repo, allowed, c) == [
        "git", "-C", "/ws/sources/papua", "-c", "gpg.ssh.allowedSignersFile=/ws/sources/papua.allowed_signers",
        "verify-commit", c,
    ]  # fmt: skip
    assert sig.verify_tag_argv(repo, allowed, "refs/tags/e-office/v1.1.0")[-2:] == ["verify-tag", "refs/tags/e-office/v1.1.0"]
    assert sig.tags_at_argv(repo, c) == [
        "git", "-C", "/ws/sources/papua", "for-each-ref", "--points-at", c, "--format=%(refname)", "refs/tags/",
    ]  # fmt: skip
    assert sig.log_argv(repo, c, "b" * 40)[-1] == f"{c}..{'b' * 40}"
    for bad in ("--upload-pack=x", "HEAD", "a" * 39):
        with pytest.raises(InvalidInput):
            sig.verify_commit_argv(repo, allowed, bad)
    with pytest.raises(InvalidInput):
        sig.verify_tag_argv(repo, allowed, "-x")


def test_update_shows_new_commits_and_the_pin_moves_only_when_accepted(tmp_path: Path, ws: Workspace) -> None:
    donor = Donor(tmp_path / "donor")
    first = donor.commit("sipd", "katalog awal", name="SIPD Lama")
    add_source(ws, name="papua", url=str(donor.path))
    second = donor.commit("sipd", "ganti nama SIPD", name="SIPD Baru")
    third = donor.commit("baru", "aplikasi baru")
    [r] = update_sources(ws)
    assert (r.old, r.new, r.pending) == (first, first, third)
    assert [line.split(" ", 1)[1] for line in r.log] == ["aplikasi baru", "ganti nama SIPD"]
    # entries are still read from the pinned commit (before: the clone moved to the new one)
    assert get_entry(ws, "sipd").entry.name == "SIPD Lama" and get_entry(ws, "sipd").commit == first
    with pytest.raises(NotFound):
        get_entry(ws, "baru")
    assert read_sources(ws).get("papua").pending == third
    # accepting an older fetched commit is allowed (the operator reviewed that one)
    accept_commit(ws, name="papua", commit=second[:10])
    assert get_entry(ws, "sipd").entry.name == "SIPD Baru"
    assert read_sources(ws).get("papua").pending == third
    accept_commit(ws, name="papua", commit=third)
    assert (read_sources(ws).get("papua").commit, read_sources(ws).get("papua").pending) == (third, None)
    assert get_entry(ws, "baru").commit == third
    with pytest.raises(NotFound, match="not among the fetched commits"):
        accept_commit(ws, name="papua", commit="0" * 40)
    with pytest.raises(InvalidInput, match="not a commit id"):
        accept_commit(ws, name="papua", commit="HEAD")
    # the working copy moved by hand: not used until update puts it back
    git.Repo(ws.sources_dir / "papua").git.checkout("--quiet", "--detach", first)
    assert [r.name for r in __import__("spbe_share.catalog.loader", fromlist=["x"]).catalog_roots(ws)] == ["builtin"]


def test_signed_source_refuses_unsigned_and_wrongly_signed_commits(
    tmp_path: Path, ws: Workspace, keys: dict[str, Path]
) -> None:
    donor = Donor(tmp_path / "donor")
    unsigned = donor.commit("sipd", "tanpa tanda tangan")
    with pytest.raises(VerificationFailed, match=f"commit {unsigned[:12]} is not signed"):
        add_source(ws, name="papua", url=str(donor.path), allowed_signers=keys["allowed"])
    assert not ws.sources_file.exists() and not (ws.sources_dir / "papua").exists()
    assert not (ws.sources_dir / "papua.allowed_signers").exists()

    signed = donor.commit("sipd", "ditandatangani", key=keys["donor"], name="SIPD Bertanda")
    s = add_source(ws, name="papua", url=str(donor.path), allowed_signers=keys["allowed"])
    assert s.commit == signed and s.allowed_signers == str(ws.sources_dir / "papua.allowed_signers")

    evil = donor.commit("sipd", "kunci lain", key=keys["evil"], name="SIPD Palsu")
    with pytest.raises(VerificationFailed, match=f"commit {evil[:12]} is signed by a key that is not in the allowed signers"):
        update_sources(ws)
    assert read_sources(ws).get("papua").commit == signed and read_sources(ws).get("papua").pending is None
    with pytest.raises(VerificationFailed):
        accept_commit(ws, name="papua", commit=evil)
    assert get_entry(ws, "sipd").entry.name == "SIPD Bertanda"

    plain = donor.commit("sipd", "lupa tanda tangan", name="SIPD Rilis")
    with pytest.raises(VerificationFailed, match="is not signed"):
        update_sources(ws)
    donor.tag("sipd/v1.0.1", keys["donor"])  # a signed tag on it is enough (publish tags releases)
    [r] = update_sources(ws)
    assert r.pending == plain and r.signed == "tag refs/tags/sipd/v1.0.1 signed by diskominfo@buleleng.go.id"
    accept_commit(ws, name="papua", commit=plain)
    assert get_entry(ws, "sipd").entry.name == "SIPD Rilis"


def run(tmp_path: Path, *args: str, catalog: Path | None = None) -> tuple[int, str, str]:
    r = run_cli(tmp_path, *args, catalog=catalog or tmp_path / "builtin")
    return r.exit_code, r.stdout, r.stderr


def test_cli_update_accept_and_signatures(tmp_path: Path, ws: Workspace, keys: dict[str, Path]) -> None:
    donor = Donor(tmp_path / "donor")
    first = donor.commit("sipd", "awal", key=keys["donor"])
    code, out, err = run(tmp_path, "catalog", "source", "add", "papua", str(donor.path),
                         "--allowed-signers", str(keys["allowed"]))  # fmt: skip
    assert code == 0, err
    second = donor.commit("baru", "aplikasi baru", key=keys["donor"])
    code, out, err = run(tmp_path, "catalog", "update")
    assert code == 0, err
    assert f"papua: pinned @ {first[:12]}; new commit {second[:12]} (1 commit):" in out
    assert "aplikasi baru" in out and "signed by diskominfo@buleleng.go.id" in out
    assert f"to accept: spbe-share catalog update papua --accept {second[:12]}" in err
    code, out, err = run(tmp_path, "catalog", "source", "list", "--json")
    assert [(s["commit"], s["pending"]) for s in json.loads(out)] == [(first, second)]
    code, _, err = run(tmp_path, "catalog", "update", "--accept", second)
    assert code == 2 and "--accept needs the source NAME" in err
    code, out, err = run(tmp_path, "catalog", "update", "papua", "--accept", second[:12])
    assert code == 0 and f"papua: pinned @ {second[:12]}" in out, err
    third = donor.commit("sipd", "tidak bertanda", name="SIPD Berubah")
    code, out, err = run(tmp_path, "catalog", "update")
    assert code == 6 and f"commit {third[:12]} is not signed" in err and "Traceback" not in err
    code, out, _ = run(tmp_path, "catalog", "source", "list", "--json")
    assert json.loads(out)[0]["commit"] == second
    audit = [json.loads(line) for line in (tmp_path / "home" / "audit.log").read_text().splitlines()]
    assert [a["what"] for a in audit] == ["catalog source add", "catalog accept"]
