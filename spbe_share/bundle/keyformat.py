"""The Ed25519 public key line format of donor keys: parsing (OpenSSH ``ssh-ed25519`` line or
raw base64), the key id and the OpenSSH fingerprint. Pure; ``cryptography`` is imported inside
the functions (the CLI must start fast)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING

from ..errors import InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


NAME_RE = r"^[a-z0-9][a-z0-9._-]{0,62}$"


KEY_ID_RE = r"^[0-9a-f]{16}$"


COMMENT_PREFIX = "spbe-share:"


def _raw(pub: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(pub: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(pub)).hexdigest()[:16]


def fingerprint_of(pub: Ed25519PublicKey) -> str:
    """OpenSSH's fingerprint (``ssh-keygen -lf``): SHA-256 of the SSH wire-format key blob."""
    from cryptography.hazmat.primitives import serialization

    ssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(ssh.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def public_line(pub: Ed25519PublicKey, *, name: str) -> str:
    """OpenSSH public key line, comment ``spbe-share:<name>``."""
    from cryptography.hazmat.primitives import serialization

    ssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{ssh.decode()} {COMMENT_PREFIX}{name}\n"


def parse_public_key(text: str, *, source: str) -> tuple[Ed25519PublicKey, str | None]:
    """Parse an OpenSSH ``ssh-ed25519`` line or a raw base64 (32 bytes) line; return (key, name)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if len(lines) != 1:
        raise InvalidInput(f"{source}:1: (file): expected one public key line, found {len(lines)}")
    line = lines[0]
    parts = line.split()
    name: str | None = None
    if parts[0] == "ssh-ed25519":
        if len(parts) < 2:
            raise InvalidInput(f"{source}:1: (file): ssh-ed25519 line without key data")
        try:
            key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        except (ValueError, binascii.Error) as exc:
            raise InvalidInput(f"{source}:1: (file): not a valid ssh-ed25519 key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):  # pragma: no cover - ssh-ed25519 always is
            raise InvalidInput(f"{source}:1: (file): not an Ed25519 key")
        if len(parts) > 2:
            comment = " ".join(parts[2:])
            name = comment[len(COMMENT_PREFIX) :] if comment.startswith(COMMENT_PREFIX) else comment
        return key, name
    if len(parts) == 1:
        try:
            raw = base64.b64decode(parts[0], validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw), None
    raise InvalidInput(
        f"{source}:1: (file): not an Ed25519 public key (expected 'ssh-ed25519 AAAA...' or base64 of 32 bytes)"
    )


__all__ = [
    "COMMENT_PREFIX",
    "KEY_ID_RE",
    "NAME_RE",
    "fingerprint_of",
    "key_id_of",
    "parse_public_key",
    "public_line",
]
