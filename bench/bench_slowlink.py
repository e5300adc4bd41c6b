"""Benchmark (not a test): a fresh install into a provisioned bare server over a slow link.

    python3 bench/bench_slowlink.py [APP] [--rate-mbit 20] [--rtt-ms 80] [--sample-mb 32]

Starts a simulated bare server (tests/e2e/baresrv.py: Debian 12, own network namespace, own
sshd), provisions it from an offline provision bundle on the fast link (not measured here),
then makes the link slow (tc netem on the veth; where the kernel lacks netem, the user-space
link emulator tests/e2e/linkemu.py on a TUN pair with the same addresses) and times a fresh
install of APP (default e-office) with ``spbe_share.deploy.install``.

Printed: the install's wall time and phases; its byte counts: the blob bytes the target lacked
(as install reports them) and the bytes that really crossed the link both ways (Ansible's ssh
runs with -C, so compressible layers shrink on the wire); and, measured in the same run over
the same slow link, a raw ``ssh cat > /dev/null`` of --sample-mb MB of random data, whose
rate gives the time a raw copy of the bytes that crossed the link would take. The ratio
install / raw is the cost of everything that is not moving bytes (round trips, image loading,
start, health). Upgrade times come later, when ``spbe-share upgrade`` exists.

Needs root, the Docker engine (the app's images are built when missing), debootstrap and
this machine's apt mirror (the bare server's root and the provision bundle; both cached).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO))


def raw_ssh_seconds(server, megabytes: int) -> float:  # noqa: ANN001
    """Wall time of ``ssh server 'cat > /dev/null'`` fed ``megabytes`` MB of random data."""
    data = os.urandom(megabytes << 20)
    argv = ["ssh", "-i", str(server.client_key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"root@{server.address}", "cat > /dev/null"]  # fmt: skip
    t0 = time.monotonic()
    subprocess.run(argv, input=data, check=True)  # noqa: S603
    return time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("app", nargs="?", default="e-office")
    p.add_argument("--set", dest="sets", action="append", default=["pemda_name=Pemerintah Kabupaten Bench"])
    p.add_argument("--rate-mbit", type=float, default=20)
    p.add_argument("--rtt-ms", type=float, default=80)
    p.add_argument("--sample-mb", type=int, default=32)
    args = p.parse_args()

    from baresrv import BareServer, bare_available
    from simdc import run_cli

    from spbe_share.bundle.keys import generate_key
    from spbe_share.catalog.loader import get_entry
    from spbe_share.deploy.bundles import locate_bundle
    from spbe_share.deploy.core import OpContext
    from spbe_share.deploy.install import install
    from spbe_share.workspace import Workspace

    reason = bare_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="spbe-bench-slow-"))
    server = BareServer(base=tmp, name="bench-bare", pemda="Kabupaten Bench", kode_wilayah="91.99")
    try:
        server.start()
        home = tmp / "ws"
        run_cli(home, *server.target_add_args())
        ws = Workspace.from_options(home)
        # this workspace plays the donor: its key signs the bundle for the entry's donor
        donor_kode = get_entry(ws, args.app).entry.donor.kode_wilayah
        generate_key(ws, name="donor", donor_kode=donor_kode)
        today = dt.date.today()
        run_cli(home, "mou", "add", "--app", args.app, "--donor", "Donor", "--donor-kode", donor_kode,
                "--adopter", server.pemda, "--adopter-kode", server.kode_wilayah, "--number", "PKS/BENCH/SLOW",
                "--signed", (today - dt.timedelta(days=1)).isoformat(),
                "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
        bundle = locate_bundle(ws, app=args.app, version=None, bundle=None, say=lambda m: None)
        run_cli(home, "provision-bundle", "build", "--os", "debian-12", timeout=1800)
        opts = [f"--docker-daemon-opt={k}={json.dumps(v) if not isinstance(v, str) else v}"
                for k, v in server.docker_daemon_options().items()]
        run_cli(home, "target", "provision", server.name, *opts, timeout=1800)

        how = server.limit_link(rate_mbit=args.rate_mbit, rtt_ms=args.rtt_ms)
        raw_s = raw_ssh_seconds(server, args.sample_mb)
        raw_mbit = args.sample_mb * 8 * 1.048576 / raw_s
        tx0, rx0 = server.link_bytes()
        t0 = time.monotonic()
        result = install(OpContext.create(ws), app=args.app, target_name=server.name, sets=args.sets, bundle=bundle)
        wall = time.monotonic() - t0
        tx1, rx1 = server.link_bytes()
        server.unlimit_link()

        wire = tx1 - tx0
        raw_for_wire = wire * 8 / (raw_mbit * 1e6)
        print(f"app {args.app} {result.version} -> bare server {server.address} over {args.rate_mbit:g} Mbit/s,"
              f" {args.rtt_ms:g} ms RTT ({how})")
        print(f"raw ssh cat of {args.sample_mb} MB: {raw_s:.1f}s = {raw_mbit:.1f} Mbit/s on this link")
        print(f"fresh install: {wall:.1f}s wall ({result.seconds:.1f}s in the playbook)")
        print("  phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.phase_seconds.items()))
        print(f"  bytes: {result.bytes_sent / 1e6:.1f} MB of blobs ({result.blobs_sent}/{result.blobs_total} blobs);"
              f" on the link {wire / 1e6:.1f} MB to the server, {(rx1 - rx0) / 1e6:.1f} MB back")
        print(f"  a raw ssh copy of the {wire / 1e6:.1f} MB that crossed the link: {raw_for_wire:.1f}s;"
              f" install / raw = {wall / raw_for_wire:.2f}")
        print(f"  the blob bytes at the nominal {args.rate_mbit:g} Mbit/s, uncompressed:"
              f" {result.bytes_sent * 8 / (args.rate_mbit * 1e6):.1f}s")
        print("upgrade over the slow link: not measured yet (no `spbe-share upgrade` command)")
        return 0
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
