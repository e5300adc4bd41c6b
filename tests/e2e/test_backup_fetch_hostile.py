"""End to end: a compromised target cannot write outside the fetch folder (issue 17, finding 1).

Pengaduan is installed on a simulated data center whose sessions load a start-up hook the
"attacker" controls (sshd ``SetEnv PYTHONPATH``): once ``<dc>/compromised`` exists, its
``sitecustomize`` replaces the backup engine's ``verify`` with one that passes anything (a
compromised server controls its own Python, so the target's verification proves nothing). The
attacker then edits a real backup's ``manifest.json`` on the DC's root, as a compromised server
would, and the operator runs ``spbe-share backup fetch``:

* a file named ``../../../../../escaped/evil.pth`` (a ``.pth`` in site-packages is code
  execution on the controller), an absolute path, a backup id with ``..``: exit 8, the message
  names the file, and nothing appears on this machine outside the fetch folder;
* a fetch folder left as a symlink, or holding one, to an operator's file: removed, never
  followed; the operator's file is unchanged and the copy is real.

An honest ``backup --fetch`` first proves the same path works.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simdc import (
    E2EWorkspace,
    SimDC,
    donor_kode,
    make_e2e_workspace,
    remove_docker_objects,
)

pytestmark = pytest.mark.e2e

APP = "pengaduan"
TODAY = dt.date.today()

# Loaded by the target's Python at start-up (PYTHONPATH). Does nothing until <dc>/compromised exists.
SITECUSTOMIZE = r'''
import hashlib, importlib.abc, importlib.util, os, sys

FLAG = {flag!r}
NAME = "ansible.module_utils.spbe_backup_engine"


def _verify(spec, backup_id, *, docker=None):
    from ansible.module_utils import spbe_backup_store as store
    folder = f"{{store.backups_dir(spec)}}/{{backup_id}}"
    with open(f"{{folder}}/manifest.json", "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {{"id": backup_id, "ok": True, "cause": None, "when": store.iso(store.utc_now()),
             "manifest_sha256": sha, "checks": []}}


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        module.verify = _verify


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != NAME or not os.path.exists(FLAG):
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())
'''


def compromisable(dc: SimDC) -> SimDC:
    """The DC's sessions load the attacker's start-up hook (sshd SetEnv PYTHONPATH), which is
    off until ``<dc>/compromised`` exists: the server's own Python, as a compromised server has."""
    hook = dc.dir / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE.format(flag=str(dc.dir / "compromised")))
    dc.session_env["PYTHONPATH"] = str(hook)
    return dc


class World:
    def __init__(self, w: E2EWorkspace, dc: SimDC) -> None:
        self.w, self.dc = w, dc
        self.backup_id = ""

    @property
    def backups(self) -> Path:
        return self.dc.root / "apps" / APP / "backups"

    @property
    def fetch_dir(self) -> Path:
        return self.w.home / "backups" / self.dc.name / APP


@pytest.fixture(scope="module")
def world(sshd_ok: None, bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if APP not in bundles:
        pytest.skip(f"catalog/{APP} is not there")
    base = tmp_path_factory.mktemp("hostilefetch")
    dc = SimDC(name=f"t{secrets.token_hex(2)}-fetch", base=base, address="127.0.0.252", pemda="Kota Sorong",
               kode_wilayah="96.71")
    try:
        compromisable(dc).start()
        w = make_e2e_workspace(base / "operator" / "home", {"dc": dc})
        w.cli("keys", "trust", str(bundles[f"{APP}.pub"]), "--donor-kode", donor_kode(APP))
        w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", dc.pemda,
              "--adopter-kode", dc.kode_wilayah, "--number", "PKS/FETCH/2026", "--signed", TODAY.isoformat(),
              "--valid-until", (TODAY + dt.timedelta(days=30)).isoformat(), "--scope", "install", "--scope",
              "support")
        w.cli("install", APP, "--target", dc.name, "--bundle", str(bundles[APP]), timeout=900)
        yield World(w, dc)
    finally:
        remove_docker_objects(f"spbe-{dc.name}-")
        dc.stop()


def snapshot(folder: Path, *, skip: list[Path]) -> dict[str, bytes]:
    """Every file and link under ``folder`` (contents), but those under ``skip``."""
    out = {}
    for p in folder.rglob("*"):
        if any(p == s or s in p.parents for s in skip):
            continue
        if p.is_symlink():
            out[str(p)] = b"-> " + os.readlink(p).encode()
        elif p.is_file():
            out[str(p)] = p.read_bytes()
    return out


def operator_side(world: World) -> dict[str, bytes]:
    """What the operator's side holds outside the fetch folder (run logs and audit excluded)."""
    home = world.w.home
    return snapshot(home.parent, skip=[home / "runs", home / "audit.log", world.fetch_dir])


