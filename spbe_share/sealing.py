"""Secrets sealed to the operator's key: the age format (X25519), through ``pyrage``.

A deployment's secrets (database password, the key that wraps e-office's signing keys, ...)
live on the target only, 0600. A backup is worth nothing on a new server without them, so
every backup carries them **sealed**: encrypted to the operator's public key(s), never
readable in clear on the target or in the workspace. Only this machine, holding the private
key, opens them, in memory, to put them back on a target (``restore --to-target``,
``secrets restore``).

Format: a standard age file (https://age-encryption.org/v1, X25519 recipients, ChaCha20-
Poly1305 payload), so anyone holding the identity can open it without spbe-share::

    age -d -i identity.txt secrets.age        # Debian: apt-get install age

Its plaintext is one JSON object (:class:`Envelope`)::

    {"kind": "spbe-share-secrets", "format": 1, "app": "e-office", "target": "kota-sorong",
     "sealed_at": "2026-11-22T10:15:00Z", "secrets": {"DB_PASSWORD": "...", ...}}

Next to it, readable by anyone (no secret in it): :class:`SealedMeta` (who it is sealed to,
its size and SHA-256, and a salted SHA-256 fingerprint per secret, so the target can tell
with the standard library alone whether the sealed copy still matches the secrets it holds).

Keys, under ``ws.keys_dir/sealing/``::

    identity.txt              the operator's age identity, 0600 (as ``age-keygen`` writes it), or
    identity.age              the same, encrypted with $SPBE_SHARE_KEY_PASSPHRASE (age scrypt)
    recipients/<label>.txt    further public keys every seal includes, e.g. the recovery key

``spbe-share secrets recovery-key --out FILE`` makes a second identity for off-line keeping
(paper, a USB stick in the office safe): every later seal includes its public key, so the
secrets can be opened even if this workstation is lost (``--identity FILE`` on restore).
``pyrage`` is imported inside functions: the CLI must start fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import Conflict, InvalidInput, NotFound, VerificationFailed
from .outside import loads_json

if TYPE_CHECKING:
    from .workspace import Workspace

PASSPHRASE_ENV = "SPBE_SHARE_KEY_PASSPHRASE"
KIND = "spbe-share-secrets"
SEALED_FILE = "secrets.age"  # its name inside a backup
RECIPIENT = r"^age1[02-9ac-hj-np-z]{58}$"
ENV_NAME = r"^[A-Z][A-Z0-9_]{0,63}$"
LABEL = r"^[a-z0-9][a-z0-9._-]{0,62}$"
HEX64 = r"^[0-9a-f]{64}$"
MAX_SEALED = 1 << 20  # a sealed secrets file is a few hundred bytes; refuse anything huge

Recipient = Annotated[str, Field(pattern=RECIPIENT)]
SecretName = Annotated[str, Field(pattern=ENV_NAME)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(_Model):
    """The plaintext of a sealed secrets file (only ever in memory)."""

    kind: Literal["spbe-share-secrets"] = "spbe-share-secrets"
    format: Literal[1] = 1
    app: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    target: str = Field(max_length=200)
    sealed_at: str = Field(max_length=40)
    secrets: dict[SecretName, Annotated[str, Field(max_length=4096)]]

    def __repr__(self) -> str:  # never print values by accident
        return f"Envelope(app={self.app!r}, target={self.target!r}, secrets={sorted(self.secrets)})"

    __str__ = __repr__


class SealedMeta(_Model):
    """What anyone may read about a sealed secrets file (kept beside it, and in a backup's
    manifest): recipients, size, SHA-256, and salted fingerprints of the values."""

    format: Literal[1] = 1
    sealed_to: list[Recipient] = Field(min_length=1, max_length=20)
    file: str = Field(pattern=r"^secrets\.[a-z0-9]{1,10}$")
    size: int = Field(ge=0, le=MAX_SEALED)
    sha256: str = Field(pattern=HEX64)
    salt: str = Field(pattern=r"^[0-9a-f]{32}$")
    fingerprints: dict[SecretName, Annotated[str, Field(pattern=HEX64)]] = Field(max_length=200)
    sealed_at: str = Field(max_length=40)


@dataclass(frozen=True)
class Sealed:
    data: bytes
    meta: SealedMeta


def iso(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fingerprint(salt: str, name: str, value: str) -> str:
    """Salted SHA-256 of one secret (the target computes the same with ``hashlib``)."""
    return hashlib.sha256(bytes.fromhex(salt) + b"\0" + name.encode() + b"\0" + value.encode()).hexdigest()


def fingerprints(salt: str, values: Mapping[str, str]) -> dict[str, str]:
    return {name: fingerprint(salt, name, value) for name, value in sorted(values.items())}


def matches(meta: SealedMeta, values: Mapping[str, str], recipients: Sequence[str]) -> bool:
    """Does ``meta`` describe a seal of exactly ``values`` to exactly ``recipients``?"""
    return sorted(meta.sealed_to) == sorted(recipients) and meta.fingerprints == fingerprints(meta.salt, values)


# ---------------------------------------------------------------- keys


def sealing_dir(ws: Workspace) -> Path:
    return ws.keys_dir / "sealing"


def _passphrase() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


def identity_text(identity: Any, *, now: dt.datetime, note: str) -> str:
    """An identity file as ``age-keygen`` writes it (comments, then the secret key line)."""
    return f"# created: {iso(now)}\n# {note}\n# public key: {identity.to_public()}\n{identity}\n"


def _write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def parse_identity_text(text: str, *, source: str) -> Any:
    from pyrage import x25519

    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    keys = [ln for ln in lines if ln.startswith("AGE-SECRET-KEY-1")]
    if len(keys) != 1 or len(lines) != 1:
        raise InvalidInput(f"{source}: expected one age identity line (AGE-SECRET-KEY-1...), found {len(keys)}")
    try:
        return x25519.Identity.from_str(keys[0])
    except Exception:  # noqa: BLE001 - pyrage raises its own types
        raise InvalidInput(f"{source}: not a valid age X25519 identity") from None


def _read_identity_file(path: Path) -> Any:
    from pyrage import DecryptError, passphrase

    try:
        mode = path.stat().st_mode & 0o777
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such identity file") from None
    if mode & 0o077:
        raise InvalidInput(f"{path}: the identity is readable by others (mode {mode:o}); chmod 600 it")
    if raw.startswith(b"age-encryption.org/"):
        secret = _passphrase()
        if not secret:
            raise InvalidInput(f"{path}: the identity is passphrase-protected: set {PASSPHRASE_ENV}")
        try:
            raw = passphrase.decrypt(raw, secret)
        except DecryptError:
            raise InvalidInput(f"{path}: cannot open the identity (wrong {PASSPHRASE_ENV}?)") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not an age identity file") from None
    return parse_identity_text(text, source=str(path))


def read_identity(path: Path) -> Any:
    """An age identity file (``age-keygen`` output, or passphrase-protected), mode 0600."""
    return _read_identity_file(path)


def own_identity_path(ws: Workspace) -> Path | None:
    for name in ("identity.age", "identity.txt"):
        path = sealing_dir(ws) / name
        if path.exists():
            return path
    return None


@dataclass(frozen=True)
class KeyInfo:
    label: str
    recipient: str
    path: Path
    own: bool

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "recipient": self.recipient, "path": str(self.path), "own": self.own}


def ensure_identity(ws: Workspace, *, now: dt.datetime | None = None) -> tuple[KeyInfo, bool]:
    """The operator's sealing identity (created when missing: then the bool is True)."""
    from pyrage import passphrase, x25519

    path = own_identity_path(ws)
    if path is not None:
        identity = _read_identity_file(path)
        return KeyInfo("operator", str(identity.to_public()), path, True), False
    when = now or dt.datetime.now(dt.UTC)
    identity = x25519.Identity.generate()
    text = identity_text(identity, now=when, note="spbe-share: the operator's key for sealed secrets")
    secret = _passphrase()
    ws.ensure()
    if secret:
        path = sealing_dir(ws) / "identity.age"
        data = passphrase.encrypt(text.encode("ascii"), secret)
    else:
        path = sealing_dir(ws) / "identity.txt"
        data = text.encode("ascii")
    try:
        _write_new(path, data)
    except FileExistsError:  # another process made it just now
        return ensure_identity(ws, now=now)
    return KeyInfo("operator", str(identity.to_public()), path, True), True


