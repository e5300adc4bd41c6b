"""Shared fixtures of every test tier.

``hostile``: strings for the "nothing from outside is ever templated" tests (issue 7 item 1).
Each would run ``touch <marker dir>/<name>`` on the controller if Ansible (or jinja2) ever
rendered it: Jinja delimiters, ``#jinja2:`` headers that change the delimiters, blocks,
lookups, queries and filters. ``hostile.strings`` has them with the marker folder filled in,
``hostile.ran()`` lists the ones that ran, ``hostile.typed_looking`` strings YAML would read
as numbers, booleans, null or dates.

CI: a test skipped for a missing tool (``tests/needs.py``) fails when ``CI`` is set.

Order: the tests run in pytest-xdist workers, one test file per worker at a time (pyproject
``addopts``: ``--dist loadgroup`` with :func:`pytest_xdist_make_scheduler`'s scheduling; a test
marked ``xdist_group(NAME)`` is a unit of its own with the others of NAME), files handed out in
collection order, each when a worker starts its last test. :func:`pytest_collection_modifyitems`
puts the slowest files first (:data:`SLOWEST_FIRST`, measured), then the rest of the e2e,
integration and browser tiers, then the unit tests, which fill the gaps at the end. Tests
keep their order inside a file (module-scoped installs rely on it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cputime
import pytest
from needs import MISSING_TOOL, in_ci

TEMPLATES = {
    "header_brackets": "#jinja2:variable_start_string:'[[', variable_end_string:']]'\nKota [[ lookup('pipe','touch {d}/header_brackets') ]]",
    "header_angles": "#jinja2:variable_start_string:'<<', variable_end_string:'>>'\n<< lookup('pipe','touch {d}/header_angles') >>",
    "header_blocks": "#jinja2:block_start_string:'<%', block_end_string:'%>'\n<% if lookup('pipe','touch {d}/header_blocks') %>y<% endif %>",
    "header_trim": "#jinja2: trim_blocks:False, variable_start_string:'((', variable_end_string:'))'\n(( query('pipe','touch {d}/header_trim') ))",
    "braces": "{{ lookup('pipe', 'touch {d}/braces') }}",
    "block": "{% set x = lookup('pipe','touch {d}/block') %}{{ x }}",
    "filter": "{{ 'x' | regex_replace('x', lookup('ansible.builtin.pipe','touch {d}/filter')) | upper }}",
    "query": "Kota {{ query('ansible.builtin.pipe', 'touch {d}/query') | first }} Sorong",
    "comment_then_braces": "{# hi #}{{ lookup('pipe','touch {d}/comment_then_braces') }}",
    "plain_brackets": "[[ lookup('pipe','touch {d}/plain_brackets') ]]",
}

# strings YAML would read as another type: they must arrive as the same strings
TYPED_LOOKING = {"zeros": "00", "kode": "96.71", "yes": "true", "nul": "null", "exp": "1e3", "date": "2026-01-01"}


# The slowest test files, slowest first (`--durations`, one worker): they start first, so the
# last file to finish is a short one. A file not named here keeps its tier's place.
SLOWEST_FIRST = (
    "e2e/test_upgrade_undo.py",
    "e2e/test_provision.py",
    "e2e/test_data_ops.py",
    "e2e/test_upgrade.py",
    "e2e/test_fleet.py",
    "e2e/test_zerodt.py",
    "e2e/test_benchmarks.py",  # each benchmark a unit of its own (xdist_group)
    "e2e/test_install.py",
    "e2e/test_newcomer.py",
    "e2e/test_interrupts.py",
    "e2e/test_backup_playbooks.py",
    "e2e/test_backup_fetch_hostile.py",
    "e2e/test_hostile_install.py",
    "e2e/test_targets.py",
)
TIER_ORDER = ("e2e", "integration", "browser", "unit")


def _file_rank(path: Path) -> tuple[int, int]:
    rel = path.resolve().relative_to(Path(__file__).resolve().parent).as_posix()
    if rel in SLOWEST_FIRST:
        return (0, SLOWEST_FIRST.index(rel))
    tier = rel.split("/", 1)[0]
    return (1, TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown where xdist is off (-p no:xdist)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (pyproject addopts) as :class:`FileScheduling`; other modes as xdist has them."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class FileScheduling(LoadGroupScheduling):  # type: ignore[misc]
        """A test file (or an ``xdist_group``) at a time per worker, handed out late.

        * Scope: a file's tests run on one worker, in file order (module-scoped installs stay
          one install), unless a test names an ``xdist_group``: then its group is the unit,
          so one file can spread independent slow tests over the workers.
        * When: xdist gives a worker its next unit once it has 2 tests left; with tests of
          minutes that unit then waits behind them while another worker may run dry. Here
          the next unit goes out when the worker's last test starts (a worker runs its last
          test only once it knows what comes after it, or that nothing does).
        """

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return nodeid.rsplit("@", 1)[-1]
            return nodeid.split("::", 1)[0]

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

    return FileScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    ranks: dict[str, tuple[int, int]] = {}
    for item in items:
        key = str(item.path)
        if key not in ranks:
            try:
                ranks[key] = _file_rank(item.path)
            except ValueError:  # outside tests/
                ranks[key] = (2, 0)
    items.sort(key=lambda item: ranks[str(item.path)])  # stable: a file's tests keep their order


# CPU seconds of each test phase (tests/cputime.py): the mark at the start of the phase,
# the figures added to the phase's report (its user_properties reach the controlling process).
_PHASE_START = pytest.StashKey[tuple[float, "float | None"]]()


def _start_phase(item: pytest.Item) -> Iterator[None]:
    item.stash[_PHASE_START] = cputime.mark()
    yield


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _start_phase(item)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _start_phase(item)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _start_phase(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Adds the phase's CPU seconds to its report; in CI (``CI`` set), a test skipped for a
    missing tool fails, naming it (tests/needs.py)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    start = item.stash.get(_PHASE_START, None)
    if start is not None:
        report.user_properties.extend(cputime.since(start))
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if MISSING_TOOL.search(reason):
        report.outcome = "failed"
        report.longrepr = f"CI runs every tier, but this test was skipped: {reason}"


@dataclass(frozen=True)
class Hostile:
    marker_dir: Path

    @property
    def strings(self) -> dict[str, str]:
        return {name: text.replace("{d}", str(self.marker_dir)) for name, text in TEMPLATES.items()}

    @property
    def typed_looking(self) -> dict[str, str]:
        return dict(TYPED_LOOKING)

    def ran(self) -> list[str]:
        """Names of the hostile strings that ran (their marker file exists)."""
        return sorted(p.name for p in self.marker_dir.iterdir()) if self.marker_dir.is_dir() else []


@pytest.fixture
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    marker_dir = tmp_path_factory.mktemp("ran")
    return Hostile(marker_dir)


# Tables that e2e modules write while they run (``.test-artifacts/*.matrix.txt``, e.g. the
# upgrade fault matrix): printed at the end of the run, here in the controlling process, since
# xdist workers' own prints are not shown.
_STARTED = time.time()
_ENGINE_AT_START = cputime.engine_cpu()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    out = Path(os.environ.get("SPBE_SHARE_ARTIFACTS", Path(__file__).resolve().parents[1] / ".test-artifacts"))
    for table in sorted(out.glob("*.matrix.txt")) if out.is_dir() else []:
        if table.stat().st_mtime >= _STARTED:
            terminalreporter.write_sep("-", table.name)
            for line in table.read_text().splitlines():
                terminalreporter.write_line(line)
    _file_durations(terminalreporter)


def file_durations(reports: list[pytest.TestReport]) -> dict[str, float]:
    """Seconds per test file (setup + call + teardown of its tests): under ``--dist loadfile``
    a file runs on one worker, so this is the time it holds a worker."""
    per_file: dict[str, float] = {}
    for r in reports:
        name = r.nodeid.split("::", 1)[0]
        per_file[name] = per_file.get(name, 0.0) + float(getattr(r, "duration", 0.0) or 0.0)
    return per_file


def _file_durations(terminalreporter: pytest.TerminalReporter, top: int = 12) -> None:
    """The slowest test files and the run's wall time: what to look at when CI gets slower
    (SLOWEST_FIRST above is the order to keep up to date)."""
    reports = [r for key in ("passed", "failed", "skipped", "error", "")
               for r in terminalreporter.stats.get(key, []) if isinstance(r, pytest.TestReport)]  # fmt: skip
    per_file = file_durations(reports)
    if not per_file:
        return
    terminalreporter.write_sep("-", f"slowest {min(top, len(per_file))} test files (seconds on their worker)")
    for name, seconds in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
        terminalreporter.write_line(f"{seconds:8.1f}s {name}")
    terminalreporter.write_line(f"{sum(per_file.values()):8.1f}s in all test files; wall time "
                                f"{time.time() - _STARTED:.1f}s")  # fmt: skip
    engine_now = cputime.engine_cpu()
    run_engine = None if engine_now is None or _ENGINE_AT_START is None else engine_now - _ENGINE_AT_START
    lines = cputime.summary_lines(reports, run_engine=run_engine, top=top)
    if lines:
        terminalreporter.write_sep("-", lines[0])
        for line in lines[1:]:
            terminalreporter.write_line(line)
