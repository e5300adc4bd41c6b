"""A bundle verified here before and unchanged since, recognised without reading it again.

A full verification reads every byte of the bundle file (140 MB for e-office), and reusing its
extracted folder hashes every member once more: 2.2 s of a 4.2 s no-op install over a slow link
(docs/slowlink.md). After a verification that passed, :func:`record` keeps the *stat* of the
bundle file and of every member of its extracted folder (device, inode, size, mtime and ctime in
nanoseconds), the way git's index knows a work tree's files are unchanged. :func:`recall` then
accepts the folder only when:

- the bundle file at the same path has exactly the recorded stat (a write, a rename over it,
  ``touch`` or ``chmod`` all change its ctime, which no unprivileged program can set back);
- the folder's manifest is byte for byte the recorded one and its signature verifies with the
  keys trusted NOW (a donor key removed since makes the full verification run, and refuse);
- every member of the manifest is a regular file in the folder with its recorded stat.

A file whose ctime is within :data:`RACY_NS` of the moment the record was made could have
changed after it was looked at within the same timestamp tick: such a member is hashed again
(git's "racily clean" rule; :data:`COARSE_RACY_NS` where the file system stamps whole seconds), and a bundle file changed during its own verification is not
recorded at all (one written just before it is: a new bundle is used at once). Anything that
does not match makes the caller verify in full, as before: the memo never refuses, and accepts
only a folder whose every file has the stat recorded after a verification that passed.

The memo lives in the workspace's cache beside the folders it describes: whoever can write it
can already change an extracted folder between its verification and its use, so it adds no way
in. The same holds for the stat :func:`record` takes after the verification: a member changed
between its check and that stat (the seconds the rest of the bundle file takes to read) is
recorded as it is then, as the operation would have used it then. What leaves the controller is checked again where it lands (the target verifies every blob it
is shipped against the signed manifest's digests).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import VerificationFailed
from .manifest import MANIFEST_NAME, SIGNATURE_NAME, BundleManifest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RACY_NS = 50_000_000  # over 5 timestamp ticks of ext4, xfs, btrfs, tmpfs (a jiffy: 1-10 ms)
COARSE_RACY_NS = 2_000_000_000  # a file system that stamps whole seconds (ext3, FAT, some NFS)
SETTLE_MAX_NS = 100_000_000  # record waits at most this for its files to leave the window
TICK_NS = 50_000_000  # a write during the verification may carry a timestamp this much earlier
MAX_MEMO_BYTES = 4 << 20


class Stamp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(dev=st.st_dev, ino=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns)


class Memo(BaseModel):
    """``<memo_dir>/<sha256 of the bundle's resolved path>.json``."""

    model_config = ConfigDict(extra="forbid")
    format: Literal[1] = 1
    path: str
    file: Stamp
    manifest_sha256: str
    members: dict[str, Stamp]
    recorded_ns: int


def _memo_path(memo_dir: Path, bundle: Path) -> Path:
    return memo_dir / (hashlib.sha256(os.fsencode(bundle)).hexdigest() + ".json")


def _regular(path: Path) -> os.stat_result | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if (st.st_mode & 0o170000) == 0o100000 else None


def _window(stamps: list[Stamp]) -> int:
    """The racy window for files stamped like ``stamps``: whole seconds only, a coarse file system."""
    return COARSE_RACY_NS if all(st.ctime_ns % 1_000_000_000 == 0 for st in stamps) else RACY_NS


def _stamps(bundle: Path, folder: Path, manifest: BundleManifest) -> tuple[Stamp, dict[str, Stamp]] | None:
    try:
        st = os.stat(bundle)
    except OSError:
        return None
    members: dict[str, Stamp] = {}
    for f in manifest.files:
        m = _regular(folder / f.path)
        if m is None:
            return None
        members[f.path] = Stamp.of(m)
    return Stamp.of(st), members


def record(memo_dir: Path, bundle: Path, folder: Path, manifest: BundleManifest, *, started_ns: int) -> bool:
    """Remember that ``bundle`` verified into ``folder`` (the verification began at
    ``started_ns``, :func:`time.time_ns`). False (nothing recorded) when the file changed during
    the verification or a member is missing; never raises for a memo that cannot be written.

    Files written just now (a fresh extraction) would be racily clean, read again by every
    :func:`recall`: on a file system with fine timestamps, this waits until the newest one has
    left the window (at most :data:`SETTLE_MAX_NS`), then takes the stat it records."""
    from ..files import atomic_write_text

    bundle = bundle.resolve()
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
    except OSError:
        return False
    got = _stamps(bundle, folder, manifest)
    if got is None:
        return False
    every = [got[0], *got[1].values()]
    wait = max(st.ctime_ns for st in every) + _window(every) - time.time_ns()
    if 0 < wait <= SETTLE_MAX_NS:
        time.sleep(wait / 1e9)
        got = _stamps(bundle, folder, manifest)  # what is recorded is what is there after the wait
        if got is None:
            return False
    file, members = got
    if max(file.ctime_ns, file.mtime_ns) >= started_ns - TICK_NS:
        return False  # written while it was read: not known to be what was verified
    memo = Memo(path=str(bundle), file=file, manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
                members=members, recorded_ns=time.time_ns())
    try:
        memo_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(_memo_path(memo_dir, bundle), memo.model_dump_json())
    except OSError:
        return False
    return True


def recall(
    memo_dir: Path, bundle: Path, cache_root: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> tuple[BundleManifest, Path] | None:
    """(manifest, extracted folder) of ``bundle`` when it is unchanged since :func:`record`; else
    None. Members read again for being racily clean are recorded again once they matched."""
    from ..imaging import dockerarchive as da
    from .verify import check_signature

    started = time.time_ns()
    bundle = bundle.resolve()
    try:
        with _memo_path(memo_dir, bundle).open("rb") as fh:
            raw = fh.read(MAX_MEMO_BYTES + 1)
        if len(raw) > MAX_MEMO_BYTES:
            return None
        memo = Memo.model_validate_json(raw)
        st = os.stat(bundle)
    except (OSError, ValidationError, ValueError):
        return None
    window = _window([memo.file, *memo.members.values()])
    if memo.path != str(bundle) or Stamp.of(st) != memo.file or st.st_ctime_ns >= memo.recorded_ns - window:
        return None
    folder = cache_root / memo.manifest_sha256
    reread = 0
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
        sig_bytes = (folder / SIGNATURE_NAME).read_bytes()
        if hashlib.sha256(manifest_bytes).hexdigest() != memo.manifest_sha256:
            return None
        manifest = check_signature(manifest_bytes, sig_bytes, trusted_keys=trusted_keys, display=f"{folder}: ")
        if {f.path for f in manifest.files} != set(memo.members):
            return None
        for f in manifest.files:
            path = folder / f.path
            m = _regular(path)
            if m is None or Stamp.of(m) != memo.members[f.path]:
                return None
            if m.st_ctime_ns >= memo.recorded_ns - window:  # racily clean: read it to be sure
                with path.open("rb") as fh:  # its stored bytes, as recheck_extracted compares them
                    hx, size = da.copy_hashing(fh, None)
                if (size, hx) != (f.member_size, f.member_sha256):
                    return None
                reread += 1
    except (OSError, VerificationFailed):
        return None
    if reread:
        record(memo_dir, bundle, folder, manifest, started_ns=started)
    return manifest, folder


__all__ = ["COARSE_RACY_NS", "RACY_NS", "SETTLE_MAX_NS", "TICK_NS", "Memo", "Stamp", "recall", "record"]