def extra_recipients(ws: Workspace) -> list[KeyInfo]:
    folder = sealing_dir(ws) / "recipients"
    out: list[KeyInfo] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.txt")):
        out.append(KeyInfo(path.stem, read_recipient(path), path, False))
    return out


MAX_RECIPIENT_FILE = 64 << 10


def read_recipient(path: Path) -> str:
    """The age public key (``age1...``) in ``path``: one key line, ``#`` comments allowed (as
    ``age-keygen -y`` or ``secrets recovery-key`` write it)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_RECIPIENT_FILE + 1)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc})") from None
    lines = [ln.strip() for ln in raw.decode("ascii", "replace").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if len(raw) > MAX_RECIPIENT_FILE or len(lines) != 1 or not re.match(RECIPIENT, lines[0]):
        raise InvalidInput(f"{path}: expected one age public key line (age1...)")
    return lines[0]


def write_sealed(path: Path, data: bytes) -> None:
    """A new file ``path`` (0600) holding sealed bytes; an existing file is never replaced."""
    try:
        _write_new(path, data)
    except FileExistsError:
        raise Conflict(f"{path} exists already; choose another file") from None
    except FileNotFoundError:
        raise NotFound(f"{path.parent}: no such folder") from None


def recipients(ws: Workspace) -> list[str]:
    """Everyone a seal made now is sealed to (the operator first); creates the identity if needed."""
    own, _ = ensure_identity(ws)
    extra = [k.recipient for k in extra_recipients(ws)]
    return [own.recipient, *sorted(set(extra) - {own.recipient})]


def add_recovery_key(ws: Workspace, *, out: Path, label: str, now: dt.datetime | None = None) -> KeyInfo:
    """A new identity written to ``out`` (0600, never kept here), its public key added to
    every later seal as ``recipients/<label>.txt``."""
    from pyrage import x25519

    if not re.match(LABEL, label):
        raise InvalidInput(f"--label {label!r}: lowercase letters, digits, '.', '_' and '-'")
    pub_path = sealing_dir(ws) / "recipients" / f"{label}.txt"
    if pub_path.exists():
        raise Conflict(f"a recipient named {label!r} exists already: {pub_path}")
    if out.exists():
        raise Conflict(f"{out} exists already; choose another file")
    when = now or dt.datetime.now(dt.UTC)
    identity = x25519.Identity.generate()
    ensure_identity(ws, now=when)
    try:
        _write_new(out, identity_text(identity, now=when, note=f"spbe-share recovery key {label!r}: keep it off-line")
                   .encode("ascii"))
    except FileNotFoundError:
        raise NotFound(f"{out.parent}: no such folder") from None
    _write_new(pub_path, f"# recovery key {label}, created {iso(when)}\n{identity.to_public()}\n".encode("ascii"),
               mode=0o644)
    return KeyInfo(label, str(identity.to_public()), pub_path, False)


def identities(ws: Workspace, extra_files: Sequence[Path] = ()) -> list[Any]:
    """The identities that may open a seal: the operator's (if any) and ``extra_files``."""
    out = [_read_identity_file(p) for p in extra_files]
    path = own_identity_path(ws)
    if path is not None:
        out.append(_read_identity_file(path))
    return out


