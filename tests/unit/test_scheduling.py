"""How tests/conftest.py hands the test files to pytest-xdist workers (issue 18 item 5).

Real pytest runs with 2 workers over sample files whose tests sleep: a file's tests stay on one
worker in file order; tests marked ``xdist_group`` are units of their own (one file can spread
over the workers); a worker gets its next unit only when it starts its last test, not with 2
tests left as xdist's own schedulers do (that unit would wait behind them while the other
worker runs dry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

RECORD = """
import json, os, time


def record(name, seconds):
    start = time.time()
    time.sleep(seconds)
    with open(os.environ["SCHED_LOG"], "a") as f:
        f.write(json.dumps({"test": name, "worker": os.environ["PYTEST_XDIST_WORKER"], "start": start}) + "\\n")
"""


def _file(name: str, seconds: list[float], groups: list[str] | None = None) -> str:
    mark = "import pytest\n" if groups else ""
    tests = "".join(
        (f"\n\n@pytest.mark.xdist_group(\"{groups[i - 1]}\")" if groups else "\n\n")
        + f"\ndef test_{i}():\n    record(\"{name}::{i}\", {s})\n"
        for i, s in enumerate(seconds, 1)
    )
    return f"{mark}from record import record\n{tests}"


def _run(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, object]]:
    (tmp_path / "record.py").write_text(RECORD)
    for name, text in files.items():
        (tmp_path / f"test_{name}.py").write_text(text)
    log = tmp_path / "log.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "CI")}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), str(TESTS), str(REPO)]), SCHED_LOG=str(log))
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-c", os.devnull,
         "--rootdir", str(tmp_path), "-q", "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder",
         *(f"test_{name}.py" for name in files)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {str(r["test"]): r for r in map(json.loads, log.read_text().splitlines())}


def test_a_file_stays_on_one_worker_and_the_next_waits_for_its_last_test(tmp_path: Path) -> None:
    # a: long; b: two tests; c: short; d: long. xdist's rule gives d to a's worker as soon as a
    # has 2 tests left (d then waits ~4 s behind a), while b's worker is idle after c.
    runs = _run(tmp_path, {"a": _file("a", [0.1, 2.0, 2.0]), "b": _file("b", [0.5, 0.5]),
                           "c": _file("c", [0.1]), "d": _file("d", [2.0])})  # fmt: skip
    assert len(runs) == 7
    for f, n in (("a", 3), ("b", 2)):
        rows = [runs[f"{f}::{i}"] for i in range(1, n + 1)]
        assert len({r["worker"] for r in rows}) == 1, rows
        assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
    assert runs["d::1"]["worker"] != runs["a::1"]["worker"], runs
    assert runs["c::1"]["worker"] == runs["b::1"]["worker"] == runs["d::1"]["worker"]


def test_tests_of_an_xdist_group_are_a_unit_of_their_own(tmp_path: Path) -> None:
    # one file, two groups of two slow tests: each group on its own worker, side by side
    runs = _run(tmp_path, {"a": _file("a", [0.1, 0.1, 0.1]),
                           "grouped": _file("grouped", [2.0, 2.0, 2.0, 2.0], groups=["g1", "g1", "g2", "g2"])})
    assert runs["grouped::1"]["worker"] == runs["grouped::2"]["worker"]
    assert runs["grouped::3"]["worker"] == runs["grouped::4"]["worker"]
    assert runs["grouped::1"]["worker"] != runs["grouped::3"]["worker"], runs
    assert abs(float(runs["grouped::1"]["start"]) - float(runs["grouped::3"]["start"])) < 1.5, runs
