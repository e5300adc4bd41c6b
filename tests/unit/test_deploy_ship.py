"""Shipping blobs: argv builders, and the real receiver run as the ``local`` target does it
(a subprocess on this machine, no ssh): only missing bytes sent, resume inside a blob, every
blob verified on the receiving side, a corrupt one never kept under its name."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
import zstandard

from spbe_share.errors import VerificationFailed
from spbe_share.remote import ship as S
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace


def _target(root: Path, **over: object) -> Target:
    fields: dict[str, object] = {
        "name": "local", "connection": "local", "host": "localhost", "user": "root", "pemda": "Kota Uji",
        "kode_wilayah": "91", "bind_address": "127.0.0.1", "root": str(root), "python": sys.executable,
    }  # fmt: skip
    fields.update(over)
    return Target(**fields)  # type: ignore[arg-type]


def _blob(tmp: Path, data: bytes, *, zstd: bool = True) -> S.BlobToShip:
    hx = hashlib.sha256(data).hexdigest()
    stored = zstandard.ZstdCompressor(level=3).compress(data) if zstd else data
    path = tmp / (hx + (".zst" if zstd else ""))
    path.write_bytes(stored)
    return S.BlobToShip(hex=hx, path=path, stored_size=len(stored), content_size=len(data),
                        compression="zstd" if zstd else "none", stored_sha256=hashlib.sha256(stored).hexdigest())


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Workspace, Target, list[S.BlobToShip], Path]:
    src = tmp_path / "src"
    src.mkdir()
    blobs = [
        _blob(src, os.urandom(600_000) + bytes(400_000)),
        _blob(src, b"config" * 10),
        _blob(src, os.urandom(50_000), zstd=False),
    ]
    root = tmp_path / "root"
    return Workspace(home=tmp_path / "ws", root=tmp_path), _target(root), blobs, root


def test_argv_and_protocol_lines(tmp_path: Path) -> None:
    local = _target(tmp_path / "r")
    ws = Workspace(home=tmp_path / "ws", root=tmp_path)
    assert S.ship_argv(ws, local) == [sys.executable, "-c", S.BOOTSTRAP, str(tmp_path / "r")]
    remote = _target(Path("/var/lib/spbe-share"), name="kota", connection="ssh", host="10.1.2.3", port=2222,
                     python=None, key=tmp_path / "id")
    argv = S.ship_argv(ws, remote)
    assert argv[:3] == ["ssh", "-o", "Compression=no"]
    assert "StrictHostKeyChecking=yes" in argv and f"UserKnownHostsFile={ws.known_hosts_file}" in argv
    assert argv[-3:-1] == ["10.1.2.3", "--"]
    import shlex

    assert shlex.split(argv[-1]) == ["python3", "-c", S.BOOTSTRAP, "/var/lib/spbe-share"]
    b = S.BlobToShip(hex="a" * 64, path=tmp_path, stored_size=5, content_size=9, compression="zstd",
                     stored_sha256="c" * 64)
    assert S.want_lines([b]) == f"SPBE-SHIP 1\nWANT {'a' * 64} 5 9 zstd {'c' * 64}\nEND\n".encode()


def test_only_missing_blobs_are_sent_once_and_verified(setup: tuple) -> None:  # type: ignore[type-arg]
    ws, target, blobs, root = setup
    first = S.ship_blobs(ws, target, blobs)
    assert (first.blobs_present, sorted(first.sent), first.connections) == (0, sorted(b.hex for b in blobs), 1)
    assert first.bytes_sent == sum(b.stored_size for b in blobs)
    store = root / "blobs" / "sha256"
    assert {p.name for p in store.iterdir() if not p.name.startswith(".")} == {
        f"{blobs[0].hex}.zst", f"{blobs[1].hex}.zst", blobs[2].hex}
    assert (root / "lib" / "spbe_receiver.py").read_bytes() == S.receiver_source()  # installed once
    again = S.ship_blobs(ws, target, blobs)
    assert (again.blobs_present, again.sent, again.bytes_sent) == (3, [], 0)


def test_a_cut_transfer_resumes_inside_the_blob(setup: tuple) -> None:  # type: ignore[type-arg]
    ws, target, blobs, root = setup
    big = blobs[0]
    part = root / "blobs" / "sha256" / ".partial" / f"{big.hex}.zst.part"
    part.parent.mkdir(parents=True)
    cut = big.stored_size * 9 // 10
    part.write_bytes(big.path.read_bytes()[:cut])  # what a cut connection leaves behind
    got = S.ship_blobs(ws, target, [big])
    assert got.resumed == {big.hex: cut}
    assert got.bytes_sent == big.stored_size - cut
    assert (root / "blobs" / "sha256" / f"{big.hex}.zst").read_bytes() == big.path.read_bytes()
    assert not part.exists()


def test_a_wrong_partial_file_is_deleted_and_sent_again_whole(setup: tuple) -> None:  # type: ignore[type-arg]
    ws, target, blobs, root = setup
    big = blobs[0]
    part = root / "blobs" / "sha256" / ".partial" / f"{big.hex}.zst.part"
    part.parent.mkdir(parents=True)
    prefix = bytearray(big.path.read_bytes()[:200_000])
    prefix[100_000] ^= 0xFF
    part.write_bytes(bytes(prefix))
    got = S.ship_blobs(ws, target, [big])
    assert got.connections == 2 and got.bytes_sent == (big.stored_size - 200_000) + big.stored_size
    assert (root / "blobs" / "sha256" / f"{big.hex}.zst").read_bytes() == big.path.read_bytes()


@pytest.mark.parametrize("zstd", [True, False])
def test_a_corrupt_blob_is_refused_and_never_kept(tmp_path: Path, zstd: bool) -> None:
    ws = Workspace(home=tmp_path / "ws", root=tmp_path)
    root = tmp_path / "root"
    good = _blob(tmp_path, os.urandom(300_000) + bytes(300_000), zstd=zstd)
    data = bytearray(good.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    good.path.write_bytes(bytes(data))  # the controller's copy rotted after the bundle was verified
    with pytest.raises(VerificationFailed, match=f"blob sha256:{good.hex} failed verification on the target"):
        S.ship_blobs(ws, _target(root), [good])
    store = root / "blobs" / "sha256"
    assert not (store / f"{good.hex}.zst").exists() and not (store / good.hex).exists()
    assert not list((store / ".partial").iterdir())


def test_missing_local_blob_is_refused_before_connecting(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "ws", root=tmp_path)
    b = S.BlobToShip(hex="b" * 64, path=tmp_path / "nope", stored_size=1, content_size=1, compression="none")
    with pytest.raises(VerificationFailed, match="missing on this machine"):
        S.ship_blobs(ws, _target(tmp_path / "root"), [b])
    assert not (tmp_path / "root").exists()


def test_receiver_check_mode(setup: tuple, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[type-arg]
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "module_utils"))
    import spbe_receiver as receiver

    ws, target, blobs, root = setup
    S.ship_blobs(ws, target, blobs[:2])
    assert receiver.main(["check", str(root), blobs[0].hex, blobs[1].hex]) == 0
    assert receiver.main(["check", str(root), blobs[0].hex, blobs[2].hex]) == 1
    assert capsys.readouterr().out == f"missing sha256:{blobs[2].hex}\n"


def test_the_bundles_files_travel_in_the_same_stream_counted_apart(setup: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """The files tar and the archive tool go with the blobs, on the same connection, as
    uncompressed content-addressed items verified on arrival; bytes_sent stays the blob bytes."""
    ws, target, blobs, root = setup
    tar = tmp_path / "spbe-files.tar.zst"
    tar.write_bytes(os.urandom(20_000))
    tool = tmp_path / "dockerarchive.py"
    tool.write_bytes(b"print('tool')\n")
    ev = {"spbe_local_bundle_dir": str(tmp_path), "spbe_files_tar": tar.name,
          "spbe_files_tar_sha256": hashlib.sha256(tar.read_bytes()).hexdigest(),
          "spbe_dockerarchive": str(tool), "spbe_dockerarchive_sha256": hashlib.sha256(tool.read_bytes()).hexdigest()}
    files = S.bundle_files(ev)
    assert [(f.hex, f.compression, f.stored_hex) for f in files] == [
        (ev["spbe_files_tar_sha256"], "none", ev["spbe_files_tar_sha256"]),
        (ev["spbe_dockerarchive_sha256"], "none", ev["spbe_dockerarchive_sha256"])]
    first = S.ship_blobs(ws, target, blobs, files=files)
    assert first.connections == 1 and first.blobs_total == 3 and len(first.sent) == 3
    assert first.bytes_sent == sum(b.stored_size for b in blobs)
    assert sorted(first.files_sent) == sorted(f.hex for f in files)
    assert first.files_bytes == tar.stat().st_size + tool.stat().st_size
    store = root / "blobs" / "sha256"
    assert (store / ev["spbe_files_tar_sha256"]).read_bytes() == tar.read_bytes()
    assert (store / ev["spbe_dockerarchive_sha256"]).read_bytes() == tool.read_bytes()
    again = S.ship_blobs(ws, target, blobs, files=files)
    assert (again.blobs_present, again.sent, again.files_sent, again.files_bytes) == (3, [], [], 0)
    only_files = S.ship_blobs(ws, target, [], files=files)  # a host of a data center that runs no image
    assert (only_files.blobs_total, only_files.files_sent, only_files.connections) == (0, [], 1)


def test_a_file_whose_bytes_do_not_match_the_digest_is_refused(tmp_path: Path) -> None:
    """The digest is the one computed from the verified bundle; a file that changed since is
    refused on the target and never kept under that digest."""
    ws = Workspace(home=tmp_path / "ws", root=tmp_path)
    root = tmp_path / "root"
    tar = tmp_path / "files.tar.zst"
    tar.write_bytes(b"verified bytes")
    hx = hashlib.sha256(tar.read_bytes()).hexdigest()
    tar.write_bytes(b"changed bytes!")  # same size, other content
    with pytest.raises(VerificationFailed, match=f"file sha256:{hx} failed verification on the target"):
        S.ship_blobs(ws, _target(root), [], files=[S.file_to_ship(tar, hx)])
    assert not (root / "blobs" / "sha256" / hx).exists()
    with pytest.raises(VerificationFailed, match="not a sha256 digest"):
        S.file_to_ship(tar, "X" * 64)
