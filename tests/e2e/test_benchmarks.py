"""Every benchmark in bench/ runs, in a small smoke size, so that none can rot (issue 18 item 4).

Each test runs one benchmark as its README line does (``python bench/bench_x.py ...``, in a
subprocess, in this environment) with arguments that make it small, and checks that it ended
well and printed its comparison with the baseline it measures in the same run (a ratio).
The figures of a smoke run mean nothing: the benchmarks' own defaults are the measurement.
The benchmarks that build or export the catalog's app images take the tests' image build
lock (tests/buildlock.py) like the tests do. Each is a unit of its own for the xdist workers.
A benchmark that measures what a test module does anyway runs inside that test instead
(:data:`IN_TESTS`), so that CI does not install and upgrade the same app twice.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

# benchmark -> (smoke arguments, what its output must show: the ratio against its baseline)
SMOKE: dict[str, tuple[list[str], list[str]]] = {
    "bench_catalog.py": (["--entries", "300"],
                         [r"speed-up", r"\d+ searchable, 0 invalid", r"ratio \d+\.\d+x"]),
    "bench_fleet.py": (["--targets", "3", "--with-ansible"],
                       [r"\d+(\.\d+)?x", r"Ansible", r"kex classic / default, 3 targets: wall \d+\.\d+x"]),
    "bench_bundle.py": (["--app", "e-office"],  # its two releases: the upgrade ratio needs two
                        [r"RATIO upgrade bytes / changed-file bytes = \d+\.\d+"]),
    "bench_install.py": (["pengaduan", "--rounds", "1", "--noop-rounds", "1"],
                         [r"RATIO", r"no-op"]),
    "bench_backup.py": (["--sizes", "50"],
                        [r"x base", r"\b50\b"]),
}

# benchmarks whose smoke run is a test's own run: the test drives the benchmark's functions on
# the site it has installed anyway (an install, an upgrade and a rollback saved; a bare server
# provisioned and installed saved), and checks the same ratios in the same printed lines
IN_TESTS: dict[str, str] = {
    "bench_upgrade.py": "tests/e2e/test_upgrade.py",  # test_upgrade_1_0_0_to_1_1_0_...: measure() + report()
    "bench_ppdb_load.py": "tests/e2e/test_tls.py",  # its TLS install: a few users of the load flow, seconds
    # test_slow_link_no_op_install_and_upgrade: measure() + report() with the smoke's former
    # --rate-mbit 200 --rtt-ms 4 --sample-mb 2, checking r"link: (netem|linkemu)", r"raw ssh cat", r"upgrade"
    "bench_slowlink.py": "tests/e2e/test_provision.py",
}


def test_every_benchmark_has_a_smoke_run() -> None:
    assert sorted([*SMOKE, *IN_TESTS]) == sorted(p.name for p in (REPO / "bench").glob("bench_*.py"))
    for bench, test_file in IN_TESTS.items():
        text = (REPO / test_file).read_text()
        module = bench.removesuffix(".py")
        assert f"import {module}" in text and f"{module}.measure(" in text and f"{module}.report(" in text, test_file


# each benchmark is a unit of its own for the xdist workers (tests/conftest.py): they spread
@pytest.mark.parametrize("bench", [pytest.param(b, marks=pytest.mark.xdist_group(f"bench:{b}")) for b in sorted(SMOKE)])
def test_benchmark_smoke(bench: str) -> None:
    args, expect = SMOKE[bench]
    # (TMPDIR stays: ssh's control sockets live there, and a socket path has at most 107 bytes)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.pop("SPBE_SHARE_HOME", None)
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(REPO / "bench" / bench), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    print(f"\n--- {bench} {' '.join(args)}\n{proc.stdout[-4000:]}")
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    assert not re.search(r"^(skipped|cannot run):", out, re.MULTILINE), out[-2000:]
    for pattern in expect:
        assert re.search(pattern, out), f"{bench}: no {pattern!r} in its output:\n{out[-3000:]}"
