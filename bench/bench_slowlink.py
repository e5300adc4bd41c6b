"""Benchmark (not a test): a fresh install and an upgrade into a provisioned bare server over a slow link.

    python3 bench/bench_slowlink.py [--rate-mbit 20] [--rtt-ms 80] [--sample-mb 32] [--code-only 1.1.1]

Starts a simulated bare server (tests/e2e/baresrv.py: Debian 12, own network namespace, own
sshd), provisions it from an offline provision bundle on the fast link (not measured here),
then makes the link slow (tc netem on the veth; where the kernel lacks netem, the user-space
link emulator tests/e2e/linkemu.py on a TUN pair with the same addresses) and times, over that
same link, with the operations core:

1. a fresh install of e-office 1.0.0 (``spbe_share.ops.install``);
2. the same install again, which changes nothing (the no-op check, one round trip);
3. the upgrade to 1.1.0 (``spbe_share.ops.upgrade``: plan, backup, ship what 1.1.0 adds,
   swap, health);
4. with ``--code-only 1.1.1``: on the fast link (not timed) 1.1.0 again with ``--domain`` (a test
   CA's certificate, the TLS proxy in front), then over the slow link the code-only upgrade to
   1.1.1 (the zero-downtime path) and its rollback (a switch back), each while a client polls
   ``/healthz`` through the proxy every 100 ms over the same link: wall, failed requests, bytes.

Ansible's strategy is the workspace's (``SPBE_SHARE_ANSIBLE_STRATEGY=linear|mitogen``; run
once with each to compare). Each playbook run's slowest tasks are printed from its job events.

The bundles are the donor's real releases, each built from its recorded source commit and
signed by a donor key this workspace trusts for the donor. Printed per step: wall time, the
blob bytes shipped (as install/upgrade report them) and the bytes that really crossed the link
both ways; and, measured in the same run over the same slow link, a raw ``ssh cat > /dev/null``
of --sample-mb MB of random data, whose rate gives the time a raw copy of the bytes that
crossed the link would take. The ratio step / raw is the cost of everything that is not moving
bytes (round trips, image loading, backup, start, health).

Needs root, the Docker engine (the app's images are built when missing), debootstrap and
this machine's apt mirror (the bare server's root and the provision bundle; both cached).

Its smoke run in CI is tests/e2e/test_provision.py's last test: on the server that file has
provisioned and installed e-office 1.0.0 into (on the fast link; that install is the table's
first row, marked so), this file's :func:`measure` (the slow link, raw ``ssh cat``, the no-op
install, the upgrade) and :func:`report`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def say_now(line: str) -> None:
    print(line, flush=True)


@dataclass
class Row:
    """One timed step: wall seconds, the blob bytes it shipped (as install/upgrade report them)
    and the bytes that crossed the link each way."""

    step: str
    wall: float
    shipped: int
    to_server: int
    back: int
    slow: bool = True  # over the limited link; False: timed on the fast link (its raw ratio means nothing)


def timed(server, step: str, fn: Callable[[], Any], *, shipped: Callable[[Any], int], slow: bool = True,  # noqa: ANN001
          say: Callable[[str], None] = say_now) -> tuple[Row, Any]:
    """Run ``fn()``, timed, with the bytes that crossed ``server``'s link meanwhile; says ``done: ...``."""
    tx0, rx0 = server.link_bytes()
    t0 = time.monotonic()
    out = fn()
    wall = time.monotonic() - t0
    tx1, rx1 = server.link_bytes()
    row = Row(step, wall, shipped(out), tx1 - tx0, rx1 - rx0, slow)
    say(f"done: {step}: {wall:.1f}s, {row.shipped:,} B of blobs, {row.to_server:,} B to the server,"
        f" {row.back:,} B back")
    return row, out