def hostile_backup(world: World, n: int, edit: Any) -> str:
    """A copy of the honest backup under a new id, its manifest edited by ``edit(manifest, folder)``."""
    bid = f"{world.backup_id.split('Z-')[0]}Z-evil-{n}"
    folder = world.backups / bid
    shutil.copytree(world.backups / world.backup_id, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["id"] = bid
    edit(manifest, folder)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return bid


def files_of(manifest: dict[str, Any]) -> list[str]:
    return [i["file"] for i in manifest["items"] if "file" in i] + (
        [manifest["secrets"]["file"]] if manifest.get("secrets") else [])


def planted(folder: Path, name: str, data: bytes) -> dict[str, Any]:
    """A file the attacker puts on the target at ``folder/name``; its manifest item."""
    path = Path(os.path.normpath(folder / name.lstrip("/")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"type": "volume-archive", "name": "data", "component": "web", "container": "x", "mount": "/data",
            "excluded": [], "members": 1, "file": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_an_honest_backup_is_fetched(world: World) -> None:
    proc = world.w.cli("backup", APP, "--target", world.dc.name, "--fetch", timeout=600)
    world.backup_id = proc.stdout.splitlines()[0].split()[1].rstrip(":")
    copy = world.fetch_dir / world.backup_id
    assert (copy / "manifest.json").is_file() and not (world.fetch_dir / f"{world.backup_id}.partial").exists()
    manifest = json.loads((copy / "manifest.json").read_text())
    assert sorted(p.name for p in copy.iterdir()) == sorted([*files_of(manifest), "manifest.json"])


PTH = b"import os; os.system('touch /tmp/pwned')\n"  # a .pth line runs at every Python start


@pytest.mark.parametrize(("case", "named"), [
    ("dotdot", "'../../../../../escaped/evil.pth'"),
    ("absolute", "'/tmp/spbe-share-evil-"),
    ("id", "'../../../../escaped-id'"),
])  # fmt: skip
def test_a_manifest_that_escapes_writes_nothing_outside_and_exits_8(world: World, case: str, named: str) -> None:
    assert world.backup_id, "the honest backup comes first"
    absolute = f"/tmp/spbe-share-evil-{secrets.token_hex(3)}/evil.pth"

    def edit(manifest: dict[str, Any], folder: Path) -> None:
        if case == "dotdot":
            manifest["items"].append(planted(folder, "../../../../../escaped/evil.pth", PTH))
        elif case == "absolute":
            manifest["items"].append(planted(folder, absolute, PTH))
        else:  # the id inside the manifest of the backup asked for; the files where that id leads
            manifest["id"] = "../../../../escaped-id"
            for name in files_of(manifest):
                planted(world.backups / "../../../../escaped-id", name, (folder / name).read_bytes())

    bid = hostile_backup(world, len(case), edit)
    if case == "id":  # the manifest.json the target sends names that id
        dest = world.backups / "../../../../escaped-id"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(world.backups / bid / "manifest.json", dest / "manifest.json")
    before = operator_side(world)
    (world.dc.dir / "compromised").touch()
    try:
        proc = world.w.cli("backup", "fetch", APP, bid, "--target", world.dc.name, check=False, timeout=300)
    finally:
        (world.dc.dir / "compromised").unlink()
    out = proc.stdout + proc.stderr
    operator = world.w.home.parent
    assert not list(operator.rglob("evil.pth")) and not list(operator.rglob("escaped-id*")), out
    assert not (operator / "escaped").exists() and not Path(absolute).exists()
    assert operator_side(world) == before
    assert proc.returncode == 8, out
    assert named in out, out
    assert "Traceback" not in out
    if world.fetch_dir.is_dir():
        assert bid not in {p.name for p in world.fetch_dir.iterdir()}  # no complete copy


@pytest.mark.parametrize("case", ["partial-is-a-link", "link-inside-partial"])
def test_links_left_in_the_fetch_folder_are_never_followed(world: World, case: str) -> None:
    assert world.backup_id, "the honest backup comes first"
    mine = world.w.home.parent / "operator-file"
    mine.write_text("the operator's own file\n")
    elsewhere = world.w.home.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    bid = hostile_backup(world, 10 + len(case), lambda m, f: None)
    partial = world.fetch_dir / f"{bid}.partial"
    if case == "partial-is-a-link":
        partial.symlink_to(elsewhere)
    else:
        partial.mkdir()
        name = files_of(json.loads((world.backups / bid / "manifest.json").read_text()))[0]
        (partial / name).symlink_to(mine)
    proc = world.w.cli("backup", "fetch", APP, bid, "--target", world.dc.name, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert mine.read_text() == "the operator's own file\n" and list(elsewhere.iterdir()) == []
    copy = world.fetch_dir / bid
    assert copy.is_dir() and not copy.is_symlink() and not partial.exists()
    assert not any(p.is_symlink() for p in copy.iterdir())
