"""The target side of ``tasks/ship.yml`` in one call (standard library only, Python 3.11).

The controller has already sent, in its one blob stream (``spbe_share.remote.ship``), every
blob the images need and the small files this installs, each verified against its SHA-256 on
arrival and stored under it in the blob store (``<root>/blobs/sha256/<hex>``, a small file
uncompressed). :func:`ship` then, in one module call instead of one Ansible task each:

1. creates the folders (with their modes; an existing folder gets its mode);
2. checks that every blob is in the store (as ``<hex>`` or ``<hex>.zst``), failing with the
   missing ones;
3. installs each file at its destination when its content or mode differs: read from the
   store, its SHA-256 checked again against the digest the controller computed from the
   verified bundle (a store copy that does not match is deleted, never installed), written to
   a temporary file beside the destination, fsynced, renamed over it;
4. unpacks a file with ``unpack`` (the bundle's ``.tar.zst``) when it was installed anew or its
   folder is empty: ``tar`` with the ``zstd`` that preflight requires (argument lists), into a
   new folder beside it that then replaces the old one (no file of another tar stays behind).

Check mode reports what would change and changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from typing import Any

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_files as files
except ImportError:  # a script, or a test
    import spbe_files as files  # type: ignore[no-redef]

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20
UNPACK_TIMEOUT_S = 600


class ShipError(Exception):
    """What the module fails with (``missing``: the blobs not in the store)."""

    def __init__(self, msg: str, missing: list[str] | None = None) -> None:
        super().__init__(msg)
        self.missing = missing or []


def _mode(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if not re.fullmatch(r"0?[0-7]{3,4}", text):
        raise ShipError(f"not a file mode: {text!r}")
    return int(text, 8)


def folders(specs: list[dict[str, Any]], *, check: bool) -> list[str]:
    """Create each folder ``{path, mode}`` (parents as needed), give it its mode; the changed ones."""
    changed = []
    for spec in specs:
        path, mode = str(spec["path"]), _mode(spec["mode"])
        if not os.path.isabs(path):
            raise ShipError(f"not an absolute path: {path!r}")
        if os.path.isdir(path) and not os.path.islink(path):
            if os.stat(path).st_mode & 0o7777 != mode:
                changed.append(path)
                if not check:
                    os.chmod(path, mode)
            continue
        if os.path.lexists(path):
            raise ShipError(f"{path} exists and is not a folder")
        changed.append(path)
        if not check:
            os.makedirs(path, mode=mode, exist_ok=True)
            os.chmod(path, mode)  # makedirs' mode goes through the umask
    return changed


def missing_blobs(blobs_dir: str, blobs: list[str]) -> list[str]:
    """The digests of ``blobs`` not in the store (neither ``<hex>`` nor ``<hex>.zst``)."""
    bad = [h for h in blobs if not HEX64.match(str(h))]
    if bad:
        raise ShipError(f"not a sha256 digest: {str(bad[0])[:80]!r}")
    return [h for h in blobs if not any(os.path.isfile(os.path.join(blobs_dir, n)) for n in (h, h + ".zst"))]


def sha256_of(path: str) -> str | None:
    """The SHA-256 of the file at ``path``; None when it is not a regular file."""
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def install_file(blobs_dir: str, spec: dict[str, Any], *, check: bool) -> bool:
    """Put the store's ``<sha256>`` at ``spec["dest"]`` with ``spec["mode"]`` unless it is there
    already; True when something changed (or would). Verified again as it is copied."""
    hx, dest, mode = str(spec["sha256"]), str(spec["dest"]), _mode(spec.get("mode", "0644"))
    if not HEX64.match(hx):
        raise ShipError(f"{dest}: not a sha256 digest: {hx[:80]!r}")
    if not os.path.isabs(dest):
        raise ShipError(f"not an absolute path: {dest!r}")
    if sha256_of(dest) == hx:
        if os.stat(dest).st_mode & 0o7777 == mode:
            return False
        if not check:
            os.chmod(dest, mode)
        return True
    src = os.path.join(blobs_dir, hx)
    if not os.path.isfile(src):
        raise ShipError(f"{dest}: sha256:{hx} is not in {blobs_dir}; spbe-share sends it before this playbook"
                        " (spbe_share.remote.ship): run the command again", missing=[hx])
    if check:
        return True
    digest = hashlib.sha256()
    with files.replacing(dest, mode) as out, open(src, "rb") as inp:
        while chunk := inp.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != hx:
            os.unlink(src)  # never kept under a name it does not hash to
            raise ShipError(f"{src}: its content hashes to sha256:{digest.hexdigest()[:16]}..., not its name;"
                            " deleted: run the command again to send it anew")
    return True


def unpack(archive: str, dest: str, *, mode: int = 0o755) -> None:
    """Unpack the ``.tar.zst`` ``archive`` as the folder ``dest``: into a new folder beside it
    (``tar`` with ``zstd``, argument lists), which then replaces ``dest``."""
    for tool in ("tar", "zstd"):
        if shutil.which(tool) is None:
            raise ShipError(f"{tool} is not installed (preflight requires it): cannot unpack {archive}")
    parent, name = os.path.split(dest.rstrip("/"))
    tmp = os.path.join(parent, f".{name}.unpack-{os.getpid()}")
    old = os.path.join(parent, f".{name}.old-{os.getpid()}")
    for p in (tmp, old):
        if os.path.lexists(p):
            shutil.rmtree(p)
    os.mkdir(tmp, mode)
    try:
        done = subprocess.run(  # noqa: S603 - an argument list; tar refuses members with '..' or a leading '/'
            ["tar", "--use-compress-program=zstd", "--extract", "--no-same-owner", "--file", archive, "--directory", tmp],
            capture_output=True, text=True, timeout=UNPACK_TIMEOUT_S, check=False,
        )
        if done.returncode != 0:
            raise ShipError(f"unpacking {archive} failed (tar exit {done.returncode}): {done.stderr.strip()[-500:]}")
        os.chmod(tmp, mode)
        if os.path.lexists(dest):
            os.rename(dest, old)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    files.fsync_dir(parent)


def ship(request: dict[str, Any], *, check: bool = False) -> dict[str, Any]:
    """Folders, blobs, files, unpacking (see the module's docstring); what changed."""
    blobs_dir = str(request["blobs_dir"])
    changed_dirs = folders(list(request.get("folders") or []), check=check)
    missing = missing_blobs(blobs_dir, [str(h) for h in request.get("blobs") or []])
    if missing:
        raise ShipError(
            f"{len(missing)} blob(s) missing in {blobs_dir} (first: sha256:{missing[0]}); spbe-share ships"
            " them before this playbook (spbe_share.remote.ship): run the command again", missing=missing)
    installed: list[str] = []
    unpacked: list[str] = []
    for spec in request.get("files") or []:
        if install_file(blobs_dir, spec, check=check):
            installed.append(str(spec["dest"]))
            new = True
        else:
            new = False
        into = spec.get("unpack")
        if not into:
            continue
        into = str(into)
        empty = not os.path.isdir(into) or not os.listdir(into)
        if new or empty:
            unpacked.append(into)
            if not check:
                unpack(str(spec["dest"]), into)
    return {"changed": bool(changed_dirs or installed or unpacked), "folders": changed_dirs, "installed": installed,
            "unpacked": unpacked, "blobs": len(request.get("blobs") or [])}
