"""In CI, a test skipped for a missing tool fails the run and names the tool (issue 18 item 4).

A real pytest run (subprocess) of a few tests that skip, with tests/conftest.py loaded as a
plugin, once as on a developer's machine and once with ``CI=true`` as `.ci/run` has it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

SAMPLE = '''
import pytest
from needs import missing, module


def test_helper():
    missing("frobnicator", "apt-get install frobnicator")


def test_importorskip():
    pytest.importorskip("no_such_module_spbe")


def test_plain_skip_naming_a_tool():
    pytest.skip("zstd is not installed")


def test_needs_module():
    module("no_such_module_spbe")


def test_skip_for_another_reason():
    pytest.skip("catalog/e-office is not there yet")


def test_runs():
    assert True
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO)])
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-c", os.devnull, "--rootdir", str(tmp_path), "-q", "-rA", str(tmp_path / "test_sample.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_outside_ci_a_missing_tool_skips(tmp_path: Path) -> None:
    proc = _run(tmp_path, None)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 passed, 5 skipped" in proc.stdout
    assert "missing tool: frobnicator: apt-get install frobnicator" in proc.stdout


def test_in_ci_a_missing_tool_fails_naming_it(tmp_path: Path) -> None:
    proc = _run(tmp_path, "true")
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert "4 failed, 1 passed, 1 skipped" in out
    for line in (
        "FAILED test_sample.py::test_helper",
        "FAILED test_sample.py::test_importorskip",
        "FAILED test_sample.py::test_plain_skip_naming_a_tool",
        "FAILED test_sample.py::test_needs_module",
        "SKIPPED [1] test_sample.py",
    ):
        assert line in out, out[-3000:]
    assert "CI runs every tier, but missing tool: frobnicator" in out
    assert "zstd is not installed" in out and "no_such_module_spbe" in out


def test_ci_false_is_not_ci(tmp_path: Path) -> None:
    assert _run(tmp_path, "false").returncode == 0
