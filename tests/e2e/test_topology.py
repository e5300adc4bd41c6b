"""End to end: a Pemda data center of three hosts (issue 19), each a simulated server (its own
sshd on its own loopback address, its own host key and client key): ``target add`` with the
hosts and their roles, every host's key pinned, preflight passing, then failing and naming the
host and the role (a role's minimum the host does not meet; an interpreter given with
``--python`` that lacks ``requests``, which preflight used to miss by probing /usr/bin/python3).

Then ppdb installed across the web and the database host (item 3) behind TLS on the Pemda's own
domain (item 4: ``install --domain --tls-cert --tls-key``, the pair from a test CA, not the
operator's workspace), and its lifecycle there, ONE install for all of it (the CI budget):

* what publishes where: the TLS proxy on the web host, 443 (TLS 1.2+, HSTS, checked with
  Python's ``ssl``) and 80 (a redirect only) on that host's public address; the web's own port
  on loopback, never the public address; the database on its host's private address only;
  the key 0600 on the web host alone; ``status`` shows the certificate's expiry; ``tls set``
  replaces the pair on the web host's proxy without a reinstall; preflight, asked to look,
  warns that the database host's nftables rule is missing (e2e writes none: the simulated hosts
  share this machine's network namespace; the rule itself: tests/integration/test_nftables.py);
* registrations and every later read through https on 443, the certificate verified against
  the test CA by SNI (the bench's client);
* upgrade 1.0.0 -> 2.0.0 (the SPMB migration) and rollback, the web kept on loopback behind the
  proxy; backup onto the backup host; the database host lost: the restore onto a new database
  host is refused (it cannot install the proxy again without the certificate) and says what to
  install first; that install, then the restore: every registration back through https; the
  two fault rows (the database host, then the web host, unreachable in the middle of an
  upgrade) ending with 1.0.0 serving through https; uninstall.

What the simulation cannot show: the three "hosts" share this machine's one Docker engine and
kernel, so every host's ``docker ps`` sees every container, the app's network exists once (all
containers are on it), and the database host's private address is an address on ``lo`` of this
machine (a bridge network cannot reach 127.x). The test checks what the web uses (the database
host's address, seen by PostgreSQL as a connection through the published port) and what
each host's own root holds."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from simdc import (
    REPO,
    TARGET_PYTHON,
    SimDC,
    catalog_clone,
    container_names,
    donor_kode,
    lo_private_address,
    pemda_target_add_args,
    remove_docker_objects,
    run_cli,
    tls_socket,
)

from spbe_share.errors import ExitCode
from spbe_share.targets.inventory import load_targets, read_known_hosts
from spbe_share.tlscerts import issue_for
from spbe_share.workspace import Workspace

sys.path.insert(0, str(REPO / "bench"))
from bench_ppdb_load import https_json  # noqa: E402 - the bench's client: SNI, the certificate checked

pytestmark = [pytest.mark.e2e,
              pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")]

DOMAIN = "ppdb.kota-sorong.go.id"  # the Pemda's own domain, its certificate from a test CA


def _catalog(base: Path, *, db_memory_mb: int) -> Path:
    """A catalog root holding ppdb, its roles' minimums set small (the passing case works on any
    CI machine) but for the database's memory."""
    root = base / "catalog-root"
    if not root.exists():
        shutil.copytree(REPO / "catalog" / "ppdb", root / "catalog" / "ppdb")
        shutil.copytree(REPO / "shared_apps" / "ppdb", root / "shared_apps" / "ppdb")
        shutil.copytree(REPO / "templates" / "ppdb", root / "templates" / "ppdb")
        (root / "playbooks").symlink_to(REPO / "playbooks")  # the root's playbooks are run
    path = root / "catalog" / "ppdb" / "spbe-app.yaml"
    data = yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text())
    for role in data["roles"]:
        role["minimum"] = {"cpu_cores": 1, "memory_mb": 64, "disk_gb": 1}
        if role["name"] == "database":
            role["minimum"]["memory_mb"] = db_memory_mb
            role["recommended"]["memory_mb"] = max(role["recommended"]["memory_mb"], db_memory_mb)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return root


