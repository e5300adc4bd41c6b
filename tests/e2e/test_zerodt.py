"""Zero-downtime code-only upgrade through the TLS proxy, and its switch-back rollback (issue 21 item 2).

ONE install: e-office 1.1.0 (built from its recorded commit) with ``--domain`` on its own
simulated data center. A client polls the public ``/healthz`` through HTTPS (a new TLS connection,
verified against the test CA by SNI, every 100 ms) while:

* ``upgrade --dry-run``: the plan names the zero-downtime path and why, and no backup;
* ``upgrade`` to 1.1.1 (no data migration): 0 failed requests, the version served changes from
  1.1.0 to 1.1.1; afterwards one web container under its canonical name, the proxy's upstream
  names the component again, the record has no backup;
* ``rollback``: a switch back to 1.1.0, again 0 failed requests.

That 1.0.0 -> 1.1.1 still takes the migrating path is checked at plan level
(tests/unit/test_upgrade_plan.py, on the real catalog entry).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import unique
from simdc import (
    APP_PORTS,
    REPO,
    SimDC,
    container_names,
    donor_kode,
    make_e2e_workspace,
    remove_docker_objects,
)
from test_upgrade import build_bundles, fault_bundle, short_health

sys.path.insert(0, str(REPO / "bench"))
import bench_upgrade  # noqa: E402 - the code-only upgrade test below is its --code-only smoke run

from spbe_share.records import state
from spbe_share.tlscerts import issue_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("zerodt")]

T = TypeVar("T")
APP = "e-office"
DOMAIN = "eoffice.kota-zero.go.id"


@dataclass
class Poller:
    """GET /healthz through the proxy every 100 ms, each on a new verified TLS connection."""

    address: str
    ca: Path
    seen: list[tuple[float, str]] = field(default_factory=list)  # (time, version) of each 200
    failed: list[tuple[float, str]] = field(default_factory=list)  # (time, why)
    stop: threading.Event = field(default_factory=threading.Event)

    def get(self) -> str:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        with socket.create_connection((self.address, 443), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=DOMAIN) as s:
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        head, _, body = out.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return str(json.loads(body)["version"])

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                self.seen.append((t, self.get()))
            except (OSError, RuntimeError, ValueError, KeyError) as e:
                self.failed.append((t, repr(e)))
            self.stop.wait(max(0.0, 0.1 - (time.monotonic() - t)))

    def around(self, work: Callable[[], T]) -> T:
        """``work()`` while polling (and half a second after it)."""
        self.seen.clear()
        self.failed.clear()
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            out = work()
            time.sleep(0.5)
        finally:
            self.stop.set()
            thread.join(10)
            self.stop.clear()
        return out

    def during(self, w: object, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        """Run the CLI while polling; the distinct versions served, in order."""
        proc: subprocess.CompletedProcess[str] = self.around(lambda: w.cli(*args, timeout=1200))  # type: ignore[attr-defined]
        order: list[str] = []
        for _, v in self.seen:
            if not order or order[-1] != v:
                order.append(v)
        return proc, order


@dataclass
class Site:
    """e-office behind its TLS proxy on its DC, with a poller of it."""

    w: object
    dc: SimDC
    bundles: dict[str, Path]
    ca: Path
    donor: Path  # the donor's workspace (its key signs the fault release below)

    @property
    def prefix(self) -> str:
        return f"spbe-{self.dc.name}-{APP}"

    def poller(self) -> Poller:
        return Poller(self.dc.address, self.ca)


@contextlib.contextmanager
def installed_with_domain(tmp: Path, *, name: str = "kota-zero", address: str = "127.0.0.249") -> Iterator[Site]:
    """e-office 1.1.0 (its recorded commit) installed with ``--domain`` and a test CA's
    certificate on a new DC; 1.1.0's and 1.1.1's bundles. Removed on exit. The module fixture
    below and bench/bench_upgrade.py's code-only run start from the same site."""
    bundles, pub = build_bundles(tmp / "donor", ("1.1.0", "1.1.1"))
    pair, ca, _ = issue_for(tmp / "testca", domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99",
                            now=dt.datetime.now(dt.UTC))
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    dc = SimDC(name=unique(name), base=tmp / "dcs", address=address, pemda="Kota Zero",
               kode_wilayah="96.75", app_ports=(*APP_PORTS, 443, 80)).start()
    prefix = f"spbe-{dc.name}-{APP}"
    try:
        w = make_e2e_workspace(tmp / "operator", {name: dc})
        w.cli("keys", "trust", str(pub), "--donor-kode", donor_kode(APP))
        today = dt.date.today()
        w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", dc.pemda,
              "--adopter-kode", dc.kode_wilayah, "--number", "PKS/ZERO/2026", "--signed", today.isoformat(),
              "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
        remove_docker_objects(prefix)
        w.cli("install", APP, "--target", dc.name, "--bundle", str(bundles["1.1.0"]), "--domain", DOMAIN,
              "--tls-cert", str(cert), "--tls-key", str(key), "--set", "pemda_name=Pemerintah Kota Zero", timeout=1800)
        yield Site(w, dc, bundles, ca, tmp / "donor")
    finally:
        remove_docker_objects(prefix)
        dc.stop()


