"""This machine's apt sources: which Debian mirror the base image and provision bundles come
from (``$SPBE_SHARE_DEBIAN_MIRROR``, else the first enabled Debian ``main`` archive of
``/etc/apt/sources.list`` and ``sources.list.d/``, one-line and deb822 formats)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ..errors import EnvironmentProblem

ENV_MIRROR = "SPBE_SHARE_DEBIAN_MIRROR"


APT_SOURCES_LIST = Path("/etc/apt/sources.list")


APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")


@dataclass
class AptSource:
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    enabled: bool = True
    options: dict[str, str] = field(default_factory=dict)


def deb822_stanzas(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """The stanzas of a deb822 text (apt's ``.sources``, ``Packages``, a dpkg status, ``apt-cache
    show``), in order, as python-debian reads them: keys keep their case, a value continued on
    indented lines keeps them (``"bookworm\n bookworm-updates"``), ``#`` comments are dropped."""
    from debian.deb822 import Deb822

    for paragraph in Deb822.iter_paragraphs(lines, use_apt_pkg=False):
        yield dict(paragraph)


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse a deb822 ``.sources`` file (stanzas separated by blank lines; ``#`` comments)."""
    out: list[AptSource] = []
    for stanza in deb822_stanzas(text.splitlines()):
        fields = {k.lower(): v for k, v in stanza.items()}
        out.append(
            AptSource(
                types=fields.get("types", "").split(),
                uris=fields.get("uris", "").split(),
                suites=fields.get("suites", "").split(),
                components=fields.get("components", "").split(),
                enabled=fields.get("enabled", "yes").strip().lower() not in ("no", "false", "0"),
            )
        )
    return out


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse the one-line format: ``deb [opt=val ...] URI SUITE COMPONENT...``."""
    out: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options: dict[str, str] = {}
        if "[" in line and "]" in line and line.index("[") < line.index("]"):
            start, end = line.index("["), line.index("]")
            for opt in line[start + 1 : end].split():
                k, _, v = opt.partition("=")
                options[k] = v
            line = line[:start] + " " + line[end + 1 :]
        parts = line.split()
        if len(parts) < 3:
            continue
        out.append(
            AptSource(
                types=[parts[0]], uris=[parts[1]], suites=[parts[2]], components=parts[3:], options=options
            )
        )
    return out


def _is_debian_main(src: AptSource) -> bool:
    if not src.enabled or "deb" not in src.types or "main" not in src.components:
        return False
    # the main archive: a plain suite name (not -security, -updates, -backports)
    return any("-" not in s and "/" not in s for s in src.suites)


def pick_debian_mirror(sources: Iterable[AptSource]) -> str | None:
    """The URI of the first enabled Debian ``main`` archive entry (not security/updates)."""
    for src in sources:
        if not _is_debian_main(src):
            continue
        for uri in src.uris:
            parsed = urlparse(uri)
            if parsed.scheme not in ("http", "https", "file"):
                continue
            if "security" in uri:
                continue
            return uri.rstrip("/")
    return None


def read_apt_sources(
    sources_list: Path = APT_SOURCES_LIST, sources_dir: Path = APT_SOURCES_DIR
) -> list[AptSource]:
    """Every source of this machine, in apt's order (sources.list, then sources.list.d/ sorted)."""
    found: list[AptSource] = []
    if sources_list.is_file():
        found += parse_one_line_sources(sources_list.read_text(encoding="utf-8", errors="replace"))
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            if path.suffix == ".sources":
                found += parse_deb822_sources(text)
            elif path.suffix == ".list":
                found += parse_one_line_sources(text)
    return found


def host_debian_mirror() -> str:
    """The Debian mirror to debootstrap from: ``$SPBE_SHARE_DEBIAN_MIRROR`` or this machine's apt sources."""
    if os.environ.get(ENV_MIRROR):
        return os.environ[ENV_MIRROR].rstrip("/")
    mirror = pick_debian_mirror(read_apt_sources())
    if mirror is None:
        raise EnvironmentProblem(
            f"no Debian 'main' archive found in {APT_SOURCES_LIST} or {APT_SOURCES_DIR}/; "
            f"set {ENV_MIRROR}=<mirror URI> or pass --mirror"
        )
    return mirror


__all__ = [
    "APT_SOURCES_DIR",
    "APT_SOURCES_LIST",
    "AptSource",
    "ENV_MIRROR",
    "deb822_stanzas",
    "host_debian_mirror",
    "parse_deb822_sources",
    "parse_one_line_sources",
    "pick_debian_mirror",
    "read_apt_sources",
]
