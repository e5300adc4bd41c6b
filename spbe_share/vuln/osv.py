"""OSV records (https://ossf.github.io/osv-schema/): the part ``audit`` uses, and whether a
package version is affected.

Versions are compared by the library of their scheme, never by hand: Debian versions (epochs,
upstream versions, revisions, ``~``) by python-debian's ``debian_support.Version``, PyPI
versions by PEP 440 (``packaging.version.Version``). A range is evaluated as the OSV schema's
``IsAffected`` does: its events sorted by version, ``introduced`` opens, ``fixed`` closes (the
fixed version is not affected), ``last_affected`` closes after that version; ``introduced: "0"``
is the lowest version. ``versions`` lists affected versions one by one. A range whose versions
the scheme cannot parse is skipped (it affects nothing we can show), and so are ``GIT`` ranges.

Severity: the CVSS v4 or v3 vector's base score (the ``cvss`` library), else the record's
``database_specific.severity`` (GHSA: CRITICAL, HIGH, MODERATE, LOW), else the affected
package's ``ecosystem_specific`` severity or urgency (Debian: low, medium, high, unimportant),
else ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SEVERITIES = ("critical", "high", "medium", "low", "unknown")  # worst first


def severity_rank(severity: str) -> int:
    """0 for critical ... 4 for unknown (smaller is worse)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Event(_Loose):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class Range(_Loose):
    type: str
    events: list[Event] = Field(default_factory=list, max_length=10000)


class OsvPackage(_Loose):
    ecosystem: str = Field(max_length=200)
    name: str = Field(max_length=500)
    purl: str | None = None


class Affected(_Loose):
    package: OsvPackage | None = None
    ranges: list[Range] = Field(default_factory=list, max_length=1000)
    versions: list[str] = Field(default_factory=list, max_length=200000)
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class Severity(_Loose):
    type: str
    score: str = Field(max_length=500)


class OsvRecord(_Loose):
    id: str = Field(min_length=1, max_length=200)
    modified: str | None = Field(default=None, max_length=64)
    published: str | None = Field(default=None, max_length=64)
    withdrawn: str | None = Field(default=None, max_length=64)
    aliases: list[str] = Field(default_factory=list, max_length=1000)
    summary: str | None = Field(default=None, max_length=100000)
    details: str | None = None
    severity: list[Severity] = Field(default_factory=list, max_length=100)
    affected: list[Affected] = Field(default_factory=list, max_length=10000)
    database_specific: dict[str, Any] | None = None


# ---------------------------------------------------------------- versions per ecosystem


def debian_version(text: str) -> Any:
    from debian.debian_support import Version

    return Version(text)


def pep440_version(text: str) -> Any:
    from packaging.version import Version

    return Version(text)


def version_parser(ecosystem: str) -> Callable[[str], Any] | None:
    """The version parser of an OSV ecosystem ("Debian:12", "PyPI"); None: not one we match."""
    base = ecosystem.split(":", 1)[0]
    return {"Debian": debian_version, "PyPI": pep440_version}.get(base)


def _parse(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except (ValueError, TypeError):  # packaging's InvalidVersion is a ValueError
        return None


def range_affects(events: list[Event], version: Any, parse: Callable[[str], Any]) -> tuple[bool, list[str]] | None:
    """(affected?, fixed versions above ``version``) for one ECOSYSTEM range; None when the
    scheme cannot read one of its versions."""
    keyed: list[tuple[int, Any, str, str]] = []  # (0 = "introduced 0" first, version, kind, text)
    for e in events:
        for kind in ("introduced", "fixed", "last_affected"):
            text = getattr(e, kind)
            if text is None:
                continue
            if kind == "introduced" and text == "0":
                keyed.append((0, None, kind, text))
                continue
            v = _parse(parse, text)
            if v is None:
                return None
            keyed.append((1, v, kind, text))
    zero = [k for k in keyed if k[0] == 0]
    rest = sorted((k for k in keyed if k[0] == 1), key=lambda k: k[1])
    affected = False
    for _z, v, kind, _text in [*zero, *rest]:
        if kind == "introduced" and (v is None or version >= v):
            affected = True
        elif kind == "fixed" and version >= v:
            affected = False
        elif kind == "last_affected" and version > v:
            affected = False
    fixed = [text for _z, v, kind, text in rest if kind == "fixed" and v > version]
    return affected, fixed


def affects(affected: Affected, version_text: str, parse: Callable[[str], Any]) -> tuple[bool, list[str]]:
    """(affected?, fixed versions to upgrade to) of one ``affected[]`` entry for a version."""
    version = _parse(parse, version_text)
    if version is None:
        return False, []
    hit = version_text in affected.versions
    fixed: list[str] = []
    for r in affected.ranges:
        if r.type not in ("ECOSYSTEM", "SEMVER"):
            continue
        got = range_affects(r.events, version, parse)
        if got is None:
            continue
        in_range, fixes = got
        if in_range:
            hit = True
            fixed += fixes[:1]  # the first fix above the version, in this range
    return hit, sorted(set(fixed), key=lambda t: parse(t))


# ---------------------------------------------------------------- severity


_GHSA = {"CRITICAL": "critical", "HIGH": "high", "MODERATE": "medium", "MEDIUM": "medium", "LOW": "low"}
_DEBIAN = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "unimportant": "low"}


def _cvss(sev: Severity) -> str | None:
    try:
        if sev.type == "CVSS_V4" and sev.score.startswith("CVSS:4"):
            from cvss import CVSS4

            return str(CVSS4(sev.score).severity).lower()
        if sev.type == "CVSS_V3" and sev.score.startswith("CVSS:3"):
            from cvss import CVSS3

            return str(CVSS3(sev.score).severities()[0]).lower()
    except Exception:  # noqa: BLE001 - the cvss library's errors: a bad vector rates nothing
        return None
    return None


def record_severity(rec: OsvRecord, affected: Affected | None = None) -> str:
    """The record's severity, one of :data:`SEVERITIES` (see the module doc)."""
    for kind in ("CVSS_V4", "CVSS_V3"):
        for sev in rec.severity:
            if sev.type == kind:
                got = _cvss(sev)
                if got in ("critical", "high", "medium", "low"):
                    return got
                if got == "none":
                    return "low"
    text = str((rec.database_specific or {}).get("severity") or "").upper()
    if text in _GHSA:
        return _GHSA[text]
    spec = (affected.ecosystem_specific if affected is not None else None) or {}
    for key in ("severity", "urgency"):
        word = str(spec.get(key) or "").lower().rstrip("*").strip()
        if word in _DEBIAN:
            return _DEBIAN[word]
    return "unknown"


def ecosystem_matches(record_ecosystem: str, ecosystem: str, distro: str | None) -> bool:
    """Whether an OSV ``package.ecosystem`` applies to a package of ``ecosystem`` ("deb" or "pypi")
    on ``distro`` (e.g. "debian-12": "Debian:12" and "Debian" match, "Debian:11" does not)."""
    if ecosystem == "pypi":
        return record_ecosystem == "PyPI"
    base, _sep, release = record_ecosystem.partition(":")
    if base != "Debian":
        return False
    if not release:
        return True
    m = re.fullmatch(r"debian-(\d+)", distro or "")
    return m is not None and m.group(1) == release.split(".")[0]


__all__ = [
    "SEVERITIES",
    "Affected",
    "OsvRecord",
    "affects",
    "ecosystem_matches",
    "range_affects",
    "record_severity",
    "severity_rank",
    "version_parser",
]
