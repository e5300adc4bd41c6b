"""Ship a bundle's blobs to a target: one stream over one SSH connection, resumable.

Blobs are content-addressed and immutable, so shipping needs no lock on the app and can run
before the playbook, while the old version still serves. One connection carries everything:

1. ``ssh <pinned options> target python3 -c BOOTSTRAP ROOT`` (argv from
   :func:`spbe_share.remote.ssh.ssh_argv`; the built-in ``local`` target runs the same command
   without ssh). The bootstrap reads the receiver script (``playbooks/module_utils/spbe_receiver.py``, standard library
   only) from the stream, installs it as ``<root>/lib/spbe_receiver.py`` when it changed, and
   runs it on the rest of the stream.
2. The receiver answers which blobs it has, which it holds in part (with the offset) and which
   it needs; only the missing bytes are sent, as stored in the bundle (zstd-compressed).
3. Each blob is verified on the target as it arrives, against the digest of its stored bytes
   from the bundle's signed manifest (which binds it to the content digest; the content was
   verified on this machine when the bundle was opened); the receiver answers ``OK`` or
   ``BAD`` per blob. A blob that fails is deleted there, never kept under its name. A blob that
   was resumed and fails is sent again once, whole, on a second connection. The uncompressed
   content is verified against its digest on the target again before use, when the load step
   streams it into ``docker load``.

The same stream carries the small files the playbook installs (``files``: the bundle's files
tar and spbe-share's archive tool, ``dockerarchive.py``), as uncompressed content-addressed
items of the same store (``<root>/blobs/sha256/<hex>``, ``<hex>`` the SHA-256 of the file as
the controller computed it from the verified bundle, see :func:`file_to_ship`): sent only when
missing, verified on arrival like a blob. ``tasks/ship.yml`` (module ``spbe_ship``) checks their
digest again as it installs them. Their bytes are counted apart (:attr:`ShipResult.files_bytes`):
``bytes_sent`` stays the blob bytes.

A cut connection raises :class:`~spbe_share.errors.Unreachable`; the next ship resumes inside
the blob that was cut.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import EnvironmentProblem, RemoteFailed, Unreachable, VerificationFailed
from ..i18n import N_
from ..meter import Count, Meter
from .scripts import home

if TYPE_CHECKING:
    from ..bundle.manifest import BundleManifest
    from ..targets.inventory import Target
    from ..workspace import Workspace

PROTOCOL = "SPBE-SHIP 1"
RECEIVER_NAME = "spbe_receiver.py"
CHUNK = 1 << 20
MAX_REPLY_LINE = 4096  # bytes of one line from the receiver (its lines name a blob and a number)
MAX_REPLIES = 16 << 20  # bytes read from the receiver in one session (a few lines per blob)

# Installs the receiver (sent first on the stream) under ROOT/lib and runs it on the rest.
BOOTSTRAP = """\
import os, sys
r = sys.stdin.buffer
n = int(r.readline())
src = r.read(n)
if len(src) != n:
    sys.exit("spbe-share: the receiver script was cut short")
lib = os.path.join(sys.argv[1], "lib")
os.makedirs(lib, exist_ok=True)
p = os.path.join(lib, "spbe_receiver.py")
try:
    with open(p, "rb") as f:
        old = f.read()
except OSError:
    old = None
if old != src:
    with open(p + ".tmp", "wb") as f:
        f.write(src)
    os.chmod(p + ".tmp", 0o644)
    os.replace(p + ".tmp", p)