def run_tasks(run_dir: Path | None, *, in_order: bool = False) -> list[tuple[str, float, int]]:
    """The tasks of one playbook run, slowest first (``in_order``: as they ran), from
    ansible-runner's job events kept in ``run_dir`` (the run's own record): (task name, seconds
    from its start to the next task's, items). Empty when the run kept no events."""
    if run_dir is None:
        return []
    events_dir = Path(run_dir) / "artifacts" / "run" / "job_events"
    events = []
    for f in events_dir.glob("*.json"):
        counter = f.name.split("-", 1)[0]
        if counter.isdigit():
            events.append((int(counter), json.loads(f.read_text())))
    events.sort(key=lambda ce: ce[0])
    starts: list[tuple[str, float]] = []
    items: dict[int, int] = {}
    for _, e in events:
        when = dt.datetime.fromisoformat(e["created"]).timestamp()
        if e["event"] in ("playbook_on_task_start", "playbook_on_stats"):
            starts.append((e.get("event_data", {}).get("task", ""), when))
        elif e["event"].startswith("runner_item_on_") and starts:
            items[len(starts) - 1] = items.get(len(starts) - 1, 0) + 1
    tasks = [(name, nxt - when, items.get(i, 0)) for i, ((name, when), (_, nxt)) in enumerate(itertools.pairwise(starts))]
    return tasks if in_order else sorted(tasks, key=lambda t: -t[1])


def task_lines(title: str, run_dir: Path | None, top: int = 10) -> list[str]:
    tasks = run_tasks(run_dir)
    if not tasks:
        return []
    return [f"{title}: {len(tasks)} tasks in {sum(t[1] for t in tasks):.1f}s; the slowest {min(top, len(tasks))}:"] + [
        f"  {secs:6.1f}s  {name}" + (f" ({n} items)" if n else "") for name, secs, n in tasks[:top]]


@dataclass
class CodeOnly:
    """The code-only upgrade (the zero-downtime path) and its switch-back rollback over the same
    slow link, each while a client polls ``/healthz`` through the app's TLS proxy every 100 ms
    (a new verified TLS connection each, over the same link)."""

    route: str  # the upgrade plan's path ("zero-downtime" expected)
    up_row: Row
    up: Any  # spbe_share.ops.upgrade.UpgradeResult
    up_failed: list[tuple[float, str]]
    up_requests: int
    up_served: list[str]
    back_row: Row
    back: Any  # spbe_share.ops.rollback.RollbackResult
    back_failed: list[tuple[float, str]]
    back_requests: int
    back_served: list[str]


def _served(seen: list[tuple[float, str]]) -> list[str]:
    order: list[str] = []
    for _, v in seen:
        if not order or order[-1] != v:
            order.append(v)
    return order


def measure_code_only(server, ws, bundles: dict[str, Path], tmp: Path, *, from_version: str, to_version: str,  # noqa: ANN001
                      sets: Sequence[str], rate_mbit: float, rtt_ms: float,
                      say: Callable[[str], None] = say_now) -> CodeOnly:
    """On ``server`` (``from_version`` installed without a domain): on the fast link (not timed),
    the same release again with ``--domain`` (a test CA's certificate; the TLS proxy in front);
    then over the slow link, with the poller running, ``upgrade`` to ``to_version`` (code only:
    the zero-downtime path) and ``rollback`` (a switch back), each timed."""
    from test_zerodt import DOMAIN, Poller

    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import install
    from spbe_share.ops.rollback import rollback
    from spbe_share.ops.upgrade import upgrade
    from spbe_share.tlscerts import issue_for

    pair, ca, _ = issue_for(tmp / "testca", domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99",
                            now=dt.datetime.now(dt.UTC))
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    install(OpContext.create(ws), app=APP, target_name=server.name, sets=sets, bundle=bundles[from_version],
            domain=DOMAIN, tls_cert=cert, tls_key=key)
    poll = Poller(server.address, ca)
    if poll.get() != from_version:
        raise RuntimeError(f"the proxy does not serve {from_version}")
    say(f"fast link: {APP} {from_version} reinstalled with --domain {DOMAIN} (not timed)")
    server.limit_link(rate_mbit=rate_mbit, rtt_ms=rtt_ms)
    try:
        up_row, (plan, up) = poll.around(lambda: timed(server, f"code-only upgrade {from_version} -> {to_version}",
            lambda: upgrade(OpContext.create(ws), app=APP, target_name=server.name, bundle=bundles[to_version]),
            shipped=lambda out: int(out[1].bytes_sent), say=say))  # fmt: skip
        up_failed, up_requests, up_served = list(poll.failed), len(poll.seen) + len(poll.failed), _served(poll.seen)
        back_row, (_bplan, back) = poll.around(lambda: timed(server, f"rollback {to_version} -> {from_version}", lambda: rollback(
            OpContext.create(ws), app=APP, target_name=server.name), shipped=lambda _out: 0, say=say))  # fmt: skip
    finally:
        server.unlimit_link()
    return CodeOnly(plan.route.name, up_row, up, up_failed, up_requests, up_served, back_row, back, list(poll.failed),
                    len(poll.seen) + len(poll.failed), _served(poll.seen))


