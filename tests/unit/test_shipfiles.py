"""The target side of tasks/ship.yml in one call (playbooks/module_utils/spbe_shipfiles.py,
module spbe_ship): folders with their modes, every blob present, the archive tool and the
files tar installed from the blob store (their digest checked again), the tar unpacked with
tar + zstd when it changed; check mode changes nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

MODULE_UTILS = Path(__file__).resolve().parents[2] / "playbooks" / "module_utils"
sys.path.insert(0, str(MODULE_UTILS))  # it imports spbe_files by its plain name outside Ansible
spec = importlib.util.spec_from_file_location("spbe_shipfiles_u", MODULE_UTILS / "spbe_shipfiles.py")
assert spec is not None and spec.loader is not None
sf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sf)


def _tar(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def _store(root: Path, data: bytes) -> str:
    hx = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / hx).write_bytes(data)
    return hx


def _request(root: Path, *, tool: str, tar: str, blobs: list[str]) -> dict[str, Any]:
    adir = root / "apps" / "app"
    return {
        "blobs_dir": str(root / "blobs" / "sha256"),
        "blobs": blobs,
        "folders": [{"path": str(root / "blobs" / "sha256"), "mode": "0755"}, {"path": str(root / "lib"), "mode": "0755"},
                    {"path": str(adir / "bundles" / "1.0.0"), "mode": "0755"},
                    {"path": str(adir / "secrets"), "mode": "0700"}],
        "files": [{"sha256": tool, "dest": str(root / "lib" / "dockerarchive.py"), "mode": "0644"},
                  {"sha256": tar, "dest": str(adir / "bundles" / "1.0.0.tar.zst"), "mode": "0644",
                   "unpack": str(adir / "bundles" / "1.0.0")}],
    }


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


def test_one_call_does_what_five_tasks_did_and_then_nothing(root: Path) -> None:
    blob = _store(root, b"a layer")
    (root / "blobs" / "sha256" / (hashlib.sha256(b"z").hexdigest() + ".zst")).write_bytes(b"zz")  # compressed blob
    tool = _store(root, b"# dockerarchive\n")
    tar = _store(root, _tar({"entry/entry.yaml": b"id: app\n", "spbe-bundle.json": b"{}"}))
    req = _request(root, tool=tool, tar=tar, blobs=[blob, hashlib.sha256(b"z").hexdigest()])
    out = sf.ship(req)
    adir = root / "apps" / "app"
    assert out["changed"] and out["unpacked"] == [str(adir / "bundles" / "1.0.0")]
    assert (root / "lib" / "dockerarchive.py").read_bytes() == b"# dockerarchive\n"
    assert (root / "lib" / "dockerarchive.py").stat().st_mode & 0o777 == 0o644
    assert (adir / "bundles" / "1.0.0" / "entry" / "entry.yaml").read_bytes() == b"id: app\n"
    assert (adir / "bundles" / "1.0.0" / "spbe-bundle.json").is_file()
    assert (adir / "bundles" / "1.0.0").stat().st_mode & 0o777 == 0o755
    assert (adir / "secrets").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (adir / "bundles").iterdir()) == ["1.0.0", "1.0.0.tar.zst"]  # no temporary left
    again = sf.ship(req)
    assert (again["changed"], again["folders"], again["installed"], again["unpacked"]) == (False, [], [], [])


def test_a_new_tar_replaces_the_unpacked_folder_whole(root: Path) -> None:
    tool = _store(root, b"tool")
    first = _store(root, _tar({"entry/old.yaml": b"old"}))
    sf.ship(_request(root, tool=tool, tar=first, blobs=[]))
    second = _store(root, _tar({"entry/new.yaml": b"new"}))
    out = sf.ship(_request(root, tool=tool, tar=second, blobs=[]))
    folder = root / "apps" / "app" / "bundles" / "1.0.0"
    assert out["installed"] == [str(folder) + ".tar.zst"] and out["unpacked"] == [str(folder)]
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["entry", "entry/new.yaml"]


def test_modes_are_repaired_and_an_emptied_folder_unpacked_again(root: Path) -> None:
    tool, tar = _store(root, b"tool"), _store(root, _tar({"a": b"1"}))
    req = _request(root, tool=tool, tar=tar, blobs=[])
    sf.ship(req)
    (root / "lib" / "dockerarchive.py").chmod(0o600)
    (root / "apps" / "app" / "secrets").chmod(0o755)
    (root / "apps" / "app" / "bundles" / "1.0.0" / "a").unlink()
    out = sf.ship(req)
    assert out["installed"] == [str(root / "lib" / "dockerarchive.py")]
    assert out["folders"] == [str(root / "apps" / "app" / "secrets")]
    assert (root / "lib" / "dockerarchive.py").stat().st_mode & 0o777 == 0o644
    assert (root / "apps" / "app" / "bundles" / "1.0.0" / "a").read_bytes() == b"1"


def test_a_missing_blob_or_file_fails_naming_it(root: Path) -> None:
    tool, tar = _store(root, b"tool"), _store(root, _tar({"a": b"1"}))
    gone = "e" * 64
    with pytest.raises(sf.ShipError, match=f"1 blob\\(s\\) missing .*sha256:{gone}") as err:
        sf.ship(_request(root, tool=tool, tar=tar, blobs=[gone]))
    assert err.value.missing == [gone]
    assert not (root / "lib" / "dockerarchive.py").exists()  # nothing installed before the blobs are all there
    with pytest.raises(sf.ShipError, match="not in .*run the command again"):
        sf.ship(_request(root, tool=gone, tar=tar, blobs=[]))
    with pytest.raises(sf.ShipError, match="not a sha256 digest"):
        sf.ship(_request(root, tool=tool, tar=tar, blobs=["../../etc/passwd"]))


def test_a_store_copy_that_does_not_hash_to_its_name_is_deleted_never_installed(root: Path) -> None:
    tool, tar = _store(root, b"tool"), _store(root, _tar({"a": b"1"}))
    (root / "blobs" / "sha256" / tool).write_bytes(b"evil")
    with pytest.raises(sf.ShipError, match="hashes to"):
        sf.ship(_request(root, tool=tool, tar=tar, blobs=[]))
    assert not (root / "blobs" / "sha256" / tool).exists()
    assert not (root / "lib" / "dockerarchive.py").exists()
    assert [p.name for p in (root / "lib").iterdir()] == []  # no temporary file left


def test_check_mode_changes_nothing(root: Path) -> None:
    tool, tar = _store(root, b"tool"), _store(root, _tar({"a": b"1"}))
    out = sf.ship(_request(root, tool=tool, tar=tar, blobs=[]), check=True)
    assert out["changed"] and len(out["installed"]) == 2 and len(out["unpacked"]) == 1
    assert not (root / "lib").exists() and not (root / "apps").exists()
