"""End to end: Ctrl-C (SIGINT) to the real CLI in the middle of an install over SSH.

The install is interrupted while it ships blobs to a fresh simulated data center. Afterwards:
exit code 12 and a one-line ``cancelled:`` message, the target's lock is free, the attempt is
recorded on the target as ``cancelled``, the audit log says ``cancelled``, no ansible or ssh
process of this run is left, and nothing on the target changes any more.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from simdc import REPO, donor_kode, make_e2e_workspace

from spbe_share.deploy.interrupts import processes_with
from spbe_share.errors import ExitCode

pytestmark = pytest.mark.e2e

APP = "pengaduan"


def _tree(root: Path) -> dict[str, tuple[int, float]]:
    out = {}
    for p in root.rglob("*"):
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        out[str(p.relative_to(root))] = (st.st_size, st.st_mtime)
    return out


def _remove_containers(prefix: str) -> None:
    for kind, ls, rm in (("container", ["ps", "-a", "--format", "{{.Names}}"], ["rm", "-f"]),
                         ("volume", ["volume", "ls", "--format", "{{.Name}}"], ["volume", "rm", "-f"]),
                         ("network", ["network", "ls", "--format", "{{.Name}}"], ["network", "rm"])):
        names = subprocess.run(["docker", *ls], capture_output=True, text=True, check=False).stdout.split()  # noqa: S603,S607
        mine = [n for n in names if n.startswith(prefix)]
        if mine:
            subprocess.run(["docker", *rm, *mine], capture_output=True, check=False)  # noqa: S603,S607
        del kind


def test_sigint_during_ship_cancels_cleanly(simdc_factory: Any, bundles: dict[str, Path], tmp_path: Path) -> None:
    if APP not in bundles:
        pytest.skip(f"catalog/{APP} is not there yet")
    dc = simdc_factory("kota-batal", pemda="Kota Batal", kode_wilayah="96.73")
    home = tmp_path / "operator"
    w = make_e2e_workspace(home, {"kota-batal": dc})
    w.cli("keys", "trust", str(bundles[f"{APP}.pub"]), "--donor-kode", donor_kode(APP))
    today = dt.date.today()
    w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", dc.pemda,
          "--adopter-kode", dc.kode_wilayah, "--number", "PKS/BATAL/2026",
          "--signed", (today - dt.timedelta(days=1)).isoformat(),
          "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")

    env = {**os.environ, "SPBE_SHARE_OPERATOR": "e2e-test"}
    env.pop("SPBE_SHARE_HOME", None)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "spbe_share", "--workspace", str(home), "install", APP, "--target", dc.name,
         "--bundle", str(bundles[APP])],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    sent = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            # the blobs are being copied once the playbook knows which the target lacks
            if "Ship: note the blobs to send" in line and not sent.is_set():
                time.sleep(0.3)
                proc.send_signal(signal.SIGINT)
                sent.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
        _remove_containers(f"spbe-{dc.name}-")
    stderr = "".join(lines)
    assert sent.is_set(), f"the install never reached Ship:\n{stderr}"
    assert proc.returncode == ExitCode.CANCELLED == 12, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"cancelled: install of pengaduan on {dc.name} stopped by SIGINT during 'Ship: "), last
    assert "lock released" in last and "attempt recorded as cancelled" in last, last

    # no process of this run is left (ansible-playbook, its workers, ssh to the DC)
    time.sleep(1)
    assert processes_with(str(home / "runs")) == []
    assert processes_with(dc.address) == []
    # the target: lock free, the attempt recorded as cancelled, and nothing changes any more
    assert not (dc.root / "locks" / f"{APP}.lock").exists()
    records = [json.loads(p.read_text()) for p in (dc.root / "apps" / APP / "releases").glob("*.json")]
    assert [r["result"] for r in records] == ["cancelled"]
    assert "Ship: " in records[0]["message"] and "e2e-test" in records[0]["message"]
    assert not (dc.root / "apps" / APP / "current.json").exists()
    before = _tree(dc.root)
    time.sleep(8)
    assert _tree(dc.root) == before, "the target kept changing after the CLI exited"
    audit = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    installs = [a for a in audit if a["what"] == "install"]
    assert [a["result"] for a in installs] == ["cancelled"]
    assert installs[0]["details"]["stopped_at"].startswith("Ship: ")
