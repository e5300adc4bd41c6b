"""Benchmark (not a test): ppdb's opening day under load, through TLS, with locust (headless).

    python3 bench/bench_ppdb_load.py [--users 200,600,1200] [--seconds 60] [--think 2,8]
    python3 bench/bench_ppdb_load.py --app e-office     # at its entry's requirements.concurrent_users
    python3 bench/bench_ppdb_load.py --smoke            # 10 users, 8 s (the figures mean nothing)

Starts a throwaway simulated data center (tests/e2e/simdc.py: an sshd on a free loopback
address, ONE host: ppdb across several hosts is not measured here), installs the app over SSH
with ``--domain`` and a certificate from a test CA (the TLS proxy: 443 only), seeds it through
that proxy, then for each size runs ``locust --headless`` (argument list, ``load_locustfile.py``)
with that many users, each doing the app's flow with think time between steps (ppdb: browse
schools, register, check the ranking, check my registration). The whole run goes through TLS
with the certificate verified.

Prints per size and step: requests, requests/s, p50/p95/p99 (ms), errors, and p50 as a multiple
of the floor measured in the same run (nginx's static redirect on port 80; ``/healthz`` through
TLS, the app and one database ping is printed beside it); then the CPU seconds used by the load
generator (locust and its children) and by the server side (the app's and the proxy's
containers: their cgroups' ``cpu.stat``), and the goal (p95 < 1 s with 0 errors). The load
average and the number of cores are printed too: this machine is shared.

``measure()`` and ``report()`` are also run by tests/e2e/test_tls.py on the app it installed
with TLS anyway (its smoke run: a few users for a few seconds).
"""

from __future__ import annotations

import argparse
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


def server_cpu(prefix: str) -> dict[str, float]:
    """container name -> CPU seconds so far, for the running containers named ``prefix*``."""
    names = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True,  # noqa: S607
                           check=False).stdout.split()
    out = {}
    for name in names:
        if name.startswith(prefix):
            used = _cgroup_usage(name)
            if used is not None:
                out[name] = used
    return out


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
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)


def measure(*, app: str, address: str, domain: str, ca: Path, flow: dict[str, Any], users: int, seconds: int,
            think: tuple[float, float], containers: str, workdir: Path, spawn_rate: float | None = None) -> Run:
    """``users`` locust users for ``seconds`` (after a ramp at ``spawn_rate`` users/s) against
    https://DOMAIN at ``address``; per-step figures from locust's CSV statistics."""
    conf = {"domain": domain, "address": address, "ca": str(ca), "think": list(think), **flow}
    prefix = workdir / f"{app}-{users}"
    rate = spawn_rate or max(1.0, users / 10)
    env = {**os.environ, "SPBE_LOAD_CONF": json.dumps(conf)}
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), USER_CLASS[app], "--headless",
            "-u", str(users), "-r", f"{rate:g}", "-t", f"{int(seconds + users / rate)}s", "--csv", str(prefix),
            "--only-summary", "--stop-timeout", "15", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    before_server = server_cpu(containers)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + users / rate + 300,  # noqa: S603
                          check=False, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_server = server_cpu(containers)
    if proc.returncode != 0:
        raise RuntimeError(f"locust exited {proc.returncode}: {proc.stderr[-2000:]}")
    run = Run(app=app, users=users, seconds=wall, load=os.getloadavg())
    run.generator_cpu = (after_self.ru_utime + after_self.ru_stime) - (before_self.ru_utime + before_self.ru_stime)
    run.server_cpu = {n: after_server[n] - before_server.get(n, 0.0) for n in after_server}
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


def report(runs: list[Run]) -> bool:
    """Print the table of every run; True when the biggest met the goal."""
    print(f"machine: {os.cpu_count()} cores (shared); load average at the end of each run below")
    met = False
    for run in runs:
        floor = next((s for s in run.steps if s.name == FLOOR), None)
        print(f"\n{run.app}: {run.users} users, {run.seconds:.0f} s (ramp included), through TLS;"
              f" load average {run.load[0]:.2f} {run.load[1]:.2f} {run.load[2]:.2f}")
        print(f"  {'step':<40}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'errors':>8}"
              f"{'p50 x floor':>13}")
        for s in [*run.steps, *([run.total] if run.total else [])]:
            ratio = f"{s.p50 / floor.p50:.1f}x" if floor and floor.p50 else "-"
            print(f"  {s.name:<40}{s.requests:>9}{s.rps:>8.1f}{s.p50:>8.0f}{s.p95:>8.0f}{s.p99:>8.0f}{s.failures:>8}"
                  f"{ratio:>13}")
        for line in run.errors[:5]:
            print(f"  error: {line}")
        server = sum(run.server_cpu.values())
        cores = f"{server / run.seconds:.2f}" if run.seconds else "-"
        print(f"  CPU: load generator {run.generator_cpu:.1f} s ({run.generator_cpu / run.seconds:.2f} cores),"
              f" server side {server:.1f} s ({cores} cores: "
              + ", ".join(f"{n.rsplit('-', 1)[-1]} {v:.1f} s" for n, v in sorted(run.server_cpu.items())) + ")")
        if run.total:
            met = run.total.p95 < GOAL_P95_MS and run.total.failures == 0
            print(f"  goal p95 < {GOAL_P95_MS / 1000:.0f} s with 0 errors: {'met' if met else 'NOT met'}"
                  f" (p95 {run.total.p95:.0f} ms, {run.total.failures} errors of {run.total.requests})")
    return met


