"""Shipping blobs over real SSH to a simulated data center: a connection killed in the middle
of a blob resumes from the partial offset on the target, and the result verifies."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from simdc import TARGET_PYTHON, SimDC, run_cli

from spbe_share.errors import Unreachable
from spbe_share.remote.ship import BlobToShip, ship_blobs
from spbe_share.targets.inventory import get_target
from spbe_share.workspace import Workspace

pytestmark = pytest.mark.e2e


def _children_named(name: str) -> list[int]:
    """Our own child processes called ``name`` (the ssh this test's ship started)."""
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and comm == name:
            out.append(int(entry))
    return out


def _blob(tmp: Path, size: int) -> BlobToShip:
    data = os.urandom(size // 2) + bytes(size - size // 2)  # half incompressible
    hx = hashlib.sha256(data).hexdigest()
    packed = zstandard.ZstdCompressor(level=3).compress(data)
    path = tmp / f"{hx}.zst"
    path.write_bytes(packed)
    return BlobToShip(hex=hx, path=path, stored_size=len(packed), content_size=len(data), compression="zstd",
                      stored_sha256=hashlib.sha256(packed).hexdigest())


def test_a_killed_connection_resumes_inside_the_blob(simdc_factory: Callable[..., SimDC], tmp_path: Path) -> None:
    dc = simdc_factory("kota-kirim")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args(), "--python", TARGET_PYTHON)
    ws = Workspace.from_options(home)
    target = get_target(ws, dc.name)
    big = _blob(tmp_path, 24 << 20)
    small = _blob(tmp_path, 1 << 20)
    part = dc.root / "blobs" / "sha256" / ".partial" / f"{big.hex}.zst.part"

    killed: list[int] = []
    cut_at = big.stored_size * 6 // 10

    def kill_midway(sent: int) -> None:
        if not killed and sent >= cut_at:
            for pid in _children_named("ssh"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    # ~8 MB/s, so the kill lands while the big blob is on the wire
    with pytest.raises(Unreachable, match="run the command again to resume"):
        ship_blobs(ws, target, [big, small], progress=kill_midway, bwlimit=8 << 20)
    assert killed, "the ssh process was never seen"
    # the receiver on the target keeps what arrived (it may still be writing for a moment)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not part.is_file():
        time.sleep(0.2)
    assert part.is_file()
    time.sleep(1.0)
    held = part.stat().st_size
    assert 0 < held < big.stored_size
    assert not (dc.root / "blobs" / "sha256" / f"{big.hex}.zst").exists()  # never under its name unverified

    again = ship_blobs(ws, target, [big, small])
    offset = again.resumed[big.hex]
    assert offset >= held and offset >= cut_at * 9 // 10  # resumed where the cut left it
    assert again.bytes_sent <= (big.stored_size - offset) + small.stored_size
    assert again.connections == 1
    for b in (big, small):
        stored = (dc.root / "blobs" / "sha256" / f"{b.hex}.zst").read_bytes()
        content = zstandard.ZstdDecompressor().decompress(stored)
        assert hashlib.sha256(content).hexdigest() == b.hex
    assert not part.exists()
    # a third ship sends nothing
    third = ship_blobs(ws, target, [big, small])
    assert (third.blobs_present, third.bytes_sent) == (2, 0)


def test_ship_checks_the_pinned_host_key(simdc_factory: Callable[..., SimDC], tmp_path: Path) -> None:
    from spbe_share.errors import HostKeyMismatch

    dc = simdc_factory("kota-kunci")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args(), "--python", TARGET_PYTHON)
    ws = Workspace.from_options(home)
    dc.restart(new_host_key=True)
    blob = _blob(tmp_path, 1 << 16)
    with pytest.raises(HostKeyMismatch):
        ship_blobs(ws, get_target(ws, dc.name), [blob])
    assert not (dc.root / "blobs").exists()

