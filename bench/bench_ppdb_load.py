"""Benchmark (not a test): ppdb's opening day under load, through TLS, with locust (headless).

    python3 bench/bench_ppdb_load.py [--users 200,600,1200] [--seconds 60] [--think 2,8] [--hosts 3|1]
    python3 bench/bench_ppdb_load.py --app e-office     # at its entry's requirements.concurrent_users
    python3 bench/bench_ppdb_load.py --smoke            # 10 users, 8 s (the figures mean nothing)

Starts a throwaway simulated data center (tests/e2e/simdc.py: an sshd per host on its own
loopback address). An entry with roles (ppdb) is installed across three hosts of one Pemda, as
tests/e2e/test_topology.py does: the web host (the TLS proxy publishing 443 and 80 on its
address, the web on loopback), the database host (PostgreSQL on a private address, a 10.250.x.y
on ``lo``) and the backup host (the target needs one for the roles; nothing runs there),
with ``SPBE_SHARE_NFTABLES=off`` and ``ANSIBLE_FORKS=1`` (the hosts share this machine's
network namespace and its one Docker engine). ``--hosts 1`` (and every entry without roles,
e-office) installs on ONE host. The install is over SSH with ``--domain`` and a certificate
from a test CA; the catalog is a clone of this repository (each release builds from its own
commit) with the entry's disk minimums lowered. The app is seeded through the proxy (the first
admin's initial password replaced where the release asks it), then for each size
``locust --headless`` runs (argument list, ``load_locustfile.py``) with that many users, each
doing the app's flow with think time between steps (ppdb: browse schools, register, check the
ranking, check my registration). The whole run goes through TLS with the certificate verified.

Prints per size and step: requests, requests/s, p50/p95/p99 (ms), errors, and p50 as a multiple
of the floor measured in the same run (nginx's static redirect on port 80; ``/healthz`` through
TLS, the app and one database ping is printed beside it); then the CPU used by the load
generator (locust and its children) and by the server side per host and per container (the
containers' cgroups' ``cpu.stat``, and Docker's userland proxies of the ports published on the
hosts' addresses: the web's connections to the database go through one), and the goal (p95 <
1 s with 0 errors). The load average before and after each size and the number of cores are
printed too: every simulated host shares this machine's cores with the load generator (and
with whatever else runs on it).

``measure()`` and ``report()`` are also run by tests/e2e/test_tls.py on the app it installed
with TLS anyway (its smoke run: a few users for a few seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import http.client
import json
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).resolve().parent / "load_locustfile.py"
USER_CLASS = {"ppdb": "PpdbUser", "e-office": "EofficeUser", "pengaduan": "PengaduanUser"}
FLOOR = "floor: :80 redirect (nginx only)"
GOAL_P95_MS = 1000.0


# ------------------------------------------------------------------ talking to the app through TLS


def https_json(address: str, domain: str, ca: Path, method: str, path: str, body: Any = None,
               token: str | None = None) -> tuple[int, Any]:
    """One request to https://DOMAIN/PATH, connected to ``address`` (SNI and the certificate
    checked for ``domain`` against ``ca``)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection((address, 443), timeout=30)
    conn = http.client.HTTPSConnection(domain, 443, timeout=30, context=ctx)
    conn.sock = ctx.wrap_socket(raw, server_hostname=domain)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data) if data else None
    except ValueError:
        return resp.status, data.decode("utf-8", "replace")


def _ok(answer: tuple[int, Any], *expect: int) -> Any:
    status, data = answer
    if status not in expect:
        raise RuntimeError(f"HTTP {status}: {str(data)[:300]}")
    return data


SCHOOLS = [  # npsn, nama, jenjang, daya tampung, lat, lon (around Pontianak)
    (f"301{n:05d}", f"{j} Negeri {n} Kota Beban", j, cap, lat, lon)
    for n, (j, cap, lat, lon) in enumerate(
        [(j, 32 + 4 * (k % 3), -0.03 - 0.004 * k, 109.33 + 0.003 * k) for k in range(12) for j in ("SD", "SMP", "SMA")],
        start=1)
]