sys.argv = [p] + sys.argv[1:]
exec(compile(src, p, "exec"), {"__name__": "__main__", "__file__": p})
"""

Progress = Callable[[int], None]  # bytes of blob data sent so far


@dataclass(frozen=True)
class BlobToShip:
    hex: str
    path: Path  # the stored bytes on the controller
    stored_size: int
    content_size: int
    compression: str  # "zstd" or "none"
    stored_sha256: str = ""  # of the stored bytes (= hex for an uncompressed blob)

    @property
    def stored_hex(self) -> str:
        return self.stored_sha256 or self.hex


@dataclass
class ShipResult:
    blobs_total: int = 0
    blobs_present: int = 0
    sent: list[str] = field(default_factory=list)  # hex of the blobs sent (in full or resumed)
    resumed: dict[str, int] = field(default_factory=dict)  # hex -> offset it resumed from
    bytes_sent: int = 0  # blob bytes written to the stream
    connections: int = 0
    seconds: float = 0.0
    files_sent: list[str] = field(default_factory=list)  # hex of the small files sent (files tar, tool)
    files_bytes: int = 0  # their bytes written to the stream (not in bytes_sent)

    def as_dict(self) -> dict[str, object]:
        return {
            "blobs_total": self.blobs_total,
            "blobs_present": self.blobs_present,
            "blobs_sent": len(self.sent),
            "bytes_sent": self.bytes_sent,
            "resumed": dict(self.resumed),
            "connections": self.connections,
            "seconds": round(self.seconds, 2),
            "files_sent": len(self.files_sent),
            "files_bytes": self.files_bytes,
        }

    def add(self, other: ShipResult) -> None:
        """Add ``other``'s counts (another host's, or a second connection's) to these."""
        self.blobs_total += other.blobs_total
        self.blobs_present += other.blobs_present
        self.sent += other.sent
        self.resumed.update(other.resumed)
        self.bytes_sent += other.bytes_sent
        self.connections += other.connections
        self.seconds += other.seconds
        self.files_sent += other.files_sent
        self.files_bytes += other.files_bytes


# ------------------------------------------------------------------ pure builders


def receiver_source(playbooks: Path | None = None) -> bytes:
    """``module_utils/spbe_receiver.py``: standalone (it is installed as one file in <root>/lib)."""
    return (home(playbooks) / RECEIVER_NAME).read_bytes()


def remote_command(target: Target) -> list[str]:
    """What runs on the target: the bootstrap, with the target's root as its argument."""
    return [target.python or "python3", "-c", BOOTSTRAP, target.root]


def ship_argv(ws: Workspace, target: Target) -> list[str]:
    """The argv of the one connection (pinned host key; no ssh for the local target)."""
    if target.connection == "local":
        return [target.python or sys.executable, "-c", BOOTSTRAP, target.root]
    from .ssh import ssh_argv

    argv = ssh_argv(ws, target, remote_command(target))
    # no ssh compression: the blobs are compressed already
    return [argv[0], "-o", "Compression=no", *argv[1:]]


def blobs_of(manifest: BundleManifest, bundle_dir: Path, *, components: Collection[str] | None = None
             ) -> list[BlobToShip]:  # fmt: skip
    """Every blob of a verified, extracted bundle, as stored in it; with ``components`` only
    the blobs of their images (a host of a data center gets the images it runs)."""
    wanted = None if components is None else {
        d for i in manifest.images if i.component in components for d in i.blob_digests}
    out = []
    for f in manifest.blobs:
        if wanted is not None and f.digest not in wanted:
            continue
        out.append(
            BlobToShip(
                hex=f.sha256,
                path=bundle_dir / f.path,
                stored_size=f.member_size,
                content_size=f.size,
                compression=f.compression or "none",
                stored_sha256=f.member_sha256,
            )
        )
    return sorted(out, key=lambda b: b.hex)


