"""The SBOM of each image of a bundle: a CycloneDX 1.6 JSON document, member
``sbom/<component>.cdx.json`` of the bundle (so the bundle's signature covers it).

What it lists, read from the image's own layers (base first, whiteouts applied, as the engine
would see the root filesystem):

* every Debian package that dpkg records as installed (``var/lib/dpkg/status``, and the
  one-file-per-package ``var/lib/dpkg/status.d/``), parsed with python-debian's deb822 parser:
  name, version, architecture and its source package (name and version, what Debian's security
  trackers and OSV records name), as ``pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12``
  (the release from ``etc/os-release``);
* every Python distribution installed outside dpkg (``*.dist-info/METADATA`` not under Debian's
  own ``usr/lib/python3*``), as ``pkg:pypi/NAME@VERSION``.

Deterministic: the same image and release give the same bytes. Components are sorted, every
``bom-ref`` is the purl, the serial number is a UUID derived from the app, release, component
and image id, and the timestamp is the bundle's ``created`` (the release date): no clock, no
random. :func:`packages_of` reads the packages back (for ``audit``), bounded like any outside
data.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import posixpath
import re
import tarfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Literal

from ..errors import InvalidInput

SBOM_PREFIX = "sbom/"
SBOM_SUFFIX = ".cdx.json"
SBOM_MEMBER = re.compile(r"sbom/([a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)\.cdx\.json")
MAX_SBOM_BYTES = 32 << 20
MAX_STATUS_BYTES = 64 << 20  # a dpkg status file (a full desktop system's is ~3 MB)
MAX_METADATA_BYTES = 1 << 20  # one METADATA file
INVENTORY_FORMAT = 1  # bump when what is read from the layers changes (the cache is keyed by it)
PROP = "spbe-share"  # namespace of the CycloneDX properties written here
_NS = uuid.UUID("5f0c3a8e-2b7d-4b6e-9a53-7d1e3c5b2a10")  # spbe-share's SBOM serial numbers

Ecosystem = Literal["deb", "pypi"]
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_DIST_INFO = re.compile(r"(?:.*/)?[^/]+\.dist-info/METADATA")
_DEBIAN_PYTHON = re.compile(r"usr/lib/python3(?:\.\d+)?/")  # dpkg's own Python packages live here


def sbom_member(component: str) -> str:
    return f"{SBOM_PREFIX}{component}{SBOM_SUFFIX}"


@dataclass(frozen=True, order=True)
class Package:
    """One package of an image (what the SBOM lists and ``audit`` matches)."""

    ecosystem: Ecosystem
    name: str
    version: str
    arch: str | None = None
    source: str | None = None  # deb: the source package (what Debian's advisories name)
    source_version: str | None = None
    distro: str | None = None  # deb: e.g. debian-12

    @property
    def purl(self) -> str:
        from packageurl import PackageURL

        if self.ecosystem == "deb":
            q = {k: v for k, v in (("arch", self.arch), ("distro", self.distro)) if v}
            return PackageURL(type="deb", namespace="debian", name=self.name, version=self.version,
                              qualifiers=q).to_string()  # fmt: skip
        return PackageURL(type="pypi", name=self.name, version=self.version).to_string()


@dataclass
class Inventory:
    """What an image holds, read from its layers."""

    os_id: str | None = None
    os_version: str | None = None
    packages: list[Package] = field(default_factory=list)

    @property
    def distro(self) -> str | None:
        return f"{self.os_id}-{self.os_version}" if self.os_id and self.os_version else None

    def to_json(self) -> str:
        return json.dumps({"format": INVENTORY_FORMAT, "os_id": self.os_id, "os_version": self.os_version,
                           "packages": [asdict(p) for p in self.packages]}, sort_keys=True)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Inventory | None:
        try:
            doc = json.loads(text)
            if doc.get("format") != INVENTORY_FORMAT:
                return None
            return cls(os_id=doc["os_id"], os_version=doc["os_version"],
                       packages=[Package(**p) for p in doc["packages"]])  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


# ---------------------------------------------------------------- reading the layers


def _norm(name: str) -> str:
    name = posixpath.normpath("/" + name).lstrip("/")
    return "" if name == "." else name


def _wanted(path: str) -> bool:
    return (path == DPKG_STATUS or path.startswith(DPKG_STATUS_D) or path in OS_RELEASE
            or (_DIST_INFO.fullmatch(path) is not None and not _DEBIAN_PYTHON.match(path)))  # fmt: skip


def _read_member(tar: tarfile.TarFile, m: tarfile.TarInfo, limit: int, where: str) -> bytes:
    if m.size > limit:
        raise InvalidInput(f"{where}: {m.name}: too large for the SBOM ({m.size} bytes, at most {limit})")
    f = tar.extractfile(m)
    assert f is not None
    return f.read()


def overlay_files(layers: Sequence[Path]) -> dict[str, bytes]:
    """The files the SBOM reads, as the merged root filesystem of ``layers`` (uncompressed layer
    tars, base first) holds them: later layers win, whiteouts (``.wh.NAME``) delete, opaque
    folders (``.wh..wh..opq``) hide what lower layers had there. Each layer is read once, as a
    stream. Symlinks, hard links and other non-regular members are not followed."""
    files: dict[str, bytes] = {}
    for layer in layers:
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        opaque: list[str] = []
        try:
            with layer.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
                for m in tar:
                    path = _norm(m.name)
                    folder, base = posixpath.split(path)
                    if base == ".wh..wh..opq":
                        opaque.append(folder)
                    elif base.startswith(".wh."):
                        deleted.append(posixpath.join(folder, base[4:]))
                    elif m.isreg() and _wanted(path):
                        limit = MAX_METADATA_BYTES if path.endswith("/METADATA") else MAX_STATUS_BYTES
                        added[path] = _read_member(tar, m, limit, str(layer))
                    elif path in files and not m.isdir():
                        deleted.append(path)  # a link now stands where a wanted file was
        except (tarfile.TarError, OSError) as exc:
            raise InvalidInput(f"{layer}: not a readable layer tar ({exc})") from None
        for gone in deleted:
            for p in [p for p in files if p == gone or p.startswith(gone + "/")]:
                del files[p]
        for folder in opaque:
            for p in [p for p in files if p.startswith(folder + "/")]:
                del files[p]
        files.update(added)
    return files


def _os_release(files: dict[str, bytes]) -> tuple[str | None, str | None]:
    text = files.get(OS_RELEASE[0]) or files.get(OS_RELEASE[1]) or b""
    values: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return values.get("ID") or None, values.get("VERSION_ID") or None


def _source_of(para: Any, name: str, version: str) -> tuple[str, str]:
    """(source name, source version) of a dpkg status paragraph: ``Source: NAME (VERSION)``, or
    ``Source: NAME`` with the binary's version, or the binary itself."""
    src = str(para.get("Source", "")).strip()
    if not src:
        return name, version
    m = re.fullmatch(r"(\S+)(?:\s+\((\S+)\))?", src)
    if not m:
        return name, version
    return m.group(1), m.group(2) or version


