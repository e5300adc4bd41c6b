"""The signed provision bundle: every ``.deb`` a fresh server needs, for one OS and architecture.

One uncompressed tar (the ``.deb`` files are compressed already), deterministic like app
bundles: ``spbe-provision.json`` (the manifest), ``spbe-provision.json.sig`` (Ed25519 by the
workspace's key, base64), then ``debs/Packages`` and ``debs/<name>_<version>_<arch>.deb``
sorted by path; regular files only, mode 0644, owner 0, mtime = ``created``.

``debs/`` is a flat apt repository (``deb [trusted=yes] file:DIR ./``): the target installs
from it with its own apt and no other source. The target checks every file's SHA-256
against the manifest while unpacking (``playbooks/library/spbe_provision_unpack.py``); this
machine checks the signature first, over the manifest's raw bytes, before parsing them.

A valid signature is not enough: :func:`verify_for_provisioning` also requires the signer to be
trusted for provisioning (this workspace's own key, or ``keys trust FILE --provision``; see
:func:`require_provision_signer`), never merely for a donor's apps.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..bundle.keyformat import key_id_of
from ..bundle.manifest import KEY_ID, MAX_MANIFEST_BYTES
from ..errors import NotFound, VerificationFailed
from ..files import atomic_file
from ..imaging.dockerarchive import copy_hashing, regular_tarinfo
from ..yamlio import format_loc

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from ..workspace import Workspace

MANIFEST_NAME = "spbe-provision.json"
SIGNATURE_NAME = "spbe-provision.json.sig"
REPO_DIR = "debs"
INDEX_PATH = "debs/Packages"
SUFFIX = ".spbe-provision"
PREFIX = "provision bundle verification failed"
MAX_SIGNATURE_BYTES = 1024

_DEB = r"debs/[a-z0-9][a-z0-9.+-]*_[A-Za-z0-9.+~%-]+_[a-z0-9]+\.deb"
DEB_PATH = rf"^{_DEB}$"
FILE_PATH = rf"^(?:{_DEB}|debs/Packages)$"
PACKAGE = r"^[a-z0-9][a-z0-9.+-]+$"
VERSION = r"^[A-Za-z0-9.+~:-]+$"
ARCH = r"^[a-z0-9]+$"
OS_ID = r"^[a-z]+-[0-9][0-9.]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ProvisionFile(_Strict):
    path: Annotated[str, Field(pattern=FILE_PATH)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=0)


class ProvisionPackage(_Strict):
    name: Annotated[str, Field(pattern=PACKAGE)]
    version: Annotated[str, Field(pattern=VERSION)]
    arch: Annotated[str, Field(pattern=ARCH)]
    file: Annotated[str, Field(pattern=DEB_PATH)]


class ProvisionManifest(_Strict):
    format: Literal[1]
    kind: Literal["provision"]
    os: Annotated[str, Field(pattern=OS_ID, description="debian-12, ubuntu-22.04, ...")]
    arch: Annotated[str, Field(pattern=ARCH)]
    created: dt.datetime
    signer: Annotated[str, Field(pattern=KEY_ID)]
    needs: list[list[Annotated[str, Field(pattern=PACKAGE)]]] = Field(
        description="what the target must have: alternatives, the first is installed"
    )
    sources: list[str] = Field(description="the apt sources resolved from (URI suite components)")
    base_assumed: list[Annotated[str, Field(pattern=PACKAGE)]] = Field(
        description="packages assumed present on every fresh server (not bundled)"
    )
    packages: list[ProvisionPackage]
    files: list[ProvisionFile]

    @model_validator(mode="after")
    def _consistent(self) -> ProvisionManifest:
        if self.created.tzinfo is None:
            raise ValueError("created must carry a time zone")
        paths = [f.path for f in self.files]
        if paths != sorted(paths) or len(set(paths)) != len(paths):
            raise ValueError("files must be sorted by path, each once")
        if INDEX_PATH not in paths:
            raise ValueError(f"files lack {INDEX_PATH}")
        debs = {p for p in paths if p != INDEX_PATH}
        used = [p.file for p in self.packages]
        if len(set(used)) != len(used):
            raise ValueError("two packages name the same file")
        if set(used) != debs:
            extra = sorted(debs - set(used)) or sorted(set(used) - debs)
            raise ValueError(f"packages and files disagree about {extra[0]}")
        if not self.needs or any(not alts for alts in self.needs):
            raise ValueError("needs must list at least one package, each with alternatives")
        return self

    def to_bytes(self) -> bytes:
        import json

        doc = self.model_dump(mode="json")
        return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, *, display: str = MANIFEST_NAME) -> ProvisionManifest:
        try:
            manifest = cls.model_validate_json(data)
        except ValidationError as exc:
            problems = [f"{display}: {format_loc(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise VerificationFailed(f"{PREFIX}: {problems[0]}", details=problems[1:]) from None
        if manifest.to_bytes() != data:
            raise VerificationFailed(f"{PREFIX}: {display}: not in canonical form")
        return manifest

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_bytes()).hexdigest()


def bundle_filename(os_id: str, arch: str) -> str:
    return f"provision-{os_id}-{arch}{SUFFIX}"


# ---------------------------------------------------------------- pack


def write_bundle(
    out: Path, manifest: ProvisionManifest, *, files: Mapping[str, Path], key: Ed25519PrivateKey
) -> tuple[str, int]:
    """Sign ``manifest`` and write the bundle to ``out`` (atomically); returns (sha256, size).

    ``files`` maps every manifest path to the local file holding it; sizes and digests are
    checked again while packing.
    """
    if manifest.signer != key_id_of(key.public_key()):
        raise VerificationFailed(f"manifest names signer {manifest.signer}, the key is {key_id_of(key.public_key())}")
    data = manifest.to_bytes()
    sig = (base64.b64encode(key.sign(data)).decode() + "\n").encode()
    mtime = int(manifest.created.timestamp())
    with atomic_file(out, mode=0o644) as raw, tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(regular_tarinfo(MANIFEST_NAME, len(data), mtime), io.BytesIO(data))
        tar.addfile(regular_tarinfo(SIGNATURE_NAME, len(sig), mtime), io.BytesIO(sig))
        for spec in manifest.files:
            src = files[spec.path]
            with src.open("rb") as f:
                got, size = copy_hashing(f, None)
                if (got, size) != (spec.sha256, spec.size):
                    raise VerificationFailed(f"{src} changed while packing ({spec.path})")
                f.seek(0)
                tar.addfile(regular_tarinfo(spec.path, spec.size, mtime), f)
    with out.open("rb") as f:
        digest, size = copy_hashing(f, None)
    return digest, size


# ---------------------------------------------------------------- verify


def _fail(where: str, why: str) -> VerificationFailed:
    return VerificationFailed(f"{PREFIX}: {where}: {why}")


def check_signature(
    data: bytes, sig_bytes: bytes, *, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> ProvisionManifest:
    """Verify the signature over the raw manifest bytes with a trusted key, then parse them."""
    from cryptography.exceptions import InvalidSignature

    try:
        sig = base64.b64decode(sig_bytes.decode("ascii").strip(), validate=True)
    except (UnicodeDecodeError, binascii.Error):
        raise _fail(SIGNATURE_NAME, "not a base64 signature") from None
    if len(sig) != 64:
        raise _fail(SIGNATURE_NAME, f"not an Ed25519 signature ({len(sig)} bytes)")
    signer = None
    for kid, pub in sorted(trusted_keys.items()):
        try:
            pub.verify(sig, data)
        except InvalidSignature:
            continue
        signer = kid
        break
    if signer is None:
        raise _fail(
            SIGNATURE_NAME,
            f"not signed by any of the {len(trusted_keys)} trusted key(s) (changed, or signed by an"
            " untrusted key: spbe-share keys trust FILE)",
        )
    manifest = ProvisionManifest.from_bytes(data)
    if manifest.signer != signer:
        raise _fail(MANIFEST_NAME, f"names signer {manifest.signer}, but key {signer} signed it")
    return manifest


def verify_stream(
    fileobj: IO[bytes], *, trusted_keys: Mapping[str, Ed25519PublicKey], display: str = "provision bundle"
) -> ProvisionManifest:
    """Read the whole bundle once: signature first, then every member's size and SHA-256."""
    try:
        tar = tarfile.open(fileobj=fileobj, mode="r|")
    except tarfile.TarError as exc:
        raise _fail(display, f"not a provision bundle ({exc})") from None
    try:
        with tar:
            members = iter(tar)
            first = next(members, None)
            if first is None or first.name != MANIFEST_NAME or not first.isreg():
                raise _fail(display, f"the first member must be {MANIFEST_NAME}")
            if first.size > MAX_MANIFEST_BYTES:
                raise _fail(MANIFEST_NAME, f"too large ({first.size} bytes)")
            data = _read(tar, first)
            second = next(members, None)
            if second is None or second.name != SIGNATURE_NAME or not second.isreg():
                raise _fail(display, f"the second member must be {SIGNATURE_NAME}")
            if second.size > MAX_SIGNATURE_BYTES:
                raise _fail(SIGNATURE_NAME, f"too large ({second.size} bytes)")
            manifest = check_signature(data, _read(tar, second), trusted_keys=trusted_keys)
            expected = {f.path: f for f in manifest.files}
            seen: set[str] = set()
            for m in members:
                if m.name in seen:
                    raise _fail(m.name, "duplicate member")
                spec = expected.get(m.name)
                if spec is None or not m.isreg():
                    raise _fail(m.name, "not listed in the manifest (or not a regular file)")
                seen.add(m.name)
                src = tar.extractfile(m)
                assert src is not None
                got, size = copy_hashing(src, None)
                if (got, size) != (spec.sha256, spec.size):
                    raise _fail(m.name, f"sha256 {got[:16]}..., the manifest says {spec.sha256[:16]}... (changed)")
    except tarfile.TarError as exc:
        raise _fail(display, f"corrupt tar ({exc})") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise _fail(missing[0], "missing member")
    return manifest


