"""Benchmark (not a test): e-office 1.0.0 -> 1.1.0 upgrade and rollback over SSH.

    python3 bench/bench_upgrade.py [--letters N]

Starts a throwaway sshd DC (tests/e2e/simdc.py), installs the real e-office 1.0.0 (built from
its recorded source commit), makes N letters (with dispositions and signatures) through its
API, then measures, in the same run:

* baseline: a plain restart of the 1.0.0 containers (docker stop, docker start, until /healthz
  answers): what any restart costs on this machine;
* ``spbe-share upgrade`` to 1.1.0: bytes shipped / bytes of the blobs the target lacked (goal
  <= 1.05), downtime (from the task stopping 1.0.0 to the end of 1.1.0's health checks), total
  time; every letter kept (checked);
* ``spbe-share rollback``: wall time (a pre-rollback backup, restore of the pre-upgrade backup,
  1.0.0 started and healthy), and that the rows equal those before the upgrade.

Prints the figures and the ratios downtime / restart and rollback / restart. Needs root (sshd),
the Docker engine and the e-office images (built from their commits when missing).

``--code-only`` (issue 21 item 2): e-office 1.1.0 installed with ``--domain`` (behind its TLS
proxy), a client polling ``/healthz`` through HTTPS every 100 ms (a new verified TLS connection
each), then, in the same run:

* baseline: a plain restart of the web container (docker stop, docker start, until the proxy
  answers again): its wall time and the requests that failed meanwhile;
* ``spbe-share upgrade`` to 1.1.1 (code only: the zero-downtime path): wall time, failed
  requests, blobs shipped / blobs the target lacked (the physical floor of the changed bytes);
* ``spbe-share rollback`` (a switch back): wall time, failed requests.

Its smoke run in CI is tests/e2e/test_zerodt.py (the same site, ``installed_with_domain``).

Its smoke run in CI is tests/e2e/test_upgrade.py's upgrade test: the same site (``installed_eoffice``),
and this file's :func:`measure` and :func:`report` for its upgrade and rollback.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))  # first: its conftest (unique) is the one imported

APP = "e-office"


def restart_baseline(site) -> float:  # type: ignore[no-untyped-def]
    """Seconds to stop and start the serving containers until the app answers /healthz."""
    import urllib.request

    t0 = time.monotonic()
    subprocess.run(["docker", "stop", site.web, site.db], check=True, capture_output=True)  # noqa: S603,S607
    subprocess.run(["docker", "start", site.db], check=True, capture_output=True)  # noqa: S603,S607
    subprocess.run(["docker", "start", site.web], check=True, capture_output=True)  # noqa: S603,S607
    while True:
        try:
            with urllib.request.urlopen(site.url() + "/healthz", timeout=3) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)


@dataclass
class Figures:
    """What one measured upgrade and rollback gave (the CLI's ``--json`` results and walls)."""

    letters: int
    before: Any  # appdata.Fingerprint of the 1.0.0 data before the upgrade
    restart: float
    up: dict[str, Any]
    upgrade_wall: float
    back: dict[str, Any]
    rollback_wall: float
    equal: bool
    outage: list[tuple[str, float]]  # the upgrade's tasks from the stop of 1.0.0 to 1.1.0 healthy


def outage_tasks(run_dir: str) -> list[tuple[str, float]]:
    """The tasks of the upgrade's run inside its downtime (as ``downtime_of`` counts it), in order."""
    from bench_slowlink import run_tasks

    tasks = [(name, secs) for name, secs, _ in run_tasks(Path(run_dir), in_order=True)]
    start = next((i for i, (n, _) in enumerate(tasks) if n.startswith("Stop: stop the old containers")), len(tasks))
    end = max((i for i, (n, _) in enumerate(tasks) if n.startswith("Health:") and i > start), default=len(tasks) - 1)
    return tasks[start:end + 1]


def measure(site, letters: int, *, at_1_1_0: Callable[[dict[str, Any]], None] | None = None) -> Figures:  # type: ignore[no-untyped-def]
    """On ``site`` (1.0.0 serving): the restart baseline, ``upgrade`` to 1.1.0 (every letter
    kept, checked), then ``rollback``, each timed. ``at_1_1_0(upgrade result)`` runs between
    the two (tests/e2e/test_upgrade.py checks the 1.1.0 deployment there: the same run is its
    test and this benchmark's smoke run)."""
    w, dc = site.w, site.dc
    before = site.measure()
    restart = restart_baseline(site)

    t0 = time.monotonic()
    up = json.loads(w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(site.bundles["1.1.0"]), "--yes",
                          "--json", timeout=3600).stdout)["result"]
    upgrade_wall = time.monotonic() - t0
    outage = outage_tasks(up["run_dir"])
    assert site.measure().counts["letters"] == before.counts["letters"]
    if at_1_1_0 is not None:
        at_1_1_0(up)

    t0 = time.monotonic()
    back = json.loads(w.cli("rollback", APP, "--target", dc.name, "--yes", "--json", timeout=3600).stdout)["result"]
    rollback_wall = time.monotonic() - t0
    equal = site.measure().same_data(before)
    return Figures(letters, before, restart, up, upgrade_wall, back, rollback_wall, equal, outage)