def test_three_hosts_pinned_and_preflight_names_host_and_role(
    simdc_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each host its own home (its ~/.ssh/authorized_keys: the backup host lets the database
    # host's backup key in there, as on real servers)
    web, db, backup = (simdc_factory(n, pemda="Kota Sorong", kode_wilayah="96.71", own_home=True)
                       for n in ("sorong-web", "sorong-db", "sorong-backup"))  # fmt: skip
    name = web.name.replace("sorong-web", "dinas-pendidikan-sorong")
    home = tmp_path / "ws"
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(_catalog(tmp_path, db_memory_mb=64)))
    hosts = {"web": web, "database": db, "backup": backup}

    def add(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ["target", "add", name, "--user", "root", "--pemda", "Kota Sorong", "--kode-wilayah", "96.71",
                "--root", str(web.root), "--python", TARGET_PYTHON]  # fmt: skip
        for role, dc in hosts.items():
            args += ["--host", f"{role}={dc.address}", "--key", f"{role}={dc.client_key}",
                     "--host-key-fingerprint", f"{role}={dc.host_key_fingerprint()}"]  # fmt: skip
        return run_cli(home, *args, *extra)

    out = add().stdout
    assert f"host {name}--database: root@{db.address} port 22, roles database" in out
    ws = Workspace.from_options(home)
    t = load_targets(ws)[name]
    assert [(h.name, h.host, h.roles) for h in t.hosts()] == [
        (name, web.address, ("web",)), (f"{name}--backup", backup.address, ("backup",)),
        (f"{name}--database", db.address, ("database",))]  # fmt: skip
    pins = {p.name: p.key.fingerprint for p in read_known_hosts(ws.known_hosts_file)}
    assert pins == {dc.address: dc.host_key_fingerprint() for dc in hosts.values()}  # each host its own key
    shown = json.loads(run_cli(home, "target", "show", name, "--json").stdout)
    assert {h["name"]: h["host_key_fingerprints"] for h in shown["extra_hosts"]} == {
        f"{name}--backup": [backup.host_key_fingerprint()], f"{name}--database": [db.host_key_fingerprint()]}
    assert run_cli(home, "target", "check", name).stdout.strip().endswith("2 more host(s) ok")

    # every host meets its role: preflight passes (warning under the PPDB specification's figures)
    proc = run_cli(home, "preflight", "ppdb", "--target", name, "--json")
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    where = {c["host"] for c in report["checks"]}
    assert where == {f"{name} (web)", f"{name}--database (database)", f"{name}--backup (backup)"}
    assert any(c["warn"] and c["check"] == "cpu cores (recommended)" for c in report["checks"])
    ports = [c for c in report["checks"] if c["check"].startswith("port ")]
    assert [(c["host"], c["check"]) for c in ports] == [  # web's port on web, the database's (serves) on it
        (f"{name} (web)", "port 8082"), (f"{name}--database (database)", "port 5432")]

    # one failing run, two hosts that fall short, each named with its role: the database role
    # needs more memory than its host has; the backup host's --python lacks requests (preflight
    # probes THAT interpreter, the one the operations use: it used to probe /usr/bin/python3)
    venv = tmp_path / "bare-venv"
    subprocess.run([TARGET_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)  # noqa: S603
    inv = yaml.safe_load(ws.inventory_file.read_text())  # as `add --replace --python backup=...` writes it
    inv["all"]["children"]["spbe_hosts"]["hosts"][f"{name}--backup"]["ansible_python_interpreter"] = (
        f"{venv}/bin/python3")
    ws.inventory_file.write_text(yaml.safe_dump(inv))
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(_catalog(tmp_path, db_memory_mb=64 * 1024 * 1024)))
    proc = run_cli(home, "preflight", "ppdb", "--target", name, check=False)
    assert proc.returncode == ExitCode.PREFLIGHT_FAILED, proc.stdout + proc.stderr
    assert f"{name}--database (database): memory: required >= {64 * 1024 * 1024} MB (database)" in proc.stderr
    assert (f"{name}--backup (backup): python libraries: required docker, requests importable by"
            f" {venv}/bin/python3, found docker missing, requests missing") in proc.stderr
    failed = [ln for ln in proc.stderr.splitlines() if ": required " in ln]
    assert len(failed) == 2, proc.stderr  # only the hosts that fall short


# ---------------------------------------------------------------- ppdb across the hosts (item 3)


@pytest.fixture
def private_address() -> Iterator[str]:
    """The database host's private address (:func:`simdc.lo_private_address`), removed at teardown."""
    try:
        with lo_private_address() as addr:
            yield addr
    except RuntimeError as e:
        pytest.fail(str(e))


def _ppdb_repo(base: Path) -> Path:
    """A catalog root that is a clone of this repository (:func:`simdc.catalog_clone`), ppdb's
    role minimums small as in :func:`_catalog` (the install's preflight passes on any CI machine)."""

    def small(data: dict) -> None:
        for role in data["roles"]:
            role["minimum"] = {"cpu_cores": 1, "memory_mb": 64, "disk_gb": 1}

    return catalog_clone(base, "ppdb", small)


def _ppdb_bundle(base: Path, version: str) -> tuple[Path, Path]:
    """(bundle of ppdb ``version``, the donor's public key file), built from the catalog
    (``$SPBE_SHARE_CATALOG``; each release from its own commit) and signed with a throwaway
    donor key."""
    sys.path.insert(0, str(REPO / "tests"))
    from buildlock import image_build_lock

    from spbe_share.bundle.keys import export_public, generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry

    ws = Workspace.from_options(base / "donor-ppdb")
    ws.ensure()
    pub = ws.home / "ppdb.pub"
    if not pub.exists():
        info = generate_key(ws, name="ppdb", donor_kode=donor_kode("ppdb"))
        pub.write_text(export_public(ws, info.name))
    with image_build_lock():
        path = build_bundle(ws, get_entry(ws, "ppdb"), version=version, key=load_private_key(ws, "ppdb")).path
    return path, pub


def _docker_json(*args: str) -> object:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607
    return json.loads(out)


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


class Https:
    """ppdb's API through its TLS proxy: https://DOMAIN on the web host's 443, the certificate
    checked against the test CA by SNI (the bench's client, :func:`bench_ppdb_load.https_json`)."""

    def __init__(self, address: str, ca: Path, token: str | None = None) -> None:
        self.address, self.ca, self.token = address, ca, token

    def call(self, method: str, path: str, body: object = None, *, expect: int) -> Any:
        status, data = https_json(self.address, DOMAIN, self.ca, method, path, body, self.token)
        assert status == expect, (method, path, status, data)
        return data

    def login(self, username: str, password: str) -> Https:
        token = self.call("POST", "/api/v1/tokens", {"username": username, "password": password}, expect=201)["token"]
        return Https(self.address, self.ca, token)


def _tls(address: str, ca: Path, *, version: ssl.TLSVersion | None = None) -> ssl.SSLSocket:
    return tls_socket(address, ca, domain=DOMAIN, version=version)


def _serves(home: Path, name: str, api: Https, web_app: Path, nomor: str, *, nama: str, version: str,
            jalur: str) -> None:
    """ppdb ``version`` serves across the hosts of ``name`` through https on 443 (healthy in
    ``status``, the domain's URL) with the registration ``nomor`` of ``nama``, on its route
    ``jalur``; the web's port on loopback, the proxy running."""
    admin = api.login("admin", (web_app / "secrets" / "ADMIN_PASSWORD").read_text())
    got = admin.call("GET", f"/api/v1/pendaftaran/{nomor}", expect=200)
    assert (got["nama"], got["jalur"]) == (nama, jalur), got
    status = json.loads(run_cli(home, "status", "--target", name, "--json").stdout)
    row = next(r for r in status if r["app"] == "ppdb")
    assert (row["version"], row["health"], row["urls"]) == (version, "healthy", [f"https://{DOMAIN}/"]), row
    prefix = f"spbe-{name}-ppdb-"
    webc, proxy = (_docker_json("inspect", prefix + c)[0] for c in ("web", "-proxy"))  # type: ignore[index]
    assert webc["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8082"}]}
    assert proxy["State"]["Running"], proxy["State"]


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256 (folders: "dir")."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))} if root.exists() else {}  # fmt: skip


