"""Verify a bundle: signature by a trusted donor key, then every member's digest and size.

The tar is read once, sequentially (bounded memory). The manifest must be the first member
and its signature the second, so nothing is trusted before the signature is checked. Refused,
each with one line naming the member: changed bytes, wrong size, missing member, extra member,
duplicate member, unknown signing key, bad signature, member that is not a regular file
(symlink, hard link, device, directory), path escaping the bundle (absolute, ``..``), manifest
failing its model. Nothing is extracted unless asked, and then only below a fresh folder.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..errors import NotFound, VerificationFailed
from . import dockerarchive as da
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    BundleImage,
    BundleManifest,
    member_path_problem,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PREFIX = "bundle verification failed"
MAX_SIGNATURE_BYTES = 1024


def _fail(where: str, why: str) -> VerificationFailed:
    return VerificationFailed(f"{PREFIX}: {where}: {why}")


def _member_kind(m: tarfile.TarInfo) -> str:
    if m.issym():
        return "symbolic link"
    if m.islnk():
        return "hard link"
    if m.isdir():
        return "directory"
    if m.ischr() or m.isblk():
        return "device"
    if m.isfifo():
        return "fifo"
    return "non-regular file"


def _check_member(m: tarfile.TarInfo) -> None:
    problem = member_path_problem(m.name)
    if problem:
        raise _fail(m.name, problem)
    if not m.isreg():
        raise _fail(m.name, f"{_member_kind(m)} members are not allowed")


def _read_small(tar: tarfile.TarFile, m: tarfile.TarInfo, limit: int) -> bytes:
    if m.size > limit:
        raise _fail(m.name, f"too large ({m.size} bytes, at most {limit})")
    f = tar.extractfile(m)
    assert f is not None
    return f.read()


def check_signature(
    manifest_bytes: bytes, sig_bytes: bytes, *, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> BundleManifest:
    """Check the manifest's signature and model; return the manifest."""
    from cryptography.exceptions import InvalidSignature

    try:
        loose = json.loads(manifest_bytes)
    except ValueError as exc:
        raise _fail(MANIFEST_NAME, f"not JSON ({exc})") from None
    signer = loose.get("signer") if isinstance(loose, dict) else None
    if not isinstance(signer, str):
        raise _fail(MANIFEST_NAME, "signer: required field is missing")
    pub = trusted_keys.get(signer)
    if pub is None:
        raise _fail(
            SIGNATURE_NAME,
            f"signed by key {signer}, which is not trusted (trust the donor's key: spbe-share keys trust FILE)",
        )
    try:
        text = sig_bytes.decode("ascii").strip()
        sig = base64.b64decode(text, validate=True)
    except (UnicodeDecodeError, binascii.Error):
        raise _fail(SIGNATURE_NAME, "not a base64 signature") from None
    if len(sig) != 64:
        raise _fail(SIGNATURE_NAME, f"not an Ed25519 signature ({len(sig)} bytes)")
    try:
        pub.verify(sig, manifest_bytes)
    except InvalidSignature:
        raise _fail(
            SIGNATURE_NAME, f"bad signature (manifest changed, or not signed by key {signer})"
        ) from None
    return BundleManifest.from_bytes(manifest_bytes)


Want = Callable[[str], bool]


def verify_stream(
    fileobj: IO[bytes],
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    extract_to: Path | None = None,
    want: Want | None = None,
    display: str = "bundle",
) -> BundleManifest:
    """Verify a bundle read from ``fileobj``; optionally write members into ``extract_to``.

    Only members for which ``want(path)`` is true are written (all if ``want`` is None); every
    member is verified either way. ``extract_to`` must be a folder you discard on failure.
    """
    try:
        tar = tarfile.open(fileobj=fileobj, mode="r|")
    except tarfile.TarError as exc:
        raise _fail(display, f"not a bundle tar ({exc})") from None
    seen: set[str] = set()
    try:
        with tar:
            members = iter(tar)
            first = next(members, None)
            if first is None or first.name != MANIFEST_NAME:
                raise _fail(display, f"the first member must be {MANIFEST_NAME}")
            _check_member(first)
            manifest_bytes = _read_small(tar, first, MAX_MANIFEST_BYTES)
            second = next(members, None)
            if second is None or second.name != SIGNATURE_NAME:
                raise _fail(display, f"the second member must be {SIGNATURE_NAME}")
            _check_member(second)
            sig_bytes = _read_small(tar, second, MAX_SIGNATURE_BYTES)
            manifest = check_signature(manifest_bytes, sig_bytes, trusted_keys=trusted_keys)
            if extract_to is not None:
                (extract_to / MANIFEST_NAME).write_bytes(manifest_bytes)
                (extract_to / SIGNATURE_NAME).write_bytes(sig_bytes)
            expected = {f.path: f for f in manifest.files}
            seen = {MANIFEST_NAME, SIGNATURE_NAME}
            for m in members:
                _check_member(m)
                if m.name in seen:
                    raise _fail(m.name, "duplicate member")
                seen.add(m.name)
                spec = expected.get(m.name)
                if spec is None:
                    raise _fail(m.name, "extra member, not listed in the manifest")
                if m.size != spec.size:
                    raise _fail(m.name, f"size {m.size}, the manifest says {spec.size}")
                src = tar.extractfile(m)
                assert src is not None
                if extract_to is not None and (want is None or want(m.name)):
                    dest = extract_to / m.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with dest.open("xb") as out:
                        hx, size = da.copy_hashing(src, out)
                else:
                    hx, size = da.copy_hashing(src, None)
                if size != spec.size or hx != spec.sha256:
                    raise _fail(
                        m.name,
                        f"sha256 {hx[:16]}..., the manifest says {spec.sha256[:16]}... (changed)",
                    )
    except tarfile.TarError as exc:
        raise _fail(display, f"corrupt tar ({exc})") from None
    except FileExistsError as exc:
        raise _fail(str(exc.filename), "duplicate member") from None
    missing = sorted(set(expected) - seen)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _fail(missing[0], f"missing member{more}")
    return manifest