def file_to_ship(path: Path, sha256: str) -> BlobToShip:
    """A small file sent in the blob stream as an uncompressed content-addressed item: stored
    on the target as ``<root>/blobs/sha256/<sha256>`` once its bytes hashed to ``sha256`` there.
    ``sha256`` is the digest the caller computed from the verified bundle (the playbook gets
    the same one), never read back from the file here."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise VerificationFailed(f"{path}: not a sha256 digest: {sha256[:80]!r}")
    try:
        size = path.stat().st_size
    except OSError:
        raise VerificationFailed(f"{path}: missing on this machine (sha256:{sha256})") from None
    return BlobToShip(hex=sha256, path=path, stored_size=size, content_size=size, compression="none",
                      stored_sha256=sha256)


def bundle_files(extravars: dict[str, Any]) -> list[BlobToShip]:
    """The files ``tasks/ship.yml`` installs, from an operation's variables (install.yml's,
    upgrade.yml's, switch.yml's): the bundle's files tar and the archive tool, each with the
    digest the playbook checks (``spbe_files_tar_sha256``, ``spbe_dockerarchive_sha256``)."""
    return [
        file_to_ship(Path(extravars["spbe_local_bundle_dir"]) / extravars["spbe_files_tar"],
                     extravars["spbe_files_tar_sha256"]),
        file_to_ship(Path(extravars["spbe_dockerarchive"]), extravars["spbe_dockerarchive_sha256"]),
    ]


def want_lines(blobs: Sequence[BlobToShip]) -> bytes:
    lines = [PROTOCOL]
    lines += [f"WANT {b.hex} {b.stored_size} {b.content_size} {b.compression} {b.stored_hex}" for b in blobs]
    lines.append("END")
    return ("\n".join(lines) + "\n").encode("ascii")


# ------------------------------------------------------------------ the connection


class _Replies:
    """Lines from the receiver, read by a thread (so writing never deadlocks on a full pipe)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        read = 0
        for raw in iter(lambda: self._stream.readline(MAX_REPLY_LINE + 1), b""):
            read += len(raw)
            too_long = len(raw) > MAX_REPLY_LINE  # no end of line within MAX_REPLY_LINE bytes
            over = too_long or read > MAX_REPLIES
            line = (f"ERROR answered a line of more than {MAX_REPLY_LINE} bytes" if too_long
                    else f"ERROR answered more than {MAX_REPLIES} bytes" if over
                    else raw.decode("ascii", "replace").rstrip("\n"))
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
            if over:  # stop reading: what a hostile receiver sends costs at most MAX_REPLIES here
                break
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def next(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._lines and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._lines.pop(0) if self._lines else None

    def rest(self) -> list[str]:
        with self._cond:
            out, self._lines = self._lines, []
            return out


def _failure(target: Target, proc: subprocess.Popen[bytes], what: str) -> Exception:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    rc = proc.poll()
    if target.connection == "ssh" and rc == 255:
        from .ssh import classify_ssh_failure

        failure = classify_ssh_failure(target, rc, err)
        if isinstance(failure, Unreachable):  # a cut connection: what was received is kept
            failure.details.append(f"{what}; run the command again to resume")
        return failure
    last = [ln for ln in err.strip().splitlines() if ln.strip()]
    detail = last[-1] if last else f"exit code {rc}"
    return Unreachable(f"target {target.name!r}: {what}: {detail}; run the command again to resume")


def _send_file(
    stdin: IO[bytes], blob: BlobToShip, offset: int, *, sent: list[int], progress: Progress | None,
    bwlimit: int | None, count: Count | None = None,
) -> None:
    start = time.monotonic()
    base = sent[0]
    with blob.path.open("rb") as f:
        f.seek(offset)
        left = blob.stored_size - offset
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise VerificationFailed(f"{blob.path}: shorter than its {blob.stored_size} bytes")
            stdin.write(chunk)
            left -= len(chunk)
            sent[0] += len(chunk)
            if progress is not None:
                progress(sent[0])
            if count is not None:
                count.add(len(chunk))
            if bwlimit:
                ahead = (sent[0] - base) / bwlimit - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)


