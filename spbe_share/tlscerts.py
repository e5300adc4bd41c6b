"""TLS certificates of a Pemda's domain: checks, expiry, and a per-Pemda internal CA.

* :func:`check_domain` a registered domain name (``ppdb.example.go.id``): lowercase DNS labels;
* :func:`load_pair` the Pemda's own certificate (full chain, PEM) and key, checked before
  anything changes on a target: both parse, the key matches the certificate, the certificate
  names the domain (subjectAltName, wildcards one label deep), and it is valid now;
* :func:`issue_for` where the Pemda has no certificate: one issued by the Pemda's internal CA,
  kept in the operator's workspace (``<home>/tls-ca/<kode wilayah>/ca.key``, 0600, and
  ``ca.crt``, which the operator distributes to the Pemda's browsers and devices).

Every problem is one :class:`~spbe_share.errors.InvalidInput` line naming the file. A key is
never printed, logged or written to the workspace (only the CA's own key is kept there).

Belongs here: certificates and keys as data (``cryptography``). Knows nothing of targets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput

MAX_PEM = 256 * 1024  # bytes of a certificate chain or key file
WARN_DAYS = 30  # status warns when a certificate expires within this many days
CA_DAYS = 3650
LEAF_DAYS = 397  # what browsers accept for a server certificate
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_KODE = re.compile(r"^\d{2}(?:\.\d{2}){0,3}$")


def check_domain(domain: str) -> str:
    """``domain`` if it is a fully qualified DNS name (lowercase labels, at least two)."""
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels) or labels[-1].isdigit():
        raise InvalidInput(
            f"--domain {domain!r}: not a domain name (lowercase letters, digits and '-' in dot-separated labels,"
            " e.g. ppdb.example.go.id)"
        )
    return domain


@dataclass(frozen=True)
class TlsPair:
    """A checked certificate chain and its key (PEM). ``key_pem`` is a secret: never print it."""

    domain: str
    cert_pem: bytes
    key_pem: bytes = b""
    not_after: dt.datetime = dt.datetime.min.replace(tzinfo=dt.UTC)
    sha256: str = ""  # of the leaf certificate (DER)
    issuer: str = ""

    def __repr__(self) -> str:  # never the key, even in a traceback
        return f"TlsPair(domain={self.domain!r}, not_after={self.not_after.isoformat()}, sha256={self.sha256[:16]})"

    def info(self) -> dict[str, str]:
        """What the target keeps beside the certificate (``proxy/tls.json``; no key)."""
        return {"domain": self.domain, "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "sha256": self.sha256, "issuer": self.issuer}  # fmt: skip


def _read(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PEM + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_PEM:
        raise InvalidInput(f"{path}: the {what} is larger than {MAX_PEM // 1024} KiB")
    return data


def _names(cert: object) -> list[str]:
    from cryptography import x509

    assert isinstance(cert, x509.Certificate)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def names_domain(names: list[str], domain: str) -> bool:
    """Does a certificate with these DNS names serve ``domain`` (``*.`` one label deep)?"""
    for name in names:
        if name == domain:
            return True
        if name.startswith("*.") and domain.count(".") >= 2 and domain.split(".", 1)[1] == name[2:]:
            return True
    return False


def pair_from_pem(
    cert_pem: bytes, key_pem: bytes, *, domain: str, now: dt.datetime, cert_name: str = "certificate",
    key_name: str = "key",
) -> TlsPair:
    """The checked pair; :class:`InvalidInput` naming the file for every problem (pure)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise InvalidInput(f"{cert_name}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')") from None
    leaf = chain[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise InvalidInput(f"{key_name}: the private key is encrypted; give it without a passphrase") from None
    except (ValueError, Exception) as exc:  # cryptography raises ValueError or UnsupportedAlgorithm
        if "BEGIN CERTIFICATE" in key_pem.decode("ascii", "replace"):
            raise InvalidInput(f"{key_name}: a certificate, not a private key (are --cert and --key swapped?)") from None
        raise InvalidInput(f"{key_name}: not a PEM private key ({type(exc).__name__})") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != leaf.public_key().public_bytes(enc, pub):
        raise InvalidInput(f"{key_name}: the key does not match the certificate {cert_name}")
    names = _names(leaf)
    if not names_domain(names, domain):
        raise InvalidInput(
            f"{cert_name}: the certificate is for {', '.join(names) or 'no DNS name'}, not {domain}"
        )
    not_after = leaf.not_valid_after_utc
    if not_after <= now:
        raise InvalidInput(f"{cert_name}: the certificate expired on {not_after:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_before_utc > now:
        raise InvalidInput(f"{cert_name}: the certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    return TlsPair(
        domain=domain, cert_pem=cert_pem, key_pem=key_pem, not_after=not_after,
        sha256=hashlib.sha256(leaf.public_bytes(enc)).hexdigest(), issuer=leaf.issuer.rfc4514_string(),
    )  # fmt: skip


def load_pair(cert: Path, key: Path, *, domain: str, now: dt.datetime) -> TlsPair:
    """The Pemda's certificate chain ``cert`` and key ``key``, checked for ``domain`` at ``now``."""
    return pair_from_pem(_read(cert, "certificate"), _read(key, "key"), domain=check_domain(domain), now=now,
                         cert_name=str(cert), key_name=str(key))  # fmt: skip


# ------------------------------------------------------------------ the Pemda's internal CA


def ca_dir(home: Path, kode_wilayah: str) -> Path:
    if not _KODE.match(kode_wilayah):
        raise InvalidInput(f"kode wilayah {kode_wilayah!r}: not a kode wilayah")
    return home / "tls-ca" / kode_wilayah


def _pem_key(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def ensure_ca(home: Path, *, pemda: str, kode_wilayah: str, now: dt.datetime) -> tuple[Path, bool]:
    """The Pemda's CA certificate path (created with its key, 0600, when missing), and whether
    it was created now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from .files import atomic_write_bytes

    folder = ca_dir(home, kode_wilayah)
    crt, key_path = folder / "ca.crt", folder / "ca.key"
    if crt.is_file() and key_path.is_file():
        return crt, False
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, pemda[:64]),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{pemda[:40]} internal CA (spbe-share)"),
    ])  # fmt: skip
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    from cryptography.hazmat.primitives import serialization

    atomic_write_bytes(key_path, _pem_key(key), mode=0o600)
    atomic_write_bytes(crt, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return crt, True


def issue_for(home: Path, *, domain: str, pemda: str, kode_wilayah: str, now: dt.datetime) -> tuple[TlsPair, Path, bool]:
    """A certificate for ``domain`` from the Pemda's internal CA (made when missing): the pair
    (the leaf key exists only in memory here), the CA certificate's path, and whether the CA
    was created now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    check_domain(domain)
    crt_path, created = ensure_ca(home, pemda=pemda, kode_wilayah=kode_wilayah, now=now)
    ca_key = serialization.load_pem_private_key(_read(crt_path.with_name("ca.key"), "CA key"), password=None)
    ca_cert = x509.load_pem_x509_certificate(_read(crt_path, "CA certificate"))
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    pair = pair_from_pem(cert.public_bytes(pem) + ca_cert.public_bytes(pem), _pem_key(key), domain=domain, now=now)
    return pair, crt_path, created


def days_left(not_after: dt.datetime, now: dt.datetime) -> int:
    return int((not_after - now).total_seconds() // 86400)


def expiry_text(not_after: dt.datetime, now: dt.datetime) -> tuple[str, bool]:
    """``("2027-01-05 (29 days)", warn)``: warn when it expires within :data:`WARN_DAYS`."""
    left = days_left(not_after, now)
    if not_after <= now:
        return f"EXPIRED {not_after:%Y-%m-%d}", True
    return f"{not_after:%Y-%m-%d} ({left} days)", left < WARN_DAYS


__all__ = [
    "WARN_DAYS",
    "TlsPair",
    "ca_dir",
    "check_domain",
    "days_left",
    "ensure_ca",
    "expiry_text",
    "issue_for",
    "load_pair",
    "names_domain",
    "pair_from_pem",
]
