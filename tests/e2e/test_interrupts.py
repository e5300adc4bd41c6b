"""End to end: Ctrl-C (SIGINT) to the real CLI in the middle of an install over SSH.

The install is interrupted while it ships blobs to a fresh simulated data center (one stream
before the lock, :mod:`spbe_share.remote.ship`). Afterwards: exit code 12 and a one-line
``cancelled:`` message, no lock was taken and no attempt or release written (nothing of the
app changed), every blob in the target's store is complete and matches its name (verified
before it got it), the audit log says ``cancelled``, no ssh process of this run is left, and
nothing on the target changes any more. (A signal during the playbook, under the lock, is the
core's path: the lock is released and the attempt recorded as cancelled; see
``tests/integration/test_core_ops.py``.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard
from simdc import donor_kode, interrupt_cli, make_e2e_workspace, remove_docker_objects

from spbe_share.errors import ExitCode
from spbe_share.remote.interrupts import processes_with

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

    # the blob stream starts right after this line (ssh connect, then the blobs)
    try:
        code, stderr, sent = interrupt_cli(home, "install", APP, "--target", dc.name, "--bundle", str(bundles[APP]),
                                           at="Ship: sending the blobs", timeout=300)
    finally:
        remove_docker_objects(f"spbe-{dc.name}-")
    assert sent, f"the install never reached Ship:\n{stderr}"
    assert code == ExitCode.CANCELLED == 12, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"cancelled: install of pengaduan on {dc.name} stopped by SIGINT while shipping blobs,"), last
    assert "before the lock: nothing of the app changed" in last, last

    # no process of this run is left (ansible-playbook, its workers, ssh to the DC)
    time.sleep(1)
    assert processes_with(str(home / "runs")) == []
    assert processes_with(dc.address) == []
    # the target: no lock, no attempt, no release; the blob store holds only verified blobs
    assert not (dc.root / "locks" / f"{APP}.lock").exists()
    assert not (dc.root / "apps" / APP / "releases").exists()
    assert not (dc.root / "apps" / APP / "current.json").exists()
    for blob in (dc.root / "blobs" / "sha256").glob("*"):
        if blob.is_file():
            data = blob.read_bytes()
            if blob.name.endswith(".zst"):
                data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
            assert hashlib.sha256(data).hexdigest() == blob.name.removesuffix(".zst"), blob
    before = _tree(dc.root)
    time.sleep(8)
    assert _tree(dc.root) == before, "the target kept changing after the CLI exited"
    audit = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    installs = [a for a in audit if a["what"] == "install"]
    assert [a["result"] for a in installs] == ["cancelled"]
    assert installs[0]["details"]["stopped_at"].startswith("Ship: ")
    assert not [p for p in (home / "runs").glob("*-install-*")], "the playbook ran"
