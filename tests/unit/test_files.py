"""The one write helper of the controller (spbe_share/files.py, issue 23): a file is replaced
whole or not at all, with its mode, and fsynced; the writers that rolled their own use it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spbe_share.files import atomic_file, atomic_write_bytes, atomic_write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    atomic_write_text(path, "old\n", mode=0o644)
    assert path.read_text() == "old\n" and path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(RuntimeError), atomic_file(path) as f:
        f.write(b"half of the new")
        raise RuntimeError("cut")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]
    atomic_write_bytes(path, b"new\n")
    assert path.read_bytes() == b"new\n" and path.stat().st_mode & 0o777 == 0o600


def test_the_controllers_writers_go_through_it() -> None:
    """No module of the package renames a temporary file over a known path by itself any more
    (content-addressed stores and folder swaps excepted: see the module's docstring)."""
    package = Path(__file__).resolve().parents[2] / "spbe_share"
    allowed = {
        "files.py",
        "bundle/pack.py", "imaging/layers.py", "imaging/dockerarchive.py",  # blobs named by their digest
        "bundle/verify.py", "catalog/sources.py", "site/build.py",  # whole folders swapped
        "ops/target_add.py",  # known_hosts staged, used for a login, only then put in place
        "imaging/assemble.py",  # a temporary tar for docker load
        "remote/ship.py",  # the bootstrap that installs the receiver ON the target (a string)
    }
    found = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel not in allowed and ("os.replace(" in text or ".replace(out)" in text or "mkstemp(" in text):
            found.append(rel)
    assert found == [], f"write through spbe_share.files: {found}"
    assert os.path.exists(package / "files.py")
