"""Conformance of the offline publiccode.yml validator with the reference parser's test files.

``tests/conformance/publiccode-v0/expected.json`` lists, for each file of the reference
parser's v0 test data, whether it is valid and which errors the reference reports, each
marked ``offline``, ``network`` or ``country-it``. Offline conformance: every valid file is
accepted; every invalid file with an ``offline`` error is rejected and our errors name the
field of each of its offline errors (exact path). Files whose errors all need the network
or Italy's iPA list are out of scope offline (we do not fake those checks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spbe_share.catalog.publiccode import validate_publiccode

ROOT = Path(__file__).resolve().parents[1] / "conformance" / "publiccode-v0"
CASES: dict[str, dict[str, Any]] = json.loads((ROOT / "expected.json").read_text(encoding="utf-8"))["cases"]

VALID = sorted(n for n, c in CASES.items() if c["expect"] == "valid")
OFFLINE_INVALID = sorted(
    n for n, c in CASES.items() if c["expect"] == "invalid" and any(e["needs"] == "offline" for e in c["errors"])
)
ONLINE_ONLY = sorted(
    n for n, c in CASES.items() if c["expect"] == "invalid" and all(e["needs"] != "offline" for e in c["errors"])
)


def test_case_counts() -> None:
    # guards against an empty or truncated expected.json silently passing
    assert len(VALID) == 41
    assert len(OFFLINE_INVALID) == 127
    assert len(VALID) + len(OFFLINE_INVALID) + len(ONLINE_ONLY) == len(CASES)


@pytest.mark.parametrize("name", VALID)
def test_valid_file_is_accepted(name: str) -> None:
    report = validate_publiccode(ROOT / "testdata" / name)
    assert report.errors == [], report.lines()


@pytest.mark.parametrize("name", OFFLINE_INVALID)
def test_offline_invalid_file_is_rejected_naming_the_field(name: str) -> None:
    report = validate_publiccode(ROOT / "testdata" / name)
    assert not report.ok, f"{name} was accepted"
    named = {p.field for p in report.errors}
    wanted = {e["field"] for e in CASES[name]["errors"] if e["needs"] == "offline"}
    assert wanted <= named, f"missing {sorted(wanted - named)}; got {report.lines()}"
    for line in report.lines():
        path, lineno, rest = line.split(":", 2)
        assert path == str(report.path) and int(lineno) >= 1 and rest.startswith(" ")


@pytest.mark.parametrize("name", ONLINE_ONLY)
def test_online_only_cases_run_without_crashing(name: str) -> None:
    # their errors need the network or Italy's iPA list: not checked offline, not faked
    report = validate_publiccode(ROOT / "testdata" / name)
    network_fields = {e["field"] for e in CASES[name]["errors"]}
    assert all(p.field not in network_fields for p in report.errors), report.lines()