def debian_packages(status: Iterable[bytes], *, distro: str | None) -> list[Package]:
    """Installed packages of dpkg status texts (python-debian's deb822 parser)."""
    from debian.deb822 import Deb822

    out: list[Package] = []
    for text in status:
        for para in Deb822.iter_paragraphs(io.BytesIO(text), use_apt_pkg=False, encoding="utf-8"):
            name, version = str(para.get("Package", "")).strip(), str(para.get("Version", "")).strip()
            state = str(para.get("Status", "install ok installed")).split()
            if not name or not version or state[-1:] != ["installed"]:
                continue
            source, source_version = _source_of(para, name, version)
            out.append(Package(ecosystem="deb", name=name, version=version,
                               arch=str(para.get("Architecture", "")).strip() or None, source=source,
                               source_version=source_version, distro=distro))  # fmt: skip
    return out


def python_packages(metadata: Iterable[bytes]) -> list[Package]:
    """Python distributions of ``*.dist-info/METADATA`` texts (name normalized as PyPI does)."""
    from packaging.utils import canonicalize_name

    out: list[Package] = []
    for text in metadata:
        headers = BytesHeaderParser().parsebytes(text)
        name, version = (headers.get("Name") or "").strip(), (headers.get("Version") or "").strip()
        if name and version:
            out.append(Package(ecosystem="pypi", name=canonicalize_name(name), version=version))
    return out


def inventory(layers: Sequence[Path]) -> Inventory:
    """What the image made of ``layers`` holds."""
    files = overlay_files(layers)
    os_id, os_version = _os_release(files)
    inv = Inventory(os_id=os_id, os_version=os_version)
    status = [files[p] for p in sorted(files) if p == DPKG_STATUS or p.startswith(DPKG_STATUS_D)]
    meta = [files[p] for p in sorted(files) if p.endswith("/METADATA")]
    inv.packages = sorted(set(debian_packages(status, distro=inv.distro)) | set(python_packages(meta)))
    return inv


