"""Bytes with rate and ETA (issue 20 item 6): the core counts through a meter, the CLI draws.

A real ship (the ``local`` target's receiver, a subprocess on this machine) and a real zstd
compression report their bytes; on a pseudo-terminal the CLI's display shows a rate and an ETA;
in a pipe, or with ``--json``, not one byte more is written.
"""

from __future__ import annotations

import hashlib
import io
import os
import pty
import select
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import zstandard

from spbe_share.bundle.pack import compress_blob
from spbe_share.meter import Count
from spbe_share.remote import ship as S
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


def _target(root: Path) -> Target:
    return Target(name="local", connection="local", host="localhost", user="root", pemda="Kota Uji",
                  kode_wilayah="91", bind_address="127.0.0.1", root=str(root), python=sys.executable)


def _blob(tmp: Path, data: bytes) -> S.BlobToShip:
    hx = hashlib.sha256(data).hexdigest()
    stored = zstandard.ZstdCompressor(level=3).compress(data)
    path = tmp / f"{hx}.zst"
    path.write_bytes(stored)
    return S.BlobToShip(hex=hx, path=path, stored_size=len(stored), content_size=len(data), compression="zstd",
                        stored_sha256=hashlib.sha256(stored).hexdigest())


def test_a_ship_reports_its_bytes_of_a_known_total_and_ends(tmp_path: Path) -> None:
    blobs = [_blob(tmp_path, os.urandom(3 << 20)), _blob(tmp_path, b"config" * 100)]
    calls: list[tuple[str, int, int | None]] = []
    ws, target = Workspace(home=tmp_path / "ws", root=tmp_path), _target(tmp_path / "root")
    result = S.ship_blobs(ws, target, blobs, meter=lambda *a: calls.append(a))
    total = sum(b.stored_size for b in blobs)
    assert result.bytes_sent == total
    assert {c[0] for c in calls} == {"ship to local"} and {c[2] for c in calls} == {total}
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[-1] == total and len(done) >= 3  # per chunk, then the end
    calls.clear()
    S.ship_blobs(ws, target, blobs, meter=lambda *a: calls.append(a))  # all there: nothing to count
    assert calls == []


def test_compression_counts_the_bytes_it_reads_and_a_cached_blob_none(tmp_path: Path) -> None:
    data = os.urandom(2 << 20) + bytes(2 << 20)
    src = tmp_path / hashlib.sha256(data).hexdigest()
    src.write_bytes(data)
    calls: list[tuple[str, int, int | None]] = []
    count = Count(lambda *a: calls.append(a), "compressing (zstd)", len(data))
    compress_blob(src, src.name, cache=tmp_path / "cache", out_dir=tmp_path / "out", count=count)
    count.end()
    assert calls[-1] == ("compressing (zstd)", len(data), len(data)) and len(calls) >= 3
    calls.clear()
    again = Count(lambda *a: calls.append(a), "compressing (zstd)", len(data))
    compress_blob(src, src.name, cache=tmp_path / "cache", out_dir=tmp_path / "out", count=again)
    assert calls == []


# A real ship to the local target with the CLI's meter, stderr being whatever the test gives.
SHIP = r"""
import hashlib, os, sys
from pathlib import Path
import click
from spbe_share.cli.progress import byte_meter
from spbe_share.remote import ship as S
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace

tmp, mode = Path(sys.argv[1]), sys.argv[2]
data = os.urandom(6 << 20)
hx = hashlib.sha256(data).hexdigest()
(tmp / hx).write_bytes(data)
blob = S.BlobToShip(hex=hx, path=tmp / hx, stored_size=len(data), content_size=len(data), compression="none")
target = Target(name="kota-uji", connection="local", host="localhost", user="root", pemda="Kota Uji",
                kode_wilayah="91", bind_address="127.0.0.1", root=str(tmp / "root"), python=sys.executable)

@click.command()
def main():
    meter = None if mode == "none" else byte_meter(as_json=mode == "json")
    S.ship_blobs(Workspace(home=tmp / "ws", root=tmp), target, [blob], meter=meter, bwlimit=4 << 20)
    print("shipped")

main(args=[])
"""


