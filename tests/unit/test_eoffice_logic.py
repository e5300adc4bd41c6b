"""e-Office pure logic: numbering, roman months, canonical digest + Ed25519, migrations
selection by release, letter validation, passwords. No database, no Docker."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "shared_apps" / "e-office" / "web"))

from eoffice import letters as L  # noqa: E402
from eoffice import migrations, signing  # noqa: E402
from eoffice.config import ConfigError, load  # noqa: E402
from eoffice.numbering import format_nomor, is_kode_klasifikasi, roman  # noqa: E402
from eoffice.security import can, check_password, hash_password, new_token, token_hash  # noqa: E402
from eoffice.versioning import has_klasifikasi, version_key  # noqa: E402


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, "I"), (2, "II"), (3, "III"), (4, "IV"), (5, "V"), (6, "VI"), (7, "VII"), (8, "VIII"),
     (9, "IX"), (10, "X"), (11, "XI"), (12, "XII"), (14, "XIV"), (40, "XL"), (1994, "MCMXCIV"), (2026, "MMXXVI")],
)
def test_roman(n: int, expected: str) -> None:
    assert roman(n) == expected


@pytest.mark.parametrize("n", [0, -1, 4000])
def test_roman_out_of_range(n: int) -> None:
    with pytest.raises(ValueError):
        roman(n)


def test_format_nomor() -> None:
    assert format_nomor(seq=7, kode="800.1.2", unit="DISKOMINFO", month=11, year=2026) == "007/800.1.2/DISKOMINFO/XI/2026"
    assert format_nomor(seq=1234, kode="UM", unit="SETDA", month=1, year=2027) == "1234/UM/SETDA/I/2027"


@pytest.mark.parametrize("kwargs", [
    {"seq": 0, "kode": "UM", "unit": "X", "month": 1, "year": 2026},
    {"seq": 1, "kode": "UM", "unit": "X", "month": 13, "year": 2026},
    {"seq": 1, "kode": "a/b", "unit": "X", "month": 1, "year": 2026},  # '/' would break the number
    {"seq": 1, "kode": "UM", "unit": "", "month": 1, "year": 2026},
])
def test_format_nomor_rejects(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        format_nomor(**kwargs)


@pytest.mark.parametrize(("value", "ok"), [("000", True), ("000.1.2", True), ("800.1.2.3", True),
                                           ("UM", False), ("00", False), ("000.", False), ("000.1234", False)])
def test_kode_klasifikasi(value: str, ok: bool) -> None:
    assert is_kode_klasifikasi(value) is ok


CONTENT = {
    "versi": 1, "pemda": "Pemerintah Provinsi Papua Barat Daya", "jenis": "keluar",
    "nomor": "001/UM/DISKOMINFO/IV/2026", "tanggal": "2026-04-02", "perihal": "Jawaban undangan",
    "tujuan": "Kementerian PANRB", "sifat": "biasa", "isi": "Dengan hormat, kami akan hadir.",
    "penandatangan": {"nama": "Yohanes Rumbiak", "jabatan": "Kepala Dinas"},
}


def test_canonical_json_is_order_and_normalisation_independent() -> None:
    reordered = dict(reversed(list(CONTENT.items())))
    assert signing.canonical_json(reordered) == signing.canonical_json(CONTENT)
    nfd = dict(CONTENT, perihal="Kunjungan ke Sentani – Jaya\u0301")  # combining accent
    nfc = dict(CONTENT, perihal="Kunjungan ke Sentani – Jayá")
    assert signing.digest(nfd) == signing.digest(nfc)
    assert signing.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_canonical_json_rejects_floats() -> None:
    with pytest.raises(ValueError):
        signing.canonical_json({"x": 1.5})


def test_sign_verify_and_one_character_change() -> None:
    stored, private = signing.new_key("rahasia-deployment-ini")
    sig = signing.sign(private, CONTENT)
    public = signing.load_public(stored.public_b64)
    assert signing.verify(public, CONTENT, sig)
    for field in ("isi", "nomor", "perihal"):
        changed = dict(CONTENT, **{field: CONTENT[field][:-1] + ("X" if CONTENT[field][-1] != "X" else "Y")})
        assert not signing.verify(public, changed, sig), field
    assert not signing.verify(public, dict(CONTENT, penandatangan={"nama": "Orang Lain", "jabatan": "Kepala Dinas"}), sig)
    assert not signing.verify(public, CONTENT, "bukan-base64!")
    other, _ = signing.new_key("x" * 16)
    assert not signing.verify(signing.load_public(other.public_b64), CONTENT, sig)


def test_sealed_key_needs_the_secret() -> None:
    stored, private = signing.new_key("secret-one")
    reopened = signing.open_key(stored, "secret-one")
    assert signing.key_id(reopened.public_key()) == stored.key_id
    assert stored.key_id not in stored.sealed_private
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        signing.open_key(stored, "secret-two")


def _write(d: Path, name: str, intro: str, sql: str = "SELECT 1;") -> None:
    (d / name).write_text(f"-- introduced: {intro}\n{sql}\n", encoding="utf-8")


def test_real_migrations_are_tagged_per_release() -> None:
    found = migrations.discover()
    assert [(m.number, m.introduced) for m in found] == [(1, "1.0.0"), (2, "1.1.0")]
    assert [m.number for m in migrations.for_version(found, "1.0.0")] == [1]
    assert [m.number for m in migrations.for_version(found, "1.0.5")] == [1]
    assert [m.number for m in migrations.for_version(found, "1.1.0-rc.1")] == [1]
    assert [m.number for m in migrations.for_version(found, "1.1.0")] == [1, 2]
    assert [m.number for m in migrations.for_version(found, "2.0.0")] == [1, 2]


def test_migration_1_1_0_keeps_rows_and_backfills() -> None:
    code = [line.split("--")[0] for line in migrations.discover()[1].sql.splitlines()]
    sql = "\n".join(code).upper()
    assert "DELETE" not in sql and "DROP" not in sql and "TRUNCATE" not in sql
    assert "UPDATE LETTERS" in sql


def test_pending_and_checksum(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.sql", "1.0.0")
    _write(tmp_path, "0002_b.sql", "1.1.0")
    found = migrations.discover(tmp_path)
    assert [m.number for m in migrations.pending(found, {})] == [1, 2]
    assert [m.number for m in migrations.pending(found, {1: found[0].checksum})] == [2]
    with pytest.raises(migrations.MigrationError, match="berubah"):
        migrations.pending(found, {1: "0" * 64})


@pytest.mark.parametrize(("files", "message"), [
    ([("0001_a.sql", "1.0.0"), ("0003_c.sql", "1.1.0")], "berurutan"),
    ([("0001_a.sql", "1.1.0"), ("0002_b.sql", "1.0.0")], "sebelum"),
    ([("1_a.sql", "1.0.0")], "NNNN"),
])
def test_discover_rejects(tmp_path: Path, files: list[tuple[str, str]], message: str) -> None:
    for name, intro in files:
        _write(tmp_path, name, intro)
    with pytest.raises(migrations.MigrationError, match=message):
        migrations.discover(tmp_path)


def test_missing_tag(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    with pytest.raises(migrations.MigrationError, match="introduced"):
        migrations.discover(tmp_path)


def test_version_gate() -> None:
    assert not has_klasifikasi("1.0.0")
    assert not has_klasifikasi("1.1.0-rc.1")
    assert has_klasifikasi("1.1.0") and has_klasifikasi("1.2.3")
    assert version_key("1.10.0") > version_key("1.9.9")
    with pytest.raises(ValueError):
        version_key("1.0")


TODAY = dt.date(2026, 11, 22)


def test_validate_new_1_0_0_and_1_1_0() -> None:
    base = {"jenis": "keluar", "perihal": " Undangan ", "tujuan": "Bupati Sorong"}
    v = L.validate_new(base, klasifikasi=False, default_unit="SETDA", today=TODAY)
    assert (v["kode"], v["unit"], v["tanggal"], v["perihal"], v["sifat"]) == ("UM", "SETDA", TODAY, "Undangan", "biasa")
    assert "kode_klasifikasi" not in v
    with pytest.raises(L.InvalidLetter, match="kode_klasifikasi"):
        L.validate_new(base, klasifikasi=True, default_unit="SETDA", today=TODAY)
    v2 = L.validate_new(dict(base, kode_klasifikasi="800.1.2", sifat="rahasia"), klasifikasi=True,
                        default_unit="SETDA", today=TODAY)
    assert (v2["kode"], v2["kode_klasifikasi"], v2["klasifikasi_keamanan"]) == ("800.1.2", "800.1.2", "rahasia")


@pytest.mark.parametrize(("data", "field"), [
    ({"jenis": "lain", "perihal": "x"}, "jenis"),
    ({"jenis": "masuk", "perihal": "x"}, "pengirim"),
    ({"jenis": "keluar", "perihal": "x"}, "tujuan"),
    ({"jenis": "keluar", "perihal": "", "tujuan": "y"}, "perihal"),
    ({"jenis": "keluar", "perihal": "x", "tujuan": "y", "tanggal": "22/11/2026"}, "tanggal"),
    ({"jenis": "keluar", "perihal": "x", "tujuan": "y", "sifat": "kilat"}, "sifat"),
    ({"jenis": "keluar", "perihal": "x", "tujuan": "y", "penandatangan_id": "3"}, "penandatangan_id"),
])
def test_validate_new_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(L.InvalidLetter, match=f"^{field}"):
        L.validate_new(data, klasifikasi=False, default_unit="SETDA", today=TODAY)


def test_validate_update() -> None:
    assert L.validate_update({"isi": "baru"}, klasifikasi=False) == {"isi": "baru"}
    with pytest.raises(L.InvalidLetter, match="nomor"):
        L.validate_update({"nomor": "x"}, klasifikasi=False)
    with pytest.raises(L.InvalidLetter, match="klasifikasi_keamanan"):
        L.validate_update({"klasifikasi_keamanan": "rahasia"}, klasifikasi=False)
    assert L.validate_update({"klasifikasi_keamanan": "terbatas"}, klasifikasi=True) == {"klasifikasi_keamanan": "terbatas"}
    with pytest.raises(L.InvalidLetter, match="status"):
        L.validate_update({"status": "ditandatangani"}, klasifikasi=True)


def test_signed_content_versions() -> None:
    letter = {"jenis": "keluar", "nomor": "001/800/X/I/2026", "tanggal": dt.date(2026, 1, 5), "perihal": "p",
              "tujuan": "t", "sifat": "biasa", "isi": "i", "kode_klasifikasi": "800", "klasifikasi_keamanan": "terbatas"}
    v1 = L.signed_content(letter, pemda="P", signer_nama="N", signer_jabatan="J", klasifikasi=False)
    v2 = L.signed_content(letter, pemda="P", signer_nama="N", signer_jabatan="J", klasifikasi=True)
    assert v1["versi"] == 1 and "kode_klasifikasi" not in v1 and v1["tanggal"] == "2026-01-05"
    assert v2["versi"] == 2 and v2["klasifikasi_keamanan"] == "terbatas"


def test_passwords_tokens_roles() -> None:
    h = hash_password("sandi-rahasia-1")
    assert check_password("sandi-rahasia-1", h) and not check_password("sandi-rahasia-2", h)
    assert not check_password("x", "garbage")
    with pytest.raises(ValueError):
        hash_password("pendek")
    token, hashed = new_token()
    assert token_hash(token) == hashed and token not in hashed
    assert can("admin", "users") and not can("sekretariat", "users")
    assert can("pejabat", "sign") and not can("sekretariat", "sign") and not can("staf", "dispose")


def test_config_load(tmp_path: Path) -> None:
    secrets = tmp_path / "s"
    secrets.mkdir()
    for name in ("DB_PASSWORD", "SECRET_KEY", "ADMIN_PASSWORD"):
        (secrets / name).write_text(f"{name.lower()}-value\n")
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text('{"pemda_name": "Provinsi Papua Barat Daya", "kode_unit": "DISKOMINFO"}')
    env = {"EOFFICE_CONFIG": str(cfg_file), "EOFFICE_SECRETS_DIR": str(secrets), "DB_HOST": "127.0.0.1"}
    cfg = load(env)
    assert (cfg.pemda_name, cfg.kode_unit, cfg.db_host, cfg.db_port, cfg.db_password) == (
        "Provinsi Papua Barat Daya", "DISKOMINFO", "127.0.0.1", 5432, "db_password-value")
    (secrets / "SECRET_KEY").unlink()
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load(env)
    cfg_file.write_text('{"pemda_name": ')
    with pytest.raises(ConfigError, match="config.json:1"):
        load(env)


def test_config_template_renders_valid_json() -> None:
    import json

    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701 - JSON, values via tojson
    text = (REPO / "templates" / "e-office" / "config.json.j2").read_text()
    values = {"pemda_name": 'Pemda "Uji" \\ Baru', "domain": "d", "logo_url": "", "kode_unit": "SETDA",
              "spbe_app": "e-office", "spbe_version": "1.1.0", "spbe_target": "t", "spbe_pemda": "p",
              "spbe_kode_wilayah": "96"}
    data = json.loads(env.from_string(text).render(**values))
    assert data["pemda_name"] == 'Pemda "Uji" \\ Baru' and data["kode_wilayah"] == "96"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string(text).render(**{k: v for k, v in values.items() if k != "kode_unit"})


def test_catalog_entry_and_compose_agree() -> None:
    from spbe_share.catalog.models import Entry
    from spbe_share.yamlio import load_model

    entry_dir = REPO / "catalog" / "e-office"
    entry = load_model(Entry, entry_dir / "spbe-app.yaml")
    for _loc, path, base in entry.referenced_files():
        assert ((entry_dir if base == "entry" else REPO) / path).exists(), path
    compose = yaml.safe_load((entry_dir / "compose.yaml").read_text())
    assert set(compose["services"]) == {c.name for c in entry.components}
    assert set(compose["secrets"]) == {s.name for s in entry.secrets}
    assert set(compose["volumes"]) == {v.name for c in entry.components for v in c.volumes}
    for c in entry.components:
        svc = compose["services"][c.name]
        assert svc["image"].startswith(c.image + ":")
        assert set(svc.get("secrets", [])) == set(c.secrets)
        assert set(svc.get("depends_on", {})) == set(c.depends_on)
    assert [r.version for r in entry.releases] == ["1.0.0", "1.1.0", "1.1.1"]
    # every release the catalog lists has the migrations it needs
    found = migrations.discover()
    assert {m.introduced for m in found} <= {r.version for r in entry.releases}


def test_first_login_initial_password_memo_and_allowed_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """1.1.1: the initial secret verified against the stored hash (no column), once per hash."""
    from eoffice import firstlogin

    initial = "Awal-Rahasia-20-Char"
    seeded, changed = hash_password(initial), hash_password("sandi-baru-yang-panjang")
    state = firstlogin.InitialPassword(initial)
    calls: list[str] = []
    real = firstlogin.check_password
    monkeypatch.setattr(firstlogin, "check_password", lambda p, h: calls.append(h) or real(p, h))
    assert state.matches(seeded) and state.matches(seeded)
    assert not state.matches(changed) and not state.matches(None) and not state.matches("garbage")
    assert calls == [seeded, changed, "garbage"]  # one scrypt per distinct hash
    # the forced session reaches the change (web and API), logout and the public probe only
    for endpoint in ("ganti_sandi", "api_change_password", "logout", "login", "api_token", "api_first_login", "static"):
        assert firstlogin.is_allowed(endpoint)
    for endpoint in ("index", "surat_list", "pengguna", "api_letters", "api_users", "api_user_update", None):
        assert not firstlogin.is_allowed(endpoint)
    err = firstlogin.forced_error()
    assert err["required"] == "password_change" and err["change_url"] == "/api/v1/me/password"
    assert "POST /api/v1/me/password" in err["error"] and initial not in err["error"]


@pytest.mark.parametrize(("new", "confirm", "why"), [
    ("pendek", None, "minimal 12"),
    ("lama-tapi-panjang", None, "berbeda dari kata sandi lama"),
    ("Awal-Rahasia-20-Char", None, "kata sandi awal"),
    ("baru-yang-panjang-1", "baru-yang-panjang-2", "konfirmasi"),
])
def test_first_login_new_password_rules(new: str, confirm: str | None, why: str) -> None:
    from eoffice.firstlogin import validate_new_password

    got = validate_new_password(current="lama-tapi-panjang", new=new, confirm=confirm, initial="Awal-Rahasia-20-Char")
    assert got is not None and why in got
    assert validate_new_password(current="lama-tapi-panjang", new="baru-yang-panjang-1", confirm="baru-yang-panjang-1",
                                 initial="Awal-Rahasia-20-Char") is None

