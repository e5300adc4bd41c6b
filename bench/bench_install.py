"""Benchmark (not a test): shipping and a fresh install into a simulated data center over SSH.

    python3 bench/bench_install.py [APP] [--set NAME=VALUE ...] [--rounds N]

Starts a throwaway sshd DC (tests/e2e/simdc.py) on a free loopback address, adds it as a
target, records an agreement and builds (or reuses) the app's bundle (default pengaduan).

1. Ship vs raw ssh: ships the bundle's blobs to the empty target with
   ``spbe_share.remote.ship`` (one stream, verified on the target), then sends the SAME bytes
   with a raw ``ssh host 'cat > file'`` over the same loopback and the same pinned ssh
   options; ``--rounds`` times each (blob store emptied between rounds), best of each kept.
   Prints RATIO ship / raw (goal <= 2). Each round also ships once more with the CLI's byte
   display (``spbe_share.cli.progress.ByteDisplay``, rich, drawing into an in-memory terminal):
   the cost of the progress callbacks, as ``metered ship / ship``.
2. Installs APP through ``spbe_share.ops.install`` on the operations core (blob store
   emptied first, so the first install ships everything), then ``--noop-rounds`` times again
   with the same inputs. Prints the first install's wall time split into verify, preflight,
   transfer, load, start, health, the bytes sent; then each no-op install's wall time (every
   check of the plan, then the lock + verification on the target in one round trip) and the
   median, with its ratio to the first install (goal <= 5 s).

Bytes sent = blob bytes written to the ship stream (zstd-compressed, as stored in the bundle)
plus the small files (entry, templates, playbooks, manifest); SSH framing and Ansible's own
module transfers are NOT counted. Needs root (sshd), the Docker engine, and the app's images
(built when missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from buildlock import lock_builders  # noqa: E402 - tests/buildlock.py

lock_builders()  # take turns with the tests (and other runs) building and exporting the app images


class _Terminal(io.StringIO):
    """Where the byte display draws in the benchmark: a terminal in memory (rich renders fully)."""

    def isatty(self) -> bool:
        return True


def ship_vs_raw(ws, target_name, manifest, bundle_dir, root, rounds):  # type: ignore[no-untyped-def]
    """Best-of-``rounds`` seconds of (spbe-share ship, raw ssh cat, ship with the byte display)
    for the same blob bytes."""
    from spbe_share.cli.progress import ByteDisplay
    from spbe_share.remote.ship import blobs_of, ship_blobs
    from spbe_share.remote.ssh import ssh_argv
    from spbe_share.targets.inventory import get_target

    target = get_target(ws, target_name)
    blobs = blobs_of(manifest, bundle_dir)
    total = sum(b.stored_size for b in blobs)
    ship_times, raw_times, metered_times = [], [], []
    for _ in range(rounds):
        shutil.rmtree(root / "blobs", ignore_errors=True)
        t0 = time.monotonic()
        result = ship_blobs(ws, target, blobs)
        ship_times.append(time.monotonic() - t0)
        assert result.bytes_sent == total, (result.bytes_sent, total)
        argv = ssh_argv(ws, target, ["sh", "-c", f"cat > {root}/raw-cat.bin"])
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE)  # noqa: S603
        assert proc.stdin is not None
        for b in blobs:
            with b.path.open("rb") as f:
                shutil.copyfileobj(f, proc.stdin, 1 << 20)
        proc.stdin.close()
        assert proc.wait() == 0
        raw_times.append(time.monotonic() - t0)
        assert (root / "raw-cat.bin").stat().st_size == total
        (root / "raw-cat.bin").unlink()
        shutil.rmtree(root / "blobs", ignore_errors=True)
        screen = _Terminal()
        display = ByteDisplay(screen)
        t0 = time.monotonic()
        result = ship_blobs(ws, target, blobs, meter=display)
        metered_times.append(time.monotonic() - t0)
        display.close()
        assert result.bytes_sent == total and "MB/s" in screen.getvalue()
    return min(ship_times), min(raw_times), min(metered_times), total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("app", nargs="?", default="pengaduan")
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--noop-rounds", type=int, default=3, help="no-op installs after the first (median printed)")
    args = p.parse_args()

    from simdc import TARGET_PYTHON, SimDC, run_cli, sshd_available

    from spbe_share.ops.bundles import locate_bundle, verify_and_extract
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import install
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
        ws = Workspace.from_options(home)
        from spbe_share.bundle.keys import generate_key
        from spbe_share.catalog.loader import get_entry

        # this workspace plays the donor: its key signs the bundle for the entry's donor
        donor_kode = get_entry(ws, args.app).entry.donor.kode_wilayah
        generate_key(ws, name="donor", donor_kode=donor_kode)
        today = dt.date.today()
        run_cli(home, "mou", "add", "--app", args.app, "--donor", "Donor", "--donor-kode", donor_kode,
                "--adopter", dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", "PKS/BENCH/1",
                "--signed", (today - dt.timedelta(days=1)).isoformat(),
                "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")

        # build (or reuse the host's images) and sign the bundle first: not part of the install time
        bundle = locate_bundle(ws, app=args.app, version=None, bundle=None, say=lambda m: None)
        shutil.rmtree(ws.cache_dir / "bundles", ignore_errors=True)
        t0 = time.monotonic()
        manifest, bundle_dir, _known = verify_and_extract(ws, bundle)
        verify_s = time.monotonic() - t0

        ship_s, raw_s, metered_s, shipped = ship_vs_raw(ws, target, manifest, bundle_dir, dc.root, args.rounds)
        print(f"ship {shipped:,} B of blobs (best of {args.rounds}): spbe-share ship {ship_s:.2f} s,"
              f" raw ssh cat {raw_s:.2f} s; RATIO ship / raw = {ship_s / raw_s:.2f} (goal <= 2)")
        print(f"ship with the byte display (rate, ETA): {metered_s:.2f} s;"
              f" RATIO metered ship / ship = {metered_s / ship_s:.2f} (the cost of the progress callbacks)")
        shutil.rmtree(dc.root / "blobs", ignore_errors=True)

        t0 = time.monotonic()
        first = install(OpContext.create(ws), app=args.app, target_name=target, sets=args.sets, bundle=bundle)
        first_s = time.monotonic() - t0
        repeats = []  # (wall seconds, result) of each no-op install
        for _ in range(args.noop_rounds):
            t0 = time.monotonic()
            again = install(OpContext.create(ws), app=args.app, target_name=target, sets=args.sets, bundle=bundle)
            repeats.append((time.monotonic() - t0, again))

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
              f" = {first.bytes_sent:,} B as stored (zstd), small files {small:,} B)")
        for i, (secs, again) in enumerate(repeats, 1):
            print(f"no-op install {i}: {secs:5.2f} s wall (on the target, lock + verification:"
                  f" {again.phase_seconds.get('Verify', again.seconds):.2f} s); changed={again.changed},"
                  f" new_release={again.new_release}, bytes sent {again.bytes_sent:,}")
        noop_s = statistics.median(s for s, _ in repeats)
        print(f"no-op install (median of {len(repeats)}): {noop_s:.2f} s (goal <= 5 s)"
              f" = {noop_s / first_s:.3f} x the first install ({first_s:.1f} s)")
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