def _session(
    ws: Workspace,
    target: Target,
    blobs: Sequence[BlobToShip],
    result: ShipResult,
    *,
    progress: Progress | None,
    bwlimit: int | None,
    timeout: float,
    meter: Meter | None = None,
    files: Sequence[BlobToShip] = (),
) -> list[tuple[str, str]]:
    """One connection; returns the blobs (and files) the receiver refused as [(hex, reason)]."""
    source = receiver_source()
    blob_hexes = {b.hex for b in blobs}
    extra = {f.hex: f for f in files if f.hex not in blob_hexes}  # a file that is also a blob goes once
    items = [*blobs, *extra.values()]
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv list built by ship_argv
            ship_argv(ws, target), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem(f"{exc.filename} is not installed (needed to ship to {target.name})") from None
    result.connections += 1
    assert proc.stdin is not None and proc.stdout is not None
    replies = _Replies(proc.stdout)
    by_hex = {b.hex: b for b in items}
    bad: list[tuple[str, str]] = []
    sent = [result.bytes_sent]
    sent_files = [result.files_bytes]
    try:
        try:
            proc.stdin.write(f"{len(source)}\n".encode() + source + want_lines(items))
            proc.stdin.flush()
        except BrokenPipeError:
            raise _failure(target, proc, "could not start the receiver") from None
        if replies.next(timeout) != PROTOCOL:
            proc.kill()
            raise _failure(target, proc, "the receiver did not answer")
        plan: list[tuple[BlobToShip, int]] = []
        while True:
            line = replies.next(timeout)
            if line is None:
                proc.kill()
                raise _failure(target, proc, "the receiver stopped answering")
            if line == "READY":
                break
            kind, _, rest = line.partition(" ")
            parts = rest.split(" ")
            if kind == "ERROR":
                raise RemoteFailed(f"target {target.name!r}: blob receiver: {rest}")
            if parts[0] not in by_hex:
                raise RemoteFailed(f"target {target.name!r}: blob receiver said {line[:120]!r}")
            blob = by_hex[parts[0]]
            if kind == "HAVE":
                result.blobs_present += blob.hex not in extra
            elif kind == "NEED":
                plan.append((blob, 0))
            elif kind == "PART" and len(parts) == 2 and parts[1].isdigit():
                plan.append((blob, int(parts[1])))
            else:
                raise RemoteFailed(f"target {target.name!r}: blob receiver said {line[:120]!r}")
        count = None
        if meter is not None and plan:  # the bytes this connection sends, known now
            count = Count(meter, N_(f"ship to {target.name}"), sum(b.stored_size - off for b, off in plan))
        try:
            for blob, offset in plan:
                proc.stdin.write(f"BLOB {blob.hex} {offset} {blob.stored_size - offset}\n".encode("ascii"))
                if offset:
                    result.resumed[blob.hex] = offset
                if blob.hex in extra:  # a small file: counted apart from the blob bytes
                    _send_file(proc.stdin, blob, offset, sent=sent_files, progress=None, bwlimit=bwlimit,
                               count=count)
                    result.files_sent.append(blob.hex)
                    continue
                _send_file(proc.stdin, blob, offset, sent=sent, progress=progress, bwlimit=bwlimit, count=count)
                result.sent.append(blob.hex)
            if count is not None:
                count.end()
            proc.stdin.write(b"DONE\n")
            proc.stdin.close()
        except (BrokenPipeError, ValueError):
            proc.wait()
            raise _failure(target, proc, f"connection lost while shipping ({sent[0] - result.bytes_sent} bytes sent)") from None
        finally:
            result.bytes_sent = sent[0]
            result.files_bytes = sent_files[0]
        while True:
            line = replies.next(timeout)
            if line is None:
                proc.kill()
                raise _failure(target, proc, "connection lost before every blob was confirmed")
            kind, _, rest = line.partition(" ")
            if kind == "OK":
                continue
            if kind == "BAD":
                hx, _, why = rest.partition(" ")
                bad.append((hx, why))
                continue
            if kind == "BYE":
                break
            if kind == "ERROR":
                raise RemoteFailed(f"target {target.name!r}: blob receiver: {rest}")
            raise RemoteFailed(f"target {target.name!r}: blob receiver said {line[:120]!r}")
        if proc.wait(timeout=timeout) not in (0, 1):
            raise _failure(target, proc, "the receiver failed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
    return bad


def ship_blobs(
    ws: Workspace,
    target: Target,
    blobs: Sequence[BlobToShip],
    *,
    progress: Progress | None = None,
    bwlimit: int | None = None,
    timeout: float = 120.0,
    meter: Meter | None = None,
    files: Sequence[BlobToShip] = (),
) -> ShipResult:
    """Make sure the target holds every blob of ``blobs`` (verified there). Audited by the caller.

    ``bwlimit``: bytes per second to stay under (slow, shared links); ``timeout``: seconds to
    wait for any answer of the receiver; ``meter``: told the bytes sent of the bytes to send
    (see :mod:`spbe_share.meter`); ``files``: small files sent in the same stream, made with
    :func:`file_to_ship` (counted apart: ``files_sent``, ``files_bytes``).
    """
    for b in [*blobs, *files]:
        if not b.path.is_file():
            raise VerificationFailed(f"{b.path}: blob sha256:{b.hex} is missing on this machine")
    start = time.monotonic()
    result = ShipResult(blobs_total=len(blobs))
    bad = _session(ws, target, blobs, result, progress=progress, bwlimit=bwlimit, timeout=timeout, meter=meter,
                   files=files)
    retry = [hx for hx, _ in bad if hx in result.resumed]
    if retry and len(retry) == len(bad):
        # a kept partial file was wrong (the receiver deleted it): send those again, whole
        again = [b for b in blobs if b.hex in retry]
        again_files = [f for f in files if f.hex in retry]
        second = ShipResult(blobs_total=len(again), bytes_sent=result.bytes_sent, files_bytes=result.files_bytes)
        bad = _session(ws, target, again, second, progress=progress, bwlimit=bwlimit, timeout=timeout,
                       meter=meter, files=again_files)
        result.bytes_sent = second.bytes_sent
        result.files_bytes = second.files_bytes
        result.files_sent += [hx for hx in second.files_sent if hx not in result.files_sent]
        result.connections += second.connections
    result.seconds = time.monotonic() - start
    if bad:
        hx, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        if hx in {f.hex for f in files} - {b.hex for b in blobs}:
            raise VerificationFailed(
                f"target {target.name!r}: file sha256:{hx} failed verification on the target: {why}{more};"
                " it was deleted there"
            )
        raise VerificationFailed(
            f"target {target.name!r}: blob sha256:{hx} failed verification on the target: {why}{more};"
            " it was deleted there"
        )
    return result


def ship_bundle(
    ws: Workspace,
    target: Target,
    manifest: BundleManifest,
    bundle_dir: Path,
    *,
    progress: Progress | None = None,
    bwlimit: int | None = None,
    components: Collection[str] | None = None,
    meter: Meter | None = None,
    files: Sequence[BlobToShip] = (),
) -> ShipResult:
    """Ship every blob of a verified, extracted bundle (see :func:`ship_blobs`); with
    ``components`` only those of their images; ``files``: the small files the playbook
    installs (:func:`bundle_files`), in the same stream."""
    return ship_blobs(ws, target, blobs_of(manifest, bundle_dir, components=components), progress=progress,
                      bwlimit=bwlimit, meter=meter, files=files)  # fmt: skip


def env_bwlimit() -> int | None:
    """``$SPBE_SHARE_BWLIMIT`` (bytes per second) if set."""
    value = os.environ.get("SPBE_SHARE_BWLIMIT", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


__all__ = [
    "BOOTSTRAP",
    "BlobToShip",
    "ShipResult",
    "blobs_of",
    "bundle_files",
    "file_to_ship",
    "remote_command",
    "ship_argv",
    "ship_blobs",
    "ship_bundle",
    "want_lines",
]
