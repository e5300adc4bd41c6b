#!/usr/bin/python3
"""spbe-share blob receiver: runs on the target, standard library only (Python 3.11).

Installed as ``<root>/lib/spbe_receiver.py`` by spbe-share (see ``spbe_share.remote.ship``),
which starts it over one SSH connection (or directly, for the built-in ``local`` target) and
streams the blobs the target lacks on its stdin. Blobs are content-addressed: a blob is
``<root>/blobs/sha256/<hex>`` (or ``<hex>.zst`` when zstd-compressed), where ``<hex>`` is the
SHA-256 of the *uncompressed* content, and is only ever written under that name after its
content was verified. Partial transfers are kept in ``<root>/blobs/sha256/.partial/`` so a cut
connection resumes where it stopped.

Protocol (ASCII header lines, then raw bytes)::

    controller: SPBE-SHIP 1
                WANT <hex> <stored size> <content size> <zstd|none> <stored sha256>  (one per blob)
                END
    receiver:   SPBE-SHIP 1
                HAVE <hex> | PART <hex> <offset> | NEED <hex>        (one per WANT)
                READY
    controller: BLOB <hex> <offset> <length>, then <length> bytes      (for PART/NEED blobs)
                DONE
    receiver:   OK <hex> | BAD <hex> <reason>                         (one per BLOB)
                BYE <ok count> <bad count>

A blob is verified as its bytes arrive, against the SHA-256 and size of its stored bytes (the
controller takes them from the bundle's signed manifest, which binds them to the content
digest it checked); the partial file's existing prefix is hashed first when resuming. A blob
that fails is deleted, never kept under its name. The uncompressed content is verified
against ``<hex>`` again when the blob is used: ``dockerarchive.py`` checks it while it streams
the blob into ``docker load`` (and deletes a blob that fails).

Also: ``spbe_receiver.py check ROOT HEX...`` exits 0 when every blob is present, else 1 and
prints the missing ones.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sys
import time
from typing import IO

VERSION = "1"
CHUNK = 1 << 20
HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_BLOB = 1 << 40
LOCK_WAIT_S = 600
FSYNC = True


class ProtocolError(Exception):
    pass


def blob_dir(root: str) -> str:
    return os.path.join(root, "blobs", "sha256")


def partial_dir(root: str) -> str:
    return os.path.join(blob_dir(root), ".partial")


def final_name(hx: str, compression: str) -> str:
    return hx + (".zst" if compression == "zstd" else "")


def present(root: str, hx: str) -> bool:
    d = blob_dir(root)
    return any(os.path.isfile(os.path.join(d, n)) for n in (hx, hx + ".zst"))


def _line(stream: IO[bytes]) -> str:
    raw = stream.readline(4096)
    if not raw:
        raise EOFError("connection closed")
    if not raw.endswith(b"\n"):
        raise ProtocolError("header line too long or cut")
    return raw[:-1].decode("ascii")


def _int(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 15:
        raise ProtocolError(f"bad {what}: {text!r}")
    value = int(text)
    if value > MAX_BLOB:
        raise ProtocolError(f"{what} too large")
    return value


def _hex(text: str) -> str:
    if not HEX64.match(text):
        raise ProtocolError(f"bad digest {text!r}")
    return text


def _lock(root: str) -> IO[str]:
    os.makedirs(partial_dir(root), mode=0o755, exist_ok=True)
    f = open(os.path.join(blob_dir(root), ".ship.lock"), "a")  # noqa: SIM115 - held for the session
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise ProtocolError("another transfer to this target holds the blob store lock") from None
            time.sleep(0.5)


def receive_blob(
    root: str, inp: IO[bytes], hx: str, offset: int, length: int, want: tuple[int, int, str, str]
) -> str:
    """Receive one blob's bytes (``length`` of them, starting at ``offset``); returns "" or why it failed."""
    stored_size, _content_size, compression, stored_hx = want
    part = os.path.join(partial_dir(root), final_name(hx, compression) + ".part")
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if offset not in (0, have) or offset + length != stored_size:
        raise ProtocolError(f"BLOB {hx}: offset {offset}/length {length} do not continue the {have} bytes held")
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(part, "r+b" if offset else "wb") as out:
        out.truncate(offset)
        out.seek(0)
        left = offset
        while left:  # resume: the prefix already here is hashed first
            n = out.readinto(view[: min(CHUNK, left)])  # type: ignore[attr-defined]  # "r+b" is buffered
            if not n:
                raise ProtocolError(f"partial file of {hx} shrank")
            digest.update(view[:n])
            left -= n
        out.seek(offset)
        left = length
        while left:
            n = inp.readinto(view[: min(CHUNK, left)])  # type: ignore[attr-defined]
            if not n:
                out.flush()
                raise EOFError(f"connection closed inside blob {hx} ({length - left}/{length} bytes)")
            out.write(view[:n])
            digest.update(view[:n])
            left -= n
        out.flush()
        if FSYNC:
            os.fsync(out.fileno())
    got = digest.hexdigest()
    if got != stored_hx:
        os.unlink(part)
        return f"sha256 of the received bytes {got[:16]}..., expected {stored_hx[:16]}..."
    os.replace(part, os.path.join(blob_dir(root), final_name(hx, compression)))
    return ""


