"""The ``fleet status --json`` format: the fixture the site renders is a valid instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput, ValidationFailed
from spbe_share.fleet.models import FleetStatus, load_fleet_status

FLEET = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fleet-status.json"


def test_fixture_loads_and_round_trips() -> None:
    fs = load_fleet_status(FLEET)
    assert [r.target for r in fs.rows] == ["pbd-dc1", "sorong-dc", "raja-ampat"]
    first = fs.rows[0]
    assert first.releases_behind == 1 and first.agreement and first.agreement.expires_within_90_days
    assert str(first.missing_regulations[0].uri).startswith("https://peraturan.bpk.go.id/")
    assert fs.rows[2].reachable is False and fs.rows[2].version is None
    again = FleetStatus.model_validate(json.loads(fs.model_dump_json()))
    assert again == fs


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "f.json"
    p.write_text("{not json")
    with pytest.raises(InvalidInput, match="not JSON"):
        load_fleet_status(p)
    data = json.loads(FLEET.read_text())
    data["rows"][0]["health"] = "great"
    data["rows"][1]["surprise"] = 1
    p.write_text(json.dumps(data))
    with pytest.raises(ValidationFailed) as exc:
        load_fleet_status(p)
    assert any("rows[0].health" in x for x in exc.value.problems)
    assert any("rows[1].surprise" in x for x in exc.value.problems)
    with pytest.raises(InvalidInput, match="--fleet"):
        load_fleet_status(tmp_path / "missing.json")
