"""Passwords (scrypt), API tokens (random, stored as SHA-256) and role rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ROLES = ("admin", "operator")

# What each role may do. Checked by the web layer before any write.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"users", "sekolah", "verifikasi", "pengumuman"}),
    "operator": frozenset({"verifikasi"}),
}

_N, _R, _P = 2**14, 8, 1


def can(role: str, action: str) -> bool:
    return action in PERMISSIONS.get(role, frozenset())


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("kata sandi minimal 8 karakter")
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt_b64, dk_b64 = stored.split("$")
        if algo != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(dk_b64)
        dk = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(dk, expected)


def new_token() -> tuple[str, str]:
    """(token shown once to the user, hash stored in the database)."""
    token = "pp_" + secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
