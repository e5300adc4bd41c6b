"""spbe_share.imaging.layers: deterministic layer tars (no engine)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from spbe_share.imaging import layers as L


def _tar(path: Path, entries: list[tuple], *, mtime: int = 1_700_000_123, uname: str = "builder") -> Path:
    """entries: (name, kind, data_or_link, mode, uid)"""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, mode, uid in entries:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.uname = info.gname = uname
            info.mode = mode
            info.uid = info.gid = uid
            info.pax_headers = {"atime": str(mtime), "ctime": str(mtime)}
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            info.linkname = payload if kind != "dir" else ""
            tar.addfile(info)
    return path


def _normalized_bytes(path: Path) -> bytes:
    buf = io.BytesIO()
    L.write_layer(L.normalize(L.members_of_tar(path)), buf)
    return buf.getvalue()


PYC_TS = b"\xa7\r\r\n" + b"\0\0\0\0" + b"\x01\x02\x03\x04" * 2 + b"code"
PYC_HASH = b"\xa7\r\r\n" + b"\x03\0\0\0" + b"\x05" * 8 + b"code"


def test_order_times_and_owner_names_do_not_matter(tmp_path: Path) -> None:
    entries = [
        ("usr/", "dir", None, 0o755, 0),
        ("usr/bin/", "dir", None, 0o755, 0),
        ("usr/bin/tool", "file", b"#!/bin/sh\n", 0o4755, 0),
        ("usr/lib/x.so", "file", b"\x7fELF", 0o644, 0),
        ("usr/lib/", "dir", None, 0o755, 0),
        ("app/data", "file", b"data", 0o640, 10001),
    ]
    a = _tar(tmp_path / "a.tar", entries)
    b = _tar(tmp_path / "b.tar", list(reversed(entries)), mtime=1_800_000_000, uname="other")
    one, two = _normalized_bytes(a), _normalized_bytes(b)
    assert one == two
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app/data", "usr", "usr/bin", "usr/bin/tool", "usr/lib", "usr/lib/x.so"]
    assert {m.mtime for m in members} == {L.FIXED_MTIME}
    assert {m.uname for m in members} == {""}
    assert all("atime" not in m.pax_headers for m in members)
    tool = next(m for m in members if m.name == "usr/bin/tool")
    assert tool.mode == 0o4755
    assert next(m for m in members if m.name == "app/data").uid == 10001


def test_build_noise_is_dropped_and_kept_things_stay(tmp_path: Path) -> None:
    a = _tar(tmp_path / "a.tar", [
        ("var/log/", "dir", None, 0o755, 0),
        ("var/log/dpkg.log", "file", b"2026-01-01 install", 0o644, 0),
        ("var/log/apt/", "dir", None, 0o755, 0),
        ("var/log/apt/history.log", "file", b"x", 0o644, 0),
        ("var/cache/ldconfig/aux-cache", "file", b"inodes", 0o600, 0),
        ("var/cache/debconf/config.dat-old", "file", b"old", 0o644, 0),
        ("var/cache/debconf/config.dat", "file", b"new", 0o644, 0),
        ("var/lib/apt/lists/deb_InRelease", "file", b"x", 0o644, 0),
        ("etc/passwd-", "file", b"old", 0o644, 0),
        ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n", 0o644, 0),
        ("tmp/", "dir", None, 0o1777, 0),
        ("tmp/wheels/x.whl", "file", b"x", 0o644, 0),
        ("lib/__pycache__/m.cpython-311.pyc", "file", PYC_TS, 0o644, 0),
        ("lib/__pycache__/h.cpython-311.pyc", "file", PYC_HASH, 0o644, 0),
        ("var/log/.wh.old.log", "file", b"", 0o644, 0),
        ("etc/.wh.motd", "file", b"", 0o644, 0),
    ])  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(_normalized_bytes(a))) as tar:
        names = tar.getnames()
    assert names == [
        "etc/.wh.motd", "etc/passwd", "lib/__pycache__/h.cpython-311.pyc", "tmp",
        "var/cache/debconf/config.dat", "var/log", "var/log/apt",
    ]  # fmt: skip
    assert "var/log/dpkg.log" not in names and "tmp/wheels/x.whl" not in names
    assert "var/cache/ldconfig/aux-cache" not in names and "etc/passwd-" not in names
    assert "lib/__pycache__/m.cpython-311.pyc" not in names
    assert "lib/__pycache__/h.cpython-311.pyc" in names
    assert "etc/.wh.motd" in names and "var/log/.wh.old.log" not in names


def test_shadow_last_change_day_is_fixed(tmp_path: Path) -> None:
    shadow = b"root:*:20470:0:99999:7:::\neoffice:!:20471::::::\nbroken line\n"
    a = _tar(tmp_path / "a.tar", [("etc/shadow", "file", shadow, 0o640, 0)])
    with tarfile.open(fileobj=io.BytesIO(_normalized_bytes(a))) as tar:
        data = tar.extractfile("etc/shadow").read()  # type: ignore[union-attr]
    day = str(L.SHADOW_DAY).encode()
    assert data == b"root:*:" + day + b":0:99999:7:::\neoffice:!:" + day + b"::::::\nbroken line\n"


def test_hard_links_first_path_in_order_holds_the_data(tmp_path: Path) -> None:
    a = _tar(tmp_path / "a.tar", [
        ("usr/bin/perl5.36", "file", b"perl binary", 0o755, 0),
        ("usr/bin/perl", "hardlink", "usr/bin/perl5.36", 0o755, 0),
    ])  # fmt: skip
    out = _normalized_bytes(a)
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        perl, versioned = tar.getmembers()
        assert (perl.name, perl.isreg(), perl.size) == ("usr/bin/perl", True, 11)
        assert (versioned.name, versioned.islnk(), versioned.linkname) == ("usr/bin/perl5.36", True, "usr/bin/perl")
    (tmp_path / "again.tar").write_bytes(out)
    assert _normalized_bytes(tmp_path / "again.tar") == out  # idempotent


def test_normalizing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    a = _tar(tmp_path / "a.tar", [
        ("a/", "dir", None, 0o755, 0),
        ("a/" + "long-name-" * 20, "file", b"x" * 5000, 0o644, 0),
        ("a/link", "symlink", "../b", 0o777, 0),
        ("a/ünïcode", "file", b"u", 0o644, 0),
    ])  # fmt: skip
    once = _normalized_bytes(a)
    (tmp_path / "once.tar").write_bytes(once)
    assert _normalized_bytes(tmp_path / "once.tar") == once


def test_a_layer_deleting_what_the_previous_added_is_merged(tmp_path: Path) -> None:
    base = _tar(tmp_path / "0.tar", [("etc/motd", "file", b"hi", 0o644, 0)])
    user = _tar(tmp_path / "1.tar", [("etc/passwd", "file", b"u", 0o644, 0), ("etc/.wh.motd", "file", b"", 0o644, 0)])
    wheels = _tar(tmp_path / "2.tar", [("tmp/w/", "dir", None, 0o755, 0), ("tmp/w/a.whl", "file", b"w" * 100, 0o644, 0),
                                       ("opt/w2/a.whl", "file", b"w", 0o644, 0)])
    install = _tar(tmp_path / "3.tar", [("usr/lib/pkg/__init__.py", "file", b"", 0o644, 0),
                                        ("opt/.wh.w2", "file", b"", 0o644, 0)])
    code = _tar(tmp_path / "4.tar", [("app/main.py", "file", b"print()", 0o644, 0)])
    layers = [L.members_of_tar(p) for p in (user, wheels, install, code)]
    # grouping is applied above the FROM image: the whiteout of etc/motd (a base file) stays
    # in layer 0; layer 2 deletes what layer 1 added, so they merge
    assert L.group_layers(layers) == [[0], [1, 2], [3]]
    assert L.group_layers([L.members_of_tar(base), *layers])[0] == [0, 1]  # (why base is never passed)
    merged = L.normalize(L.squash([layers[1], layers[2]]))
    assert [m.path for m in merged] == ["opt/.wh.w2", "usr/lib/pkg/__init__.py"]
    blobs = L.normalize_layers([user, wheels, install, code], tmp_path / "blobs")
    assert len(blobs) == 3
    for hx, size in blobs:
        data = (tmp_path / "blobs" / hx).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hx and len(data) == size


def test_squash_opaque_and_recreated_folders() -> None:
    def m(path: str, kind: str = "file") -> L.Member:
        return L.Member(path=path, kind=kind, mode=0o755, data=lambda: io.BytesIO(b""))

    out = {x.path for x in L.squash([[m("d", "dir"), m("d/a")], [m("d/.wh..wh..opq"), m("d/b")]])}
    assert out == {"d", "d/.wh..wh..opq", "d/b"}
    out = {x.path for x in L.squash([[m("d/.wh.x")], [m("d/x", "dir"), m("d/x/y")]])}
    assert out == {"d/x", "d/x/.wh..wh..opq", "d/x/y"}


def test_tree_to_layer_matches_its_own_normalization(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3.11").write_bytes(b"py")
    os.link(root / "usr/bin/python3.11", root / "usr/bin/python3")
    (root / "usr/bin/py").symlink_to("python3")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/boot.log").write_text("booted at 12:00")
    (root / "dev").mkdir()
    (root / "dev/null-ish").write_text("x")
    blob_dir = tmp_path / "blobs"
    hx, _ = L.write_layer_blob(L.normalize(L.members_of_tree(root)), blob_dir)
    with tarfile.open(blob_dir / hx) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert set(names) == {"dev", "usr", "usr/bin", "usr/bin/py", "usr/bin/python3", "usr/bin/python3.11", "var", "var/log"}
    assert names["usr/bin/python3"].isreg() and names["usr/bin/python3.11"].islnk()
    again, _ = L.write_layer_blob(L.normalize(L.members_of_tar(blob_dir / hx)), tmp_path / "again")
    assert again == hx


def test_unsafe_entry_names_are_refused(tmp_path: Path) -> None:
    bad = _tar(tmp_path / "bad.tar", [("../etc/passwd", "file", b"x", 0o644, 0)])
    with pytest.raises(L.LayerError, match="leaves the layer"):
        L.members_of_tar(bad)
    dangling = _tar(tmp_path / "d.tar", [("a", "hardlink", "nothing", 0o644, 0)])
    with pytest.raises(L.LayerError, match="hard link"):
        L.members_of_tar(dangling)