def report(f: Figures) -> list[str]:
    up = f.up
    ratio = up["bytes_sent"] / up["bytes_missing"] if up["bytes_missing"] else float("nan")
    return [
        f"e-office 1.0.0 -> 1.1.0 with {f.letters} letters ({f.before.total_rows} rows)",
        f"  bytes shipped            {up['bytes_sent']:>12,}  ({up['blobs_sent']} blobs)",
        f"  bytes the target lacked  {up['bytes_missing']:>12,}",
        f"  RATIO shipped / lacked   {ratio:>12.3f}   (goal <= 1.05)",
        f"  baseline restart         {f.restart:>10.1f} s  (docker stop + start until /healthz)",
        f"  downtime                 {up['downtime_s']:>10.1f} s  RATIO downtime / restart {up['downtime_s'] / f.restart:.1f}",
        f"  upgrade wall time        {f.upgrade_wall:>10.1f} s  (plan, checks, ship, backup, swap, health)",
        f"  rollback wall time       {f.rollback_wall:>10.1f} s  RATIO rollback / restart {f.rollback_wall / f.restart:.1f}"
        f"  (restored {f.back['restored']}; rows equal: {f.equal})",
        f"  the downtime's {len(f.outage)} tasks, in order:",
        *[f"    {secs:5.2f} s  {name}" for name, secs in f.outage],
    ]


@dataclass
class CodeOnly:
    """What one measured code-only upgrade and its switch-back gave (``--code-only``)."""

    restart: float
    restart_failed: int
    restart_requests: int
    up: dict[str, Any]
    up_served: list[str]
    up_failed: list[tuple[float, str]]
    up_requests: int
    upgrade_wall: float
    back: dict[str, Any]
    back_served: list[str]
    back_failed: list[tuple[float, str]]
    back_requests: int
    rollback_wall: float


def restart_through_proxy(site) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """A plain restart of the web container while the poller runs: seconds until the proxy
    answers again, requests failed, requests made."""
    from spbe_share.records import state

    poll = site.poller()
    web = state.container_name(site.dc.name, APP, "web")

    def restart() -> None:
        subprocess.run(["docker", "stop", web], check=True, capture_output=True)  # noqa: S603,S607
        subprocess.run(["docker", "start", web], check=True, capture_output=True)  # noqa: S603,S607
        while True:
            try:
                poll.get()
                return
            except (OSError, RuntimeError, ValueError):
                time.sleep(0.1)

    t0 = time.monotonic()
    poll.around(restart)
    return time.monotonic() - t0, len(poll.failed), len(poll.seen) + len(poll.failed)


