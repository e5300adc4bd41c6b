"""``spbe-share audit``: which Pemda run a release with a known flaw.

What runs where comes from the targets (the fleet read of ``fleet status``: each target's
release records, with the digest of the bundle each release was installed from). The SBOM of a
release comes from THAT bundle, found by its digest on this machine, never rebuilt:

1. the workspace's verified bundle cache (``cache/bundles/<digest>/``: every install, upgrade
   and plan extracts its bundle there), its manifest's signature checked again against the
   trusted keys and each SBOM member against the manifest;
2. else a bundle file whose signed manifest has that digest: ``--bundle FILE`` or the
   workspace's ``bundles/`` folder, verified (and so cached) before it is read.

Why not the copy on the target: it would be one more SSH round trip per target, and it is the
same bytes that the digest names; a central team that did not install a release gives its
bundle with ``--bundle`` (the donor's published file) instead. An install whose bundle is not
found is reported as not audited, never as clean.

Each release's packages are matched against the imported OSV records (:mod:`.db`, :mod:`.osv`):
Debian packages by their source package and version on their Debian release, Python
distributions by their PyPI name. The donor's advisories in the catalog (:class:`~spbe_share.catalog.models.Advisory`)
about the app's release are findings too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..records.state import DIGEST
from .db import ImportRecord, VulnDB, package_key
from .osv import (
    SEVERITIES,
    affects,
    ecosystem_matches,
    record_severity,
    severity_rank,
    version_parser,
)

if TYPE_CHECKING:
    from ..bundle.sbom import Package
    from ..catalog.models import Entry
    from ..records.state import ReleaseRecord
    from ..targets.inventory import Target
    from ..workspace import Workspace

class TargetRead(Protocol):
    """What the audit needs of one target's read (the fleet's reads have it)."""

    @property
    def target(self) -> Target: ...
    @property
    def reachable(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def records(self) -> Sequence[ReleaseRecord]: ...


Worst = Literal["critical", "high", "medium", "low", "unknown", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Finding(_Model):
    id: str
    aliases: list[str] = Field(default_factory=list)
    severity: Literal["critical", "high", "medium", "low", "unknown"]
    source: Literal["osv", "advisory"] = Field(description="an imported OSV record, or the donor's advisory")
    ecosystem: str = Field(description="Debian:12, PyPI, or app (the donor's advisory)")
    package: str = Field(description="Debian: the source package; PyPI: the distribution; app: the app")
    version: str = Field(description="the installed version")
    binaries: list[str] = Field(default_factory=list, description="Debian: the installed binary packages of it")
    components: list[str] = Field(default_factory=list, description="the images that hold it")
    fixed: list[str] = Field(default_factory=list, description="versions that fix it (empty: no fix known)")
    summary: str | None = None


class InstallAudit(_Model):
    target: str
    pemda: str
    kode_wilayah: str
    app: str
    version: str
    bundle_digest: str | None
    sbom: Literal["found", "missing", "none"] = Field(
        description="found; missing: the release's bundle is not on this machine (--bundle FILE); none: its"
        " bundle has no SBOM (built before SBOMs)")
    sbom_from: str | None = None
    worst: Worst | None = Field(description="the worst finding; 'none': no finding; null: packages not audited")
    findings: list[Finding]


class Unaudited(_Model):
    target: str
    pemda: str
    error: str


class AuditReport(_Model):
    schema_version: Literal[1] = 1
    generated_at: dt.datetime
    vulndb: list[ImportRecord] = Field(description="the imports the packages were matched against")
    installs: list[InstallAudit]
    unreachable: list[Unaudited] = Field(default_factory=list)

    def failing(self, fail_on: str) -> tuple[list[InstallAudit], list[str]]:
        """(installs with a finding at or above ``fail_on``, what could not be audited)."""
        limit = severity_rank(fail_on)
        bad = [i for i in self.installs if any(severity_rank(f.severity) <= limit for f in i.findings)]
        unaudited = [f"{i.target} ({i.app} {i.version}: SBOM {i.sbom})" for i in self.installs if i.worst is None]
        unaudited += [f"{u.target} (unreachable)" for u in self.unreachable]
        if not self.vulndb and self.installs:
            unaudited.append("the packages of every install (no vulnerability database: spbe-share vulndb import)")
        return bad, unaudited


# ---------------------------------------------------------------- the SBOM of a release, by its bundle digest


def _manifest_digest_of(path: Path) -> str | None:
    """The digest of the manifest bytes of the bundle file ``path`` (its first member), unverified."""
    from ..bundle.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES

    try:
        with path.open("rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            first = next(iter(tar), None)
            if first is None or first.name != MANIFEST_NAME or not first.isreg() or first.size > MAX_MANIFEST_BYTES:
                return None
            src = tar.extractfile(first)
            return "sha256:" + hashlib.sha256(src.read()).hexdigest() if src is not None else None
    except (OSError, tarfile.TarError):
        return None


class SbomFinder:
    """SBOMs of releases by the digest of their bundle (see the module doc)."""

    def __init__(self, ws: Workspace, bundles: Sequence[Path] = ()) -> None:
        self.ws = ws
        self.bundles = list(bundles)
        self._files: dict[str, Path] | None = None
        self._found: dict[str, tuple[str, dict[str, bytes]] | None] = {}

    def _bundle_files(self) -> dict[str, Path]:
        if self._files is None:
            paths = [*self.bundles, *sorted(self.ws.bundles_dir.rglob("*.spbe"))] if self.ws.bundles_dir.is_dir() \
                else list(self.bundles)  # fmt: skip
            self._files = {}
            for p in paths:
                d = _manifest_digest_of(p)
                if d is not None:
                    self._files.setdefault(d, p)
        return self._files

    def _cached(self, digest: str) -> dict[str, bytes] | None:
        from ..bundle.keys import trusted_keys
        from ..bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME
        from ..bundle.sbom import sboms_in
        from ..bundle.verify import check_signature
        from ..errors import SpbeError

        if re.fullmatch(DIGEST, digest) is None:  # read from a target: never a path of its own
            return None
        folder = self.ws.cache_dir / "bundles" / digest.split(":", 1)[1]
        try:
            raw = (folder / MANIFEST_NAME).read_bytes()
            sig = (folder / SIGNATURE_NAME).read_bytes()
        except OSError:
            return None
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            return None
        try:
            manifest = check_signature(raw, sig, trusted_keys=trusted_keys(self.ws), display=f"{folder}: ")
            return sboms_in(folder, manifest)
        except SpbeError:
            return None

    def sboms(self, digest: str | None) -> tuple[str, dict[str, bytes]] | None:
        """(where it was found, component -> SBOM bytes) of the bundle with ``digest``; None: not here."""
        if digest is None:
            return None
        if digest in self._found:
            return self._found[digest]
        got: tuple[str, dict[str, bytes]] | None = None
        cached = self._cached(digest)
        if cached is not None:
            got = ("workspace cache", cached)
        else:
            path = self._bundle_files().get(digest)
            if path is not None:
                from ..ops.bundles import verify_and_extract

                verify_and_extract(self.ws, path)  # verified, then read from the cache it fills
                again = self._cached(digest)
                if again is not None:
                    got = (str(path), again)
        self._found[digest] = got
        return got


# ---------------------------------------------------------------- matching


def match_packages(db: VulnDB, sboms: Mapping[str, list[Package]]) -> list[Finding]:
    """Findings of the packages of each component (component -> packages) against the records."""
    found: dict[tuple[str, str, str], Finding] = {}
    for component in sorted(sboms):
        for p in sboms[component]:
            if p.ecosystem == "deb":
                base, name, version = "Debian", p.source or p.name, p.source_version or p.version
            else:
                base, name, version = "PyPI", p.name, p.version
            for eco, rec in db.candidates(base, name):
                if not ecosystem_matches(eco, p.ecosystem, p.distro):
                    continue
                parse = version_parser(eco)
                if parse is None:
                    continue
                for aff in rec.affected:
                    if aff.package is None or aff.package.ecosystem != eco:
                        continue
                    if package_key(eco, aff.package.name) != package_key(eco, name):
                        continue
                    hit, fixed = affects(aff, version, parse)
                    if not hit:
                        continue
                    key = (rec.id, eco, name)
                    f = found.get(key)
                    if f is None:
                        f = found[key] = Finding(
                            id=rec.id, aliases=sorted(rec.aliases), severity=record_severity(rec, aff),
                            source="osv", ecosystem=eco, package=name, version=version, fixed=fixed,
                            summary=(rec.summary or None),
                        )  # fmt: skip
                    else:
                        f.fixed = sorted(set(f.fixed) | set(fixed), key=parse)
                    if p.ecosystem == "deb" and p.name not in f.binaries:
                        f.binaries = sorted([*f.binaries, p.name])
                    if component not in f.components:
                        f.components = sorted([*f.components, component])
    return sort_findings(found.values())


def advisory_findings(entry: Entry | None, version: str) -> list[Finding]:
    """The donor's advisories (in the catalog) about ``version`` of the app."""
    if entry is None:
        return []
    out = []
    for _r, a in entry.advisories():
        if a.affects(version):
            out.append(Finding(id=a.id, severity=a.severity.value, source="advisory", ecosystem="app",
                               package=entry.id, version=version, fixed=[a.fixed_in] if a.fixed_in else [],
                               summary=a.description))  # fmt: skip
    return out


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (severity_rank(f.severity), f.package, f.id))


