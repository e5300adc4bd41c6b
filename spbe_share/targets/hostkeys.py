"""SSH host keys: parsing (with ``cryptography``), fingerprints, known_hosts, and pinning rules.

A key is pinned for ``host`` (port 22) or ``[host]:port`` in the workspace's ``known_hosts``
(OpenSSH format). :func:`choose_pins` is the one rule that decides what ``target add`` may
pin, so that a pinned key never changes silently:

* nothing pinned yet for ``host:port``: pin the key(s) matching ``--host-key-fingerprint``, or
  the keys of ``--host-key-file``, or, with ``--trust-on-first-use`` or after the operator
  confirmed the fingerprint on a terminal, the offered keys; otherwise refuse (exit 2);
* keys already pinned and still offered: keep them;
* a pinned key changed: refuse (exit 6) unless ``--accept-new-host-key SHA256:...`` names
  one of the offered keys, which then replaces the pins.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HostKeyMismatch, InvalidInput, VerificationFailed
from ..files import atomic_write_text

FINGERPRINT = r"SHA256:[A-Za-z0-9+/]{43}"


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class HostKey:
    """One public host key: ``ssh-ed25519 AAAA...`` (type and base64 blob).

    Made by :func:`parse_host_key`, which loads the key with ``cryptography`` (so a key is
    never pinned that OpenSSH could not use); the fingerprint and size come from that key.
    """

    keytype: str
    blob: str

    def _key(self) -> Any:
        key = load_host_key(self.keytype, self.blob)
        if key is None:
            raise InvalidInput(f"not a valid {self.keytype} public key")
        return key

    @property
    def fingerprint(self) -> str:
        """OpenSSH's ``SHA256:...`` (as ``ssh-keygen -lf`` prints it)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import ssh_key_fingerprint

        digest = ssh_key_fingerprint(self._key(), hashes.SHA256())
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def bits(self) -> int:
        return key_bits(self._key())

    def describe(self, comment: str) -> str:
        """Like one line of ``ssh-keygen -lf``: ``256 SHA256:... comment (ED25519)``."""
        return f"{self.bits} {self.fingerprint} {comment} ({key_label(self.keytype)})"

    def known_hosts_line(self, name: str) -> str:
        return f"{name} {self.keytype} {self.blob}"


@dataclass(frozen=True)
class PinnedKey:
    name: str  # host or [host]:port
    key: HostKey

    @property
    def line(self) -> str:
        return self.key.known_hosts_line(self.name)


def key_label(keytype: str) -> str:
    """The key type as ``ssh-keygen -l`` names it (ED25519, ECDSA, RSA, DSA, ED25519-SK, ECDSA-SK)."""
    if keytype == "ssh-ed25519":
        return "ED25519"
    if keytype.startswith("ecdsa-"):
        return "ECDSA"
    if keytype == "ssh-rsa":
        return "RSA"
    if keytype == "ssh-dss":
        return "DSA"
    if keytype.startswith("sk-ssh-ed25519"):
        return "ED25519-SK"
    if keytype.startswith("sk-ecdsa-"):
        return "ECDSA-SK"
    return keytype.upper()


def key_bits(key: Any) -> int:
    """Size of a loaded public key, as ``ssh-keygen -l`` reports it."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        return int(key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return int(key.curve.key_size)
    return 256  # Ed25519 (also behind sk-ssh-ed25519)


_KEYTYPE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+|ssh-dss)$")


def load_host_key(keytype: str, blob: str) -> Any | None:
    """The ``cryptography`` public key of ``keytype blob``, or None if it is not one."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    if not _KEYTYPE.match(keytype) or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", blob):
        return None
    try:
        return load_ssh_public_key(f"{keytype} {blob}".encode("ascii"))
    except (ValueError, UnsupportedAlgorithm):
        return None


def parse_host_key(keytype: str, blob: str) -> HostKey | None:
    """A :class:`HostKey` if ``keytype blob`` is a public key cryptography can load, else None."""
    return HostKey(keytype, blob) if load_host_key(keytype, blob) is not None else None


def parse_known_hosts(text: str) -> list[PinnedKey]:
    """known_hosts / ssh-keyscan output lines -> keys (comments, markers, junk skipped)."""
    out: list[PinnedKey] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0].startswith("#") or parts[0].startswith("@"):
            continue
        key = parse_host_key(parts[1], parts[2])
        if key is not None:
            for name in parts[0].split(","):
                out.append(PinnedKey(name, key))
    return out