@dataclass
class Figures:
    """What one run over the limited link gave."""

    app: str
    address: str
    rate_mbit: float
    rtt_ms: float
    how: str  # "netem" or "linkemu"
    sample_mb: int
    raw_s: float
    rows: list[Row]
    fresh_phases: dict[str, float]
    noop_changed: bool
    noop_verify_s: float
    up: Any  # spbe_share.ops.upgrade.UpgradeResult, or None when the upgrade failed
    failed: Any  # the SpbeError it failed with, or None
    fresh_run: Path | None = None  # the fresh install's run folder (its job events), when timed here
    code_only: CodeOnly | None = None  # the code-only upgrade's figures, when measured (main: --code-only)

    @property
    def raw_mbit(self) -> float:
        return self.sample_mb * 8 * 1.048576 / self.raw_s


def profiled(fn: Callable[[], Any], path: Path | None) -> Callable[[], Any]:
    """``fn`` run under cProfile (wall clock), its statistics written to ``path``; ``fn`` when None."""
    if path is None:
        return fn
    import cProfile

    profiler = cProfile.Profile(time.perf_counter)

    def run() -> Any:
        try:
            return profiler.runcall(fn)
        finally:
            profiler.dump_stats(path)

    return run


def measure(server, ws, bundles: dict[str, Path], *, from_version: str, to_version: str,  # noqa: ANN001
            sets: Sequence[str], rate_mbit: float, rtt_ms: float, sample_mb: int,
            fresh: tuple[Row, dict[str, float]] | None = None, say: Callable[[str], None] = say_now,
            profile: Path | None = None) -> Figures:
    """On ``server`` (provisioned; workspace ``ws`` has it as a target, trusts the donor and has
    an agreement): make the link slow, time a raw ``ssh cat`` of ``sample_mb`` MB, then with the
    operations core a fresh install of ``from_version`` (unless ``fresh`` gives that step as
    already timed, and its phases: it is then the table's first row), the same install again
    (no-op; ``sets`` must be the first install's) and the upgrade to ``to_version``. The link
    is back to normal at the end. A failed upgrade is in :attr:`Figures.failed`. ``profile``: the
    upgrade runs under cProfile (wall clock), its statistics written there (the no-op install's
    beside it, ``FILE.noop``)."""
    from spbe_share.errors import SpbeError
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import install
    from spbe_share.ops.upgrade import upgrade

    def bytes_sent(out: Any) -> int:
        return int(out.bytes_sent)

    rows: list[Row] = []
    fresh_run = None
    how = server.limit_link(rate_mbit=rate_mbit, rtt_ms=rtt_ms)
    try:
        raw_s = raw_ssh_seconds(server, sample_mb)
        say(f"link: {how}; raw ssh cat of {sample_mb} MB: {raw_s:.1f}s")
        if fresh is None:
            row, first = timed(server, f"fresh install {from_version}", lambda: install(
                OpContext.create(ws), app=APP, target_name=server.name, sets=sets, bundle=bundles[from_version]),
                shipped=bytes_sent, say=say)  # fmt: skip
            fresh, fresh_run = (row, first.phase_seconds), first.run_dir
        rows.append(fresh[0])

        def run_noop() -> Any:
            return install(OpContext.create(ws), app=APP, target_name=server.name, sets=sets,
                           bundle=bundles[from_version])

        noop_profile = profile.with_name(profile.name + ".noop") if profile is not None else None
        row, again = timed(server, "the same install again (no-op)", profiled(run_noop, noop_profile),
                           shipped=bytes_sent, say=say)
        rows.append(row)
        up = failed = None
        try:
            def run_upgrade() -> Any:
                return upgrade(OpContext.create(ws), app=APP, target_name=server.name, bundle=bundles[to_version])

            row, (_plan, up) = timed(server, f"upgrade {from_version} -> {to_version}", profiled(run_upgrade, profile),
                                     shipped=lambda out: bytes_sent(out[1]), say=say)
            rows.append(row)
        except SpbeError as exc:
            failed = exc
    finally:
        server.unlimit_link()
    return Figures(APP, server.address, rate_mbit, rtt_ms, how, sample_mb, raw_s, rows, fresh[1],
                   again.changed, again.phase_seconds.get("Verify", 0.0), up, failed, fresh_run)  # fmt: skip


