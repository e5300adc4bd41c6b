"""Fleet bench: ``fleet status`` over N simulated Pemda (default 50) against one, and the control
node's memory while it runs.

Each simulated data center is a real sshd on its own loopback address (tests/e2e/simdc.py)
whose root holds a pengaduan release record (containers are not started: N app containers on
this machine's vfs Docker engine would measure the disk, not the fleet). ``fleet status`` reads
every target over its own SSH connection (forks = min(N, 50) at once), running the
``spbe_status`` module's source as a script there, so the figure is the fan-out of SSH + one
python per target + validation on the controller.

Printed: seconds for 1 target (baseline, same run) and for N targets, their ratio, rows read,
and the peak memory of the control node. ``--with-ansible`` also times the Ansible path (ONE
ansible-runner run of ``playbooks/status.yml``, strategy free: what an execution node runs, and
what ``fleet status`` ran before) over the same N targets in the same run, as the comparison.
Run: ``python3 bench/bench_fleet.py [--targets 50] [--forks 50] [--with-ansible]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO))


def record(target: str, pemda: str, kode: str, address: str) -> dict[str, object]:
    url = f"http://{address}:8081/healthz"
    return {
        "format": 1, "app": "pengaduan", "version": "1.0.0", "target": target, "pemda": pemda,
        "kode_wilayah": kode, "bundle_digest": "sha256:" + "ab" * 32, "signer": "bench", "values": {}, "images": {},
        "containers": [f"spbe-{target}-pengaduan-web"], "urls": [f"http://{address}:8081/"],
        "health": [{"component": "web", "container": f"spbe-{target}-pengaduan-web", "type": "http", "url": url,
                    "port": 8081, "path": "/healthz", "command": None, "retries": 1, "delay": 1}],
        "who": "bench", "when": dt.datetime.now(dt.UTC).isoformat(), "result": "ok", "message": None,
        "previous": None,
    }  # fmt: skip


class PssSampler:
    """Peak total PSS (proportional set size: shared pages split between the processes sharing
    them) of this process and all its descendants, sampled every 0.1 s from /proc."""

    def __init__(self, exclude: list[int]) -> None:
        self.exclude = exclude  # the simulated data centers' sshd: target side, not the control node
        self.peak_kb = 0
        self.peak_procs = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> PssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def run(self) -> None:
        from spbe_share.remote.interrupts import descendants

        me = os.getpid()
        while not self.stop.is_set():
            total, n = 0, 0
            targets = {p for pid in self.exclude for p in (pid, *descendants(pid))}
            for pid in [me, *(p for p in descendants(me) if p not in targets)]:
                try:
                    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        n += 1
                        break
            if total > self.peak_kb:
                self.peak_kb, self.peak_procs = total, n
            self.stop.wait(0.1)


@dataclass
class Timed:
    seconds: float
    read: int  # targets read with their record
    controller_cpu: float
    targets_cpu: float


def controller_cpu() -> float:
    """CPU seconds of this process and its reaped children (ssh clients, ansible-playbook and forks)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def targets_cpu(sshd: list[int]) -> float:
    """CPU seconds of the simulated data centers: each sshd with its reaped connections below it."""
    total = 0
    for pid in sshd:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=50)
    p.add_argument("--forks", type=int, default=None)
    p.add_argument("--timeout", type=int, default=30, help="per target (a loaded controller needs more)")
    p.add_argument("--with-ansible", action="store_true", help="also time the Ansible path (status.yml)")
    p.add_argument("--kex", choices=["default", "classic", "both"], default="both",
                   help="ssh key exchange (settings.yml ssh.kex): ssh's own choice, curve25519 only, or both in turn")
    args = p.parse_args(argv)

    from simdc import TARGET_PYTHON, SimDC, sshd_available

    from spbe_share.fleet.status import fleet_status
    from spbe_share.ops.target_add import add_target
    from spbe_share.targets.inventory import list_targets
    from spbe_share.workspace import Workspace

    why = sshd_available()
    if why:
        print(f"skipped: {why}")
        return 0
    dcs: list[SimDC] = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        base = Path(tmp)
        ws = Workspace(home=base / "ws", root=REPO)
        ws.ensure()
        try:
            t0 = time.monotonic()
            for i in range(args.targets):
                kode = f"{91 + i % 6}.{i + 1:02d}"
                dc = SimDC(name=f"bench-pemda-{i:03d}", base=base / "dcs", address=f"127.0.9.{10 + i}",
                           pemda=f"Pemda Bench {i}", kode_wilayah=kode).start()  # fmt: skip
                dcs.append(dc)
                rec = dc.root / "apps" / "pengaduan" / "current.json"
                rec.parent.mkdir(parents=True, exist_ok=True)
                rec.write_text(json.dumps(record(dc.name, dc.pemda, kode, dc.address)))
                add_target(ws, name=dc.name, host=dc.address, port=dc.port, user=dc.user, key=dc.client_key,
                           pemda=dc.pemda, kode_wilayah=kode, root=str(dc.root), python=TARGET_PYTHON,
                           host_key_file=dc.host_key_pub)  # fmt: skip
            print(f"setup: {args.targets} data centers in {time.monotonic() - t0:.1f}s;"
                  f" load average {os.getloadavg()[0]:.2f}")
            targets = [t for t in list_targets(ws) if t.name != "local"]

            sshd = [dc.proc.pid for dc in dcs if dc.proc is not None]

            def timed(ts: list[Any], via: Literal["ssh", "ansible"] = "ssh") -> Timed:
                c0, s0, t = controller_cpu(), targets_cpu(sshd), time.monotonic()
                status, _ = fleet_status(ws, targets=ts, timeout=args.timeout, forks=args.forks, via=via)
                took = time.monotonic() - t
                read = sum(1 for r in status.rows if r.reachable and r.version == "1.0.0")
                return Timed(took, read, controller_cpu() - c0, targets_cpu(sshd) - s0)

            def show(label: str, one: Timed, many: Timed, one_mem: PssSampler, many_mem: PssSampler) -> None:
                n = args.targets
                print(f"{label}, 1 target:   {one.seconds:.2f}s")
                print(f"{label}, {n} targets: {many.seconds:.2f}s ({many.read} read, {n - many.read} not within"
                      f" --timeout {args.timeout}s), ratio {many.seconds / one.seconds:.1f}x"
                      f" (goal < 5 s: {'met' if many.seconds < 5 else 'NOT met'})")  # fmt: skip
                print(f"  CPU seconds for {n} targets: control node {many.controller_cpu:.1f}"
                      f" ({many.controller_cpu / n:.3f} per target: spbe-share and its ssh/ansible children),"
                      f" simulated data centers {many.targets_cpu:.1f} ({many.targets_cpu / n:.3f} per target: their"
                      f" sshd and what runs under it), on the same {os.cpu_count()} cores")  # fmt: skip
                floor = max(one.seconds, (many.controller_cpu + many.targets_cpu) / (os.cpu_count() or 1))
                print(f"  wall / physical floor on this machine = {many.seconds / floor:.2f}x (floor {floor:.1f}s: the"
                      f" larger of 1 target's wall and both sides' CPU seconds over {os.cpu_count()} cores, because"
                      f" the simulated data centers share this machine's cores)")  # fmt: skip
                print(f"  control node memory (peak total PSS): 1 target {one_mem.peak_kb / 1024:.0f} MB"
                      f" ({one_mem.peak_procs} processes), {n} targets {many_mem.peak_kb / 1024:.0f} MB"
                      f" ({many_mem.peak_procs} processes)")  # fmt: skip

            kexes = ["default", "classic"] if args.kex == "both" else [args.kex]
            per_kex: dict[str, Timed] = {}
            for kex in kexes:
                os.environ["SPBE_SHARE_SSH_KEX"] = kex
                timed(targets[:1])  # warm-up (imports, caches)
                with PssSampler(sshd) as one_mem:
                    one = timed(targets[:1])
                with PssSampler(sshd) as many_mem:
                    many = timed(targets)
                per_kex[kex] = many
                show(f"fleet status (one SSH round trip per target; kex {kex})", one, many, one_mem, many_mem)
            if len(per_kex) == 2:
                d, c = per_kex["default"], per_kex["classic"]
                n = args.targets
                print(f"kex classic / default, {n} targets: wall {c.seconds / d.seconds:.2f}x, control node CPU"
                      f" {c.controller_cpu / d.controller_cpu:.2f}x, data centers' CPU {c.targets_cpu / d.targets_cpu:.2f}x;"
                      f" 550 targets on paper at this control node's CPU per target: default"
                      f" {550 * d.controller_cpu / n:.0f} CPU s, classic {550 * c.controller_cpu / n:.0f} CPU s")  # fmt: skip
            if args.with_ansible:
                os.environ["SPBE_SHARE_SSH_KEX"] = "default"
                print(f"load average before the Ansible path: {os.getloadavg()[0]:.2f}")
                timed(targets[:1], via="ansible")  # warm-up
                with PssSampler(sshd) as a_one_mem:
                    a_one = timed(targets[:1], via="ansible")
                with PssSampler(sshd) as a_many_mem:
                    a_many = timed(targets, via="ansible")
                show("the Ansible path (status.yml)", a_one, a_many, a_one_mem, a_many_mem)
                print(f"{args.targets} targets: one SSH round trip each is {a_many.seconds / many.seconds:.1f}x faster"
                      f" than the Ansible path in this run")  # fmt: skip
            print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        finally:
            for dc in dcs:
                dc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