def session(root: str, inp: IO[bytes], out: IO[bytes]) -> int:
    def say(text: str) -> None:
        out.write(text.encode("ascii") + b"\n")
        out.flush()

    if _line(inp) != f"SPBE-SHIP {VERSION}":
        raise ProtocolError("not an spbe-share transfer (or another protocol version)")
    wants: dict[str, tuple[int, int, str, str]] = {}
    order: list[str] = []
    while True:
        parts = _line(inp).split(" ")
        if parts == ["END"]:
            break
        if len(parts) != 6 or parts[0] != "WANT" or parts[4] not in ("zstd", "none"):
            raise ProtocolError(f"bad WANT line: {' '.join(parts)[:200]!r}")
        hx = _hex(parts[1])
        if hx not in wants:
            order.append(hx)
        stored_hx = _hex(parts[5])
        if parts[4] == "none" and stored_hx != hx:
            raise ProtocolError(f"WANT {hx}: an uncompressed blob is stored as its content")
        wants[hx] = (_int(parts[2], "stored size"), _int(parts[3], "content size"), parts[4], stored_hx)
    lock = _lock(root)
    try:
        say(f"SPBE-SHIP {VERSION}")
        for hx in order:
            stored, _content, compression, _stored_hx = wants[hx]
            part = os.path.join(partial_dir(root), final_name(hx, compression) + ".part")
            if present(root, hx):
                say(f"HAVE {hx}")
            elif os.path.isfile(part) and 0 < os.path.getsize(part) <= stored:
                say(f"PART {hx} {os.path.getsize(part)}")
            else:
                if os.path.exists(part):
                    os.unlink(part)
                say(f"NEED {hx}")
        say("READY")
        ok = bad = 0
        while True:
            parts = _line(inp).split(" ")
            if parts == ["DONE"]:
                break
            if len(parts) != 4 or parts[0] != "BLOB":
                raise ProtocolError(f"bad BLOB line: {' '.join(parts)[:200]!r}")
            hx = _hex(parts[1])
            if hx not in wants:
                raise ProtocolError(f"BLOB {hx} was not announced")
            why = receive_blob(root, inp, hx, _int(parts[2], "offset"), _int(parts[3], "length"), wants[hx])
            if why:
                bad += 1
                say(f"BAD {hx} {why}")
            else:
                ok += 1
                say(f"OK {hx}")
        say(f"BYE {ok} {bad}")
        return 0 if bad == 0 else 1
    finally:
        lock.close()


def check(root: str, digests: list[str]) -> int:
    missing = [hx for hx in digests if not present(root, _hex(hx))]
    for hx in missing:
        print(f"missing sha256:{hx}")
    return 1 if missing else 0


def main(argv: list[str]) -> int:
    try:
        if len(argv) >= 2 and argv[0] == "check":
            return check(argv[1], argv[2:])
        if len(argv) != 1:
            print("usage: spbe_receiver.py ROOT  |  spbe_receiver.py check ROOT HEX...", file=sys.stderr)
            return 2
        return session(argv[0], sys.stdin.buffer, sys.stdout.buffer)
    except EOFError as exc:
        print(f"spbe-receiver: {exc}", file=sys.stderr)
        return 3
    except (ProtocolError, OSError) as exc:
        try:
            sys.stdout.buffer.write(f"ERROR {exc}\n".encode("ascii", "replace"))
            sys.stdout.buffer.flush()
        except OSError:
            pass
        print(f"spbe-receiver: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
