"""CPU seconds per test and per test file, so that a CI regression shows as work, not wall time.

The CI machine has 2 cores and the e2e tier keeps them busy: wall time there follows the CPU
work of the whole run, and on a shared machine a wall figure mostly measures the neighbours.
So each test's report carries (``user_properties``, sent back by pytest-xdist's workers):

``cpu_s``     user + system CPU seconds of the worker process and of the children it reaped
              (``getrusage`` RUSAGE_SELF + RUSAGE_CHILDREN, deltas over the phase): the CLI runs,
              ansible-playbook, ssh, docker's client, the benchmarks' subprocesses, and the
              simulated data centers' sshd with every session it served (sshd runs as our child
              with ``-D``, and its sessions are its children: their CPU lands when the DC stops,
              i.e. in the teardown of the test that ends its fixture). Not counted: processes
              that left our tree (ssh ControlPersist masters).
``engine_s``  CPU seconds of the Docker engine over the same phase: dockerd (its pid file), its
              containerd, and the containers (the cgroup ``docker`` of cpuacct, cgroup v1, or of
              cgroup v2 with the cgroupfs driver). The engine is shared by the run's workers (and,
              on a developer's machine, by anyone else), so per test this is an upper bound; the
              run's total (measured by the controlling process) is exact on a CI machine of its own.
              ``None`` when the engine's figures cannot be read (told in the summary).

:func:`summary_lines` turns the reports into the lines the root conftest prints at the end.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CPU = "cpu_s"
ENGINE = "engine_s"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_CGROUP_FILES = (
    (Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage"), 1e-9),  # v1: nanoseconds
    (Path("/sys/fs/cgroup/cpu,cpuacct/docker/cpuacct.usage"), 1e-9),
    (Path("/sys/fs/cgroup/docker/cpu.stat"), 1e-6),  # v2, cgroupfs driver: usage_usec
)


def own_cpu() -> float:
    """CPU seconds of this process and of its reaped children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of ``pid`` from /proc/<pid>/stat, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / _TICK


def _engine_pids() -> list[int]:
    try:
        dockerd = int(Path("/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return []
    pids = [dockerd]
    for pid_file in (Path("/run/docker/containerd/containerd.pid"), Path("/run/containerd/containerd.pid")):
        try:
            pids.append(int(pid_file.read_text().strip()))
            break
        except (OSError, ValueError):
            continue
    return pids


def _containers_cpu() -> float | None:
    for path, unit in _CGROUP_FILES:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.name == "cpu.stat":
            usage = dict(line.split() for line in text.splitlines() if line.strip())
            return int(usage["usage_usec"]) * unit
        return int(text.strip()) * unit
    return None


def engine_cpu() -> float | None:
    """CPU seconds so far of dockerd, containerd and the containers; None if not readable."""
    containers = _containers_cpu()
    pids = _engine_pids()
    if containers is None or not pids:
        return None
    try:
        return containers + sum(_proc_cpu(pid) for pid in pids)
    except (OSError, ValueError, IndexError):
        return None


def mark() -> tuple[float, float | None]:
    return own_cpu(), engine_cpu()


def since(start: tuple[float, float | None]) -> list[tuple[str, float | None]]:
    """The ``user_properties`` of a phase that began at ``start`` (:func:`mark`)."""
    own, engine = mark()
    spent = None if engine is None or start[1] is None else round(engine - start[1], 3)
    return [(CPU, round(own - start[0], 3)), (ENGINE, spent)]


def per_test(reports: Iterable[Any]) -> dict[str, tuple[float, float | None]]:
    """nodeid -> (cpu_s, engine_s), setup + call + teardown summed."""
    out: dict[str, tuple[float, float | None]] = {}
    for r in reports:
        props = dict(getattr(r, "user_properties", ()) or ())
        if CPU not in props:
            continue
        cpu, engine = out.get(r.nodeid, (0.0, 0.0))
        more = props.get(ENGINE)
        out[r.nodeid] = (cpu + float(props[CPU]), None if engine is None or more is None else engine + float(more))
    return out


def per_file(tests: dict[str, tuple[float, float | None]]) -> dict[str, tuple[float, float | None]]:
    out: dict[str, tuple[float, float | None]] = {}
    for nodeid, (cpu, engine) in tests.items():
        name = nodeid.split("::", 1)[0]
        c, e = out.get(name, (0.0, 0.0))
        out[name] = (c + cpu, None if e is None or engine is None else e + engine)
    return out


def _fmt(engine: float | None) -> str:
    return "       -" if engine is None else f"{engine:8.1f}"


def summary_lines(reports: Iterable[Any], *, run_engine: float | None, top: int = 12) -> list[str]:
    """The slowest files and tests in CPU seconds, and the run's totals."""
    tests = per_test(reports)
    if not tests:
        return []
    files = per_file(tests)
    lines = [f"CPU seconds: slowest {min(top, len(files))} test files",
             "own: the worker and its reaped children; engine: dockerd, containerd and the containers"
             " (shared by the workers)",
             "     own   engine  file"]
    for name, (cpu, engine) in sorted(files.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{cpu:8.1f} {_fmt(engine)}  {name}")
    lines.append(f"slowest {min(top, len(tests))} tests in CPU seconds (setup + call + teardown)")
    for name, (cpu, engine) in sorted(tests.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{cpu:8.1f} {_fmt(engine)}  {name}")
    total = sum(cpu for cpu, _ in tests.values())
    engine_note = ("not readable here (no /run/docker.pid or docker cgroup): not counted"
                   if run_engine is None else f"{run_engine:.1f} s")
    lines.append(f"CPU in all tests: {total:.1f} s own; Docker engine over the run: {engine_note}")
    return lines