@pytest.fixture(scope="module")
def zero(sshd_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with installed_with_domain(tmp_path_factory.mktemp("zerodt")) as site:
        yield site


def test_code_only_upgrade_and_its_rollback_switch_without_a_failed_request(zero: Site) -> None:
    """Also bench/bench_upgrade.py --code-only's smoke run (its measure and report)."""
    site = zero
    w, dc = site.w, site.dc
    assert site.poller().get() == "1.1.0"
    web = state.container_name(dc.name, APP, "web")
    upstream = dc.root / "apps" / APP / "proxy" / "upstream.conf"
    expected = sorted([f"{site.prefix}--proxy", f"{site.prefix}-db", web])

    plan = json.loads(w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(site.bundles["1.1.1"]),  # type: ignore[attr-defined]
                            "--dry-run", "--json").stdout)["plan"]
    assert plan["route"]["path"] == "zero-downtime", plan["route"]
    assert "behind the TLS proxy of " + DOMAIN in plan["route"]["why"]
    assert plan["backup"] is None and plan["migrates_data"] is False

    def at_1_1_1(up: dict[str, Any]) -> None:
        result = up["result"]
        assert (result["outcome"], result["backup"], result["downtime_s"]) == ("upgraded", "", 0)
        # the old web container stopped once the proxy's old workers had exited (read from /proc)
        assert result["switch"]["drain"] == "drained" and result["switch"]["old_workers"] >= 1, result["switch"]
        assert container_names(site.prefix) == expected  # the new web under the canonical name, the old gone
        assert upstream.read_text().splitlines()[-1] == f"set $spbe_upstream http://{web}:8080;"
        current = json.loads((dc.root / "apps" / APP / "current.json").read_text())
        assert (current["version"], current["backup"], current["result"]) == ("1.1.1", None, "ok")

    # the probe sees an outage: with the web container stopped, a request through the proxy fails
    # (asked while it is down: the restart's own requests may all fall before or after its gap)
    probe = site.poller()
    subprocess.run(["docker", "stop", web], check=True, capture_output=True)  # noqa: S603,S607
    with pytest.raises((OSError, RuntimeError)):
        probe.get()
    subprocess.run(["docker", "start", web], check=True, capture_output=True)  # noqa: S603,S607
    deadline = time.monotonic() + 120
    while True:
        try:
            assert probe.get() == "1.1.0"
            break
        except (OSError, RuntimeError):
            assert time.monotonic() < deadline, "e-office 1.1.0 did not answer again after its restart"
            time.sleep(0.2)

    f = bench_upgrade.measure_code_only(site, at_1_1_1=at_1_1_1)
    print("\n".join(bench_upgrade.report_code_only(f)))
    assert f.up_served == ["1.1.0", "1.1.1"], f.up_served  # never both: the new one only once healthy
    assert f.up_requests > 10
    assert f.back["plan"]["route"]["path"] == "zero-downtime", f.back["plan"]
    assert f.back_served == ["1.1.1", "1.1.0"], f.back_served
    assert f.back["result"]["to"] == "1.1.0" and f.back["result"]["restored"] is None
    assert f.back["result"]["switch"]["drain"] == "drained", f.back["result"]["switch"]
    assert container_names(site.prefix) == expected
    assert upstream.read_text().splitlines()[-1] == f"set $spbe_upstream http://{web}:8080;"
    assert json.loads((dc.root / "apps" / APP / "current.json").read_text())["version"] == "1.1.0"
    assert not f.up_failed and not f.back_failed, (f.up_failed, f.back_failed)  # 0 failed requests


def test_a_new_web_container_never_healthy_is_removed_and_nothing_switched(zero: Site, tmp_path: Path) -> None:
    """1.1.1 whose health check never answers (gives up after 4 s): exit 13, the new container is
    removed, the proxy never switched (0 failed requests, 1.1.0 served throughout), 1.1.0's config
    files are back, the attempt is recorded rolled_back."""
    site = zero
    w, dc = site.w, site.dc
    app_dir = dc.root / "apps" / APP
    config = app_dir / "config" / "web" / "0-config.json"
    before = (config.read_text(), (app_dir / "proxy" / "upstream.conf").read_text())

    def sick(doc: dict[str, Any]) -> None:
        short_health(next(c for c in doc["components"] if c["name"] == "web"), timeout_s=4,
                     path="/tidak-pernah-sehat")

    bundle = fault_bundle(site, tmp_path, version="1.1.1", edit=sick)  # type: ignore[arg-type]
    poll = site.poller()
    proc = poll.around(lambda: w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(bundle), "--yes",  # type: ignore[attr-defined]
                                     check=False, timeout=1200))
    assert proc.returncode == 13, proc.stdout + proc.stderr
    assert "nothing switched" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert poll.failed == [] and {v for _, v in poll.seen} == {"1.1.0"}, (poll.failed, poll.seen[-3:])
    assert container_names(site.prefix) == sorted([f"{site.prefix}--proxy", f"{site.prefix}-db",
                                               state.container_name(dc.name, APP, "web")])
    assert (config.read_text(), (app_dir / "proxy" / "upstream.conf").read_text()) == before
    history = json.loads(w.cli("history", APP, "--target", dc.name, "--json").stdout)  # type: ignore[attr-defined]
    assert history["attempts"][-1]["result"] == "rolled_back", history["attempts"][-1]
    assert history["journal"]["state"] == "rolled_back" and history["current"] == "1.1.0"
