"""Verify a bundle: signature by a trusted donor key, then every member's digests and sizes.

The tar is read once, sequentially, from one open file (bounded memory). The manifest must be
the first member and its signature the second. The signature is checked over the manifest's
raw bytes *before* they are parsed; parsing is then bounded (size, nesting depth) and strict.
Refused, each with one line naming the bundle and the member: changed bytes, wrong size,
missing member, extra member, duplicate member, unknown signing key, bad signature, member
that is not a regular file (symlink, hard link, device, directory), path escaping the bundle
(absolute, ``..``), manifest failing its model. A zstd-compressed blob is checked twice: the
digest of its stored bytes, and the digest of its content (decompressed while read, never
past the size the manifest states).

Nothing is extracted unless asked, then only below a fresh folder renamed into place when
every check passed. :func:`open_bundle` is what install uses: one read that verifies and
extracts into a cache folder named by the verified manifest's digest, or re-checks and reuses
that folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from ..errors import NotFound, VerificationFailed
from ..imaging import dockerarchive as da
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    BundleFile,
    BundleImage,
    BundleManifest,
    member_path_problem,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PREFIX = "bundle verification failed"
MAX_SIGNATURE_BYTES = 1024
_SIGNER = re.compile(rb'"signer"\s*:\s*"([0-9a-f]{16})"')

Want = Callable[[str], bool]
OnManifest = Callable[[BundleManifest, bytes, bytes], "Path | None"]


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


def _check_member(m: tarfile.TarInfo, display: str) -> None:
    problem = member_path_problem(m.name)
    if problem:
        raise _fail(f"{display}: {m.name}", problem)
    if not m.isreg():
        raise _fail(f"{display}: {m.name}", f"{_member_kind(m)} members are not allowed")


def _read_small(tar: tarfile.TarFile, m: tarfile.TarInfo, limit: int, display: str) -> bytes:
    if m.size > limit:
        raise _fail(f"{display}: {m.name}", f"too large ({m.size} bytes, at most {limit})")
    f = tar.extractfile(m)
    assert f is not None
    return f.read()


def decode_signature(sig_bytes: bytes, display: str) -> bytes:
    try:
        sig = base64.b64decode(sig_bytes.decode("ascii").strip(), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        raise _fail(f"{display}{SIGNATURE_NAME}", "not a base64 signature") from None
    if len(sig) != 64:
        raise _fail(f"{display}{SIGNATURE_NAME}", f"not an Ed25519 signature ({len(sig)} bytes)")
    return sig


def check_signature(
    manifest_bytes: bytes,
    sig_bytes: bytes,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    display: str = "",
) -> BundleManifest:
    """Check the signature over the raw manifest bytes, then parse them (bounded); return it.

    The key is looked up by the ``signer`` field found in the raw bytes (no parsing yet); a
    manifest whose parsed ``signer`` is not the key that verified it is refused too.
    ``display``: prefix for messages, e.g. ``"/path/app-1.0.0.spbe: "``.
    """
    from cryptography.exceptions import InvalidSignature

    if len(manifest_bytes) > MAX_MANIFEST_BYTES:
        raise _fail(f"{display}{MANIFEST_NAME}", f"too large ({len(manifest_bytes)} bytes)")
    sig = decode_signature(sig_bytes, display)
    named = list(dict.fromkeys(m.decode() for m in _SIGNER.findall(manifest_bytes)[:8]))
    signer = None
    for kid in named:
        pub = trusted_keys.get(kid)
        if pub is None:
            continue
        try:
            pub.verify(sig, manifest_bytes)
        except InvalidSignature:
            continue
        signer = kid
        break
    if signer is None:
        if not named:
            raise _fail(f"{display}{MANIFEST_NAME}", "signer: no signing key named")
        if not any(k in trusted_keys for k in named):
            raise _fail(
                f"{display}{SIGNATURE_NAME}",
                f"signed by key {named[0]}, which is not trusted (trust the donor's key: spbe-share keys trust FILE)",
            )
        raise _fail(
            f"{display}{SIGNATURE_NAME}", f"bad signature (manifest changed, or not signed by key {named[0]})"
        )
    manifest = BundleManifest.from_bytes(manifest_bytes, display=f"{display}{MANIFEST_NAME}")
    if manifest.signer != signer:
        raise _fail(f"{display}{MANIFEST_NAME}", f"signer is {manifest.signer}, but key {signer} signed it")
    return manifest


# ------------------------------------------------------------------ member content


class _Tee(io.RawIOBase):
    """Reads ``src``, hashing (and optionally writing) every byte that passes."""

    def __init__(self, src: IO[bytes], out: IO[bytes] | None) -> None:
        self._src = src
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._src.read(len(b))
        if not data:
            return 0
        self.hash.update(data)
        self.size += len(data)
        if self._out is not None:
            self._out.write(data)
        b[: len(data)] = data
        return len(data)


def _content_digest(stored: IO[bytes], limit: int) -> tuple[str, int]:
    """(sha256, size) of the zstd content of ``stored``, reading at most ``limit + 1`` bytes."""
    import zstandard

    h = hashlib.sha256()
    n = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(stored, read_across_frames=True, closefd=False)
        while True:
            chunk = reader.read(min(da.CHUNK, limit + 1 - n))
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            if n > limit:
                break
    except zstandard.ZstdError as exc:
        return f"not zstd ({exc})", -1
    return h.hexdigest(), n


def check_member_content(spec: BundleFile, src: IO[bytes], out: IO[bytes] | None, where: str) -> None:
    """Read one member's stored bytes from ``src`` (writing them to ``out``) and check them."""
    tee = _Tee(src, out)
    if spec.compression == "zstd":
        content_hx, content_size = _content_digest(cast("IO[bytes]", tee), spec.size)
        while tee.read(da.CHUNK):  # the rest of the stored bytes (trailing data is refused below)
            pass
        if content_size != spec.size or content_hx != spec.sha256:
            got = content_hx[:16] if content_size >= 0 else content_hx
            raise _fail(where, f"content sha256 {got}..., the manifest says {spec.sha256[:16]}... (changed)")
    else:
        while tee.read(da.CHUNK):
            pass
    hx = tee.hash.hexdigest()
    if tee.size != spec.member_size or hx != spec.member_sha256:
        raise _fail(where, f"sha256 {hx[:16]}..., the manifest says {spec.member_sha256[:16]}... (changed)")


