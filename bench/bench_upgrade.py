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
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> int:
    import appdata
    from conftest import unique
    from simdc import SimDC, donor_kode, make_e2e_workspace, remove_docker_objects
    from test_upgrade import Site, build_bundles

    p = argparse.ArgumentParser()
    p.add_argument("--letters", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upgrade-") as tmpdir:
        tmp = Path(tmpdir)
        bundles, pub = build_bundles(tmp / "donor", ("1.0.0", "1.1.0"))
        dc = SimDC(name=unique("bench-upgrade"), base=tmp / "dcs", address="127.0.0.252", pemda="Kota Bench",
                   kode_wilayah="96.75").start()
        prefix = f"spbe-{dc.name}-{APP}-"
        try:
            w = make_e2e_workspace(tmp / "operator", {"bench": dc})
            w.cli("keys", "trust", str(pub), "--donor-kode", donor_kode(APP))
            today = dt.date.today()
            w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter",
                  dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", "PKS/BENCH/2026", "--signed",
                  today.isoformat(), "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
            w.cli("install", APP, "--target", dc.name, "--bundle", str(bundles["1.0.0"]), "--set",
                  "pemda_name=Pemerintah Kota Bench", timeout=1800)
            site = Site(w, dc, bundles, tmp / "donor")
            admin = (site.app_dir / "secrets" / "ADMIN_PASSWORD").read_text().strip()
            appdata.eoffice_seed(site.url(), admin, letters=args.letters, signed=min(20, args.letters // 2), tag="b")
            before = site.measure()
            restart = restart_baseline(site)

            t0 = time.monotonic()
            up = json.loads(w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(bundles["1.1.0"]), "--yes",
                                  "--json", timeout=3600).stdout)["result"]
            upgrade_wall = time.monotonic() - t0
            assert site.measure().counts["letters"] == before.counts["letters"]

            t0 = time.monotonic()
            back = json.loads(w.cli("rollback", APP, "--target", dc.name, "--yes", "--json",
                                    timeout=3600).stdout)["result"]
            rollback_wall = time.monotonic() - t0
            equal = site.measure().same_data(before)
        finally:
            remove_docker_objects(prefix)
            dc.stop()
    ratio = up["bytes_sent"] / up["bytes_missing"] if up["bytes_missing"] else float("nan")
    print(f"e-office 1.0.0 -> 1.1.0 with {args.letters} letters ({before.total_rows} rows)")
    print(f"  bytes shipped            {up['bytes_sent']:>12,}  ({up['blobs_sent']} blobs)")
    print(f"  bytes the target lacked  {up['bytes_missing']:>12,}")
    print(f"  RATIO shipped / lacked   {ratio:>12.3f}   (goal <= 1.05)")
    print(f"  baseline restart         {restart:>10.1f} s  (docker stop + start until /healthz)")
    print(f"  downtime                 {up['downtime_s']:>10.1f} s  RATIO downtime / restart {up['downtime_s'] / restart:.1f}")
    print(f"  upgrade wall time        {upgrade_wall:>10.1f} s  (plan, checks, ship, backup, swap, health)")
    print(f"  rollback wall time       {rollback_wall:>10.1f} s  RATIO rollback / restart {rollback_wall / restart:.1f}"
          f"  (restored {back['restored']}; rows equal: {equal})")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
