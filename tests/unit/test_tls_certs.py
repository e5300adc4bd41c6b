"""TLS on the Pemda's domain (issue 19 item 4): certificate checks, the internal CA, the
rendered nginx config and upstream, the proxy's variables, the expiry in status."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput
from spbe_share.ops.status import rows_for_host, tls_column
from spbe_share.plans.proxy import nginx_conf, proxy_container_name, upstream_conf
from spbe_share.records.state import TlsInfo, tls_infos
from spbe_share.tlscerts import check_domain, expiry_text, issue_for, load_pair, names_domain

NOW = dt.datetime(2026, 12, 7, 4, 0, tzinfo=dt.UTC)
DOMAIN = "ppdb.example.go.id"


def _write(folder: Path, name: str, pair) -> tuple[Path, Path]:  # noqa: ANN001
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    return cert, key


def test_internal_ca_issues_a_checked_pair_and_keeps_its_key_0600(tmp_path: Path) -> None:
    pair, ca, created = issue_for(tmp_path, domain=DOMAIN, pemda="Kota Sorong", kode_wilayah="96.71", now=NOW)
    assert created and ca == tmp_path / "tls-ca" / "96.71" / "ca.crt"
    assert stat.S_IMODE((ca.parent / "ca.key").stat().st_mode) == 0o600
    assert pair.domain == DOMAIN and pair.not_after == NOW + dt.timedelta(days=397)
    assert "PRIVATE KEY" not in repr(pair)
    _, again, created2 = issue_for(tmp_path, domain="x.example.go.id", pemda="Kota Sorong", kode_wilayah="96.71",
                                   now=NOW)  # fmt: skip
    assert again == ca and not created2  # one CA per Pemda
    cert, key = _write(tmp_path, "a", pair)
    assert load_pair(cert, key, domain=DOMAIN, now=NOW).sha256 == pair.sha256


def test_bad_pairs_are_refused_with_one_line_naming_the_file(tmp_path: Path) -> None:
    a, _, _ = issue_for(tmp_path, domain=DOMAIN, pemda="P", kode_wilayah="96.71", now=NOW)
    b, _, _ = issue_for(tmp_path, domain=DOMAIN, pemda="P", kode_wilayah="96.71", now=NOW)
    other, _, _ = issue_for(tmp_path, domain="lain.example.go.id", pemda="P", kode_wilayah="96.71", now=NOW)
    cert_a, key_a = _write(tmp_path, "a", a)
    _, key_b = _write(tmp_path, "b", b)
    cert_o, key_o = _write(tmp_path, "o", other)
    junk = tmp_path / "junk.pem"
    junk.write_text("not pem\n")
    cases = [
        (cert_a, key_b, DOMAIN, NOW, f"{key_b}: the key does not match the certificate {cert_a}"),
        (cert_o, key_o, DOMAIN, NOW, f"{cert_o}: the certificate is for lain.example.go.id, not {DOMAIN}"),
        (cert_a, key_a, DOMAIN, NOW + dt.timedelta(days=400), f"{cert_a}: the certificate expired on "
         f"{NOW + dt.timedelta(days=397):%Y-%m-%d %H:%M} UTC"),
        (junk, key_a, DOMAIN, NOW, f"{junk}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')"),
        (cert_a, junk, DOMAIN, NOW, f"{junk}: not a PEM private key (ValueError)"),
        (cert_a, cert_a, DOMAIN, NOW, f"{cert_a}: a certificate, not a private key (are --cert and --key swapped?)"),
        (cert_a, tmp_path / "missing.key", DOMAIN, NOW, f"{tmp_path / 'missing.key'}: cannot read the key: No such"
         " file or directory"),
    ]
    for cert, key, domain, now, message in cases:
        with pytest.raises(InvalidInput) as exc:
            load_pair(cert, key, domain=domain, now=now)
        assert str(exc.value) == message
        assert "\n" not in str(exc.value)


def test_domains_and_wildcards() -> None:
    assert check_domain(DOMAIN) == DOMAIN
    for bad in ("localhost", "PPDB.example.go.id", "a..b", "-a.b", "a b.c", "ppdb.example.go.id;", "1.2.3.4", ""):
        with pytest.raises(InvalidInput):
            check_domain(bad)
    assert names_domain(["*.example.go.id"], DOMAIN)
    assert not names_domain(["*.go.id"], DOMAIN)  # one label deep only
    assert not names_domain(["*.example.go.id"], "example.go.id")


def test_nginx_config_tls_only_modern_settings_and_a_one_line_upstream() -> None:
    conf = nginx_conf(DOMAIN, health_path="/healthz")
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in conf
    assert f"location / {{ return 301 https://{DOMAIN}$request_uri; }}" in conf  # 80 only redirects
    assert "listen 443 ssl http2 default_server;" in conf
    assert "include /etc/spbe-proxy/upstream.conf;" in conf and "proxy_pass $spbe_upstream;" in conf
    assert "resolver 127.0.0.11" in conf  # a recreated container is found again
    ciphers = next(line for line in conf.splitlines() if "ssl_ciphers" in line)
    assert "CBC" not in ciphers and "RSA-AES" not in ciphers.replace("ECDHE-RSA-AES", "").replace("DHE-RSA-AES", "")
    assert upstream_conf("web", 8080).splitlines()[-1] == "set $spbe_upstream http://web:8080;"
    assert proxy_container_name("kota-sorong", "ppdb") == "spbe-kota-sorong-ppdb--proxy"


def test_expiry_in_status_warns_within_30_days() -> None:
    info = {"domain": DOMAIN, "not_after": "2027-01-05T00:00:00Z", "sha256": "a" * 64, "issuer": "CN=x"}
    certs = tls_infos([["ppdb", info], ["../evil", info], ["e-office", {"domain": "x"}], "junk"])
    assert list(certs) == ["ppdb"]
    assert tls_column(certs["ppdb"], NOW) == (
        "2027-01-05 (28 days)", f"the TLS certificate of {DOMAIN} expires within 30 days: spbe-share tls set")
    assert tls_column(TlsInfo.model_validate({**info, "not_after": "2027-03-01T00:00:00Z"}), NOW) == (
        "2027-03-01 (83 days)", "")
    assert expiry_text(NOW - dt.timedelta(days=1), NOW) == ("EXPIRED 2026-12-06", True)


def test_status_row_carries_the_expiry(tmp_path: Path) -> None:
    from spbe_share.targets.inventory import Target

    target = Target(name="kota-sorong", host="127.0.0.2", user="root", pemda="Kota Sorong", kode_wilayah="96.71",
                    bind_address="127.0.0.2")  # fmt: skip
    record = {
        "app": "ppdb", "version": "1.0.0", "target": "kota-sorong", "pemda": "Kota Sorong", "kode_wilayah": "96.71",
        "bundle_digest": "sha256:" + "b" * 64, "signer": "x", "who": "op", "when": "2026-12-01T00:00:00Z",
        "domain": DOMAIN, "urls": [f"https://{DOMAIN}/"],
    }
    info = {"domain": DOMAIN, "not_after": "2027-01-01T00:00:00Z", "sha256": "a" * 64}
    [row] = rows_for_host(target, {"records": [record], "tls": [["ppdb", info]]}, now=NOW)
    assert row.tls_expires == "2027-01-01 (24 days)" and "expires within 30 days" in row.tls_warning
    [plain] = rows_for_host(target, {"records": [record]}, now=NOW)
    assert plain.tls_expires == "" and plain.tls_warning == ""


def test_preflight_with_a_domain_wants_443_and_80_free_or_the_proxys_own() -> None:
    from spbe_share.catalog.loader import get_entry
    from spbe_share.ops.preflight import preflight_vars
    from spbe_share.targets.inventory import Target
    from spbe_share.workspace import Workspace

    entry = get_entry(Workspace.from_options(), "pengaduan").entry
    target = Target(name="kota-sorong", host="127.0.0.2", user="root", pemda="Kota Sorong", kode_wilayah="96.71",
                    bind_address="127.0.0.2")  # fmt: skip
    plain = preflight_vars(target, entry)
    fronted = preflight_vars(target, entry, proxy=True)
    assert 443 not in plain["spbe_ports"] and {80, 443} <= set(fronted["spbe_ports"])
    assert fronted["spbe_containers"] == [*plain["spbe_containers"], "spbe-kota-sorong-pengaduan--proxy"]


def test_with_a_domain_the_apps_ports_are_on_loopback_only() -> None:
    from spbe_share.catalog.loader import get_entry
    from spbe_share.ops.tls import app_target
    from spbe_share.plans.containers import container_specs, health_specs
    from spbe_share.targets.inventory import Target
    from spbe_share.workspace import Workspace

    entry = get_entry(Workspace.from_options(), "pengaduan").entry
    target = Target(name="kota-sorong", host="10.1.2.3", user="root", pemda="Kota Sorong", kode_wilayah="96.71",
                    bind_address="10.1.2.3")  # fmt: skip
    inner = app_target(target, DOMAIN)
    assert app_target(target, None) is target
    [web] = container_specs(entry, version="1.0.0", target=target.name, root="/r", bind_address=inner.bind_address,
                            images={"web": "sha256:" + "c" * 64})  # fmt: skip
    assert web["ports"] == ["127.0.0.1:8081:8080/tcp"]
    [health] = health_specs(entry, target=target.name, bind_address=inner.bind_address)
    assert health.url == "http://127.0.0.1:8081/healthz"