# ------------------------------------------------------------------ one pass over a bundle


def verify_stream(
    fileobj: IO[bytes],
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    extract_to: Path | None = None,
    want: Want | None = None,
    display: str = "bundle",
    on_manifest: OnManifest | None = None,
) -> BundleManifest:
    """Verify a bundle read from ``fileobj``; optionally write members into a folder.

    The folder is ``extract_to``, or what ``on_manifest(manifest, manifest_bytes, sig_bytes)``
    returns once the signature and manifest are verified (None: extract nothing). Only members
    for which ``want(path)`` is true are written (all if None); every member is verified either
    way. The folder must be one you discard on failure.
    """
    where = f"{display}: "
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
            _check_member(first, display)
            manifest_bytes = _read_small(tar, first, MAX_MANIFEST_BYTES, display)
            second = next(members, None)
            if second is None or second.name != SIGNATURE_NAME:
                raise _fail(display, f"the second member must be {SIGNATURE_NAME}")
            _check_member(second, display)
            sig_bytes = _read_small(tar, second, MAX_SIGNATURE_BYTES, display)
            manifest = check_signature(manifest_bytes, sig_bytes, trusted_keys=trusted_keys, display=where)
            if on_manifest is not None:
                extract_to = on_manifest(manifest, manifest_bytes, sig_bytes)
            if extract_to is not None:
                (extract_to / MANIFEST_NAME).write_bytes(manifest_bytes)
                (extract_to / SIGNATURE_NAME).write_bytes(sig_bytes)
            expected = {f.path: f for f in manifest.files}
            seen = {MANIFEST_NAME, SIGNATURE_NAME}
            for m in members:
                _check_member(m, display)
                if m.name in seen:
                    raise _fail(f"{display}: {m.name}", "duplicate member")
                seen.add(m.name)
                spec = expected.get(m.name)
                if spec is None:
                    raise _fail(f"{display}: {m.name}", "extra member, not listed in the manifest")
                if m.size != spec.member_size:
                    raise _fail(f"{display}: {m.name}", f"size {m.size}, the manifest says {spec.member_size}")
                src = tar.extractfile(m)
                assert src is not None
                if extract_to is not None and (want is None or want(m.name)):
                    dest = extract_to / m.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with dest.open("xb") as out:
                        check_member_content(spec, src, out, f"{display}: {m.name}")
                else:
                    check_member_content(spec, src, None, f"{display}: {m.name}")
    except tarfile.TarError as exc:
        raise _fail(display, f"corrupt tar ({exc})") from None
    except FileExistsError as exc:
        raise _fail(f"{display}: {exc.filename}", "duplicate member") from None
    missing = sorted(set(expected) - seen)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _fail(f"{display}: {missing[0]}", f"missing member{more}")
    return manifest


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such bundle") from None
    except IsADirectoryError:
        raise _fail(str(path), "a folder, not a bundle file") from None


