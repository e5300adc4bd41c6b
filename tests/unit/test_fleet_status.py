"""fleet status without targets: what a target answers is validated; rows are a pure function."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from spbe_share.agreements import build_agreement
from spbe_share.catalog.loader import load_entry
from spbe_share.fleet.models import FleetStatus
from spbe_share.fleet.reads import parse_read
from spbe_share.fleet.status import CSV_COLUMNS, agreement_state, build_rows, csv_rows, run_deadline
from spbe_share.targets.inventory import Target

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
T1 = Target(name="sorong", host="10.0.0.1", user="root", pemda="Kota Sorong", kode_wilayah="96.71",
            bind_address="10.0.0.1", groups=("papua",))  # fmt: skip
T2 = Target(name="buleleng", host="10.0.0.2", user="root", pemda="Kab. Buleleng", kode_wilayah="51.08",
            bind_address="10.0.0.2")  # fmt: skip
ENTRIES = {a: load_entry(REPO / "catalog" / a / "spbe-app.yaml").entry for a in ("e-office", "pengaduan")}


def record(app: str = "e-office", version: str = "1.0.0", target: str = "sorong", **over: Any) -> dict[str, Any]:
    rec = {
        "format": 1, "app": app, "version": version, "target": target, "pemda": "Kota Sorong",
        "kode_wilayah": "96.71", "bundle_digest": "sha256:" + "ab" * 32, "signer": "k", "values": {},
        "images": {}, "containers": [f"spbe-{target}-{app}-web"], "urls": [],
        "health": [{"component": "web", "container": f"spbe-{target}-{app}-web", "type": "http",
                    "url": "http://10.0.0.1:8080/healthz", "port": 8080, "path": "/healthz",
                    "command": None, "retries": 60, "delay": 2}],
        "who": "op", "when": "2026-11-02T10:00:00Z", "result": "ok", "message": None, "previous": None,
    }  # fmt: skip
    rec.update(over)
    return rec


def probe(*records: dict[str, Any], last: list | None = None, healthy: bool = True) -> dict[str, Any]:
    return {
        "records": list(records),
        "last": last or [],
        "containers": [[f"spbe-sorong-{r['app']}-web", {"Running": healthy, "Status": "running" if healthy else "exited"}]
                       for r in records],
        "http": [["http://10.0.0.1:8080/healthz", 200 if healthy else -1]],
    }  # fmt: skip


def agreements() -> list[Any]:
    return [
        build_agreement(number="NK/1/2025", apps=["e-office"], donor="Papua", donor_kode="91", adopter="Kota Sorong",
                        adopter_kode="96.71", scope=["install"], signed="2025-01-01", valid_until="2027-01-15"),
        build_agreement(number="NK/OLD", apps=["e-office"], donor="Papua", donor_kode="91", adopter="Kota Sorong",
                        adopter_kode="96.71", scope=["install"], signed="2020-01-01", valid_until="2021-01-01"),
        build_agreement(number="NK/2/2024", apps=["pengaduan"], donor="Papua", donor_kode="91",
                        adopter="Kab. Buleleng", adopter_kode="51.08", scope=["install"], signed="2024-01-01",
                        valid_until="2025-06-30"),
    ]  # fmt: skip


def test_a_good_answer() -> None:
    last = [["e-office", record(version="1.0.0", when="2026-11-03T10:00:00Z", result="failed",
                                previous={"version": "1.0.0", "when": "x", "bundle_digest": "sha256:" + "cd" * 32})]]  # fmt: skip
    read = parse_read(T1, probe(record(), last=last))
    assert read.reachable and not read.problems
    assert read.version_of("e-office") == "1.0.0"
    assert read.health["e-office"] == ("healthy", "")
    assert read.last["e-office"].what == "install" and read.last["e-office"].result == "failed"


def test_hostile_answers_are_errors_not_rows() -> None:
    assert parse_read(T1, {"records": "x"}).error.startswith("invalid status from the target: records")
    assert parse_read(T1, {"records": [], "surprise": 1}).error.startswith("invalid status")
    assert parse_read(T1, {"records": [{}] * 201}).error is not None  # bounded
    read = parse_read(T1, probe(record(target="other"), record(app="pengaduan", version="../../x"),
                                record(app="x", extra_field=1)))  # fmt: skip
    assert read.records == []
    assert len(read.problems) == 3
    assert "names target 'other'" in read.problems[0]
    dup = parse_read(T1, probe(record(), record()))
    assert [r.app for r in dup.records] == ["e-office"] and "two release records" in dup.problems[0]
    # a newest attempt that names another app or has an unknown result is ignored
    odd = parse_read(T1, probe(record(), last=[["e-office", record(app="pengaduan")], ["x", {"a": 1}]]))
    assert odd.last == {}


def test_upgrade_and_rollback_are_told_apart() -> None:
    up = record(version="1.1.0", previous={"version": "1.0.0", "when": "x", "bundle_digest": "sha256:" + "cd" * 32}, result="ok")
    back = record(version="1.0.0", previous={"version": "1.1.0", "when": "x", "bundle_digest": "sha256:" + "cd" * 32},
                  result="rolled_back")  # fmt: skip
    assert parse_read(T1, probe(record(), last=[["e-office", up]])).last["e-office"].what == "upgrade"
    lo = parse_read(T1, probe(record(), last=[["e-office", back]])).last["e-office"]
    assert (lo.what, lo.result) == ("rollback", "rolled_back")
    told = parse_read(T1, probe(record(), last=[["e-office", {**up, "operation": "fleet-upgrade"}]]))
    assert told.last["e-office"].what == "fleet-upgrade"


def test_rows() -> None:
    from spbe_share.fleet.reads import TargetRead

    reads = {
        "sorong": parse_read(T1, probe(record(), healthy=False)),
        "buleleng": TargetRead(T2, reachable=False, error="unreachable: connection refused"),
    }
    fs = build_rows(reads, entries=ENTRIES, agreements=agreements(), today=TODAY, now=NOW)
    by = {(r.target, r.app): r for r in fs.rows}
    eo = by[("sorong", "e-office")]
    assert (eo.version, eo.latest_version, eo.releases_behind) == ("1.0.0", "1.1.1", 2)
    assert [str(m.uri) for m in eo.missing_regulations] == [
        "https://peraturan.bpk.go.id/Details/247841/Permendagri%20No.%2083%20Tahun%202022"]
    assert eo.health == "stopped" and eo.reachable and "exited" in (eo.error or "")
    assert eo.agreement and eo.agreement.number == "NK/1/2025" and eo.agreement.expires_within_90_days
    assert eo.groups == ["papua", "prov_96"]
    down = by[("buleleng", "unknown")]
    assert not down.reachable and down.version is None and down.health == "unknown"
    # the same JSON the site reads
    again = FleetStatus.model_validate(json.loads(fs.model_dump_json()))
    assert again == fs

    only = build_rows(reads, entries=ENTRIES, agreements=agreements(), today=TODAY, now=NOW, app="pengaduan")
    by = {(r.target, r.app): r for r in only.rows}
    assert by[("sorong", "pengaduan")].health == "missing" and by[("sorong", "pengaduan")].version is None
    ag = by[("buleleng", "pengaduan")].agreement
    assert ag and ag.status == "expired" and ag.number == "NK/2/2024"

    cells = csv_rows(fs)
    assert len(cells[0]) == len(CSV_COLUMNS)


def test_agreement_state() -> None:
    ags = agreements()
    a = agreement_state(ags, app="e-office", kode_wilayah="96.71", today=dt.date(2026, 6, 1))
    assert a and a.status == "active" and not a.expires_within_90_days
    a = agreement_state(ags, app="e-office", kode_wilayah="96.71", today=dt.date(2027, 2, 1))
    assert a and a.status == "expired" and a.number == "NK/1/2025"
    a = agreement_state(ags, app="e-office", kode_wilayah="96.71", today=dt.date(2019, 2, 1))
    assert a and a.status == "future" and a.number == "NK/OLD"
    assert agreement_state(ags, app="e-office", kode_wilayah="51.08", today=TODAY).status == "none"  # type: ignore[union-attr]
    assert agreement_state(ags, app="x", kode_wilayah="51.08", today=TODAY, required=False) is None


def test_deadline_grows_with_waves() -> None:
    assert run_deadline(50, forks=50, timeout=30) == 115
    assert run_deadline(550, forks=50, timeout=30) == 11 * 55 + 60


def test_blob_names_as_the_target_stores_them() -> None:
    a, b = "a" * 64, "b" * 64
    read = parse_read(T1, {**probe(record()), "blobs": [a, f"{b}.zst", "../etc/passwd", f"{a}.tmp", "c" * 63]})
    assert read.blobs == frozenset({a, b})


def test_rows_carry_the_tls_expiry_and_warn_within_30_days() -> None:
    """fleet status: the certificate of an app's TLS proxy (proxy/tls.json), read as untrusted."""
    soon = {"domain": "eoffice.sorong.go.id", "not_after": "2026-12-20T00:00:00Z", "sha256": "a" * 64}
    data = {**probe(record()), "tls": [["e-office", soon], ["pengaduan", {"domain": "x", "not_after": "junk"}]]}
    fs = build_rows({"sorong": parse_read(T1, data)}, entries=ENTRIES, agreements=agreements(), today=TODAY, now=NOW)
    [row] = [r for r in fs.rows if r.app == "e-office"]
    assert row.tls_not_after == dt.datetime(2026, 12, 20, tzinfo=dt.UTC) and row.tls_expires_soon is True
    later = {**soon, "not_after": "2027-06-01T00:00:00Z"}
    fs = build_rows({"sorong": parse_read(T1, {**probe(record()), "tls": [["e-office", later]]})},
                    entries=ENTRIES, agreements=agreements(), today=TODAY, now=NOW)  # fmt: skip
    assert [(r.tls_expires_soon, r.error) for r in fs.rows if r.app == "e-office"] == [(False, None)]
    plain = build_rows({"sorong": parse_read(T1, probe(record()))}, entries=ENTRIES, agreements=agreements(),
                       today=TODAY, now=NOW)  # fmt: skip
    assert [(r.tls_not_after, r.tls_expires_soon) for r in plain.rows] == [(None, None)]
    i = CSV_COLUMNS.index("tls_not_after")
    assert CSV_COLUMNS[i:i + 2] == ["tls_not_after", "tls_expires_soon"] and csv_rows(plain)[0][i:i + 2] == ["", ""]
