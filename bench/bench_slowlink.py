"""Benchmark (not a test): a fresh install and an upgrade into a provisioned bare server over a slow link.

    python3 bench/bench_slowlink.py [--rate-mbit 20] [--rtt-ms 80] [--sample-mb 32]

Starts a simulated bare server (tests/e2e/baresrv.py: Debian 12, own network namespace, own
sshd), provisions it from an offline provision bundle on the fast link (not measured here),
then makes the link slow (tc netem on the veth; where the kernel lacks netem, the user-space
link emulator tests/e2e/linkemu.py on a TUN pair with the same addresses) and times, over that
same link, with the operations core:

1. a fresh install of e-office 1.0.0 (``spbe_share.ops.install``);
2. the same install again, which changes nothing (the no-op check, one round trip);
3. the upgrade to 1.1.0 (``spbe_share.ops.upgrade``: plan, backup, ship what 1.1.0 adds,
   swap, health).

The bundles are the donor's real releases, each built from its recorded source commit and
signed by a donor key this workspace trusts for the donor. Printed per step: wall time, the
blob bytes shipped (as install/upgrade report them) and the bytes that really crossed the link
both ways; and, measured in the same run over the same slow link, a raw ``ssh cat > /dev/null``
of --sample-mb MB of random data, whose rate gives the time a raw copy of the bytes that
crossed the link would take. The ratio step / raw is the cost of everything that is not moving
bytes (round trips, image loading, backup, start, health).

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
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))  # its conftest first
sys.path.insert(0, str(REPO))


def raw_ssh_seconds(server, megabytes: int) -> float:  # noqa: ANN001
    """Wall time of ``ssh server 'cat > /dev/null'`` fed ``megabytes`` MB of random data."""
    data = os.urandom(megabytes << 20)
    argv = ["ssh", "-i", str(server.client_key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"root@{server.address}", "cat > /dev/null"]  # fmt: skip
    t0 = time.monotonic()
    subprocess.run(argv, input=data, check=True)  # noqa: S603
    return time.monotonic() - t0


APP = "e-office"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from-version", default="1.0.0")
    p.add_argument("--to-version", default="1.1.0")
    p.add_argument("--set", dest="sets", action="append", default=["pemda_name=Pemerintah Kabupaten Bench"])
    p.add_argument("--rate-mbit", type=float, default=20)
    p.add_argument("--rtt-ms", type=float, default=80)
    p.add_argument("--sample-mb", type=int, default=32)
    args = p.parse_args()

    from baresrv import BareServer, bare_available
    from simdc import donor_kode, run_cli
    from test_upgrade import build_bundles

    from spbe_share.errors import SpbeError
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import install
    from spbe_share.ops.upgrade import upgrade
    from spbe_share.workspace import Workspace

    reason = bare_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="spbe-bench-slow-"))
    server = BareServer(base=tmp, name="bench-bare", pemda="Kabupaten Bench", kode_wilayah="91.99")
    rows: list[tuple[str, float, int, int, int]] = []  # step, wall s, blob bytes shipped, to server, back
    keep = False
    try:
        server.start()
        home = tmp / "ws"
        run_cli(home, *server.target_add_args())
        ws = Workspace.from_options(home)
        # the donor's releases, each built from its recorded commit; its key trusted for the donor
        bundles, pub = build_bundles(tmp / "donor", (args.from_version, args.to_version))
        run_cli(home, "keys", "trust", str(pub), "--donor-kode", donor_kode(APP))
        today = dt.date.today()
        run_cli(home, "mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP),
                "--adopter", server.pemda, "--adopter-kode", server.kode_wilayah, "--number", "PKS/BENCH/SLOW",
                "--signed", (today - dt.timedelta(days=1)).isoformat(),
                "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
        run_cli(home, "provision-bundle", "build", "--os", "debian-12", timeout=1800)
        opts = [f"--docker-daemon-opt={k}={json.dumps(v) if not isinstance(v, str) else v}"
                for k, v in server.docker_daemon_options().items()]
        run_cli(home, "target", "provision", server.name, *opts, timeout=1800)

        how = server.limit_link(rate_mbit=args.rate_mbit, rtt_ms=args.rtt_ms)
        raw_s = raw_ssh_seconds(server, args.sample_mb)
        raw_mbit = args.sample_mb * 8 * 1.048576 / raw_s
        print(f"link: {how}; raw ssh cat of {args.sample_mb} MB: {raw_s:.1f}s", flush=True)

        def timed(step: str, fn):  # type: ignore[no-untyped-def]
            tx0, rx0 = server.link_bytes()
            t0 = time.monotonic()
            out = fn()
            wall = time.monotonic() - t0
            tx1, rx1 = server.link_bytes()
            shipped = out.bytes_sent if hasattr(out, "bytes_sent") else out[1].bytes_sent
            rows.append((step, wall, shipped, tx1 - tx0, rx1 - rx0))
            print(f"done: {step}: {wall:.1f}s, {shipped:,} B of blobs, {(tx1 - tx0):,} B to the server,"
                  f" {(rx1 - rx0):,} B back", flush=True)
            return out

        first = timed(f"fresh install {args.from_version}", lambda: install(
            OpContext.create(ws), app=APP, target_name=server.name, sets=args.sets, bundle=bundles[args.from_version]))
        again = timed("the same install again (no-op)", lambda: install(
            OpContext.create(ws), app=APP, target_name=server.name, sets=args.sets, bundle=bundles[args.from_version]))
        try:
            _plan, up = timed(f"upgrade {args.from_version} -> {args.to_version}", lambda: upgrade(
                OpContext.create(ws), app=APP, target_name=server.name, bundle=bundles[args.to_version]))
        except SpbeError as exc:
            failed = exc
            up = None
        server.unlimit_link()

        print(f"{APP} -> bare server {server.address} over {args.rate_mbit:g} Mbit/s, {args.rtt_ms:g} ms RTT ({how})")
        print(f"raw ssh cat of {args.sample_mb} MB: {raw_s:.1f} s = {raw_mbit:.1f} Mbit/s on this link")
        print(f"{'step':<34}{'wall':>9}{'blobs shipped':>16}{'to server':>13}{'back':>10}"
              f"{'raw copy':>11}{'step / raw':>12}")
        for step, wall, shipped, to_server, back in rows:
            raw_for_wire = to_server * 8 / (raw_mbit * 1e6)
            print(f"{step:<34}{wall:>8.1f}s{shipped / 1e6:>13.1f} MB{to_server / 1e6:>10.1f} MB{back / 1e6:>7.1f} MB"
                  f"{raw_for_wire:>10.1f}s{wall / raw_for_wire if raw_for_wire >= 0.05 else float('nan'):>12.2f}")
        print("fresh install phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in first.phase_seconds.items()))
        print(f"no-op install: changed={again.changed}, verified on the target in"
              f" {again.phase_seconds.get('Verify', 0.0):.1f}s")
        if up is None:
            keep = True
            print(f"upgrade FAILED: {failed.message}")
            for line in failed.details:
                print(f"  {line}")
            print(f"kept for a look: {tmp}")
            return 1
        print(f"upgrade: {up.blobs_sent} blobs, {up.bytes_sent:,} B shipped of {up.bytes_missing:,} B the target"
              f" lacked; downtime {up.downtime_s:.1f}s; {up.seconds:.1f}s in ship + playbook")
        print("upgrade phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in up.phase_seconds.items())
              + f"; outside these phases (plan, checks, ansible's start-up) {rows[-1][1] - sum(up.phase_seconds.values()):.1f}s")
        print(f"the upgrade's blob bytes at the nominal {args.rate_mbit:g} Mbit/s: "
              f"{up.bytes_sent * 8 / (args.rate_mbit * 1e6):.1f}s")
        return 0
    finally:
        server.unlimit_link()
        server.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