# ---------------------------------------------------------------- seal / unseal


def seal(*, app: str, target: str, values: Mapping[str, str], to: Sequence[str], now: dt.datetime) -> Sealed:
    """Encrypt ``values`` to the recipients ``to``; the plaintext exists only in memory."""
    import pyrage
    from pyrage import x25519

    if not to:
        raise InvalidInput("no recipient to seal the secrets to")
    envelope = Envelope(app=app, target=target, sealed_at=iso(now), secrets=dict(values))
    plain = json.dumps(envelope.model_dump(mode="json"), sort_keys=True).encode("utf-8")
    data = pyrage.encrypt(plain, [x25519.Recipient.from_str(r) for r in to])
    salt = _random.token_hex(16)
    meta = SealedMeta(
        sealed_to=list(to), file=SEALED_FILE, size=len(data), sha256=hashlib.sha256(data).hexdigest(), salt=salt,
        fingerprints=fingerprints(salt, values), sealed_at=iso(now),
    )
    return Sealed(data=data, meta=meta)


def unseal(data: bytes, *, keys: Sequence[Any], where: str, meta: SealedMeta | None = None) -> Envelope:
    """Open a sealed secrets file with one of ``keys``; checks size, SHA-256 and fingerprints
    against ``meta`` when given. Raises VerificationFailed naming the recipients otherwise."""
    import pyrage

    if len(data) > MAX_SEALED:
        raise VerificationFailed(f"{where}: sealed secrets larger than {MAX_SEALED} bytes")
    if meta is not None and (len(data) != meta.size or hashlib.sha256(data).hexdigest() != meta.sha256):
        raise VerificationFailed(f"{where}: the sealed secrets do not match their recorded size and SHA-256")
    if not keys:
        raise VerificationFailed(
            f"{where}: this workspace has no key to open sealed secrets (give the recovery key with --identity FILE)"
        )
    try:
        plain = pyrage.decrypt(data, list(keys))
    except pyrage.DecryptError as exc:
        to = ", ".join(meta.sealed_to) if meta else "unknown recipients"
        raise VerificationFailed(
            f"{where}: none of the keys given opens the sealed secrets (sealed to {to}): {exc}",
            details=["give the identity they were sealed to with --identity FILE (e.g. the recovery key)"],
        ) from None
    try:
        envelope = Envelope.model_validate(loads_json(plain))
    except (ValueError, ValidationError):  # OutsideJSONError is a ValueError
        raise VerificationFailed(f"{where}: the sealed secrets are not an spbe-share secrets envelope") from None
    if meta is not None and meta.fingerprints != fingerprints(meta.salt, envelope.secrets):
        raise VerificationFailed(f"{where}: the sealed secrets do not match their recorded fingerprints")
    return envelope


