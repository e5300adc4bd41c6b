"""End to end over SSH: the upgrade faults that undo a started upgrade (issue 8 item 8).

(a) a migration failing half way, (b) a release never healthy, (c) the CLI killed after the
old release stopped: each a full upgrade of e-office from 1.0.0 and its automatic rollback
(restore + 1.0.0 again), each ending with 1.0.0 serving, its data equal, the lock free and the
history saying what happened. They share test_upgrade.py's helpers but have their own
module-scoped install on their own simulated data center, so that under xdist they run beside
test_upgrade.py's (d), (e), (f) instead of after them. The matrix table prints at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import appdata
import pytest
from simdc import REPO
from test_upgrade import (  # noqa: F401 - site, failing_release, print_matrix: fixtures of this module too
    APP,
    Site,
    failing_release,
    fault_bundle,
    last_attempt,
    matrix_row,
    print_matrix,
    run_fault,
    short_health,
    site,
)

pytestmark = pytest.mark.e2e


def test_fault_a_migration_fails_half_way(site: Site, failing_release: Path) -> None:  # noqa: F811 - site is the imported fixture
    """1.2.0 whose migration raises after altering ``letters``: rolled back, data restored.
    (Resuming a ship cut inside a blob: tests/e2e/test_ship.py and (d) in test_upgrade.py.)"""
    run_fault(site, "(a) migration fails half way", failing_release, expect_cause="Health")
    assert "uji_gagal" not in json.dumps(appdata.psql_json(
        site.db, "SELECT json_agg(column_name) FROM information_schema.columns WHERE table_name = 'letters';"))



def test_fault_b_new_version_never_healthy(site: Site, tmp_path: Path) -> None:  # noqa: F811 - site is the imported fixture
    """1.1.0 (its migration runs) whose health check never answers: rolled back, data restored."""

    def sick(doc: dict[str, Any]) -> None:
        short_health(next(c for c in doc["components"] if c["name"] == "web"), timeout_s=4,
                     path="/tidak-pernah-sehat")

    run_fault(site, "(b) never healthy", fault_bundle(site, tmp_path, version="1.1.0", edit=sick),
              expect_cause="Health")


def test_fault_c_cli_killed_after_the_old_version_stopped(site: Site) -> None:  # noqa: F811 - site is the imported fixture
    """SIGKILL to the CLI (and its playbook) once 1.1.0 is starting; the lease runs out; the next
    ``upgrade`` finds the journal, undoes the upgrade (restore + 1.0.0), says so, exits 13."""
    import signal

    w, dc = site.w, site.dc
    started = time.monotonic()
    before = site.measure()
    env = {**os.environ, "SPBE_SHARE_OPERATOR": "e2e-test", "SPBE_SHARE_LEASE_S": "10"}
    env.pop("SPBE_SHARE_HOME", None)
    journal = site.app_dir / "journal.json"
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "spbe_share", "--workspace", str(w.home), "upgrade", APP, "--target", dc.name,
         "--bundle", str(site.bundles["1.1.0"]), "--yes"],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                j = json.loads(journal.read_text())
            except (OSError, ValueError):
                j = {}
            if j.get("state") == "running" and "starting-new" in [s["step"] for s in j.get("steps", [])]:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the upgrade ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not site.lock_free()  # the dead operation's lock stays ...
    time.sleep(13)  # ... until its lease (10 s, the least allowed) runs out
    h = json.loads(w.cli("history", APP, "--target", dc.name, "--json").stdout)
    assert h["lock_stale"] and "STALE" in h["lock"] and "e2e-test" in h["lock"] and h["journal"]["state"] == "running"
    # the stale lock names its holder; unlock breaks it (audited); the journal stays for the recovery
    broken = w.cli("unlock", APP, "--target", dc.name, "--reason", "CLI killed by the fault test")
    assert "e2e-test" in broken.stdout and "STALE" in broken.stdout and site.lock_free()
    from spbe_share.audit import read as read_audit

    unlocks = [e for e in read_audit(w.ws) if e.get("what") == "unlock"]
    assert unlocks and "CLI killed by the fault test" in json.dumps(unlocks[-1])
    again = w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(site.bundles["1.1.0"]), "--yes",
                  check=False, timeout=1800)
    h, last = last_attempt(site)
    serving, after = matrix_row(site, "(c) CLI SIGKILLed after old stopped", again.returncode, before, started,
                                f"{last['result']}: {last['cause'] or ''}")
    assert again.returncode == 13 and "was undone" in again.stderr, again.stdout + again.stderr
    assert serving == "1.0.0"
    assert after.same_data(before), after.diff(before)
    assert not after.problems and after.signatures == before.signatures
    assert site.lock_free()
    assert last["result"] == "interrupted" and last["version"] == "1.1.0"
    assert h["journal"]["state"] == "rolled_back" and "resumed" in h["journal"]["steps"]
    assert site.current()["version"] == "1.0.0"