def seed(app: str, address: str, domain: str, ca: Path, admin_password: str) -> dict[str, Any]:
    """What the flow needs, made through the proxy: ppdb's schools, an e-office clerk's token,
    pengaduan's first category."""
    call = lambda *a, **k: https_json(address, domain, ca, *a, **k)  # noqa: E731
    if app == "pengaduan":
        _ok(call("GET", "/"), 200)
        return {"category": "Infrastruktur"}  # the first of the entry's default categories
    token = _ok(call("POST", "/api/v1/tokens", {"username": "admin", "password": admin_password}), 201)["token"]
    status, first = call("GET", "/api/v1/first-login")
    if status == 200 and isinstance(first, dict) and first.get("initial_password_in_use"):
        # releases that make the first admin replace the initial password before anything else
        changed = admin_password + "-diganti"
        _ok(call("POST", "/api/v1/me/password", {"current_password": admin_password, "new_password": changed},
                 token=token), 200)  # fmt: skip
        token = _ok(call("POST", "/api/v1/tokens", {"username": "admin", "password": changed}), 201)["token"]
    if app == "e-office":
        info = _ok(call("GET", "/api/v1/info"), 200)
        klas = bool((info.get("features") or {}).get("klasifikasi_arsip"))
        _ok(call("POST", "/api/v1/users", {"username": "sekre-beban", "role": "sekretariat", "nama": "Sekre Beban",
                                           "jabatan": "Kepala Subbagian TU", "password": "sandi-sekre-beban-123"},
                 token=token), 201)  # fmt: skip
        clerk = _ok(call("POST", "/api/v1/tokens", {"username": "sekre-beban", "password": "sandi-sekre-beban-123"}),
                    201)["token"]  # fmt: skip
        return {"token": clerk, "code_field": "kode_klasifikasi" if klas else "kode", "code": "000.1.2"}
    info = _ok(call("GET", "/api/v1/info"), 200)
    schools = []
    for npsn, nama, jenjang, cap, lat, lon in SCHOOLS:
        s = _ok(call("POST", "/api/v1/sekolah", {"npsn": npsn, "nama": nama, "jenjang": jenjang, "daya_tampung": cap,
                                                  "alamat": f"{nama}, Pontianak", "lat": lat, "lon": lon},
                     token=token), 201)  # fmt: skip
        # the route by distance that needs no proof: domisili (zonasi in release 1.0.0)
        jalur = next(j for j in info["batas_kuota"][jenjang] if info["aturan_peringkat"][j] != "nilai"
                     and j not in info["bukti"])  # fmt: skip
        schools.append({"id": s["id"], "jenjang": jenjang, "jalur": jalur, "lat": lat, "lon": lon})
    return {"schools": schools}


# ------------------------------------------------------------------ CPU of the server side


def _cgroup_usage(container: str) -> float | None:
    """CPU seconds a running container used so far, from its cgroup (v1 ``cpuacct.usage`` or
    v2 ``cpu.stat``), None if unknown."""
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", container],  # noqa: S603,S607
                         capture_output=True, text=True, check=False).stdout.strip()
    try:
        lines = Path(f"/proc/{int(pid)}/cgroup").read_text().splitlines()
    except (ValueError, OSError):
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        try:
            if "cpuacct" in controllers.split(","):
                return int((Path("/sys/fs/cgroup/cpuacct") / path.lstrip("/") / "cpuacct.usage").read_text()) / 1e9
            if controllers == "":
                for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                    stat = root / path.lstrip("/") / "cpu.stat"
                    if stat.is_file():
                        for row in stat.read_text().splitlines():
                            if row.startswith("usage_usec "):
                                return int(row.split()[1]) / 1e6
        except (ValueError, OSError):
            continue
    return None


def _docker_proxies(addresses: set[str]) -> dict[str, float]:
    """``docker-proxy ADDRESS:PORT`` -> CPU seconds so far, for Docker's userland proxies of the
    ports published on ``addresses`` (outside the containers' cgroups, yet in the path: a
    connection to a loopback address goes through them)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if not argv[0].endswith(b"docker-proxy"):
                continue
            opts = {argv[i].decode(): argv[i + 1].decode() for i in range(1, len(argv) - 1) if argv[i].startswith(b"-")}
            if opts.get("-host-ip") not in addresses:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        key = f"docker-proxy {opts['-host-ip']}:{opts.get('-host-port', '?')}"
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def server_cpu(prefix: str, addresses: set[str] | None = None) -> dict[str, float]:
    """container name -> CPU seconds so far, for the running containers named ``prefix*``; and
    Docker's userland proxies of the ports published on ``addresses``."""
    names = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True,  # noqa: S607
                           check=False).stdout.split()
    out = {}
    for name in names:
        if name.startswith(prefix):
            used = _cgroup_usage(name)
            if used is not None:
                out[name] = used
    return {**out, **_docker_proxies(addresses or set())}