def worst_of(findings: Sequence[Finding], *, audited: bool) -> Worst | None:
    """The worst severity; 'none' when audited and clean; None when not audited and no finding."""
    if findings:
        return min((f.severity for f in findings), key=severity_rank)
    return "none" if audited else None


def audit_reads(ws: Workspace, reads: Mapping[str, TargetRead], *, entries: Mapping[str, Entry], app: str | None,
                db: VulnDB | None, finder: SbomFinder, now: dt.datetime) -> AuditReport:  # fmt: skip
    """The audit of what ``reads`` say runs where (reads local files only)."""
    from ..bundle.sbom import packages_of

    installs: list[InstallAudit] = []
    unreachable: list[Unaudited] = []
    for name in sorted(reads):
        read = reads[name]
        t = read.target
        if not read.reachable:
            unreachable.append(Unaudited(target=t.name, pemda=t.pemda, error=(read.error or "no answer")[:300]))
            continue
        for rec in read.records:
            if app is not None and rec.app != app:
                continue
            findings = advisory_findings(entries.get(rec.app), rec.version)
            got = finder.sboms(rec.bundle_digest)
            state: Literal["found", "missing", "none"] = "missing" if got is None else ("found" if got[1] else "none")
            audited = False
            if got is not None and got[1] and db is not None:
                packages = {c: packages_of(data, where=f"{got[0]}: sbom/{c}.cdx.json") for c, data in got[1].items()}
                findings += match_packages(db, packages)
                audited = True
            findings = sort_findings(findings)
            installs.append(InstallAudit(
                target=t.name, pemda=t.pemda, kode_wilayah=t.kode_wilayah, app=rec.app, version=rec.version,
                bundle_digest=rec.bundle_digest, sbom=state, sbom_from=got[0] if got else None,
                worst=worst_of(findings, audited=audited), findings=findings,
            ))  # fmt: skip
    return AuditReport(generated_at=now, vulndb=db.imports if db is not None else [], installs=installs,
                       unreachable=unreachable)  # fmt: skip


def worst_findings(ws: Workspace, reads: Mapping[str, TargetRead], entries: Mapping[str, Entry]) -> dict[tuple[str, str], Worst | None]:
    """(target, app) -> the worst known finding, for ``fleet status`` (the SBOMs found here only)."""
    from .db import open_db

    db = open_db(ws)
    try:
        report = audit_reads(ws, reads, entries=entries, app=None, db=db, finder=SbomFinder(ws),
                             now=dt.datetime.now(dt.UTC))  # fmt: skip
    finally:
        if db is not None:
            db.close()
    return {(i.target, i.app): i.worst for i in report.installs}


__all__ = [
    "SEVERITIES",
    "AuditReport",
    "Finding",
    "InstallAudit",
    "SbomFinder",
    "advisory_findings",
    "audit_reads",
    "match_packages",
    "worst_findings",
    "worst_of",
]
