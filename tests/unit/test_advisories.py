"""Donor advisories (issue 22, item 2): the model's rules, `catalog show`, the site's app page,
`plan --advisory` (pure: goals and items) and the fleet upgrade's key; reuse evidence (item 4):
publiccode.yml's usedBy and the site's "dipakai oleh N Pemda"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from catalog_fixtures import entry_data, write_entry
from test_bundle_cli import run
from test_fleet_plan import AGREEMENTS, BULELENG, NABIRE, SORONG, TODAY, read

from spbe_share.catalog.loader import load_entry
from spbe_share.catalog.models import Entry, affected_by
from spbe_share.errors import InvalidInput, NotFound
from spbe_share.fleet import upgrade as fu
from spbe_share.fleet.plan import build_items, goals_for

REPO = Path(__file__).resolve().parents[2]
ADV = {"id": "SPBE-2026-0007", "severity": "high", "affected": ">=1.0.0, <1.1.0", "fixed_in": "1.1.0",
       "description": "Surat rahasia dapat dibaca oleh pengguna unit lain. Tingkatkan ke 1.1.0.",
       "published": "2026-09-14"}  # fmt: skip


def eoffice(advisories: list[dict[str, Any]] | None = None, carrier: str = "1.1.0") -> Entry:
    doc = yaml.safe_load((REPO / "catalog" / "e-office" / "spbe-app.yaml").read_text())
    for r in doc["releases"]:
        if r["version"] == carrier:
            r["advisories"] = advisories if advisories is not None else [ADV]
    return Entry.model_validate(doc)


def test_ranges() -> None:
    assert affected_by(">=1.0.0, <1.1.0", "1.0.0") and not affected_by(">=1.0.0, <1.1.0", "1.1.0")
    assert affected_by("<1.0.0", "1.0.0-rc.10") and affected_by("1.0.0", "1.0.0") and not affected_by("!=1.0.0", "1.0.0")
    assert affected_by(">1.0.0-rc.2", "1.0.0-rc.10")  # SemVer §11, not text order


@pytest.mark.parametrize(
    ("change", "carrier", "message"),
    [
        ({"fixed_in": "9.0.0"}, "1.1.0", "fixed_in 9.0.0 is not a release"),
        ({"affected": ">=1.0.0"}, "1.1.0", "is in its own affected range"),
        ({}, "1.0.0", "list it under the release that fixes it (1.1.0)"),
        ({"fixed_in": None}, "1.1.0", "with no fix yet, list it under a release it affects (1.0.0)"),
        ({"affected": ">=5.0.0"}, "1.1.0", "names no release of the entry"),
        ({"affected": "<1.1"}, "1.1.0", "affected"),  # not SemVer
        ({"severity": "severe"}, "1.1.0", "severity"),
    ],
)
def test_the_model_refuses_bad_advisories(change: dict[str, Any], carrier: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        eoffice([{**ADV, **change}], carrier=carrier)


def test_an_advisory_without_a_fix_rides_an_affected_release() -> None:
    e = eoffice([{**ADV, "fixed_in": None, "affected": ">=1.0.0"}], carrier="1.1.0")
    assert e.advisory("spbe-2026-0007") is not None  # ids are found whatever their case
    with pytest.raises(InvalidInput, match="has no fixed release yet"):
        goals_for({"e-office": e}, app=None, to=None, regulation=None, advisory="SPBE-2026-0007")


def test_plan_for_an_advisory_names_the_installs_in_its_range() -> None:
    entries = {"e-office": eoffice()}
    (goal,), uri = goals_for(entries, app=None, to=None, regulation=None, advisory="SPBE-2026-0007")
    assert (goal.app, goal.to, uri) == ("e-office", "1.1.0", None)
    reads = {"sorong": read(SORONG, ("e-office", "1.0.0")), "buleleng": read(BULELENG, ("e-office", "1.1.0")),
             "nabire": read(NABIRE, ("e-office", "1.0.0"))}  # fmt: skip
    items = {i.target: i for i in build_items(reads, [goal], entries=entries, agreements=AGREEMENTS, today=TODAY)}
    assert (items["sorong"].action, items["sorong"].path) == ("upgrade", ["1.1.0"])
    assert items["buleleng"].action == "current" and items["buleleng"].reasons == ["runs 1.1.0, not affected by SPBE-2026-0007"]
    assert items["nabire"].action == "blocked" and "no agreement" in items["nabire"].reasons[0]  # in range, no MoU
    with pytest.raises(NotFound, match="no advisory 'SPBE-1999-0001'"):
        goals_for(entries, app=None, to=None, regulation=None, advisory="SPBE-1999-0001")
    with pytest.raises(InvalidInput, match="--to 1.0.0: advisory SPBE-2026-0007 is fixed in 1.1.0"):
        goals_for(entries, app=None, to="1.0.0", regulation=None, advisory="SPBE-2026-0007")
    with pytest.raises(InvalidInput, match="not both"):
        goals_for(entries, app=None, to=None, regulation="Permendagri 83/2022", advisory="SPBE-2026-0007")
    # a rollout for an advisory is its own (resumable) rollout; the keys of older rollouts do not change
    assert fu.args_key(app=None, to=None, regulation=None, selector="all", advisory="SPBE-2026-0007") != fu.args_key(
        app=None, to=None, regulation=None, selector="all")  # fmt: skip
    assert fu.args_key(app="a", to="1", regulation=None, selector="all") == "args-" + __import__("hashlib").sha256(
        repr(("a", "1", None, "all")).encode()).hexdigest()[:16]  # fmt: skip


def _catalog_with_advisory(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    data = entry_data("surat")
    data["releases"] = [{"version": "1.0.0", "date": "2026-01-01"}, {"version": "1.1.0", "date": "2026-06-01",
                        "advisories": [{**ADV, "id": "SPBE-2026-0100"}]}]  # fmt: skip
    write_entry(repo, "surat", **{k: v for k, v in data.items() if k != "id"})
    return repo


def test_catalog_show_and_the_site_show_advisories(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from spbe_share.agreements import build_agreement
    from spbe_share.fleet.models import FleetRow, FleetStatus
    from spbe_share.site.build import build_site

    repo = _catalog_with_advisory(tmp_path)
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(repo))
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = run(capsys, "--workspace", str(tmp_path / "home"), "catalog", "show", "surat")
    assert code == 0, err
    assert "SPBE-2026-0100" in out and "HIGH" in out and ">=1.0.0, <1.1.0" in out
    le = load_entry(repo / "catalog" / "surat" / "spbe-app.yaml")
    row = {"pemda": "Kota Sorong", "kode_wilayah": "96.71", "app": "surat", "reachable": True, "health": "healthy"}
    fleet = FleetStatus(generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), rows=[
        FleetRow(target="sorong-1", version="1.0.0", worst_finding="high", **row),
        FleetRow(target="sorong-2", version="1.1.0", worst_finding="none", **row),  # the same Pemda: counted once
        FleetRow(target="biak", pemda="Kabupaten Biak", kode_wilayah="91.06", app="surat", version=None,
                 reachable=False)])  # fmt: skip
    ag = build_agreement(number="NK/9", apps=["surat"], donor="Kota Contoh", donor_kode="94.71", adopter="Kabupaten Biak",
                         adopter_kode="91.06", scope=["install"], signed="2026-01-01", valid_until="2027-01-01")  # fmt: skip
    build_site([le], tmp_path / "site", fleet=fleet, agreements=[ag])
    page = (tmp_path / "site" / "apps" / "surat" / "index.html").read_text()
    assert "SPBE-2026-0100" in page and "Diperbaiki pada rilis 1.1.0" in page and 'href="#keamanan"' in page
    assert "Dipakai oleh 2 Pemda" in page  # Sorong (runs it) and Biak (its agreement is in force)
    assert "Used by 2 Pemda" in (tmp_path / "site" / "en" / "apps" / "surat" / "index.html").read_text()
    publiccode = yaml.safe_load((tmp_path / "site" / "apps" / "surat" / "publiccode.yml").read_text())
    assert publiccode["usedBy"] == ["Kabupaten Biak", "Kota Sorong"]
    fleet_page = (tmp_path / "site" / "armada.html").read_text()
    assert "Temuan keamanan terburuk" in fleet_page and "finding-high" in fleet_page
    build_site([le], tmp_path / "site2")  # without a fleet file: no count, no usedBy
    assert "Dipakai oleh" not in (tmp_path / "site2" / "apps" / "surat" / "index.html").read_text()


def test_export_publiccode_fills_used_by(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import json

    repo = _catalog_with_advisory(tmp_path)
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(repo))
    home = str(tmp_path / "home")
    today = dt.date.today()
    run(capsys, "--workspace", home, "mou", "add", "--app", "surat", "--donor", "Kota Contoh", "--donor-kode", "94.71",
        "--adopter", "Kabupaten Biak", "--adopter-kode", "91.06", "--number", "NK/1",
        "--signed", (today - dt.timedelta(days=10)).isoformat(), "--valid-until", (today + dt.timedelta(days=10)).isoformat(),
        "--scope", "install")  # fmt: skip
    run(capsys, "--workspace", home, "mou", "add", "--app", "surat", "--donor", "Kota Contoh", "--donor-kode", "94.71",
        "--adopter", "Kota Lama", "--adopter-kode", "92.71", "--number", "NK/2", "--signed", "2020-01-01",
        "--valid-until", "2021-01-01", "--scope", "install")  # an expired agreement is no evidence of use  # fmt: skip
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"schema_version": 1, "generated_at": "2026-12-01T00:00:00Z", "rows": [
        {"target": "sorong", "pemda": "Kota Sorong", "kode_wilayah": "96.71", "app": "surat", "version": "1.0.0",
         "reachable": True}]}))  # fmt: skip
    code, out, err = run(capsys, "--workspace", home, "catalog", "export-publiccode", "surat", "--fleet", str(fleet))
    assert code == 0, err
    assert yaml.safe_load(out)["usedBy"] == ["Kabupaten Biak", "Kota Sorong"]
    code, out, err = run(capsys, "--workspace", home, "catalog", "export-publiccode", "surat")  # no fleet seen here
    assert code == 0 and yaml.safe_load(out)["usedBy"] == ["Kabupaten Biak"]