# ------------------------------------------------------------------ one load run


@dataclass
class Step:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass
class Run:
    app: str
    users: int
    seconds: float
    steps: list[Step] = field(default_factory=list)
    total: Step | None = None
    errors: list[str] = field(default_factory=list)  # "step: error (count)", most frequent first
    generator_cpu: float = 0.0
    server_cpu: dict[str, float] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # container or docker-proxy -> its host ("web host")
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)


def measure(*, app: str, address: str, domain: str, ca: Path, flow: dict[str, Any], users: int, seconds: int,
            think: tuple[float, float], containers: str, workdir: Path, spawn_rate: float | None = None,
            where: dict[str, str] | None = None) -> Run:
    """``users`` locust users for ``seconds`` (after a ramp at ``spawn_rate`` users/s) against
    https://DOMAIN at ``address``; per-step figures from locust's CSV statistics. ``where``:
    container name or published address -> the host it runs on (the server side's CPU per host;
    the userland proxies of the ports published on those addresses counted too)."""
    conf = {"domain": domain, "address": address, "ca": str(ca), "think": list(think), **flow}
    prefix = workdir / f"{app}-{users}"
    rate = spawn_rate or max(1.0, users / 10)
    env = {**os.environ, "SPBE_LOAD_CONF": json.dumps(conf)}
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), USER_CLASS[app], "--headless",
            "-u", str(users), "-r", f"{rate:g}", "-t", f"{int(seconds + users / rate)}s", "--csv", str(prefix),
            "--only-summary", "--stop-timeout", "15", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    where = where or {}
    addresses = {a for a in where if not a.startswith(containers)}
    load_before = os.getloadavg()
    before_server = server_cpu(containers, addresses)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + users / rate + 300,  # noqa: S603
                          check=False, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_server = server_cpu(containers, addresses)
    if proc.returncode != 0:
        raise RuntimeError(f"locust exited {proc.returncode}: {proc.stderr[-2000:]}")
    run = Run(app=app, users=users, seconds=wall, load=os.getloadavg(), load_before=load_before)
    run.generator_cpu = (after_self.ru_utime + after_self.ru_stime) - (before_self.ru_utime + before_self.ru_stime)
    run.server_cpu = {n: after_server[n] - before_server.get(n, 0.0) for n in after_server}
    run.where = {n: where.get(n) or where.get(n.split()[-1].rsplit(":", 1)[0], "") for n in run.server_cpu}
    with open(f"{prefix}_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            step = Step(name=row["Name"], requests=int(row["Request Count"]), failures=int(row["Failure Count"]),
                        rps=float(row["Requests/s"]), p50=float(row["50%"] or 0), p95=float(row["95%"] or 0),
                        p99=float(row["99%"] or 0))  # fmt: skip
            if row["Name"] == "Aggregated":
                run.total = step
            else:
                run.steps.append(step)
    run.steps.sort(key=lambda s: (s.name.startswith("floor"), s.name))
    with open(f"{prefix}_failures.csv", newline="") as f:
        failures = sorted(csv.DictReader(f), key=lambda r: -int(r["Occurrences"]))
    run.errors = [f"{r['Name']}: {r['Error'][:200]} ({r['Occurrences']})" for r in failures]
    return run


def _short(name: str) -> str:
    """A container's component (``spbe-T-ppdb-web`` -> ``web``, the proxy ``proxy``) or a
    userland proxy's port (``docker-proxy :443``)."""
    if name.startswith("docker-proxy "):
        return "docker-proxy :" + name.rsplit(":", 1)[-1]
    return name.rsplit("-", 1)[-1]


