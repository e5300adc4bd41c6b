"""TLS on the Pemda's own domain, over SSH (issue 19 item 4).

pengaduan (the session's bundle) installed on a fresh simulated data center with ``--domain``
and a certificate from a test CA (not the operator's workspace). Then, with Python's ``ssl``:
443 serves the domain's certificate (verified against the test CA, by SNI) with HSTS, TLS 1.1
is refused, plain http on 80 only redirects, the app's own port does not answer on the public
address; ``status`` shows the expiry; ``tls set`` refuses a key of another certificate (one
line, nothing changed), then replaces the pair and the new certificate is served; the key is
0600 on the target and in no log, run folder or audit line of the operator. On the same
install, the smoke run of ``bench/bench_ppdb_load.py`` (its flow for this app, a few users for
a few seconds, through the proxy with the certificate verified).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unique
from simdc import (
    APP_PORTS,
    SimDC,
    donor_kode,
    make_e2e_workspace,
    remove_docker_objects,
    tls_socket,
)

from spbe_share.errors import ExitCode
from spbe_share.tlscerts import issue_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_ppdb_load  # noqa: E402 - its smoke run is the TLS install below

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tls"),
              pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")]

APP = "pengaduan"
DOMAIN = "pengaduan.kota-uji.go.id"


def _tls(address: str, ca: Path, *, version: ssl.TLSVersion | None = None) -> ssl.SSLSocket:
    return tls_socket(address, ca, domain=DOMAIN, version=version)


def _get(s: socket.socket, path: str) -> bytes:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def _served_sha256(address: str, ca: Path) -> str:
    with _tls(address, ca) as s:
        der = s.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def _pair(folder: Path, name: str, now: dt.datetime) -> tuple[Path, Path, Path, str]:
    """A certificate for DOMAIN from a test CA kept in ``folder`` (not the operator's workspace)."""
    pair, ca, _ = issue_for(folder, domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99", now=now)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    return cert, key, ca, pair.sha256


@pytest.fixture
def tls_dc(sshd_ok: None, tmp_path: Path) -> Iterator[SimDC]:
    """A fresh DC whose address has 443 and 80 free too (the proxy publishes them there)."""
    dc = SimDC(name=unique("kota-uji"), base=tmp_path / "dcs", address="127.0.0.251", pemda="Kota Uji",
               kode_wilayah="96.72", app_ports=(*APP_PORTS, 443, 80))  # fmt: skip
    try:
        yield dc.start()
    finally:
        dc.stop()


def test_install_with_domain_serves_tls_only_and_tls_set_replaces_the_pair(
    tls_dc: SimDC, bundles: dict[str, Path], tmp_path: Path,
) -> None:
    now = dt.datetime.now(dt.UTC)
    testca = tmp_path / "testca"
    cert, key, ca, first = _pair(testca, "first", now)
    dc = tls_dc
    w = make_e2e_workspace(tmp_path / "operator", {"kota-uji": dc})
    w.cli("keys", "trust", str(bundles[f"{APP}.pub"]), "--donor-kode", donor_kode(APP))
    today = dt.date.today()
    w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", dc.pemda,
          "--adopter-kode", dc.kode_wilayah, "--number", "PKS/TLS/2026", "--signed", today.isoformat(),
          "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install", "--scope", "support")
    prefix = f"spbe-{dc.name}-{APP}"
    remove_docker_objects(prefix)
    try:
        w.cli("install", APP, "--target", dc.name, "--bundle", str(bundles[APP]), "--domain", DOMAIN,
              "--tls-cert", str(cert), "--tls-key", str(key), timeout=900)

        # 443: the domain's certificate, verified against the test CA by SNI; HSTS; the app answers
        assert _served_sha256(dc.address, ca) == first
        with _tls(dc.address, ca) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            answer = _get(s, "/healthz")
        head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 200"), head
        assert "strict-transport-security: max-age=31536000" in head
        # TLS 1.1 refused
        with pytest.raises(ssl.SSLError):
            _tls(dc.address, ca, version=ssl.TLSVersion.TLSv1_1)
        # 80 only redirects to https
        plain = socket.create_connection((dc.address, 80), timeout=10)
        plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        redirect = plain.recv(65536).decode()
        plain.close()
        assert redirect.startswith("HTTP/1.1 301"), redirect
        assert f"Location: https://{DOMAIN}/healthz" in redirect
        # the app's own port does not answer on the public address
        with pytest.raises(OSError):
            socket.create_connection((dc.address, 8081), timeout=5).close()

        # the key: a secret of the deployment, 0600 on the target
        secret = dc.root / "apps" / APP / "secrets" / "TLS_PRIVATE_KEY"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert secret.read_bytes() == key.read_bytes()

        # status shows the expiry
        rows = json.loads(w.cli("status", "--target", dc.name, "--json").stdout)
        row = next(r for r in rows if r["app"] == APP)
        assert row["urls"] == [f"https://{DOMAIN}/"]
        assert row["tls_expires"].startswith(f"{now + dt.timedelta(days=397):%Y-%m-%d}"[:7]), row
        assert row["tls_warning"] == ""

        # bench_ppdb_load's smoke run (issue 19 item 7): the load flow for this app, locust headless
        flow = bench_ppdb_load.seed(APP, dc.address, DOMAIN, ca, "")
        run = bench_ppdb_load.measure(app=APP, address=dc.address, domain=DOMAIN, ca=ca, flow=flow, users=5, seconds=4,
                                      think=(0.2, 0.5), containers=f"spbe-{dc.name}-", workdir=tmp_path)  # fmt: skip
        bench_ppdb_load.report([run])
        assert run.total is not None and run.total.requests > 10 and run.total.failures == 0, run
        assert {"2 submit complaint", "3 track complaint", bench_ppdb_load.FLOOR} <= {s.name for s in run.steps}
        assert run.generator_cpu > 0 and sum(run.server_cpu.values()) > 0, run

        # tls set: a key of another certificate is refused before anything changes
        cert2, key2, _, second = _pair(testca, "second", now)
        bad = w.cli("tls", "set", APP, "--target", dc.name, "--cert", str(cert2), "--key", str(key), check=False)
        assert bad.returncode == int(ExitCode.INVALID_INPUT), bad.stderr
        assert "Traceback" not in bad.stderr
        assert bad.stderr.strip().splitlines()[-1] == (
            f"error: {key}: the key does not match the certificate {cert2}")
        assert _served_sha256(dc.address, ca) == first
        # the new pair: served after a reload, no reinstall
        w.cli("tls", "set", APP, "--target", dc.name, "--cert", str(cert2), "--key", str(key2), timeout=600)
        assert _served_sha256(dc.address, ca) == second
        assert secret.read_bytes() == key2.read_bytes()
        # sealed for backups with the other secrets (tls set seals them again)
        sealed = json.loads((dc.root / "apps" / APP / "sealed-secrets.json").read_text())
        assert {"TLS_PRIVATE_KEY", "STAFF_PASSWORD", "SECRET_KEY"} <= set(sealed["fingerprints"])
        assert key2.read_text().splitlines()[1] not in (dc.root / "apps" / APP / "sealed-secrets.json").read_text()
        rows = json.loads(w.cli("status", "--target", dc.name, "--json").stdout)
        assert next(r for r in rows if r["app"] == APP)["health"] == "healthy"

        # the keys are in no log, run folder or audit line of the operator
        bodies = [k.read_text().splitlines()[1] for k in (key, key2)]
        for path in w.ws.home.rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                assert not any(b.encode() in data for b in bodies), path
    finally:
        remove_docker_objects(prefix)
