"""Offline vulnerability matching (issue 22, item 3): ``vulndb import`` of OSV exports (zip or
JSON, real record format: tests/fixtures/osv), version ranges by python-debian and PEP 440 with
their edge cases, severity, and ``audit`` of what targets run, by the SBOM of the bundle each
release was installed from (a crafted signed bundle, no Docker)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from test_bundle_sbom import layer, sbom_bundle

from spbe_share.bundle import keys as k
from spbe_share.bundle.sbom import Package
from spbe_share.catalog.models import Entry
from spbe_share.errors import InvalidInput, VerificationFailed
from spbe_share.fleet.reads import TargetRead
from spbe_share.records.state import ReleaseRecord
from spbe_share.targets.inventory import Target
from spbe_share.vuln.audit import SbomFinder, audit_reads, match_packages
from spbe_share.vuln.db import import_file, open_db, read_imports
from spbe_share.vuln.osv import (
    Affected,
    Event,
    OsvRecord,
    affects,
    pep440_version,
    range_affects,
    record_severity,
)
from spbe_share.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "osv"
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def export_zip(out: Path, folder: str) -> Path:
    """An ecosystem's ``all.zip``: one JSON file per record."""
    with zipfile.ZipFile(out, "w") as z:
        for p in sorted((FIXTURES / folder).glob("*.json")):
            z.write(p, p.name)
    return out


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(home=tmp_path / "home", root=tmp_path)
    w.ensure()
    import_file(w, export_zip(tmp_path / "debian.zip", "debian"), now=NOW)
    import_file(w, export_zip(tmp_path / "pypi.zip", "pypi"), now=NOW)
    return w


def deb(name: str, version: str, *, source: str | None = None, source_version: str | None = None,
        distro: str = "debian-12") -> Package:  # fmt: skip
    return Package(ecosystem="deb", name=name, version=version, arch="amd64", source=source or name,
                   source_version=source_version or version, distro=distro)  # fmt: skip


def py(name: str, version: str) -> Package:
    return Package(ecosystem="pypi", name=name, version=version)


def ids(findings: list[Any]) -> dict[str, Any]:
    return {f.id: f for f in findings}


def test_import_records_date_digest_and_counts(ws: Workspace, tmp_path: Path) -> None:
    first, second = read_imports(ws)
    assert (first.file, first.records, first.withdrawn) == ("debian.zip", 4, 1)
    assert first.ecosystems == ["Debian:11", "Debian:12"] and second.ecosystems == ["PyPI"]
    assert first.sha256 == hashlib.sha256((tmp_path / "debian.zip").read_bytes()).hexdigest()
    assert first.newest_modified == "2026-10-01T08:00:00Z" and first.imported_at == NOW


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        # Debian revisions and '~': 3.0.11-1~deb12u2 < 3.0.15-1~deb12u1 (the fix); the binary's source is matched
        (deb("libssl3", "3.0.11-1~deb12u2", source="openssl"), {"TEST-DSA-0001-1": ["3.0.15-1~deb12u1"]}),
        (deb("libssl3", "3.0.15-1~deb12u1", source="openssl"), {}),  # the fixed version is not affected
        (deb("libssl3", "3.0.16-1~deb12u1", source="openssl"), {}),
        # another Debian release's range does not apply (Debian:11 fixed 1.1.1w: 3.0.11 > it would be clean anyway)
        (deb("libssl3", "1.1.1w-0+deb11u1", source="openssl", distro="debian-11"), {"TEST-DSA-0001-1": ["1.1.1w-0+deb11u2"]}),
        # epochs: 1:1.2.13 is newer than 1.3-1 (epoch 0): the old flaw does not apply; the new one does
        (deb("zlib1g", "1:1.2.13.dfsg-1+b1", source="zlib", source_version="1:1.2.13.dfsg-1"),
         {"TEST-DEBIAN-CVE-0002": ["1:1.2.13.dfsg-1+deb12u1"]}),
        (deb("zlib1g", "1:1.2.13.dfsg-1+deb12u1", source="zlib"), {}),
        # last_affected: up to and including it; no fixed version known
        (deb("libc6", "2.36-9+deb12u4", source="glibc"), {"TEST-DEBIAN-CVE-0004": []}),
        (deb("libc6", "2.36-9+deb12u5", source="glibc"), {}),
        (deb("libc6", "2.36-8", source="glibc"), {}),  # before introduced (the withdrawn record matches nothing)
        # PEP 440: 3.1.9 < 3.1.10 (text order would say otherwise)
        (py("werkzeug", "3.1.9"), {"TEST-GHSA-0001": ["3.1.10"]}),
        (py("werkzeug", "3.1.10"), {}),
        (py("flask", "3.1.0rc2"), {"TEST-PYSEC-0002": ["3.1.0"]}),  # a pre-release is before its release
        (py("flask", "3.1.0"), {}),
        (py("zope-interface", "7.0"), {"TEST-PYSEC-0003": []}),  # 'Zope.Interface', versions list only
        (py("zope-interface", "7.0.1"), {}),
    ],
)
def test_matching(ws: Workspace, package: Package, expected: dict[str, list[str]]) -> None:
    db = open_db(ws)
    assert db is not None
    got = ids(match_packages(db, {"web": [package]}))
    db.close()
    assert {i: f.fixed for i, f in got.items()} == expected