def report(runs: list[Run]) -> bool:
    """Print the table of every run; True when the biggest met the goal."""
    print(f"machine: {os.cpu_count()} cores (shared); load average at the end of each run below")
    met = False
    for run in runs:
        floor = next((s for s in run.steps if s.name == FLOOR), None)
        print(f"\n{run.app}: {run.users} users, {run.seconds:.0f} s (ramp included), through TLS;"
              f" load average {run.load_before[0]:.2f} before, {run.load[0]:.2f} {run.load[1]:.2f}"
              f" {run.load[2]:.2f} at the end")
        print(f"  {'step':<40}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'errors':>8}"
              f"{'p50 x floor':>13}")
        for s in [*run.steps, *([run.total] if run.total else [])]:
            ratio = f"{s.p50 / floor.p50:.1f}x" if floor and floor.p50 else "-"
            print(f"  {s.name:<40}{s.requests:>9}{s.rps:>8.1f}{s.p50:>8.0f}{s.p95:>8.0f}{s.p99:>8.0f}{s.failures:>8}"
                  f"{ratio:>13}")
        for line in run.errors[:5]:
            print(f"  error: {line}")
        server = sum(run.server_cpu.values())
        print(f"  CPU: load generator {run.generator_cpu:.1f} s ({run.generator_cpu / run.seconds:.2f} cores),"
              f" server side {server:.1f} s ({server / run.seconds:.2f} cores)")
        for host in sorted({run.where.get(n, "") for n in run.server_cpu}):
            mine = {n: v for n, v in run.server_cpu.items() if run.where.get(n, "") == host}
            print(f"    {host or 'server'}: {sum(mine.values()) / run.seconds:.2f} cores ("
                  + ", ".join(f"{_short(n)} {v / run.seconds:.2f}" for n, v in sorted(mine.items())) + ")")
        if run.total:
            met = run.total.p95 < GOAL_P95_MS and run.total.failures == 0
            print(f"  goal p95 < {GOAL_P95_MS / 1000:.0f} s with 0 errors: {'met' if met else 'NOT met'}"
                  f" (p95 {run.total.p95:.0f} ms, {run.total.failures} errors of {run.total.requests})")
    return met


# ------------------------------------------------------------------ the whole benchmark


