"""Tanda tangan elektronik: canonical digest of a letter's content + Ed25519.

The signed message is ``b"e-office/ttd/v1\\n" + sha256(canonical_json(content))``.
``canonical_json`` sorts keys, uses no whitespace, keeps UTF-8 and normalises every
string to Unicode NFC, so the same content always gives the same bytes. Anyone holding the
content, the signature and the public key can verify; changing one character of the
content changes the digest and the signature no longer verifies.

The deployment's private key is stored encrypted (AES-256-GCM, key derived from the
SECRET_KEY secret with HKDF) so a database dump alone does not leak it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DOMAIN = b"e-office/ttd/v1\n"
Scalar = str | int | bool | None


def _normalise(value: Any, path: str = "content") -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: kunci harus teks")
            out[unicodedata.normalize("NFC", k)] = _normalise(v, f"{path}.{k}")
        return out
    if isinstance(value, list):
        return [_normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{path}: tipe {type(value).__name__} tidak didukung (pakai teks/angka bulat)")


def canonical_json(content: dict[str, Any]) -> bytes:
    if not isinstance(content, dict):
        raise ValueError("content harus objek JSON")
    return json.dumps(
        _normalise(content), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def digest(content: dict[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of ``content``."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def _message(content: dict[str, Any]) -> bytes:
    return DOMAIN + bytes.fromhex(digest(content))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_b64(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public(b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))


def sign(private: Ed25519PrivateKey, content: dict[str, Any]) -> str:
    return base64.b64encode(private.sign(_message(content))).decode()


def verify(public: Ed25519PublicKey, content: dict[str, Any], signature_b64: str) -> bool:
    """True only when ``signature_b64`` is a valid signature of exactly ``content``."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        message = _message(content)
    except (ValueError, binascii.Error):
        return False
    try:
        public.verify(sig, message)
    except InvalidSignature:
        return False
    return True


# -- key storage ---------------------------------------------------------------------------


def _wrap_key(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"e-office-signing-key", info=b"wrap/v1"
    ).derive(secret.encode())


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    public_b64: str
    sealed_private: str  # base64(nonce || AES-GCM ciphertext of the raw private key)


def new_key(secret: str) -> tuple[StoredKey, Ed25519PrivateKey]:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    nonce = os.urandom(12)
    kid = key_id(private.public_key())
    sealed = nonce + AESGCM(_wrap_key(secret)).encrypt(nonce, raw, kid.encode())
    stored = StoredKey(kid, public_b64(private.public_key()), base64.b64encode(sealed).decode())
    return stored, private


def open_key(stored: StoredKey, secret: str) -> Ed25519PrivateKey:
    sealed = base64.b64decode(stored.sealed_private)
    raw = AESGCM(_wrap_key(secret)).decrypt(sealed[:12], sealed[12:], stored.key_id.encode())
    private = Ed25519PrivateKey.from_private_bytes(raw)
    if key_id(private.public_key()) != stored.key_id:
        raise ValueError("kunci tanda tangan tidak cocok dengan key id")
    return private