def test_severity_sources(ws: Workspace) -> None:
    db = open_db(ws)
    assert db is not None
    found = ids(match_packages(db, {"web": [deb("libssl3", "3.0.11-1~deb12u2", source="openssl"),
                                            deb("openssl", "3.0.11-1~deb12u2"), py("werkzeug", "3.1.9"),
                                            deb("zlib1g", "1:1.2.13.dfsg-1", source="zlib"), py("zope-interface", "7.0"),
                                            deb("libc6", "2.36-9+deb12u4", source="glibc")],
                                    "db": [deb("libssl3", "3.0.11-1~deb12u2", source="openssl")]}))  # fmt: skip
    db.close()
    assert found["TEST-DSA-0001-1"].severity == "critical"  # CVSS v3.1 9.8
    assert found["TEST-DSA-0001-1"].binaries == ["libssl3", "openssl"]  # one finding per source package
    assert found["TEST-DSA-0001-1"].components == ["db", "web"]
    assert found["TEST-GHSA-0001"].severity == "medium"  # GHSA's MODERATE
    assert found["TEST-DEBIAN-CVE-0002"].severity == "medium"  # Debian urgency
    assert found["TEST-DEBIAN-CVE-0004"].severity == "low"  # 'unimportant'
    assert found["TEST-PYSEC-0003"].severity == "critical"  # CVSS v4 9.3
    assert record_severity(OsvRecord(id="X")) == "unknown"


def test_range_algorithm_is_the_osv_schemas() -> None:
    v = pep440_version
    events = [Event(introduced="1.0"), Event(fixed="1.2"), Event(introduced="2.0"), Event(fixed="2.1")]
    assert range_affects(events, v("1.1"), v) == (True, ["1.2", "2.1"])
    assert range_affects(events, v("1.5"), v) == (False, ["2.1"])
    assert range_affects(events, v("2.0.1"), v) == (True, ["2.1"])
    assert range_affects([Event(introduced="0"), Event(fixed="not a version!")], v("1.0"), v) is None  # skipped
    aff = Affected(ranges=[{"type": "GIT", "events": [{"introduced": "0"}]}])  # type: ignore[list-item]
    assert affects(aff, "1.0", v) == (False, [])


def test_a_bad_export_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    before = read_imports(ws)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.write(FIXTURES / "pypi" / "TEST-PYSEC-0001.json", "a.json")
        z.writestr("b.json", json.dumps({"id": "TEST-X", "affected": [{"package": {"ecosystem": "PyPI"}}]}))
    with pytest.raises(InvalidInput, match=r"bad\.zip: b\.json: affected\.0\.package\.name: Field required"):
        import_file(ws, bad)
    with pytest.raises(InvalidInput, match="not an OSV record"):
        (tmp_path / "deep.json").write_text("[" * 100000)
        import_file(ws, tmp_path / "deep.json")
    with pytest.raises(VerificationFailed, match="not the expected"):
        import_file(ws, FIXTURES / "pypi" / "TEST-PYSEC-0001.json", expect_sha256="0" * 64)
    assert read_imports(ws) == before
    # one JSON file (a record) is an export too
    done = import_file(ws, FIXTURES / "pypi" / "TEST-PYSEC-0001.json",
                       expect_sha256=hashlib.sha256((FIXTURES / "pypi" / "TEST-PYSEC-0001.json").read_bytes()).hexdigest())  # fmt: skip
    assert done.records == 1


def test_a_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spbe_share.vuln import db as vdb

    w = Workspace(home=tmp_path / "home", root=tmp_path)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.json", b" " * (2 << 20))
    monkeypatch.setattr(vdb, "MAX_RECORD_BYTES", 1 << 20)
    with pytest.raises(InvalidInput, match="'big.json': 2097152 bytes, at most 1048576"):
        import_file(w, bomb)
    assert read_imports(w) == []