# ------------------------------------------------------------------ the whole benchmark


def small_disk_catalog(base: Path, app: str) -> Path:
    """A catalog root holding ``app`` with its free-disk minimum lowered to 5 GB (the load needs
    no disk, and this shared machine's disk may have less free than the entry asks)."""
    import yaml

    root = base / "catalog-root"
    for part in ("catalog", "shared_apps", "templates"):
        if (REPO / part / app).exists():
            shutil.copytree(REPO / part / app, root / part / app)
    (root / "playbooks").symlink_to(REPO / "playbooks")
    path = root / "catalog" / app / "spbe-app.yaml"
    data = yaml.safe_load(path.read_text())
    data["requirements"]["disk_gb"] = 5
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return root


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default="ppdb", choices=sorted(USER_CLASS))
    p.add_argument("--users", default=None, help="comma-separated sizes (ppdb: 200,600,1200; e-office: its entry's"
                   " concurrent_users)")
    p.add_argument("--seconds", type=int, default=60, help="seconds at full load per size (after the ramp)")
    p.add_argument("--think", default="2,8", help="think time between steps: LO,HI seconds")
    p.add_argument("--smoke", action="store_true", help="10 users for 8 s, short think time (CI)")
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
    os.environ["SPBE_SHARE_CATALOG"] = str(small_disk_catalog(tmp, args.app))  # also for the CLI runs
    entry = get_entry(Workspace.from_options(home), args.app).entry
    if args.smoke:
        sizes, seconds, think = [10], 8, (0.5, 1.0)
    else:
        default = "200,600,1200" if args.app == "ppdb" else str(entry.requirements.concurrent_users or 200)
        sizes = [int(n) for n in (args.users or default).split(",")]
        seconds = args.seconds
        lo, hi = (float(x) for x in args.think.split(","))
        think = (lo, hi)
    domain = f"{args.app}.kota-beban.go.id"
    dc = SimDC(name="load-dc", base=tmp, address="127.0.0.239", pemda="Kota Beban", kode_wilayah="96.78",
               app_ports=(*APP_PORTS, 443, 80)).start()  # fmt: skip
    prefix = f"spbe-{dc.name}-"
    try:
        run_cli(home, *dc.target_add_args(), "--python", TARGET_PYTHON)
        ws = Workspace.from_options(home)
        donor_kode = entry.donor.kode_wilayah
        generate_key(ws, name="donor", donor_kode=donor_kode)
        today = dt.date.today()
        run_cli(home, "mou", "add", "--app", args.app, "--donor", "Donor", "--donor-kode", donor_kode,
                "--adopter", dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", "PKS/BEBAN/1",
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
        run_cli(home, "install", args.app, "--target", dc.name, "--bundle", str(bundle), "--domain", domain,
                "--tls-cert", str(cert), "--tls-key", str(key), *[a for s in sets for a in ("--set", s)],
                timeout=1800)
        print(f"installed {args.app} on {dc.name} ({dc.address}, one host) with TLS for {domain}:"
              f" {time.monotonic() - t0:.0f} s")
        admin = (dc.root / "apps" / args.app / "secrets" / "ADMIN_PASSWORD")
        flow = seed(args.app, dc.address, domain, ca, admin.read_text().strip() if admin.is_file() else "")
        runs = []
        for users in sizes:
            runs.append(measure(app=args.app, address=dc.address, domain=domain, ca=ca, flow=flow, users=users,
                                seconds=seconds, think=think, containers=prefix, workdir=tmp))
            print(f"... {users} users done", file=sys.stderr)
        report(runs)
    finally:
        remove_docker_objects(prefix)
        dc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