def verify_bundle(path: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]) -> BundleManifest:
    """Verify the bundle file at ``path``; return its manifest or raise :class:`VerificationFailed`."""
    with _open(path) as f:
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
    folder can be re-verified with :func:`verify_extracted`.
    """
    if dest.exists():
        raise VerificationFailed(f"{PREFIX}: {dest}: extraction folder already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with _open(path) as f:
            manifest = verify_stream(f, trusted_keys=trusted_keys, extract_to=tmp, want=want, display=str(path))
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def manifest_sha256(manifest_bytes: bytes) -> str:
    return hashlib.sha256(manifest_bytes).hexdigest()


def open_bundle(
    path: Path, cache_root: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> tuple[BundleManifest, Path]:
    """Verify ``path`` in one read and return (manifest, its extracted folder).

    The folder is ``cache_root/<sha256 of the verified manifest bytes>``. When it exists, it
    is re-checked against the verified manifest (every member's stored digest) and reused;
    otherwise (or if the check fails) the members are extracted from the same read into a
    fresh folder that replaces it. The file is opened once: a file swapped while it is being
    read cannot mix two bundles, and nothing from a second read is ever used.
    """
    cache_root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Path | None] = {"dest": None, "tmp": None}

    def choose(manifest: BundleManifest, manifest_bytes: bytes, _sig: bytes) -> Path | None:
        dest = cache_root / manifest_sha256(manifest_bytes)
        state["dest"] = dest
        if dest.is_dir():
            try:
                recheck_extracted(dest, manifest, manifest_bytes)
                return None  # reuse: verify the file, write nothing
            except VerificationFailed:
                pass
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name[:16]}.", dir=cache_root))
        state["tmp"] = tmp
        return tmp

    try:
        with _open(path) as f:
            manifest = verify_stream(f, trusted_keys=trusted_keys, display=str(path), on_manifest=choose)
        dest, tmp = state["dest"], state["tmp"]
        assert dest is not None
        if tmp is not None:
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
            state["tmp"] = None
    finally:
        if state["tmp"] is not None:
            shutil.rmtree(state["tmp"], ignore_errors=True)
    return manifest, dest


def recheck_extracted(folder: Path, manifest: BundleManifest, manifest_bytes: bytes) -> None:
    """An extracted folder still holds exactly the verified manifest's members (stored digests)."""
    try:
        if (folder / MANIFEST_NAME).read_bytes() != manifest_bytes:
            raise _fail(str(folder), f"{MANIFEST_NAME} differs from the verified one")
    except OSError:
        raise _fail(str(folder), f"{MANIFEST_NAME} missing") from None
    for f in manifest.files:
        path = folder / f.path
        if path.is_symlink() or not path.is_file():
            raise _fail(f"{folder}: {f.path}", "missing member")
        with path.open("rb") as fh:
            hx, size = da.copy_hashing(fh, None)
        if size != f.member_size or hx != f.member_sha256:
            raise _fail(f"{folder}: {f.path}", "changed since extraction")


def verify_extracted(
    folder: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey], present: set[str] | None = None
) -> BundleManifest:
    """Verify an extracted bundle folder: signature, then the digests and size of every member.

    A member missing from the folder is refused, unless its path is in ``present`` (e.g. blobs
    the target already holds elsewhere). Regular files only; symlinks are refused.
    """
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
        sig_bytes = (folder / SIGNATURE_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise _fail(str(exc.filename), "missing member") from None
    manifest = check_signature(manifest_bytes, sig_bytes, trusted_keys=trusted_keys, display=f"{folder}: ")
    for f in manifest.files:
        path = folder / f.path
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise _fail(f"{folder}: {f.path}", "not a regular file")
        if not path.exists():
            if present is not None and f.path in present:
                continue
            raise _fail(f"{folder}: {f.path}", "missing member")
        with path.open("rb") as fh:
            check_member_content(f, fh, None, f"{folder}: {f.path}")
    return manifest


def verify_extracted_parts(
    folder: Path, *, digest: str, parts: tuple[str, ...], trusted_keys: Mapping[str, Ed25519PublicKey]
) -> BundleManifest:
    """An extracted bundle folder (the workspace's cache) checked again before its small files
    are used: the manifest is the one with ``digest`` (sha256 of its bytes), its signature is by
    a trusted key, and every member under ``parts`` (e.g. ``entry/``, ``templates/``) is a
    regular file with the manifest's digest. The blobs are not read (they are not used)."""
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
        sig_bytes = (folder / SIGNATURE_NAME).read_bytes()
    except OSError as exc:
        raise _fail(str(folder), f"missing member ({type(exc).__name__})") from None
    if "sha256:" + manifest_sha256(manifest_bytes) != digest:
        raise _fail(f"{folder}: {MANIFEST_NAME}", f"is not the bundle {digest}")
    manifest = check_signature(manifest_bytes, sig_bytes, trusted_keys=trusted_keys, display=f"{folder}: ")
    for f in manifest.files:
        if not f.path.startswith(parts):
            continue
        path = folder / f.path
        if path.is_symlink() or not path.is_file():
            raise _fail(f"{folder}: {f.path}", "missing member or not a regular file")
        with path.open("rb") as fh:
            check_member_content(f, fh, None, f"{folder}: {f.path}")
    return manifest


def reassemble_docker_archive(source: Path, image: BundleImage, out: IO[bytes], *, manifest: BundleManifest | None = None) -> None:
    """Write a ``docker load``-able tar of ``image`` to ``out``.

    ``source`` is a blob folder (``.../blobs/sha256`` holding ``<hex>[.zst]`` files, or an
    extracted bundle folder holding ``blobs/sha256/``) or a bundle file (verify it first:
    members are read from it without checking the signature again; each blob's digest is still
    checked). ``manifest`` gives the uncompressed sizes of ``.zst`` blobs (read from an
    extracted folder's manifest when omitted).
    """
    if source.is_dir():
        blob_dir = source / "blobs" / "sha256" if (source / "blobs" / "sha256").is_dir() else source
        if manifest is None and (source / MANIFEST_NAME).is_file():
            manifest = BundleManifest.from_bytes((source / MANIFEST_NAME).read_bytes())
        sizes = {f.digest: f.size for f in manifest.files if f.is_blob} if manifest else {}
        try:
            da.write_docker_archive(
                out, blob_dir=blob_dir, config=image.config, layers=image.layers,
                repo_tags=[image.ref], sizes=sizes,
            )  # fmt: skip
        except da.ArchiveError as exc:
            raise VerificationFailed(f"{PREFIX}: {exc}") from None
        return
    with tempfile.TemporaryDirectory(prefix=".spbe-blobs-", dir=source.parent) as tmp:
        with _open(source) as f, tarfile.open(fileobj=f, mode="r|") as tar:
            first = next(iter(tar), None)
            if first is None or first.name != MANIFEST_NAME:
                raise _fail(str(source), f"the first member must be {MANIFEST_NAME}")
            manifest = manifest or BundleManifest.from_bytes(_read_small(tar, first, MAX_MANIFEST_BYTES, str(source)))
            needed = {manifest.blob(d).path for d in image.blob_digests}
            found: set[str] = set()
            for m in tar:
                if m.name in needed and m.name not in found:
                    _check_member(m, str(source))
                    src = tar.extractfile(m)
                    assert src is not None
                    target = Path(tmp) / m.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with target.open("xb") as out_f:
                        da.copy_hashing(src, out_f)
                    found.add(m.name)
        missing = sorted(needed - found)
        if missing:
            raise _fail(f"{source}: {missing[0]}", "missing member")
        reassemble_docker_archive(Path(tmp), image, out, manifest=manifest)


def bundle_sboms(path: Path, *, trusted_keys: Any) -> tuple[Any, dict[str, bytes]]:
    """(manifest, component -> SBOM bytes) of the bundle file ``path``, verified in one read
    (signature and every member's digest; only the SBOM members are written, to a folder that
    is removed after)."""
    import tempfile

    from .sbom import SBOM_PREFIX, sboms_in

    with tempfile.TemporaryDirectory(prefix="spbe-sbom-") as tmp:
        dest = Path(tmp) / "b"
        manifest = extract_bundle(path, dest, trusted_keys=trusted_keys, want=lambda p: p.startswith(SBOM_PREFIX))
        return manifest, sboms_in(dest, manifest)


__all__ = [
    "bundle_sboms",
    "check_member_content",
    "check_signature",
    "extract_bundle",
    "open_bundle",
    "reassemble_docker_archive",
    "recheck_extracted",
    "verify_bundle",
    "verify_extracted",
    "verify_stream",
]