# ---------------------------------------------------------------- audit of what targets run


def _target(name: str, pemda: str, kode: str) -> Target:
    return Target(name=name, host="127.0.0.1", user="root", pemda=pemda, kode_wilayah=kode, bind_address="127.0.0.1")


def _record(t: Target, app: str, version: str, digest: str) -> ReleaseRecord:
    return ReleaseRecord(app=app, version=version, target=t.name, pemda=t.pemda, kode_wilayah=t.kode_wilayah,
                         bundle_digest=digest, signer="0" * 16, who="t", when="2026-11-01T00:00:00Z")  # fmt: skip


def _entry() -> Entry:
    from catalog_fixtures import entry_data

    data = entry_data("demo")
    data["releases"] = [{"version": "1.0.0", "date": "2026-01-01"}, {
        "version": "1.1.0", "date": "2026-06-01", "advisories": [{
            "id": "SPBE-2026-0001", "severity": "high", "affected": "<1.1.0", "fixed_in": "1.1.0",
            "description": "Lampiran dapat diunduh tanpa masuk."}]}]  # fmt: skip
    return Entry.model_validate(data)


def test_audit_names_the_installs_of_the_flawed_release(ws: Workspace, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from spbe_share.bundle.verify import verify_bundle
    from spbe_share.ops.bundles import manifest_digest

    k.generate_key(ws, name="donor")
    key = k.load_private_key(ws, "donor")
    status = b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: %s\n"
    os_release = layer(tmp_path / "os.tar", {"etc/os-release": b"ID=debian\nVERSION_ID=12\n"})
    old = layer(tmp_path / "old.tar", {"var/lib/dpkg/status": status % b"3.0.11-1~deb12u2"})
    new = layer(tmp_path / "new.tar", {"var/lib/dpkg/status": status % b"3.0.15-1~deb12u1"})
    b_old, _ = sbom_bundle(tmp_path, ws, key, [os_release, old], version="1.0.0")
    b_new, _ = sbom_bundle(tmp_path, ws, key, [os_release, new], version="1.1.0")
    trusted = {k.key_id_of(key.public_key()): key.public_key()}
    d_old, d_new = (manifest_digest(verify_bundle(b, trusted_keys=trusted)) for b in (b_old, b_new))
    a, b, c, d = (_target("a", "Kota A", "96.71"), _target("b", "Kab B", "96.01"), _target("c", "Kab C", "51.08"),
                  _target("d", "Kota D", "92.71"))  # fmt: skip
    reads = {
        "a": TargetRead(a, reachable=True, records=[_record(a, "demo", "1.0.0", d_old)]),
        "b": TargetRead(b, reachable=True, records=[_record(b, "demo", "1.0.0", d_old)]),
        "c": TargetRead(c, reachable=True, records=[_record(c, "demo", "1.1.0", d_new)]),
        "d": TargetRead(d, reachable=False, error="no answer within 30s"),
    }
    entries = {"demo": _entry()}
    db = open_db(ws)
    # the bundles are not cached yet: without them nothing is claimed clean
    blind = audit_reads(ws, reads, entries=entries, app=None, db=db, finder=SbomFinder(ws), now=NOW)
    assert [(i.target, i.sbom, i.worst) for i in blind.installs] == [("a", "missing", "high"), ("b", "missing", "high"),
                                                                     ("c", "missing", None)]  # fmt: skip
    report = audit_reads(ws, reads, entries=entries, app="demo", db=db, finder=SbomFinder(ws, [b_old, b_new]), now=NOW)
    assert db is not None
    db.close()
    by = {i.target: i for i in report.installs}
    assert [f.id for f in by["a"].findings] == ["TEST-DSA-0001-1", "SPBE-2026-0001"]  # critical first
    assert by["a"].findings[0].fixed == ["3.0.15-1~deb12u1"] and by["a"].findings[1].fixed == ["1.1.0"]
    assert by["a"].worst == by["b"].worst == "critical" and by["c"].worst == "none" and by["c"].findings == []
    assert [u.target for u in report.unreachable] == ["d"]
    bad, unaudited = report.failing("high")
    assert [i.target for i in bad] == ["a", "b"] and unaudited == ["d (unreachable)"]
    # now cached (verified, in the workspace's bundle cache): found by digest without --bundle
    again = SbomFinder(ws).sboms(d_old)
    assert again is not None and again[0] == "workspace cache"