def measure_code_only(site, *, at_1_1_1: Callable[[dict[str, Any]], None] | None = None) -> CodeOnly:  # type: ignore[no-untyped-def]
    """On ``site`` (1.1.0 behind its proxy): the restart baseline, ``upgrade`` to 1.1.1 and
    ``rollback``, each timed with the poller running. ``at_1_1_1(upgrade's --json)`` runs between."""
    w, dc = site.w, site.dc
    restart, restart_failed, restart_requests = restart_through_proxy(site)
    poll = site.poller()
    t0 = time.monotonic()
    proc, up_served = poll.during(w, "upgrade", APP, "--target", dc.name, "--bundle", str(site.bundles["1.1.1"]),
                                  "--yes", "--json")
    upgrade_wall = time.monotonic() - t0
    up_failed, up_requests = list(poll.failed), len(poll.seen) + len(poll.failed)
    up = json.loads(proc.stdout)
    if at_1_1_1 is not None:
        at_1_1_1(up)
    t0 = time.monotonic()
    proc, back_served = poll.during(w, "rollback", APP, "--target", dc.name, "--yes", "--json")
    rollback_wall = time.monotonic() - t0
    return CodeOnly(restart, restart_failed, restart_requests, up, up_served, up_failed, up_requests, upgrade_wall,
                    json.loads(proc.stdout), back_served, list(poll.failed), len(poll.seen) + len(poll.failed),
                    rollback_wall)


def report_code_only(f: CodeOnly) -> list[str]:
    up = f.up["result"]
    floor = up["bytes_missing"]
    return [
        f"e-office 1.1.0 -> 1.1.1 (code only) behind its TLS proxy: path {f.up['plan']['route']['path']}",
        f"  baseline restart of web  {f.restart:>10.1f} s  {f.restart_failed} of {f.restart_requests} requests failed",
        f"  upgrade wall time        {f.upgrade_wall:>10.1f} s  {len(f.up_failed)} of {f.up_requests} requests failed"
        f"  (served {' -> '.join(f.up_served)})",
        f"  RATIO upgrade / restart  {f.upgrade_wall / f.restart:>12.1f}   failed requests {len(f.up_failed)} vs"
        f" {f.restart_failed}",
        f"  blobs shipped            {up['bytes_sent']:>12,}  ({up['blobs_sent']} blobs)",
        f"  bytes the target lacked  {floor:>12,}  RATIO shipped / lacked"
        f" {up['bytes_sent'] / floor if floor else float('nan'):.3f}",
        f"  the proxy's old workers  {up['switch']['drain']} in {up['switch']['drain_s']:.2f} s"
        f" ({up['switch']['old_workers']} of them), then the old web container stopped",
        f"  rollback (switch back)   {f.rollback_wall:>10.1f} s  {len(f.back_failed)} of {f.back_requests} requests"
        f" failed  (served {' -> '.join(f.back_served)})  RATIO rollback / restart {f.rollback_wall / f.restart:.1f}",
    ]


def main() -> int:
    from test_upgrade import installed_eoffice

    p = argparse.ArgumentParser()
    p.add_argument("--letters", type=int, default=200)
    p.add_argument("--code-only", action="store_true", help="e-office 1.1.0 -> 1.1.1 behind the TLS proxy instead")
    args = p.parse_args()
    if args.code_only:
        from test_zerodt import installed_with_domain

        with tempfile.TemporaryDirectory(prefix="bench-zerodt-") as tmpdir, installed_with_domain(
                Path(tmpdir), name="bench-zero", address="127.0.0.248") as zsite:
            code_only = measure_code_only(zsite)
        print("\n".join(report_code_only(code_only)))
        return 0 if not code_only.up_failed and not code_only.back_failed else 1
    with tempfile.TemporaryDirectory(prefix="bench-upgrade-") as tmpdir, installed_eoffice(
            Path(tmpdir), name="bench-upgrade", address="127.0.0.252", pemda="Kota Bench", kode_wilayah="96.75",
            number="PKS/BENCH/2026", letters=args.letters, signed=min(20, args.letters // 2), tag="b") as site:
        figures = measure(site, args.letters)
    print("\n".join(report(figures)))
    return 0 if figures.equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