def _read(tar: tarfile.TarFile, m: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(m)
    assert f is not None
    return f.read()


def verify_bundle(path: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]) -> ProvisionManifest:
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such provision bundle") from None
    except IsADirectoryError:
        raise NotFound(f"{path}: is a folder, not a provision bundle") from None
    with f:
        return verify_stream(f, trusted_keys=trusted_keys, display=str(path))


def verify_for_provisioning(ws: Workspace, path: Path) -> tuple[ProvisionManifest, ProvisionSigner]:
    """Verify ``path`` (signature by a trusted key, every file's digest), then require its signer
    to be trusted for provisioning; return the manifest and who signed it, and why that key may."""
    from ..bundle.keys import trusted_keys

    trusted = trusted_keys(ws)
    if not trusted and path.is_file():
        raise VerificationFailed(f"no trusted keys in {ws.keys_dir / 'trusted'}: cannot check the provision bundle")
    manifest = verify_bundle(path, trusted_keys=trusted)
    return manifest, require_provision_signer(ws, key_id=manifest.signer)


# ---------------------------------------------------------------- who may sign one


@dataclass(frozen=True)
class ProvisionSigner:
    """Who signed a provision bundle, and why that key may sign one."""

    key_id: str
    name: str
    fingerprint: str
    why: str  # "this workspace's own key" | "trusted for provision bundles (keys trust --provision, ...)"

    def describe(self) -> str:
        return f"signed by key {self.key_id} ({self.name}, {self.fingerprint}), trusted for provisioning: {self.why}"

    def as_dict(self) -> dict[str, str]:
        return {"key_id": self.key_id, "name": self.name, "fingerprint": self.fingerprint, "why": self.why}