def parse_public_keys(text: str, *, source: str) -> list[HostKey]:
    """Keys from a public key file (``type base64 [comment]``) or known_hosts-style lines."""
    keys: list[HostKey] = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        key = parse_host_key(parts[0], parts[1]) if len(parts) >= 2 else None
        if key is None and len(parts) >= 3:
            key = parse_host_key(parts[1], parts[2])
        if key is None:
            raise InvalidInput(f"{source}:{n}: --host-key-file: not an OpenSSH public key line")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise InvalidInput(f"{source}: --host-key-file: no public key in the file")
    return keys


def read_known_hosts(path: Path) -> list[PinnedKey]:
    try:
        return parse_known_hosts(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []


def write_known_hosts(path: Path, pins: Sequence[PinnedKey]) -> None:
    lines = []
    for p in pins:
        if p.line not in lines:
            lines.append(p.line)
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def host_key_problem(pinned: Sequence[HostKey], offered: Sequence[HostKey]) -> str | None:
    """Why ``offered`` does not match ``pinned`` (None when ssh would accept it)."""
    if not pinned:
        return "no host key is pinned"
    pinned_types = {k.keytype for k in pinned}
    for key in offered:
        if key.keytype in pinned_types and key not in pinned:
            return f"the {key_label(key.keytype)} key changed"
    if not any(k in pinned for k in offered):
        return "none of the offered keys is pinned"
    return None


def describe_keys(keys: Sequence[HostKey]) -> str:
    return ", ".join(f"{key_label(k.keytype)} {k.fingerprint}" for k in keys) or "none"


def check_fingerprint(value: str | None, option: str) -> str | None:
    if value is not None and not re.fullmatch(FINGERPRINT, value):
        raise InvalidInput(f"{option}: expected SHA256:<43 base64 characters> (as ssh-keygen -lf prints)")
    return value


Confirm = Callable[[str, Sequence[HostKey]], bool]


@dataclass(frozen=True)
class PinChoice:
    keys: list[HostKey]
    how: str  # fingerprint | host-key-file | trust-on-first-use | confirmed | already-pinned | accepted-new-key

    @property
    def changed(self) -> bool:
        return self.how == "accepted-new-key"


def choose_pins(
    hk_name: str,
    *,
    pinned: Sequence[HostKey],
    offered: Sequence[HostKey],
    from_file: bool = False,
    fingerprint: str | None = None,
    accept_new: str | None = None,
    trust_on_first_use: bool = False,
    confirm: Confirm | None = None,
) -> PinChoice:
    """Which keys to pin for ``hk_name`` (see the module docstring). Never pins silently."""
    if pinned:
        problem = host_key_problem(pinned, offered)
        if problem is None:
            if fingerprint is not None and not any(k.fingerprint == fingerprint for k in pinned):
                raise HostKeyMismatch(
                    f"{hk_name} is pinned as {describe_keys(pinned)}, not --host-key-fingerprint {fingerprint}."
                    " Nothing was saved."
                )
            return PinChoice(list(pinned), "already-pinned")
        if accept_new is None:
            raise HostKeyMismatch(
                f"{hk_name}: {problem}: pinned {describe_keys(pinned)}; offered {describe_keys(offered)}."
                " If the server was really reinstalled, check the new fingerprint with the Pemda and rerun"
                " with --accept-new-host-key SHA256:... Nothing was saved."
            )
        matching = [k for k in offered if k.fingerprint == accept_new]
        if not matching:
            raise HostKeyMismatch(
                f"{hk_name} offers {describe_keys(offered)}; none matches --accept-new-host-key {accept_new}."
                " Nothing was saved."
            )
        return PinChoice(matching, "accepted-new-key")
    wanted = fingerprint or accept_new
    if wanted is not None:
        matching = [k for k in offered if k.fingerprint == wanted]
        if not matching:
            raise HostKeyMismatch(
                f"{hk_name} offers {describe_keys(offered)}; none matches --host-key-fingerprint {wanted}."
                " Nothing was saved."
            )
        return PinChoice(matching, "fingerprint")  # pin only what was verified out of band
    if from_file:
        return PinChoice(list(offered), "host-key-file")
    if trust_on_first_use:
        return PinChoice(list(offered), "trust-on-first-use")
    if confirm is not None:
        if not confirm(hk_name, offered):
            raise VerificationFailed(f"the host key of {hk_name} was not accepted. Nothing was saved.")
        return PinChoice(list(offered), "confirmed")
    raise InvalidInput(
        f"{hk_name} offers {describe_keys(offered)}: check the fingerprint with the Pemda, then pass"
        " --host-key-fingerprint SHA256:... (or --trust-on-first-use to pin it unchecked). Nothing was saved."
    )