def report(f: Figures) -> list[str]:
    lines = [
        f"{f.app} -> bare server {f.address} over {f.rate_mbit:g} Mbit/s, {f.rtt_ms:g} ms RTT ({f.how})",
        f"raw ssh cat of {f.sample_mb} MB: {f.raw_s:.1f} s = {f.raw_mbit:.1f} Mbit/s on this link",
        f"{'step':<34}{'wall':>9}{'blobs shipped':>16}{'to server':>13}{'back':>10}{'raw copy':>11}{'step / raw':>12}",
    ]
    for r in f.rows:
        line = (f"{r.step + ('' if r.slow else ' (fast link)'):<34}{r.wall:>8.1f}s{r.shipped / 1e6:>13.1f} MB"
                f"{r.to_server / 1e6:>10.1f} MB{r.back / 1e6:>7.1f} MB")
        raw_for_wire = r.to_server * 8 / (f.raw_mbit * 1e6)
        if r.slow:
            line += f"{raw_for_wire:>10.1f}s{r.wall / raw_for_wire if raw_for_wire >= 0.05 else float('nan'):>12.2f}"
        else:
            line += f"{'-':>11}{'-':>12}"
        lines.append(line)
    lines.append(("fresh install phases: " if f.rows[0].slow else "fresh install phases (fast link): ")
                 + ", ".join(f"{k} {v:.1f}s" for k, v in f.fresh_phases.items()))
    lines += task_lines("fresh install", f.fresh_run)
    lines.append(f"no-op install: changed={f.noop_changed}, verified on the target in {f.noop_verify_s:.1f}s")
    up = f.up
    if up is None:
        lines.append(f"upgrade FAILED: {f.failed.message}")
        lines.extend(f"  {line}" for line in f.failed.details)
        return lines
    lines += [
        f"upgrade: {up.blobs_sent} blobs, {up.bytes_sent:,} B shipped of {up.bytes_missing:,} B the target"
        f" lacked; downtime {up.downtime_s:.1f}s; {up.seconds:.1f}s in ship + playbook",
        "upgrade phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in up.phase_seconds.items())
        + f"; outside these phases (plan, checks, ansible's start-up) {f.rows[-1].wall - sum(up.phase_seconds.values()):.1f}s",
        f"the upgrade's blob bytes at the nominal {f.rate_mbit:g} Mbit/s: {up.bytes_sent * 8 / (f.rate_mbit * 1e6):.1f}s",
        f"upgrade outage {up.downtime_s:.1f}s vs the goal backup + migration + 5 s: the backup ran while the old"
        f" release served (Backup {up.phase_seconds.get('Backup', 0.0):.1f}s); the migration runs inside Start/Health"
        f" ({up.phase_seconds.get('Start', 0.0) + up.phase_seconds.get('Health', 0.0):.1f}s together)",
    ]
    lines += task_lines("upgrade", up.run_dir)
    if f.code_only is not None:
        lines += report_code_only(f, f.code_only)
    return lines


