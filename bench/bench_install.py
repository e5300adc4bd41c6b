"""Benchmark (not a test): a fresh install into a simulated data center over real SSH.

    python3 bench/bench_install.py [APP] [--set NAME=VALUE ...]

Starts a throwaway sshd DC (tests/e2e/simdc.py) on a free loopback address, adds it as a
target, records an agreement, then installs APP (default pengaduan) twice through
``spbe_share.deploy.install``. Prints the first install's wall time split into verify,
preflight, transfer, load, start, health (from the runner's per-task timings; task names
carry the phase), the bytes sent over SSH, and the repeated install's time as a ratio.

Bytes sent = the sizes of the blob files the playbook copied (the target reported which it
lacked) plus the small files (entry, templates, playbooks, manifest); SSH framing and Ansible's
own module transfers are NOT counted (no per-connection traffic counters here).
Needs root (sshd), the Docker engine, and the app's images (built when missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("app", nargs="?", default="pengaduan")
    p.add_argument("--set", dest="sets", action="append", default=[])
    args = p.parse_args()

    from simdc import TARGET_PYTHON, SimDC, run_cli, sshd_available

    from spbe_share.deploy.install import install, verified_bundle_dir
    from spbe_share.workspace import Workspace

    reason = sshd_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="spbe-bench-"))
    target = "bench-dc"
    dc = SimDC(name=target, base=tmp, address="127.0.0.240", pemda="Kota Bench", kode_wilayah="96.79").start()
    try:
        home = tmp / "ws"
        run_cli(home, *dc.target_add_args(), "--python", TARGET_PYTHON)
        today = dt.date.today()
        run_cli(home, "mou", "add", "--app", args.app, "--donor", "Donor", "--donor-kode", "91",
                "--adopter", dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", "PKS/BENCH/1",
                "--signed", (today - dt.timedelta(days=1)).isoformat(),
                "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
        ws = Workspace.from_options(home)

        # build (or reuse the host's images) and sign the bundle first: not part of the install time
        from spbe_share.deploy.install import locate_bundle

        bundle = locate_bundle(ws, app=args.app, version=None, bundle=None, say=lambda m: None)
        shutil.rmtree(ws.cache_dir / "bundles", ignore_errors=True)
        t0 = time.monotonic()
        manifest, _ = verified_bundle_dir(ws, bundle)
        verify_s = time.monotonic() - t0

        t0 = time.monotonic()
        first = install(ws, app=args.app, target_name=target, sets=args.sets, bundle=bundle)
        first_s = time.monotonic() - t0
        t0 = time.monotonic()
        second = install(ws, app=args.app, target_name=target, sets=args.sets, bundle=bundle)
        second_s = time.monotonic() - t0

        small = sum(f.size for f in manifest.files if not f.path.startswith("blobs/"))
        ph = first.phase_seconds
        checks_s = first_s - first.seconds  # host key, verify (cached now), render, preflight
        print(f"app {args.app} {first.version} -> {target} ({dc.address}), bundle {bundle.stat().st_size / 1e6:.1f} MB")
        print(f"verify (signature + digests, first extraction): {verify_s:6.1f} s")
        print(f"checks before any change (host key, verify, preflight): {checks_s:6.1f} s")
        print(f"install playbook total:                         {first.seconds:6.1f} s")
        for label, key in (("  transfer (Ship)", "Ship"), ("  load (docker load)", "Load"),
                           ("  configure", "Configure"), ("  start", "Start"), ("  health", "Health"),
                           ("  record + lock", "Record")):
            extra = ph.get("Lock", 0.0) if key == "Record" else 0.0
            print(f"{label:<48}{ph.get(key, 0.0) + extra:6.1f} s")
        print(f"first install wall time:                        {first_s:6.1f} s")
        print(f"bytes sent: {first.bytes_sent + small:,} ({first.blobs_sent}/{first.blobs_total} blobs"
              f" = {first.bytes_sent:,} B, small files {small:,} B; counted from shipped file sizes)")
        print(f"repeat install: {second_s:.1f} s = {second_s / first_s:.2f} x first;"
              f" changed={second.changed}, bytes sent {second.bytes_sent:,}")
    finally:
        prefix = f"spbe-{target}-"
        names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,  # noqa: S607
                               check=False).stdout.split()
        mine = [n for n in names if n.startswith(prefix)]
        if mine:
            subprocess.run(["docker", "rm", "-f", *mine], capture_output=True, check=False)  # noqa: S603,S607
        for kind in ("volume", "network"):
            objs = subprocess.run(["docker", kind, "ls", "--format", "{{.Name}}"], capture_output=True,  # noqa: S603,S607
                                  text=True, check=False).stdout.split()
            mine = [o for o in objs if o.startswith(prefix)]
            if mine:
                subprocess.run(["docker", kind, "rm", *mine], capture_output=True, check=False)  # noqa: S603,S607
        dc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
