"""End to end: ppdb across the web and the database host of one Pemda, behind TLS on its own
domain (issue 19 item 4 across hosts).

``install --domain --tls-cert --tls-key`` with a certificate from a test CA (not the operator's
workspace): the TLS proxy runs on the web host, publishing 443 (TLS 1.2+, HSTS) and 80 (a
redirect only) on that host's public address; the web's own port is on loopback, never the
public address; the database stays on its host's private address. A registration is made
through https on 443, the certificate verified against the test CA by SNI; ``status`` shows the
certificate's expiry; ``tls set`` replaces the pair on the web host's proxy. Preflight, asked to
look, warns that the database host's nftables rule is missing (e2e writes none: the simulated
hosts share this machine's network namespace; the rule itself: tests/integration/test_nftables.py). The helpers (catalog clone, bundle, the database host's private address)
are test_topology.py's. What the simulation cannot show is said there (one Docker engine, one
kernel for every host).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_topology
from conftest import unique
from simdc import (
    TARGET_PYTHON,
    SimDC,
    donor_kode,
    pemda_target_add_args,
    remove_docker_objects,
    run_cli,
)
from test_topology import _answers, _docker_json, _ppdb_bundle, _ppdb_repo

from spbe_share.tlscerts import issue_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_ppdb_load import https_json  # noqa: E402 - the bench's client: SNI, the certificate checked

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("topology_tls"),
              pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")]

DOMAIN = "ppdb.kota-sorong.go.id"
private_address = test_topology.private_address  # the database host's private address (a fixture)


@pytest.fixture
def web_host(sshd_ok: None, tmp_path: Path) -> Iterator[SimDC]:
    """The web host: its address has 443 and 80 free too (the proxy publishes them there)."""
    dc = SimDC(name=unique("sorong-web"), base=tmp_path / "dcs", address="127.0.0.249", pemda="Kota Sorong",
               kode_wilayah="96.71", app_ports=(8082, 443, 80))  # fmt: skip
    try:
        yield dc.start()
    finally:
        dc.stop()


def _tls(address: str, ca: Path, *, version: ssl.TLSVersion | None = None) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(ca))
    if version is not None:  # let this client offer an old version: the server must refuse it
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    return ctx.wrap_socket(socket.create_connection((address, 443), timeout=10), server_hostname=DOMAIN)


def test_ppdb_across_hosts_behind_tls_on_its_domain(
    web_host: SimDC, simdc_factory, private_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(_ppdb_repo(tmp_path)))
    monkeypatch.setenv("ANSIBLE_FORKS", "1")  # one Docker engine for every host: see test_topology.py
    bundle, pub = _ppdb_bundle(tmp_path, "1.0.0")
    now = dt.datetime.now(dt.UTC)
    pair, ca, _ = issue_for(tmp_path / "testca", domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99", now=now)
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    web = web_host
    db, backup = (simdc_factory(n, pemda="Kota Sorong", kode_wilayah="96.71") for n in ("sorong-db", "sorong-backup"))
    name = web.name.replace("sorong-web", "dinas-pendidikan-sorong")
    home = tmp_path / "ws"
    run_cli(home, *pemda_target_add_args(name, {"web": web, "database": db, "backup": backup},  # the web host first
                                         private_address=private_address, python=TARGET_PYTHON))
    run_cli(home, "keys", "trust", str(pub), "--donor-kode", donor_kode("ppdb"))
    run_cli(home, "mou", "add", "--app", "ppdb", "--donor", "Disdikbud Kota Pontianak", "--donor-kode",
            donor_kode("ppdb"), "--adopter", "Kota Sorong", "--adopter-kode", "96.71", "--number",
            "PKS/PPDB/2026/2", "--signed", "2026-01-05", "--valid-until", "2036-01-05", "--scope", "install")  # fmt: skip
    prefix = f"spbe-{name}-ppdb-"
    tls_args = ["--domain", DOMAIN, "--tls-cert", str(cert), "--tls-key", str(key)]  # what a lifecycle test adds
    try:
        t0 = time.monotonic()
        out = run_cli(home, "install", "ppdb", "--target", name, "--bundle", str(bundle), "--set",
                      "pemda_name=Pemerintah Kota Sorong", "--set", "web_workers=2", *tls_args, "--json",
                      timeout=900).stdout  # fmt: skip
        install_s = time.monotonic() - t0
        result = json.loads(out)
        assert result["version"] == "1.0.0" and result["urls"] == [f"https://{DOMAIN}/"], result

        # what publishes where: the proxy alone on the web host's public address, the web on
        # loopback, the database on its host's private address
        dbc, webc, proxy = (_docker_json("inspect", prefix + c)[0] for c in ("db", "web", "-proxy"))  # type: ignore[index]
        assert proxy["HostConfig"]["PortBindings"] == {
            "443/tcp": [{"HostIp": web.address, "HostPort": "443"}], "80/tcp": [{"HostIp": web.address, "HostPort": "80"}]}
        assert webc["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8082"}]}
        assert dbc["HostConfig"]["PortBindings"] == {"5432/tcp": [{"HostIp": private_address, "HostPort": "5432"}]}
        assert f"DB_HOST={private_address}" in webc["Config"]["Env"]
        assert not _answers(web.address, 8082) and not _answers(web.address, 5432)
        assert _answers(private_address, 5432)

        # 443: the domain's certificate, verified against the test CA by SNI; TLS 1.2+; HSTS
        with _tls(web.address, ca) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 200") and "strict-transport-security: max-age=31536000" in head, head
        with pytest.raises(ssl.SSLError):
            _tls(web.address, ca, version=ssl.TLSVersion.TLSv1_1)
        with socket.create_connection((web.address, 80), timeout=10) as plain:  # 80 only redirects
            plain.sendall(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            redirect = plain.recv(65536).decode()
        assert redirect.startswith("HTTP/1.1 301") and f"Location: https://{DOMAIN}/api/v1/info" in redirect

        # the key on the web host only (0600), the database host has its own secret only
        web_app, db_app = web.root / "apps" / "ppdb", db.root / "apps" / "ppdb"
        assert (web_app / "secrets" / "TLS_PRIVATE_KEY").stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in (db_app / "secrets").iterdir() if p.is_file()) == ["DB_PASSWORD"]
        assert not (db_app / "proxy").exists()

        # a registration through https on 443 (the data on the database host)
        def call(method: str, path: str, body: object = None, token: str | None = None, *, expect: int) -> dict:
            status, data = https_json(web.address, DOMAIN, ca, method, path, body, token)
            assert status == expect, (method, path, status, data)
            return data

        admin = call("POST", "/api/v1/tokens", {"username": "admin", "password":
                     (web_app / "secrets" / "ADMIN_PASSWORD").read_text()}, expect=201)["token"]  # fmt: skip
        school = call("POST", "/api/v1/sekolah", {"npsn": "60100002", "nama": "SMP Negeri 2 Sorong", "jenjang": "SMP",
                      "alamat": "Jl. Sam Ratulangi, Sorong", "lat": -0.8801, "lon": 131.2601, "daya_tampung": 32},
                      admin, expect=201)  # fmt: skip
        reg = call("POST", "/api/v1/pendaftaran", {
            "sekolah_id": school["id"], "jalur": "zonasi", "nik": "9171000000000002", "nisn": "0000000002",
            "nama": "Murid TLS Sorong", "tanggal_lahir": "2013-04-01", "alamat": "Jl. Uji No. 2, Sorong",
            "lat": -0.8790, "lon": 131.2590}, expect=201)  # fmt: skip
        assert call("GET", f"/api/v1/pendaftaran/{reg['nomor']}", None, admin, expect=200)["nama"] == "Murid TLS Sorong"

        # status: healthy, the domain's URL, the certificate's expiry
        rows = json.loads(run_cli(home, "status", "--target", name, "--json").stdout)
        row = next(r for r in rows if r["app"] == "ppdb")
        assert (row["version"], row["health"], row["urls"]) == ("1.0.0", "healthy", [f"https://{DOMAIN}/"]), row
        assert row["tls_expires"].startswith(pair.info()["not_after"][:10]) and row["tls_warning"] == "", row
        # tls set: the new pair on the web host's proxy (the first host, beside the lock and
        # the record), no reinstall; the key sealed with the first host's secrets
        pair2, _, _ = issue_for(tmp_path / "testca", domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99", now=now)
        cert2, key2 = tmp_path / "fullchain2.pem", tmp_path / "privkey2.pem"
        cert2.write_bytes(pair2.cert_pem)
        key2.write_bytes(pair2.key_pem)
        run_cli(home, "tls", "set", "ppdb", "--target", name, "--cert", str(cert2), "--key", str(key2), timeout=600)
        with _tls(web.address, ca) as s:
            served = s.getpeercert(binary_form=True)
        assert served is not None and hashlib.sha256(served).hexdigest() == pair2.sha256 != pair.sha256
        assert (web_app / "secrets" / "TLS_PRIVATE_KEY").read_bytes() == pair2.key_pem
        sealed = json.loads((web_app / "sealed-secrets.json").read_text())
        assert {"TLS_PRIVATE_KEY", "DB_PASSWORD", "ADMIN_PASSWORD"} <= set(sealed["fingerprints"]), sealed
        assert call("GET", f"/api/v1/pendaftaran/{reg['nomor']}", None, admin, expect=200)["nama"] == "Murid TLS Sorong"

        # the database host's nftables rule: not written here (SPBE_SHARE_NFTABLES=off, e2e's
        # conftest: the hosts share this machine's namespace); preflight, asked to look, warns
        # that the installed app's rule is missing on the database host, naming it
        assert "spbe_share" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,  # noqa: S603,S607
                                                  check=False).stdout  # fmt: skip
        monkeypatch.setenv("SPBE_SHARE_NFTABLES", "on")
        report = json.loads(run_cli(home, "preflight", "ppdb", "--target", name, "--json").stdout)
        rule = [c for c in report["checks"] if c["check"] == "nftables access rule"]
        assert [(c["host"], c["required"], c["found"], c["warn"]) for c in rule] == [
            (f"{name}--database (database)", f"{private_address}:5432 only from {web.address}",
             "missing (spbe-share install writes it again)", True)], report  # fmt: skip
        print(f"install --domain across 2 hosts: {install_s:.1f} s; test {time.monotonic() - started:.1f} s")  # noqa: T201
    finally:
        remove_docker_objects(prefix, f"spbe-{name}-")
