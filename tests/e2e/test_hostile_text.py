"""End to end: a target's records never drive the operator's terminal (issue 17 finding 10).

A simulated data center whose release records, ``current.json`` and lock hold an OSC 52
clipboard write, a screen clear, a C1 CSI, a title change and rich markup
(``[bold green]installed OK[/]`` in the message of a failed attempt). ``history`` and ``status``
read them over SSH and print them on a terminal (rich tables, on a pty), in a pipe
(tab-separated) and as JSON: no control character reaches the terminal, the markup is printed as
written, and ``--json`` keeps the exact text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from simdc import REPO, make_e2e_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from termtext import ALL, MARKUP, assert_clean, run_on_terminal  # noqa: E402

pytestmark = pytest.mark.e2e

APP = "pengaduan"


def _record(dc: Any, **over: Any) -> dict[str, Any]:
    rec = {
        "app": APP, "version": "1.0.0", "target": dc.name, "pemda": dc.pemda, "kode_wilayah": dc.kode_wilayah,
        "bundle_digest": "sha256:" + "0" * 64, "signer": "0123456789abcdef", "who": f"operator{ALL}",
        "when": "2026-11-22T00:00:00Z", "result": "ok", "operation": "install", "host": f"laptop{ALL}",
    }  # fmt: skip
    rec.update(over)
    return rec


def test_history_and_status_print_a_hostile_target_as_plain_text(simdc_factory: Any, tmp_path: Path) -> None:
    dc = simdc_factory("kota-teks")
    w = make_e2e_workspace(tmp_path / "operator", {"dc": dc})
    adir = dc.root / "apps" / APP
    (adir / "releases").mkdir(parents=True)
    (adir / "releases" / "20261122T000000Z-1.0.0.json").write_text(json.dumps(_record(dc)))
    (adir / "releases" / "20261122T010000Z-1.0.0.json").write_text(
        json.dumps(_record(dc, result="failed", message=f"{MARKUP} {ALL}", when="2026-11-22T01:00:00Z")))
    (adir / "current.json").write_text(json.dumps(_record(dc, urls=[f"https://x.go.id/{MARKUP}{ALL}"])))
    (dc.root / "locks").mkdir(exist_ok=True)
    (dc.root / "locks" / f"{APP}.lock").write_text(json.dumps({
        "who": f"[bold green]installed OK[/]{ALL}", "pid": 1, "host": f"h{ALL}", "since": "2026-11-22T00:00:00Z",
        "operation": "upgrade", "token": "0" * 32,
    }))  # fmt: skip
    env = {"SPBE_SHARE_OPERATOR": "e2e-test"}
    ws = ["--workspace", str(w.home)]

    rc, out = run_on_terminal([*ws, "history", APP, "--target", dc.name], env=env, cwd=REPO)
    assert rc == 0, out
    assert "failed" in out and "operator" in out
    assert_clean(out)

    r = w.cli("history", APP, "--target", dc.name)
    assert_clean(r.stdout + r.stderr)
    assert f"lock: {MARKUP}" in r.stdout
    r = w.cli("history", APP, "--target", dc.name, "--json")
    assert_clean(r.stdout, markup_shown=False)
    attempts = json.loads(r.stdout)["attempts"]
    assert attempts[-1]["cause"] == f"{MARKUP} {ALL}" and attempts[0]["who"] == f"operator{ALL}"  # kept exactly

    rc, out = run_on_terminal([*ws, "status", "--target", dc.name], env=env, cwd=REPO)
    assert "1.0.0" in out, out
    assert_clean(out)