def verify_bundle(path: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]) -> BundleManifest:
    """Verify the bundle file at ``path``; return its manifest or raise :class:`VerificationFailed`."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such bundle") from None
    with f:
        return verify_stream(f, trusted_keys=trusted_keys, display=str(path))


def extract_bundle(
    path: Path,
    dest: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    want: Want | None = None,
) -> BundleManifest:
    """Verify ``path`` and extract it into ``dest`` (must not exist) in one pass.

    Extraction goes to a temporary sibling folder renamed to ``dest`` only when every check
    passed; on failure nothing is left. ``want`` selects the members to write (e.g. skip the
    blobs a target already holds); the others are verified but not written. The manifest and
    signature are written too (``dest/spbe-bundle.json``, ``dest/spbe-bundle.json.sig``), so the
    folder can be re-verified on the target with :func:`verify_extracted`.
    """
    if dest.exists():
        raise VerificationFailed(f"{PREFIX}: {dest}: extraction folder already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"{path}: no such bundle") from None
        with f:
            manifest = verify_stream(
                f, trusted_keys=trusted_keys, extract_to=tmp, want=want, display=str(path)
            )
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def verify_extracted(
    folder: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey], present: set[str] | None = None
) -> BundleManifest:
    """Verify an extracted bundle folder: signature, then the digest and size of every member.

    A member missing from the folder is refused, unless its path is in ``present`` (e.g. blobs
    the target already holds elsewhere). Regular files only; symlinks are refused.
    """
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
        sig_bytes = (folder / SIGNATURE_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise _fail(str(exc.filename), "missing member") from None
    manifest = check_signature(manifest_bytes, sig_bytes, trusted_keys=trusted_keys)
    for f in manifest.files:
        path = folder / f.path
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise _fail(f.path, "not a regular file")
        if not path.exists():
            if present is not None and f.path in present:
                continue
            raise _fail(f.path, "missing member")
        with path.open("rb") as fh:
            hx, size = da.copy_hashing(fh, None)
        if size != f.size or hx != f.sha256:
            raise _fail(f.path, f"sha256 {hx[:16]}..., the manifest says {f.sha256[:16]}... (changed)")
    return manifest


def reassemble_docker_archive(source: Path, image: BundleImage, out: IO[bytes]) -> None:
    """Write a ``docker load``-able tar of ``image`` to ``out``.

    ``source`` is a blob folder (``.../blobs/sha256`` holding ``<hex>`` files, or an extracted
    bundle folder holding ``blobs/sha256/``) or a bundle file (verify it first: members are read
    from it without checking the signature again; each blob's digest is still checked).
    """
    if source.is_dir():
        blob_dir = source / "blobs" / "sha256" if (source / "blobs" / "sha256").is_dir() else source
        try:
            da.write_docker_archive(
                out,
                blob_dir=blob_dir,
                config=image.config,
                layers=image.layers,
                repo_tags=[image.ref],
            )
        except da.ArchiveError as exc:
            raise VerificationFailed(f"{PREFIX}: {exc}") from None
        return
    with tempfile.TemporaryDirectory(prefix=".spbe-blobs-", dir=source.parent) as tmp:
        needed = {"blobs/sha256/" + d.split(":", 1)[1] for d in [image.config, *image.layers]}
        _extract_members(source, Path(tmp), needed)
        reassemble_docker_archive(Path(tmp), image, out)


def _extract_members(bundle: Path, dest: Path, names: set[str]) -> None:
    found: set[str] = set()
    with bundle.open("rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
        for m in tar:
            if m.name in names and m.name not in found:
                _check_member(m)
                src = tar.extractfile(m)
                assert src is not None
                target = dest / m.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("xb") as out:
                    da.copy_hashing(src, out)
                found.add(m.name)
    missing = sorted(names - found)
    if missing:
        raise _fail(missing[0], "missing member")


__all__ = [
    "check_signature",
    "extract_bundle",
    "reassemble_docker_archive",
    "verify_bundle",
    "verify_extracted",
    "verify_stream",
]