def cached_inventory(layers: Sequence[Path], *, image_id: str, cache: Path | None) -> Inventory:
    """:func:`inventory`, cached by image id (the image id names its layers exactly)."""
    if cache is None:
        return inventory(layers)
    path = cache / f"{image_id.split(':', 1)[-1]}.json"
    if path.is_file():
        got = Inventory.from_json(path.read_text(encoding="utf-8"))
        if got is not None:
            return got
    inv = inventory(layers)
    from ..files import atomic_write_text

    atomic_write_text(path, inv.to_json(), 0o644)
    return inv


# ---------------------------------------------------------------- the CycloneDX document


def render_sbom(inv: Inventory, *, app: str, version: str, component: str, ref: str, image_id: str,
                created: dt.datetime) -> bytes:  # fmt: skip
    """The CycloneDX 1.6 JSON bytes of one image (deterministic, see the module doc)."""
    import warnings

    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    root = Component(
        name=f"{app}/{component}", version=version, type=ComponentType.CONTAINER, bom_ref=f"{app}/{component}@{version}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=image_id.split(":", 1)[-1])],
        properties=[Property(name=f"{PROP}:image", value=ref)]
        + ([Property(name=f"{PROP}:os", value=inv.distro)] if inv.distro else []),
    )  # fmt: skip
    serial = uuid.uuid5(_NS, f"{app}\n{version}\n{component}\n{image_id}")
    bom = Bom(serial_number=serial, metadata=BomMetaData(timestamp=created.astimezone(dt.UTC), component=root))
    parts = []
    for p in inv.packages:
        props = []
        if p.ecosystem == "deb":
            props = [Property(name=f"{PROP}:deb:source", value=p.source or p.name),
                     Property(name=f"{PROP}:deb:source-version", value=p.source_version or p.version)]  # fmt: skip
        c = Component(name=p.name, version=p.version, type=ComponentType.LIBRARY, purl=_purl(p), bom_ref=p.purl,
                      properties=props)  # fmt: skip
        bom.components.add(c)
        parts.append(c)
    bom.register_dependency(root, parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = JsonV1Dot6(bom).output_as_string(indent=2)
    return (json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _purl(p: Package) -> Any:
    from packageurl import PackageURL

    return PackageURL.from_string(p.purl)


# ---------------------------------------------------------------- reading an SBOM back


def sboms_in(folder: Path, manifest: Any) -> dict[str, bytes]:
    """component -> SBOM bytes of an extracted, verified bundle folder (each read back and
    checked against the manifest's digest: a changed file is refused)."""
    import hashlib

    from ..errors import VerificationFailed
    from ..outside import read_inside

    out: dict[str, bytes] = {}
    for f in manifest.files:
        m = SBOM_MEMBER.fullmatch(f.path)
        if m is None:
            continue
        data = read_inside(folder, f.path, limit=MAX_SBOM_BYTES)
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise VerificationFailed(f"{folder}: {f.path}: changed since it was verified")
        out[m.group(1)] = data
    return out


def packages_of(data: bytes, *, where: str) -> list[Package]:
    """The packages an SBOM written by :func:`render_sbom` lists (bounded; bad input is InvalidInput)."""
    from packageurl import PackageURL

    from ..outside import OutsideJSONError, loads_json

    if len(data) > MAX_SBOM_BYTES:
        raise InvalidInput(f"{where}: larger than {MAX_SBOM_BYTES} bytes")
    try:
        doc = loads_json(data)
    except OutsideJSONError as exc:
        raise InvalidInput(f"{where}: not a CycloneDX JSON document ({exc})") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InvalidInput(f"{where}: not a CycloneDX JSON document")
    out: list[Package] = []
    for i, c in enumerate(doc.get("components") or []):
        if not isinstance(c, dict) or not isinstance(c.get("purl"), str):
            continue
        try:
            purl = PackageURL.from_string(c["purl"])
        except ValueError as exc:
            raise InvalidInput(f"{where}: components[{i}].purl: {exc}") from None
        props = {p.get("name"): p.get("value") for p in c.get("properties") or [] if isinstance(p, dict)}
        q = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        if purl.type == "deb" and purl.version:
            out.append(Package(ecosystem="deb", name=purl.name, version=purl.version, arch=q.get("arch"),
                               source=str(props.get(f"{PROP}:deb:source") or purl.name),
                               source_version=str(props.get(f"{PROP}:deb:source-version") or purl.version),
                               distro=q.get("distro")))  # fmt: skip
        elif purl.type == "pypi" and purl.version:
            out.append(Package(ecosystem="pypi", name=purl.name, version=purl.version))
    return out


__all__ = [
    "Inventory",
    "Package",
    "SBOM_MEMBER",
    "cached_inventory",
    "debian_packages",
    "inventory",
    "overlay_files",
    "packages_of",
    "python_packages",
    "render_sbom",
    "sbom_member",
]