def small_disk(data: dict[str, Any]) -> None:
    """An entry's free-disk minimums (the app's and each role's) lowered to 5 GB: the load needs
    no disk, and this shared machine's disk may have less free than the entry asks."""
    data["requirements"]["disk_gb"] = 5
    for role in data.get("roles") or []:
        role["minimum"]["disk_gb"] = min(5, role["minimum"].get("disk_gb", 5))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default="ppdb", choices=sorted(USER_CLASS))
    p.add_argument("--users", default=None, help="comma-separated sizes (ppdb: 200,600,1200; e-office: its entry's"
                   " concurrent_users)")
    p.add_argument("--seconds", type=int, default=60, help="seconds at full load per size (after the ramp)")
    p.add_argument("--think", default="2,8", help="think time between steps: LO,HI seconds")
    p.add_argument("--smoke", action="store_true", help="10 users for 8 s, short think time (CI)")
    p.add_argument("--hosts", type=int, choices=(1, 3), default=None, help="simulated hosts of the Pemda: 3 (web,"
                   " database, backup: the default for an entry with roles, ppdb) or 1 (every component on one)")
    args = p.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    from buildlock import lock_builders  # tests/buildlock.py

    lock_builders()
    from simdc import (
        APP_PORTS,
        TARGET_PYTHON,
        SimDC,
        catalog_clone,
        lo_private_address,
        pemda_target_add_args,
        remove_docker_objects,
        run_cli,
        sshd_available,
    )

    from spbe_share.bundle.keys import generate_key
    from spbe_share.catalog.loader import get_entry
    from spbe_share.ops.bundles import locate_bundle
    from spbe_share.tlscerts import issue_for
    from spbe_share.workspace import Workspace

    reason = sshd_available()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="spbe-load-"))
    home = tmp / "ws"
    home.mkdir()
    # a clone of this repository (each release builds from its own commit), the disk minimums lowered
    os.environ["SPBE_SHARE_CATALOG"] = str(catalog_clone(tmp, args.app, small_disk))  # also for the CLI runs
    entry = get_entry(Workspace.from_options(home), args.app).entry
    if args.smoke:
        sizes, seconds, think = [10], 8, (0.5, 1.0)
    else:
        default = "200,600,1200" if args.app == "ppdb" else str(entry.requirements.concurrent_users or 200)
        sizes = [int(n) for n in (args.users or default).split(",")]
        seconds = args.seconds
        lo, hi = (float(x) for x in args.think.split(","))
        think = (lo, hi)
    across = (args.hosts or (3 if entry.roles else 1)) == 3
    if across and not entry.roles:
        print(f"cannot run: {args.app} declares no roles (one host only: --hosts 1)", file=sys.stderr)
        return 2
    domain = f"{args.app}.kota-beban.go.id"
    target = "load-dc"
    prefix = f"spbe-{target}-"
    with contextlib.ExitStack() as stack:
        # the web host (or the one host) publishes the proxy's 443 and 80 and the app's ports
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        web = SimDC(name=target, base=tmp, address="127.0.0.239", pemda="Kota Beban", kode_wilayah="96.78",
                    app_ports=(*APP_PORTS, 8082, 443, 80)).start()  # fmt: skip
        stack.callback(web.stop)
        stack.callback(remove_docker_objects, prefix)
        if across:
            hosts = {"web": web}
            for role, address in (("database", "127.0.0.240"), ("backup", "127.0.0.241")):
                hosts[role] = SimDC(name=f"{target}-{role}", base=tmp, address=address, pemda=web.pemda,
                                    kode_wilayah=web.kode_wilayah).start()  # fmt: skip
                stack.callback(hosts[role].stop)
            private = stack.enter_context(lo_private_address())
            # as the e2e tests: the hosts share this machine's network namespace (no nftables
            # rule for all of it) and its one Docker engine (the hosts take their turns)
            os.environ["SPBE_SHARE_NFTABLES"] = "off"
            os.environ["ANSIBLE_FORKS"] = "1"
            run_cli(home, *pemda_target_add_args(target, hosts, private_address=private, python=TARGET_PYTHON))
            # where each part runs: a component on its role's host, the TLS proxy on the web host
            where = {web.address: "web host", private: "database host", f"{prefix}{args.app}--proxy": "web host",
                     **{f"{prefix}{args.app}-{c.name}": f"{c.role} host" for c in entry.components}}  # fmt: skip
            layout = ", ".join(f"{role} {dc.address}" for role, dc in hosts.items()) + f"; database private {private}"
        else:
            run_cli(home, *web.target_add_args(), "--python", TARGET_PYTHON)
            where = {web.address: "the host", f"{prefix}{args.app}--proxy": "the host",
                     **{f"{prefix}{args.app}-{c.name}": "the host" for c in entry.components}}  # fmt: skip
            layout = f"one host {web.address}"
        ws = Workspace.from_options(home)
        donor_kode = entry.donor.kode_wilayah
        generate_key(ws, name="donor", donor_kode=donor_kode)
        today = dt.date.today()
        run_cli(home, "mou", "add", "--app", args.app, "--donor", "Donor", "--donor-kode", donor_kode,
                "--adopter", web.pemda, "--adopter-kode", web.kode_wilayah, "--number", "PKS/BEBAN/1",
                "--signed", (today - dt.timedelta(days=1)).isoformat(),
                "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
        bundle = locate_bundle(ws, app=args.app, version=None, bundle=None, say=lambda m: None)
        pair, ca, _ = issue_for(tmp / "testca", domain=domain, pemda="Test CA", kode_wilayah="99.99",
                                now=dt.datetime.now(dt.UTC))  # fmt: skip
        cert, key = tmp / "testca" / "cert.pem", tmp / "testca" / "key.pem"
        cert.write_bytes(pair.cert_pem)
        key.write_bytes(pair.key_pem)
        sets = {"ppdb": ["pemda_name=Pemerintah Kota Beban", "tahun_ajaran=2026/2027"],
                "e-office": ["pemda_name=Pemerintah Kota Beban"]}.get(args.app, [])
        t0 = time.monotonic()
        run_cli(home, "install", args.app, "--target", target, "--bundle", str(bundle), "--domain", domain,
                "--tls-cert", str(cert), "--tls-key", str(key), *[a for s in sets for a in ("--set", s)],
                timeout=1800)
        print(f"installed {args.app} {entry.latest.version} on {target} ({layout}) with TLS for {domain}:"
              f" {time.monotonic() - t0:.0f} s")
        admin = (web.root / "apps" / args.app / "secrets" / "ADMIN_PASSWORD")
        flow = seed(args.app, web.address, domain, ca, admin.read_text().strip() if admin.is_file() else "")
        runs = []
        for users in sizes:
            runs.append(measure(app=args.app, address=web.address, domain=domain, ca=ca, flow=flow, users=users,
                                seconds=seconds, think=think, containers=prefix, workdir=tmp, where=where))
            print(f"... {users} users done", file=sys.stderr)
        report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