def recipient_from(value: str) -> str:
    """An age public key given as itself (``age1...``) or as a file holding it (``age-keygen -y``
    writes one; comment lines are skipped)."""
    value = value.strip()
    if re.fullmatch(RECIPIENT, value):
        return value
    path = Path(value)
    try:
        text = path.read_bytes()[:4096].decode("ascii", "replace")
    except OSError as exc:
        raise InvalidInput(f"{value}: neither an age public key (age1...) nor a readable file ({type(exc).__name__})"
                           ) from None
    keys = [ln.strip() for ln in text.splitlines() if re.fullmatch(RECIPIENT, ln.strip())]
    if len(keys) != 1:
        raise InvalidInput(f"{path}: expected one age public key line (age1...), found {len(keys)}")
    return keys[0]


def seal_bytes(data: bytes, *, to: Sequence[str]) -> bytes:
    """``data`` encrypted to the age recipients ``to`` (a standard age file)."""
    import pyrage
    from pyrage import x25519

    if not to:
        raise InvalidInput("no recipient to seal to")
    return bytes(pyrage.encrypt(data, [x25519.Recipient.from_str(r) for r in to]))


def open_sealed_bytes(data: bytes, *, keys: Sequence[Any], where: str) -> bytes:
    """The plaintext of an age file sealed by :func:`seal_bytes` (VerificationFailed otherwise)."""
    import pyrage

    if not keys:
        raise VerificationFailed(f"{where}: no key to open it: give the identity it is sealed to with --identity FILE")
    try:
        return bytes(pyrage.decrypt(data, list(keys)))
    except pyrage.DecryptError as exc:
        raise VerificationFailed(f"{where}: none of the keys given opens it: {exc}") from None


def parse_meta(data: Any, *, where: str) -> SealedMeta:
    try:
        return SealedMeta.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise VerificationFailed(f"{where}: invalid sealed-secrets record: {loc}: {first['msg']}") from None


__all__ = [
    "KIND",
    "open_sealed_bytes",
    "read_identity",
    "recipient_from",
    "seal_bytes",
    "PASSPHRASE_ENV",
    "SEALED_FILE",
    "Envelope",
    "KeyInfo",
    "Sealed",
    "SealedMeta",
    "add_recovery_key",
    "ensure_identity",
    "extra_recipients",
    "fingerprint",
    "fingerprints",
    "identities",
    "matches",
    "parse_identity_text",
    "parse_meta",
    "read_recipient",
    "recipients",
    "seal",
    "unseal",
    "write_sealed",
]
