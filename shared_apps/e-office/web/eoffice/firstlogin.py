"""First login (1.1.1): the first admin must replace the initial password ADMIN_PASSWORD.

While user ``admin`` still has the password the app seeded from the ADMIN_PASSWORD secret,
a session or token of that user reaches only the change-password page and endpoint (and
logout); the web UI redirects there, the API answers 403 naming the change needed. No new
column: the state is "does the stored hash verify the initial secret", memoised per stored
hash (one scrypt per distinct hash, so the public /api/v1/first-login stays cheap).
"""

from __future__ import annotations

import hmac
import threading

from .security import check_password

#: The user the app seeds with ADMIN_PASSWORD (the entry's ``first_login.user``).
FIRST_ADMIN = "admin"
#: A replacement password is at least this long (the initial secret is 20 random characters).
NEW_PASSWORD_MIN = 12
#: Endpoints a session that must change its password may still reach.
ALLOWED_WHILE_FORCED = frozenset({
    "static", "healthz", "login", "logout", "ganti_sandi",
    "api_token", "api_me", "api_change_password", "api_first_login",
})
CHANGE_API = "/api/v1/me/password"
CHANGE_PAGE = "/ganti-sandi"


def forced_error() -> dict[str, str]:
    """The API's 403 body while the initial password is in use."""
    return {
        "error": "kata sandi awal admin masih dipakai: ganti dulu melalui "
                 f"POST {CHANGE_API} {{\"current_password\", \"new_password\"}} "
                 f"atau halaman {CHANGE_PAGE}",
        "required": "password_change",
        "change_url": CHANGE_API,
    }


def is_allowed(endpoint: str | None) -> bool:
    return endpoint in ALLOWED_WHILE_FORCED


def validate_new_password(*, current: str, new: str, confirm: str | None, initial: str) -> str | None:
    """Why ``new`` cannot replace ``current`` (Indonesian, for the user), or None if it can."""
    if confirm is not None and not hmac.compare_digest(new.encode(), confirm.encode()):
        return "konfirmasi kata sandi baru tidak sama"
    if len(new) < NEW_PASSWORD_MIN:
        return f"kata sandi baru minimal {NEW_PASSWORD_MIN} karakter"
    if hmac.compare_digest(new.encode(), current.encode()):
        return "kata sandi baru harus berbeda dari kata sandi lama"
    if hmac.compare_digest(new.encode(), initial.encode()):
        return "kata sandi baru tidak boleh sama dengan kata sandi awal (ADMIN_PASSWORD)"
    return None


class InitialPassword:
    """Is the first admin's stored hash still the hash of the initial secret?"""

    def __init__(self, initial: str) -> None:
        self._initial = initial
        self._known: dict[str, bool] = {}
        self._lock = threading.Lock()

    def matches(self, stored_hash: str | None) -> bool:
        if not stored_hash:
            return False
        with self._lock:
            hit = self._known.get(stored_hash)
        if hit is None:
            hit = check_password(self._initial, stored_hash)
            with self._lock:
                if len(self._known) > 64:  # a hash changes only on a password change
                    self._known.clear()
                self._known[stored_hash] = hit
        return hit
