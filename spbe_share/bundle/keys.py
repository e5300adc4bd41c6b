"""Donor Ed25519 signing keys and the operator's trust store.

Layout under ``ws.keys_dir``::

    private/<name>.key        PKCS#8 PEM, mode 0600, encrypted if a passphrase is given
    public/<key-id>.pub       the donor's own public keys   ("ssh-ed25519 AAAA... spbe-share:<name>")
    trusted/<key-id>.yml      keys this operator trusts, each bound to one donor (see trust.py)

A key id is the first 16 hex digits of the SHA-256 of the raw 32-byte public key; the
fingerprint is OpenSSH's ``SHA256:<base64>`` of the key blob, so ``ssh-keygen -lf`` agrees.
``cryptography`` is imported inside functions: the CLI must start fast.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog.models import KODE_WILAYAH
from ..errors import Conflict, InvalidInput, NotFound, VerificationFailed
from ..workspace import Workspace
from .keyformat import (
    KEY_ID_RE,
    NAME_RE,
    fingerprint_of,
    key_id_of,
    parse_public_key,
    public_line,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

PASSPHRASE_ENV = "SPBE_SHARE_KEY_PASSPHRASE"
DEFAULT_KEY_NAME = "donor"


@dataclass(frozen=True)
class KeyInfo:
    name: str
    key_id: str
    fingerprint: str
    kind: str  # "own" or "trusted"
    path: Path
    encrypted: bool | None = None  # own keys only
    trusted_for: str | None = None  # trusted keys only
    donor_kode: str | None = None
    apps: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "key_id": self.key_id,
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "path": str(self.path),
            "encrypted": self.encrypted,
            "trusted_for": self.trusted_for,
            "donor_kode_wilayah": self.donor_kode,
            "apps": list(self.apps),
        }


def passphrase_from_env() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def _check_name(name: str) -> str:
    if not re.match(NAME_RE, name):
        raise InvalidInput(f"key name {name!r}: use lowercase letters, digits, '.', '_' and '-'")
    return name


def _private_path(ws: Workspace, name: str) -> Path:
    return ws.keys_dir / "private" / f"{_check_name(name)}.key"


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` (never overwrites)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def generate_key(
    ws: Workspace,
    *,
    name: str = DEFAULT_KEY_NAME,
    passphrase: bytes | None = None,
    donor_kode: str | None = None,
) -> KeyInfo:
    """Create a donor key pair. Never overwrites.

    The workspace trusts its own public key (``own: true``): for the donor ``donor_kode`` if
    given (this workspace IS that donor), else for no donor (local sandbox and self-signed
    installs only; see :mod:`spbe_share.bundle.trust`).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from .trust import write_record

    priv_path = _private_path(ws, name)
    if priv_path.exists():
        raise Conflict(f"key {name!r} already exists: {priv_path}")
    ws.ensure()
    ws.keys_dir.mkdir(exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    pub = key.public_key()
    kid = key_id_of(pub)
    line = public_line(pub, name=name).encode()
    if donor_kode is not None and not re.match(KODE_WILAYAH, donor_kode):  # before anything is written
        raise InvalidInput(f"--donor-kode: invalid kode wilayah {donor_kode!r} (expected like 91, 96.71)")
    try:
        _write_new(priv_path, pem, 0o600)
    except FileExistsError:
        raise Conflict(f"key {name!r} already exists: {priv_path}") from None
    pub_path = ws.keys_dir / "public" / f"{kid}.pub"
    pub_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pub_path.write_bytes(line)
    write_record(ws, pub, name=name, donor_kode=donor_kode, own=True)
    return KeyInfo(name, kid, fingerprint_of(pub), "own", priv_path, encrypted=bool(passphrase))


def _read_pub_dir(directory: Path, kind: str) -> list[tuple[KeyInfo, Ed25519PublicKey]]:
    out: list[tuple[KeyInfo, Ed25519PublicKey]] = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.pub")):
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{path}: cannot read public key: {exc}") from None
        pub, name = parse_public_key(text, source=str(path))
        kid = key_id_of(pub)
        out.append((KeyInfo(name or kid, kid, fingerprint_of(pub), kind, path), pub))
    return out


def own_public_keys(ws: Workspace) -> dict[str, tuple[KeyInfo, Ed25519PublicKey]]:
    """name -> (info, public key) of the donor's own keys."""
    out = {}
    for info, pub in _read_pub_dir(ws.keys_dir / "public", "own"):
        priv = ws.keys_dir / "private" / f"{info.name}.key"
        if priv.exists():
            encrypted = b"ENCRYPTED" in priv.read_bytes()[:64]
            out[info.name] = (
                KeyInfo(info.name, info.key_id, info.fingerprint, "own", priv, encrypted=encrypted),
                pub,
            )
    return out


def list_keys(ws: Workspace) -> list[KeyInfo]:
    """Own keys (by name), then trusted keys with what each is trusted for."""
    from .trust import trust_records

    own = [info for info, _ in own_public_keys(ws).values()]
    trusted = [
        KeyInfo(t.name, t.key_id, t.fingerprint, "trusted", t.path, trusted_for=t.trusted_for(),
                donor_kode=t.donor_kode_wilayah, apps=t.apps)  # fmt: skip
        for t in trust_records(ws).values()
    ]
    return sorted(own, key=lambda k: k.name) + sorted(trusted, key=lambda k: (k.name, k.key_id))


def export_public(ws: Workspace, name: str) -> str:
    _check_name(name)
    own = own_public_keys(ws)
    if name not in own:
        raise NotFound(
            f"no key named {name!r} in {ws.keys_dir} (create one: spbe-share keys generate --name {name})"
        )
    info, pub = own[name]
    return public_line(pub, name=name)


def load_private_key(
    ws: Workspace, name: str, *, passphrase: bytes | None = None
) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = _private_path(ws, name)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(
            f"no key named {name!r}: {path} (create one: spbe-share keys generate --name {name})"
        ) from None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InvalidInput(
            f"{path}: private key is readable by others (mode {mode:o}); chmod 600 it"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:
        if passphrase:
            raise InvalidInput(
                f"{path}: key is not encrypted, but a passphrase was given"
            ) from None
        raise InvalidInput(f"{path}: key is encrypted: set {PASSPHRASE_ENV}") from None
    except ValueError:
        raise InvalidInput(
            f"{path}: cannot decrypt the key (wrong {PASSPHRASE_ENV}?) or not a PEM key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: not an Ed25519 private key")
    return key


def trusted_keys_from_dir(path: Path) -> dict[str, Ed25519PublicKey]:
    """key id -> public key for every ``*.pub`` in ``path`` (e.g. a catalog source's ``keys/``).

    A file named ``<key-id>.pub`` must hold the key with that id.
    """
    out: dict[str, Ed25519PublicKey] = {}
    for info, pub in _read_pub_dir(path, "trusted"):
        stem = info.path.stem
        if re.match(KEY_ID_RE, stem) and stem != info.key_id:
            raise InvalidInput(
                f"{info.path}:1: (file): file name says key {stem}, the key's id is {info.key_id}"
            )
        out[info.key_id] = pub
    return out


def trusted_keys(ws: Workspace) -> dict[str, Ed25519PublicKey]:
    """key id -> public key of every trusted key (``ws.keys_dir/trusted``), whatever it is
    trusted for: signatures are checked against these; :mod:`.trust` decides what they may sign."""
    from .trust import trust_records

    return {kid: t.public_key for kid, t in trust_records(ws).items()}


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify_signature(pub: Ed25519PublicKey, signature: bytes, data: bytes, *, what: str) -> None:
    from cryptography.exceptions import InvalidSignature

    try:
        pub.verify(signature, data)
    except InvalidSignature:
        raise VerificationFailed(f"bundle verification failed: {what}: bad signature") from None
