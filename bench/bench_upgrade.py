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
    assert site.measure().counts["letters"] == before.counts["letters"]
    if at_1_1_0 is not None:
        at_1_1_0(up)

    t0 = time.monotonic()
    back = json.loads(w.cli("rollback", APP, "--target", dc.name, "--yes", "--json", timeout=3600).stdout)["result"]
    rollback_wall = time.monotonic() - t0
    equal = site.measure().same_data(before)
    return Figures(letters, before, restart, up, upgrade_wall, back, rollback_wall, equal)


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
    ]


def main() -> int:
    from test_upgrade import installed_eoffice

    p = argparse.ArgumentParser()
    p.add_argument("--letters", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upgrade-") as tmpdir, installed_eoffice(
            Path(tmpdir), name="bench-upgrade", address="127.0.0.252", pemda="Kota Bench", kode_wilayah="96.75",
            number="PKS/BENCH/2026", letters=args.letters, signed=min(20, args.letters // 2), tag="b") as site:
        figures = measure(site, args.letters)
    print("\n".join(report(figures)))
    return 0 if figures.equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