@pytest.mark.xdist_group("topology")
def test_ppdb_across_web_and_database_hosts(
    simdc_factory, private_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(_ppdb_repo(tmp_path)))
    # the simulated hosts share ONE Docker engine: hosts configured in parallel could each
    # create the app's network at once (Docker then holds two of that name, "ambiguous" at
    # start). Real hosts have an engine each; here the hosts take their turns.
    monkeypatch.setenv("ANSIBLE_FORKS", "1")
    bundle, pub = _ppdb_bundle(tmp_path, "1.0.0")
    # the Pemda's certificate for its domain, from a test CA (not the operator's workspace)
    now = dt.datetime.now(dt.UTC)
    pair, ca, _ = issue_for(tmp_path / "testca", domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99", now=now)
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    # each host its own home (its ~/.ssh/authorized_keys: the backup host lets the database
    # host's backup key in there, as on real servers); the web host's address has 443 and 80
    # free too (the proxy publishes them there)
    web = simdc_factory("sorong-web", pemda="Kota Sorong", kode_wilayah="96.71", own_home=True,
                        app_ports=(8082, 443, 80))  # fmt: skip
    db, backup = (simdc_factory(n, pemda="Kota Sorong", kode_wilayah="96.71", own_home=True)
                  for n in ("sorong-db", "sorong-backup"))  # fmt: skip
    name = web.name.replace("sorong-web", "dinas-pendidikan-sorong")
    home = tmp_path / "ws"
    hosts: dict[str, SimDC] = {"web": web, "database": db, "backup": backup}
    out = run_cli(home, *pemda_target_add_args(name, hosts, private_address=private_address, python=TARGET_PYTHON)).stdout
    assert f"roles database, app ports on {private_address}" in out, out
    run_cli(home, "keys", "trust", str(pub), "--donor-kode", donor_kode("ppdb"))
    run_cli(home, "mou", "add", "--app", "ppdb", "--donor", "Disdikbud Kota Pontianak", "--donor-kode",
            donor_kode("ppdb"), "--adopter", "Kota Sorong", "--adopter-kode", "96.71", "--number",
            "PKS/PPDB/2026/1", "--signed", "2026-01-05", "--valid-until", "2036-01-05", "--scope", "install",
            "--scope", "support")  # fmt: skip
    prefix = f"spbe-{name}-ppdb-"
    try:
        t0 = time.monotonic()
        out = run_cli(home, "install", "ppdb", "--target", name, "--bundle", str(bundle), "--set",
                      "pemda_name=Pemerintah Kota Sorong", "--set", "web_workers=2", "--domain", DOMAIN,
                      "--tls-cert", str(cert), "--tls-key", str(key), "--json", timeout=900).stdout  # fmt: skip
        install_s = time.monotonic() - t0
        result = json.loads(out)
        assert result["version"] == "1.0.0" and result["urls"] == [f"https://{DOMAIN}/"], result

        # where each part runs, and what it publishes where: the proxy alone on the web host's
        # public address (443, 80), the web on loopback, the database on its host's private address
        dbc, webc, proxy = (_docker_json("inspect", prefix + c)[0] for c in ("db", "web", "-proxy"))  # type: ignore[index]
        assert proxy["HostConfig"]["PortBindings"] == {
            "443/tcp": [{"HostIp": web.address, "HostPort": "443"}], "80/tcp": [{"HostIp": web.address, "HostPort": "80"}]}
        assert webc["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8082"}]}
        assert dbc["HostConfig"]["PortBindings"] == {"5432/tcp": [{"HostIp": private_address, "HostPort": "5432"}]}
        assert f"DB_HOST={private_address}" in webc["Config"]["Env"]
        assert dbc["State"]["Running"] and webc["State"]["Running"]
        # the database started (and was healthy) before the web
        assert dbc["State"]["StartedAt"] < webc["State"]["StartedAt"]
        # the database port answers on its host's private address only; neither it nor the
        # web's port on the web host's public address
        assert _answers(private_address, 5432)
        assert not _answers(web.address, 5432) and not _answers(web.address, 8082)

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

        # each host's own root: the web host keeps the one lock dir and release record, the TLS
        # key (0600) and the proxy; the database host its part (deploy spec), its images' blobs
        # only, and only its secret
        web_app, db_app = web.root / "apps" / "ppdb", db.root / "apps" / "ppdb"
        record = json.loads((web_app / "current.json").read_text())
        assert (record["version"], record["result"], record["domain"]) == ("1.0.0", "ok", DOMAIN)
        assert record["containers"] == [prefix + "db", prefix + "web"]
        assert not (db_app / "current.json").exists() and list((db_app / "deploys").glob("*.json"))
        assert not (backup.root / "apps").exists()  # the backup host runs nothing of ppdb
        blobs = {dc.name: {p.name.split(".")[0] for p in (dc.root / "blobs" / "sha256").iterdir()} for dc in (web, db)}
        # the image ids are the config blobs: each host got the images of what it runs only
        assert webc["Image"].split(":", 1)[1] in blobs[web.name] and dbc["Image"].split(":", 1)[1] in blobs[db.name]
        assert webc["Image"].split(":", 1)[1] not in blobs[db.name] and dbc["Image"].split(":", 1)[1] not in blobs[web.name]
        assert (web_app / "secrets" / "TLS_PRIVATE_KEY").stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in (db_app / "secrets").iterdir() if p.is_file()) == ["DB_PASSWORD"]
        assert (db_app / "secrets" / "DB_PASSWORD").read_text() == (web_app / "secrets" / "DB_PASSWORD").read_text()
        assert not (db_app / "proxy").exists()

        # a registration through https on 443 (the proxy and the web on their host, the data on
        # the database host)
        api = Https(web.address, ca)
        admin = api.login("admin", (web_app / "secrets" / "ADMIN_PASSWORD").read_text())
        school = admin.call("POST", "/api/v1/sekolah", {"npsn": "60100001", "nama": "SMP Negeri 1 Sorong",
                            "jenjang": "SMP", "alamat": "Jl. Basuki Rahmat, Sorong", "lat": -0.8762,
                            "lon": 131.2558, "daya_tampung": 32}, expect=201)  # fmt: skip
        reg = api.call("POST", "/api/v1/pendaftaran", {
            "sekolah_id": school["id"], "jalur": "zonasi", "nik": "9171000000000001", "nisn": "0000000001",
            "nama": "Murid Uji Sorong", "tanggal_lahir": "2013-03-01", "alamat": "Jl. Uji No. 1, Sorong",
            "lat": -0.8700, "lon": 131.2558}, expect=201)  # fmt: skip
        # PostgreSQL sees the web's connections come through the published port on the
        # database host's address (the docker-proxy or the bridge gateway), not from the web
        # container's own address on the shared network
        web_ips = {n["IPAddress"] for n in webc["NetworkSettings"]["Networks"].values()}
        password = (db_app / "secrets" / "DB_PASSWORD").read_text()
        query = ("select distinct host(client_addr) from pg_stat_activity where usename = 'ppdb'"
                 " and client_addr is not null and client_addr <> '127.0.0.1'")  # not this psql
        clients = set(subprocess.run(["docker", "exec", "-e", f"PGPASSWORD={password}", prefix + "db", "psql", "-h",  # noqa: S603,S607
                                      "127.0.0.1", "-U", "ppdb", "-d", "ppdb", "-At", "-c", query],
                                     capture_output=True, text=True, check=True).stdout.split())  # fmt: skip
        assert clients and not (clients & web_ips), (clients, web_ips)

        # status: healthy, the domain's URL, the certificate's expiry
        status = json.loads(run_cli(home, "status", "--target", name, "--json").stdout)
        row = next(r for r in status if r["app"] == "ppdb")
        assert (row["version"], row["health"], row["urls"]) == ("1.0.0", "healthy", [f"https://{DOMAIN}/"]), row
        assert row["tls_expires"].startswith(pair.info()["not_after"][:10]) and row["tls_warning"] == "", row
        assert admin.call("GET", f"/api/v1/pendaftaran/{reg['nomor']}", expect=200)["nama"] == "Murid Uji Sorong"

        # tls set: the new pair on the web host's proxy (the first host, beside the lock and the
        # record), no reinstall; the key sealed with the first host's secrets
        t0 = time.monotonic()
        pair2, _, _ = issue_for(tmp_path / "testca", domain=DOMAIN, pemda="Test CA", kode_wilayah="99.99", now=now)
        cert, key = tmp_path / "fullchain2.pem", tmp_path / "privkey2.pem"  # the pair from now on
        cert.write_bytes(pair2.cert_pem)
        key.write_bytes(pair2.key_pem)
        run_cli(home, "tls", "set", "ppdb", "--target", name, "--cert", str(cert), "--key", str(key), timeout=600)
        tls_set_s = time.monotonic() - t0
        with _tls(web.address, ca) as s:
            served = s.getpeercert(binary_form=True)
        assert served is not None and hashlib.sha256(served).hexdigest() == pair2.sha256 != pair.sha256
        assert (web_app / "secrets" / "TLS_PRIVATE_KEY").read_bytes() == pair2.key_pem
        sealed = json.loads((web_app / "sealed-secrets.json").read_text())
        assert {"TLS_PRIVATE_KEY", "DB_PASSWORD", "ADMIN_PASSWORD"} <= set(sealed["fingerprints"]), sealed
        assert admin.call("GET", f"/api/v1/pendaftaran/{reg['nomor']}", expect=200)["nama"] == "Murid Uji Sorong"

        # the database host's nftables rule: not written here (SPBE_SHARE_NFTABLES=off, e2e's
        # conftest: the hosts share this machine's namespace); preflight, asked to look, warns
        # that the installed app's rule is missing on the database host, naming it
        assert "spbe_share" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,  # noqa: S603,S607
                                                  check=False).stdout  # fmt: skip
        with monkeypatch.context() as mp:
            mp.setenv("SPBE_SHARE_NFTABLES", "on")
            report = json.loads(run_cli(home, "preflight", "ppdb", "--target", name, "--json").stdout)
        rule = [c for c in report["checks"] if c["check"] == "nftables access rule"]
        assert [(c["host"], c["required"], c["found"], c["warn"]) for c in rule] == [
            (f"{name}--database (database)", f"{private_address}:5432 only from {web.address}",
             "missing (spbe-share install writes it again)", True)], report  # fmt: skip

        # upgrade to 2.0.0 across the hosts (the SPMB migration): the pre-upgrade backup made on
        # the database host, the web stopped before the database, the database first again; the
        # web stays on loopback behind the proxy
        bundle2, _ = _ppdb_bundle(tmp_path, "2.0.0")
        t0 = time.monotonic()
        up = json.loads(run_cli(home, "upgrade", "ppdb", "--target", name, "--bundle", str(bundle2), "--yes",
                                "--json", timeout=900).stdout)["result"]  # fmt: skip
        upgrade_s = time.monotonic() - t0
        assert (up["outcome"], up["from"], up["to"]) == ("upgraded", "1.0.0", "2.0.0"), up
        record = json.loads((web_app / "current.json").read_text())
        assert (record["version"], record["operation"], record["backup"]) == ("2.0.0", "upgrade", up["backup"])
        assert (record["containers"], record["domain"]) == ([prefix + "db", prefix + "web"], DOMAIN)
        assert (db_app / "backups" / up["backup"] / "manifest.json").is_file()  # made where the data is
        assert not (web_app / "backups" / up["backup"]).exists()
        assert json.loads((web_app / "journal.json").read_text())["state"] == "done"
        assert not (db_app / "journal.json").exists() and not list((web.root / "locks").glob("*.lock"))
        dbc, webc = (_docker_json("inspect", prefix + c)[0] for c in ("db", "web"))  # type: ignore[index]
        assert dbc["State"]["StartedAt"] < webc["State"]["StartedAt"]  # the database healthy first
        assert dbc["HostConfig"]["PortBindings"] == {"5432/tcp": [{"HostIp": private_address, "HostPort": "5432"}]}
        assert f"DB_HOST={private_address}" in webc["Config"]["Env"]
        assert not _answers(web.address, 8082)
        # the registration migrated: zonasi -> domisili
        _serves(home, name, api, web_app, reg["nomor"], nama="Murid Uji Sorong", version="2.0.0", jalur="domisili")

        # rollback across the hosts: 1.0.0 again, on the data of the pre-upgrade backup
        t0 = time.monotonic()
        back = json.loads(run_cli(home, "rollback", "ppdb", "--target", name, "--yes", "--json",
                                  timeout=900).stdout)["result"]
        rollback_s = time.monotonic() - t0
        assert (back["from"], back["to"], back["restored"]) == ("2.0.0", "1.0.0", up["backup"]), back
        assert (db_app / "backups" / back["safety_backup"] / "manifest.json").is_file()  # the 2.0.0 data is kept
        record = json.loads((web_app / "current.json").read_text())
        assert (record["version"], record["operation"], record["domain"]) == ("1.0.0", "rollback", DOMAIN)
        assert json.loads((db_app / "part.json").read_text())["version"] == "1.0.0"
        assert not _answers(web.address, 8082)
        _serves(home, name, api, web_app, reg["nomor"], nama="Murid Uji Sorong", version="1.0.0", jalur="zonasi")
        h = json.loads(run_cli(home, "history", "ppdb", "--target", name, "--json").stdout)
        assert [(x["operation"], x["version"], x["result"]) for x in h["attempts"]] == [
            ("install", "1.0.0", "ok"), ("upgrade", "2.0.0", "ok"), ("rollback", "1.0.0", "ok")]

        # prune across the hosts, a dry run: each host says what of 2.0.0 it would give back and
        # nothing changes (these hosts share one engine with other tests' data centers, so the
        # real removal is tested on the bare server's own engine: test_provision.py)
        before = sorted(str(p.relative_to(tmp_path)) for dc in (web, db) for p in (dc.root / "apps").rglob("*"))
        dry = json.loads(run_cli(home, "prune", "ppdb", "--target", name, "--keep", "1", "--dry-run",
                                 "--json").stdout)
        assert (dry["dry_run"], dry["keep"], dry["versions_gone"]) == (True, ["1.0.0"], ["2.0.0"]), dry
        assert len(dry["hosts"]) == 2, dry
        for host, said in dry["hosts"].items():
            assert [f for f in said["files"] if f.startswith("deploys/") and f.endswith("-2.0.0.json")], (host, said)
            assert "bundles/2.0.0" in said["files"], (host, said)
        assert len(dry["files"]) == sum(len(x["files"]) for x in dry["hosts"].values())
        after = sorted(str(p.relative_to(tmp_path)) for dc in (web, db) for p in (dc.root / "apps").rglob("*"))
        assert after == before

        # what does not run across hosts yet is refused before anything changes (exit 2), not
        # done on the first host alone (the database and its data are on the other)
        before = sorted(str(p.relative_to(tmp_path)) for dc in (web, db) for p in (dc.root / "apps").rglob("*"))
        for args in (["config", "set", "ppdb", "--target", name, "web_workers=3"],
                     ["secrets", "rotate", "ppdb", "DB_PASSWORD", "--target", name]):  # fmt: skip
            proc = run_cli(home, *args, check=False)
            assert proc.returncode == ExitCode.INVALID_INPUT, (args, proc.stdout, proc.stderr)
            assert f"runs across the hosts of {name}" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        after = sorted(str(p.relative_to(tmp_path)) for dc in (web, db) for p in (dc.root / "apps").rglob("*"))
        assert after == before

        # a backup: made on the database host (the dumps), copied host to host onto the backup
        # host and checked there; `backup list` says where
        t0 = time.monotonic()
        made = json.loads(run_cli(home, "backup", "ppdb", "--target", name, "--json", timeout=600).stdout)
        backup_s = time.monotonic() - t0
        assert (made["version"], made["verified"], made["backup_host"]) == ("1.0.0", True, f"{name}--backup"), made
        assert made["secrets"] == ["DB_PASSWORD"]  # the database host's own secret, sealed to the operator
        assert (db_app / "backups" / made["id"] / "manifest.json").is_file()
        copy = backup.root / "backup-copies" / name / made["id"]
        received = json.loads((copy / "received.json").read_text())
        assert received["ok"] is True and any(c["detail"] == "sha256 ok; pg_dump custom format header"
                                              for c in received["checks"])  # fmt: skip
        assert (copy / "manifest.json").read_bytes() == (db_app / "backups" / made["id"] / "manifest.json").read_bytes()
        listing = json.loads(run_cli(home, "backup", "list", "ppdb", "--target", name, "--json").stdout)
        assert (listing["app_host"], listing["backup_host"], listing["serving"]) == (
            f"{name}--database", f"{name}--backup", "1.0.0")
        where = {r["id"]: r["where"] for r in listing["backups"]}
        assert where[made["id"]] == "both" and where[up["backup"]] == "both", where  # the pre-upgrade one too
        # the daily schedule is written on the database host (its engine, its root)
        out = run_cli(home, "backup", "schedule", "ppdb", "--target", name, "--daily", "02:30").stdout
        cron = Path(f"/etc/cron.d/spbe-share-backup-{name}-ppdb")
        try:
            assert f"wrote {cron}" in out and f"{db.root}/lib/spbe_backup_engine.py" in cron.read_text(), out
            assert f"{db_app}/backup-spec.json" in cron.read_text()
        finally:
            run_cli(home, "backup", "schedule", "ppdb", "--target", name, "--off")
        assert not cron.exists()

        # the database host is lost (its server, engine objects and disk): a new database host
        # takes its place (target add --replace, same private address)
        db.stop()
        subprocess.run(["docker", "rm", "-f", prefix + "db"], capture_output=True, check=True)  # noqa: S603,S607
        subprocess.run(["docker", "volume", "rm", f"spbe-{name}-ppdb-pgdata"], capture_output=True, check=True)  # noqa: S603,S607
        shutil.rmtree(db.root)
        db = hosts["database"] = simdc_factory("sorong-db2", pemda="Kota Sorong", kode_wilayah="96.71", own_home=True)
        db_app = db.root / "apps" / "ppdb"
        run_cli(home, *pemda_target_add_args(name, hosts, private_address=private_address, python=TARGET_PYTHON),
                "--replace")  # fmt: skip
        # the restore would install the release across the hosts again, but the app is behind
        # the TLS proxy and the restore has no certificate: refused (exit 2, one line) once the
        # backup is back on the new host (the backup's release is read there), before anything of
        # the app changes; it says what to install first, with the release's settings
        t0 = time.monotonic()
        containers, web_tree = container_names(prefix), _tree(web_app)
        proc = run_cli(home, "restore", "ppdb", made["id"], "--target", name, "--yes", "--bundle", str(bundle),
                       check=False, timeout=900)  # fmt: skip
        again = (f"spbe-share install ppdb --target {name} --version 1.0.0 --set 'pemda_name=Pemerintah Kota Sorong'"
                 f" --set web_workers=2 --domain {DOMAIN} --tls-cert FULLCHAIN --tls-key KEY")
        assert proc.returncode == ExitCode.INVALID_INPUT, proc.stdout + proc.stderr
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
        assert len(errors) == 1 and f"is served behind the TLS proxy of {DOMAIN}" in errors[0], proc.stderr
        assert f"({again}), then run this restore again" in errors[0] and "Traceback" not in proc.stderr, errors
        assert f"backup {made['id']} brought back onto {name}--database from its backup host" in proc.stdout + proc.stderr
        assert container_names(prefix) == containers == [prefix + "-proxy", prefix + "web"]
        assert _tree(web_app) == web_tree and not list((web.root / "locks").glob("*.lock"))
        assert [p.name for p in db_app.iterdir()] == ["backups"]  # the backup alone: no part, no secret
        # what it says: that install with the Pemda's certificate, then the restore again
        told = shlex.split(again.replace("FULLCHAIN", str(cert)).replace("--tls-key KEY", f"--tls-key {key}"))
        run_cli(home, *told[1:], "--bundle", str(bundle), timeout=900)
        proc = run_cli(home, "restore", "ppdb", made["id"], "--target", name, "--yes", "--bundle", str(bundle),
                       timeout=900)  # fmt: skip
        restore_s = time.monotonic() - t0
        assert f"restored {made['id']}" in proc.stdout, proc.stdout
        assert (db_app / "secrets" / "DB_PASSWORD").read_text() == (web_app / "secrets" / "DB_PASSWORD").read_text()
        assert api.call("GET", "/api/v1/info", expect=200)["pemda"] == "Pemerintah Kota Sorong"  # its settings
        _serves(home, name, api, web_app, reg["nomor"], nama="Murid Uji Sorong", version="1.0.0", jalur="zonasi")

        # the fault matrix rows: the database host, then the web host, lost half way through an upgrade
        t0 = time.monotonic()
        rows = _fault_rows(home, name, web=web, db=db, bundle2=bundle2, api=api, nomor=reg["nomor"])
        faults_s = time.monotonic() - t0

        # uninstall across the hosts: every host's part, the record on the first host last; the
        # data (the database host's volume), secrets and backups stay
        gone = json.loads(run_cli(home, "uninstall", "ppdb", "--target", name, "--yes", "--json", timeout=600).stdout)
        assert gone["data_deleted"] is False, gone
        for c in ("db", "web"):
            assert subprocess.run(["docker", "inspect", prefix + c], capture_output=True, check=False).returncode != 0  # noqa: S603,S607
        assert not (web_app / "current.json").exists() and (web_app / "uninstalled.json").is_file()
        assert not (db_app / "part.json").exists() and (db_app / "secrets" / "DB_PASSWORD").is_file()
        assert _docker_json("volume", "inspect", f"spbe-{name}-ppdb-pgdata")
        assert not list((web.root / "locks").glob("*.lock"))
        print(f"install --domain across 2 hosts: {install_s:.1f} s; tls set {tls_set_s:.1f} s; upgrade {upgrade_s:.1f} s; rollback {rollback_s:.1f} s;"  # noqa: T201
              f" backup {backup_s:.1f} s; restore onto a new database host (refused, install, restore) {restore_s:.1f} s; fault rows {faults_s:.1f} s;"
              "\n" + "\n".join(rows) + "\n"
              f" test {time.monotonic() - started:.1f} s")
    finally:
        remove_docker_objects(prefix, f"spbe-{name}-")



