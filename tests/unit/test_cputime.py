"""tests/cputime.py: the CPU seconds each test's report carries, summed per test and per file."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import cputime


def test_a_phase_counts_the_cpu_of_the_children_it_reaped() -> None:
    start = cputime.mark()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"],
                   check=True)  # fmt: skip
    props = dict(cputime.since(start))
    assert props[cputime.CPU] >= 0.25  # the child's work, though it ran in another process
    assert cputime.ENGINE in props


def test_phases_sum_per_test_and_per_file_and_the_summary_names_the_heaviest() -> None:
    def rep(nodeid: str, cpu: float, engine: float | None) -> SimpleNamespace:
        return SimpleNamespace(nodeid=nodeid, user_properties=[(cputime.CPU, cpu), (cputime.ENGINE, engine)])

    reports = [rep("a.py::t1", 1.0, 2.0), rep("a.py::t1", 0.5, 1.0), rep("a.py::t2", 3.0, None),
               rep("b.py::t", 10.0, 0.0), SimpleNamespace(nodeid="c.py::t", user_properties=[])]
    tests = cputime.per_test(reports)
    assert tests == {"a.py::t1": (1.5, 3.0), "a.py::t2": (3.0, None), "b.py::t": (10.0, 0.0)}
    assert cputime.per_file(tests) == {"a.py": (4.5, None), "b.py": (10.0, 0.0)}
    lines = cputime.summary_lines(reports, run_engine=None)
    assert lines[3].split() == ["10.0", "0.0", "b.py"] and lines[4].split() == ["4.5", "-", "a.py"]
    assert "14.5 s own" in lines[-1] and "not counted" in lines[-1]
    assert cputime.summary_lines([], run_engine=1.0) == []