def require_provision_signer(ws: Workspace, *, key_id: str) -> ProvisionSigner:
    """The signer ``key_id`` of a verified provision bundle, if it may sign provision bundles:
    this workspace's own key, or a key trusted with ``keys trust FILE --provision``. Any other
    key (one trusted for a donor's apps, a legacy key) is :class:`VerificationFailed` (exit 6):
    the bundle's packages would be installed as root on the operator's servers."""
    from ..bundle.keys import own_public_keys
    from ..bundle.trust import trust_records

    rec = trust_records(ws).get(key_id)
    own = {info.key_id: info for info, _ in own_public_keys(ws).values()}
    where = f"provision bundle signed by key {key_id}"
    if key_id in own or (rec is not None and rec.own):
        info = own.get(key_id)
        name, fp = (info.name, info.fingerprint) if info else (rec.name, rec.fingerprint)  # type: ignore[union-attr]
        return ProvisionSigner(key_id, name, fp, "this workspace's own key")
    if rec is None:
        raise VerificationFailed(
            f"{where}, which is not trusted (check the key's fingerprint with whoever built the bundle, then:"
            " spbe-share keys trust KEY.pub --provision)"
        )
    if not rec.provision:
        raise VerificationFailed(
            f"{where} ({rec.name}), which is trusted for {rec.trusted_for()}, not for provision bundles (their"
            " packages are installed as root). If that key really signs your provision bundles:"
            f" spbe-share keys trust {rec.path if rec.legacy else 'KEY.pub'} --provision"
        )
    when = f"{rec.trusted_at:%Y-%m-%d}" if rec.trusted_at else "?"
    by = f" by {rec.trusted_by}" if rec.trusted_by else ""
    return ProvisionSigner(rec.key_id, rec.name, rec.fingerprint,
                           f"trusted for provision bundles (keys trust --provision, {when}{by})")
