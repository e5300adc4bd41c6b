"""Every answer of a target is read as a stream with a cap (issue 17, finding 8).

A target that prints 300 MB where a few bytes are expected: the secrets helper, the no-op
check, the lease renewal, the ssh tools. Each reader refuses it after its cap, and the
controller's memory stays small (it took 1.4 GB for 700 MB when answers were read whole
before the size check). Each case runs in a child Python, so its peak RSS is its own.
The "target" is the built-in ``local`` connection whose Python is a script that prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOOD = 300_000_000  # bytes the hostile target prints

CHILD = r"""
import json, sys
from pathlib import Path
from spbe_share.errors import SpbeError
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace

case, fake, tmp = sys.argv[1], sys.argv[2], Path(sys.argv[3])
ws = Workspace(home=tmp / "ws", root=Path(sys.argv[4]))
ws.ensure()
t = Target(name="local", connection="local", host="localhost", user="op", pemda="Kota Uji", kode_wilayah="96.72",
           bind_address="127.0.0.1", root=str(tmp / "root"), python=fake)
out = ""
try:
    if case == "secrets":
        from spbe_share.remote.secretsync import call
        call(ws, t, "pengaduan", "read", {"names": None}, timeout=60)
    elif case == "noop":
        from spbe_share.ops.noop import check_unchanged
        out = check_unchanged(ws, target=t, request={}, run_dir=tmp / "run").error
    elif case == "lease":
        from spbe_share.remote.lease import LeaseKeeper
        from spbe_share.records.state import new_lock_owner
        keeper = LeaseKeeper(ws=ws, target=t, lock_path="/x.lock", lock=new_lock_owner(who="op", operation="x"))
        out = keeper.renew_once([fake], timeout=60) + " " + keeper.failures[-1]
    elif case == "ssh":
        from spbe_share.remote.ssh import _run
        _run([fake], timeout=60)
except SpbeError as exc:
    out = f"{type(exc).__name__}: {exc.message}"
# VmHWM: this process's own peak (ru_maxrss keeps the parent's peak across fork and exec)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"out": out, "maxrss_mb": int(hwm.split()[1]) // 1024}))
"""


@pytest.mark.parametrize(("case", "said"), [
    ("secrets", "RemoteFailed: local: the secrets helper answered more than"),
    ("noop", "an answer of more than"),
    ("lease", "error "),  # then "<time> too long" in its failures
    ("ssh", "the other end answered more than 1048576 bytes"),
])  # fmt: skip
def test_a_flood_from_the_target_is_refused_with_little_memory(tmp_path: Path, case: str, said: str) -> None:
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\nexec head -c {FLOOD} /dev/zero\n")
    fake.chmod(0o755)
    proc = subprocess.run([sys.executable, "-c", CHILD, case, str(fake), str(tmp_path), str(REPO)],  # noqa: S603
                          capture_output=True, text=True, timeout=120, cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert said in found["out"] and (case != "lease" or found["out"].endswith("too long")), found
    assert found["maxrss_mb"] < 300, found  # the whole answer would be 300 MB (600 MB with its copies)