def _run(tmp: Path, mode: str, *, tty: bool) -> tuple[bytes, bytes]:
    """(stdout, stderr) of SHIP; stderr a pseudo-terminal when ``tty``."""
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120", "TERM": "xterm"}
    argv = [sys.executable, "-c", SHIP, str(tmp), mode]
    if not tty:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=True)  # noqa: S603
        return done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=env)  # noqa: S603
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert proc.wait(timeout=30) == 0, err
    return out, err


def test_on_a_terminal_the_ship_shows_rate_and_eta_and_a_pipe_or_json_get_nothing_more(tmp_path: Path) -> None:
    out, err = _run(tmp_path / "tty", "cli", tty=True)
    text = err.decode(errors="replace")
    assert out == b"shipped\n"
    assert "ship to kota-uji" in text
    assert "MB/s" in text  # the rate (rich's TransferSpeedColumn)
    assert "0:00:0" in text  # the time left (TimeRemainingColumn), counting down
    last = text.rpartition("\x1b[2K")[2]  # the line left on screen: the final figures, once
    assert "6.3/6.3 MB" in last and "MB/s" in last and text.count("ship to kota-uji") >= 3
    assert text.count("0.0/6.3 MB") == 1  # one display for one piece of work (its end not redrawn)
    # with --json on the same terminal, and in a pipe: byte for byte what no meter prints
    plain = _run(tmp_path / "none", "none", tty=False)
    assert _run(tmp_path / "pipe", "cli", tty=False) == plain == (b"shipped\n", b"")
    assert _run(tmp_path / "json", "json", tty=True) == (b"shipped\n", b"")


class _Engine:
    """The two calls export_image makes of the Docker SDK, answering a real ``docker save``
    archive (one image: a config and one layer), streamed in chunks."""

    def __init__(self, archive: bytes, config: str, layer: str) -> None:
        self.api = self
        self._archive, self._config, self._layer = archive, config, layer

    def inspect_image(self, _ref: str) -> dict[str, object]:
        return {"Id": self._config, "RootFS": {"Layers": [self._layer]}}

    def get_image(self, _ref: str, chunk_size: int) -> Iterator[bytes]:
        for i in range(0, len(self._archive), chunk_size):
            yield self._archive[i : i + chunk_size]


def test_an_image_export_counts_its_bytes_without_a_total_then_ends(tmp_path: Path) -> None:
    from spbe_share.bundle.pack import export_image
    from spbe_share.imaging import dockerarchive as da

    config = b'{"architecture": "amd64", "os": "linux"}'
    layer = os.urandom(3 << 20)
    blobs = {hashlib.sha256(b).hexdigest(): b for b in (config, layer)}
    cfg, lay = (f"sha256:{hashlib.sha256(b).hexdigest()}" for b in (config, layer))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [*((f"blobs/sha256/{h}", b) for h, b in blobs.items()),
                           ("manifest.json", da.archive_manifest(cfg, [lay], ["app:1"]))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    calls: list[tuple[str, int, int | None]] = []
    img = export_image(_Engine(out.getvalue(), cfg, lay), component="web", ref="app:1", blob_dir=tmp_path / "b",
                       meter=lambda *a: calls.append(a))
    assert img.layers == [lay]
    size = len(out.getvalue())
    assert {c[0] for c in calls} == {"exporting app:1"} and len(calls) >= 3
    assert all(c[2] is None for c in calls[:-1]) and calls[-1] == ("exporting app:1", size, size)


def test_the_display_of_an_unknown_total_shows_bytes_and_rate_and_its_end_once() -> None:
    from spbe_share.cli.progress import ByteDisplay

    class Screen(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Screen()
    display = ByteDisplay(screen)
    for done in range(0, 5 << 20, 1 << 20):
        display("exporting app:1", done, None)
    display("exporting app:1", 5 << 20, 5 << 20)
    display("exporting app:1", 5 << 20, 5 << 20)  # said twice: not drawn again
    text = screen.getvalue()
    assert "exporting app:1" in text and "5.2/5.2 MB" in text.rpartition("\x1b[2K")[2]
    assert "0/? bytes" in text  # no total yet: bytes, no ETA
    assert text.count("5.2/5.2 MB") == 1  # the end drawn once (said twice)
    display.close()