def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its sshd's sessions), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for kid in children.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def _cut(dc: SimDC) -> None:
    """The host becomes unreachable: its sshd stops and every session it serves is killed (the
    playbook's connection, kept open by mitogen, and the lease keeper's)."""
    assert dc.proc is not None
    sessions = _descendants(dc.proc.pid)
    dc.stop()
    for pid in sessions:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _fault_rows(home: Path, name: str, *, web: SimDC, db: SimDC, bundle2: Path, api: Https, nomor: str) -> list[str]:
    """The two rows of the fault matrix for an app across hosts (issue 19 item 3): the database
    host, then the web host, unreachable in the middle of an upgrade (their sshd and its
    sessions gone once 2.0.0 is starting). The upgrade claims no undo it could not do (exit 8,
    the journal stays open, naming the host); once the host answers again, ``rollback`` undoes
    the upgrade on every host (exit 13): 1.0.0 serves with every row. Returns the matrix rows."""
    web_app = web.root / "apps" / "ppdb"
    rows: list[str] = []
    env = {**os.environ, "SPBE_SHARE_OPERATOR": "e2e-test", "SPBE_SHARE_LEASE_S": "10"}
    env.pop("SPBE_SHARE_HOME", None)
    for role, dc in (("database", db), ("web", web)):
        t0 = time.monotonic()
        journal = web_app / "journal.json"
        before = json.loads(journal.read_text())["id"] if journal.exists() else None
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "spbe_share", "--workspace", str(home), "upgrade", "ppdb", "--target", name,
             "--bundle", str(bundle2), "--yes"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                j = json.loads(journal.read_text())
                if j["id"] != before and "starting-new" in [s["step"] for s in j["steps"]]:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, "the upgrade ended before the host could be cut"
        _cut(dc)
        out, err = proc.communicate(timeout=600)
        # nothing claimed: the host that did not answer is named, the journal stays open
        assert proc.returncode == ExitCode.REMOTE_FAILED, (role, out, err)
        assert "did not answer" in err and "spbe-share rollback" in err and "Traceback" not in err, err
        dc.restart()
        if list((web.root / "locks").glob("*.lock")):  # the first host was cut: its lock stays ...
            time.sleep(11)  # ... until its lease (10 s) runs out
        back = run_cli(home, "rollback", "ppdb", "--target", name, "--yes", check=False, timeout=900)
        assert back.returncode == ExitCode.ROLLED_BACK and "was undone" in back.stderr, back.stdout + back.stderr
        j = json.loads(journal.read_text())
        assert j["state"] == "rolled_back" and "resumed" in [s["step"] for s in j["steps"]], j
        _serves(home, name, api, web_app, nomor, nama="Murid Uji Sorong", version="1.0.0", jalur="zonasi")
        assert not list((web.root / "locks").glob("*.lock"))
        rows.append(f"{role} host unreachable at starting-new: upgrade exit {proc.returncode}, rollback exit"
                    f" {back.returncode}, 1.0.0 serves with its rows, {time.monotonic() - t0:.1f} s")
    return rows