def report_code_only(f: Figures, c: CodeOnly) -> list[str]:
    up = c.up
    overhead = c.up_row.to_server - up.bytes_sent
    return [
        f"code-only upgrade ({c.route} path), polled every 100 ms through the TLS proxy over the same link:",
        f"  {c.up_row.step}: {c.up_row.wall:.1f}s (goal <= 20 s); {len(c.up_failed)} of {c.up_requests} requests"
        f" failed (served {' -> '.join(c.up_served)}); {up.blobs_sent} blobs, {up.bytes_sent:,} B shipped of"
        f" {up.bytes_missing:,} B lacked; {c.up_row.to_server:,} B to the server = blobs + {overhead / 1e6:.2f} MB"
        f" (goal <= 1 MB + blobs), {c.up_row.back:,} B back",
        "  phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in up.phase_seconds.items() if v),
        *([f"  the proxy's old workers: {up.switch.drain} in {up.switch.drain_s:.2f} s ({up.switch.old_workers} of"
           " them), then the old web container stopped"] if up.switch else []),
        *[f"  {line}" for line in task_lines("code-only upgrade", up.run_dir)],
        f"  {c.back_row.step} (switch back): {c.back_row.wall:.1f}s; {len(c.back_failed)} of {c.back_requests}"
        f" requests failed (served {' -> '.join(c.back_served)}); {c.back_row.to_server:,} B to the server",
        *[f"  failed: {why}" for _, why in (c.up_failed + c.back_failed)[:5]],
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from-version", default="1.0.0")
    p.add_argument("--to-version", default="1.1.0")
    p.add_argument("--set", dest="sets", action="append", default=["pemda_name=Pemerintah Kabupaten Bench"])
    p.add_argument("--rate-mbit", type=float, default=20)
    p.add_argument("--rtt-ms", type=float, default=80)
    p.add_argument("--sample-mb", type=int, default=32)
    p.add_argument("--profile", type=Path, default=None, metavar="FILE",
                   help="run the upgrade under cProfile (wall clock) and write its statistics to FILE")
    p.add_argument("--code-only", default=None, metavar="VERSION",
                   help="then reinstall --to-version with a domain (fast link) and time the code-only upgrade to"
                        " VERSION (e.g. 1.1.1) and its switch-back over the slow link, polled through the TLS proxy")
    args = p.parse_args()

    from baresrv import BareServer, bare_available
    from simdc import donor_kode, run_cli
    from test_upgrade import build_bundles

    from spbe_share.workspace import Workspace

    reason = bare_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="spbe-bench-slow-"))
    server = BareServer(base=tmp, name="bench-bare", pemda="Kabupaten Bench", kode_wilayah="91.99")
    keep = False
    try:
        server.start()
        home = tmp / "ws"
        run_cli(home, *server.target_add_args())
        ws = Workspace.from_options(home)
        # the donor's releases, each built from its recorded commit; its key trusted for the donor
        versions = (args.from_version, args.to_version, *([args.code_only] if args.code_only else []))
        bundles, pub = build_bundles(tmp / "donor", versions)
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

        figures = measure(server, ws, bundles, from_version=args.from_version, to_version=args.to_version,
                          sets=args.sets, rate_mbit=args.rate_mbit, rtt_ms=args.rtt_ms, sample_mb=args.sample_mb, profile=args.profile)
        if args.code_only and figures.up is not None:
            figures.code_only = measure_code_only(server, ws, bundles, tmp, from_version=args.to_version,
                                                  to_version=args.code_only, sets=args.sets, rate_mbit=args.rate_mbit,
                                                  rtt_ms=args.rtt_ms)
        print("\n".join(report(figures)))
        if figures.up is None:
            keep = True
            print(f"kept for a look: {tmp}")
            return 1
        return 0
    finally:
        server.unlimit_link()
        server.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
