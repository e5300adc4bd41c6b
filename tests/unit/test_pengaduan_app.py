"""Pengaduan Masyarakat without Docker: rules, SQLite storage and migrations, config, Flask routes."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "shared_apps" / "pengaduan"
sys.path.insert(0, str(APP_DIR))

from pengaduan import config as pconfig  # noqa: E402
from pengaduan import db, logic  # noqa: E402

GOOD = {
    "nama": "Ni Luh Sari",
    "kontak": "sari@example.org",
    "kategori": "Kesehatan",
    "judul": "Obat kosong",
    "isi": "Stok obat di puskesmas kosong sejak seminggu terakhir.",
    "lokasi": "Puskesmas Sukasada",
}


# ----------------------------------------------------------------- logic


def test_ticket_format_and_parse() -> None:
    assert logic.format_ticket(2026, 123) == "ADU-2026-000123"
    assert logic.format_ticket(2026, 1234567) == "ADU-2026-1234567"
    assert logic.parse_ticket(" adu-2026-000123 ") == (2026, 123)
    assert logic.normalize_ticket("adu-2026- 000123") == "ADU-2026-000123"
    for bad in ("", "ADU-26-000123", "ADU-2026-12", "XYZ-2026-000123", "ADU-2026-000000"):
        assert logic.parse_ticket(bad) is None, bad
    with pytest.raises(ValueError):
        logic.format_ticket(2026, 0)


@pytest.mark.parametrize(
    ("current", "new", "note", "ok"),
    [
        ("diterima", "diverifikasi", "", True),
        ("diterima", "ditolak", "Bukan kewenangan Pemda", True),
        ("diterima", "ditolak", "  ", False),  # closing needs a reason
        ("diterima", "ditindaklanjuti", "x", False),  # skipping verification
        ("diverifikasi", "ditindaklanjuti", "", True),
        ("ditindaklanjuti", "selesai", "Sudah diperbaiki", True),
        ("ditindaklanjuti", "selesai", "", False),
        ("selesai", "diterima", "x", False),  # terminal
        ("ditolak", "diverifikasi", "x", False),
        ("diterima", "hilang", "x", False),
    ],
)
def test_transitions(current: str, new: str, note: str, ok: bool) -> None:
    if ok:
        logic.check_transition(current, new, note)
    else:
        with pytest.raises(logic.InvalidTransition):
            logic.check_transition(current, new, note)


def test_validate_complaint_ok_and_anonymous() -> None:
    c = logic.validate_complaint(GOOD, logic.DEFAULT_CATEGORIES)
    assert c.nama == "Ni Luh Sari" and not c.anonim
    anon = logic.validate_complaint({**GOOD, "anonim": "ya"}, logic.DEFAULT_CATEGORIES)
    assert anon.nama is None and anon.anonim
    blank = logic.validate_complaint({**GOOD, "nama": "  ", "kontak": "", "lokasi": None}, logic.DEFAULT_CATEGORIES)
    assert blank.nama is None and blank.kontak is None and blank.lokasi is None
    phone = logic.validate_complaint({**GOOD, "kontak": "+62 812-3456-7890"}, logic.DEFAULT_CATEGORIES)
    assert phone.kontak == "+62 812-3456-7890"


def test_validate_complaint_reports_every_problem() -> None:
    with pytest.raises(logic.InvalidComplaint) as err:
        logic.validate_complaint(
            {"kategori": "Lain", "judul": "ab", "isi": "pendek", "kontak": "bukan kontak", "nama": "x" * 101},
            logic.DEFAULT_CATEGORIES,
        )
    assert set(err.value.errors) == {"kategori", "judul", "isi", "kontak", "nama"}


def test_public_view_hides_identity() -> None:
    complaint = {"ticket": "ADU-2026-000001", "kategori": "K", "judul": "J", "lokasi": None, "status": "diterima",
                 "created_at": "t", "updated_at": "t", "nama": "N", "kontak": "k", "isi": "I"}  # fmt: skip
    history = [{"status": "diterima", "catatan": "c", "at": "t", "oleh": "sistem"}]
    public = logic.public_view(complaint, history)
    assert not {"nama", "kontak", "isi"} & set(public)
    assert "oleh" not in public["history"][0]
    staff = logic.staff_view(complaint, history)
    assert staff["nama"] == "N" and staff["next_statuses"] == ["diverifikasi", "ditolak"]
    assert staff["history"][0]["oleh"] == "sistem"


# ----------------------------------------------------------------- db


@pytest.fixture()
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = db.connect(tmp_path / "p.db")
    db.migrate(c)
    return c


def test_migrate_is_idempotent_and_uses_wal(tmp_path: Path) -> None:
    c = db.connect(tmp_path / "p.db")
    assert db.migrate(c) == list(range(1, db.SCHEMA_VERSION + 1))
    assert db.migrate(c) == []
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.check_health(c) == {"schema_version": db.SCHEMA_VERSION, "complaints": 0}


def test_migrate_refuses_newer_schema(tmp_path: Path) -> None:
    c = db.connect(tmp_path / "p.db")
    c.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        db.migrate(c)


def test_health_fails_on_unmigrated_or_readonly(tmp_path: Path) -> None:
    fresh = db.connect(tmp_path / "fresh.db")
    with pytest.raises(RuntimeError, match="schema version 0"):
        db.check_health(fresh)
    path = tmp_path / "ro.db"
    c = db.connect(path)
    db.migrate(c)
    c.close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        db.check_health(ro)


def test_ticket_sequence_per_year(conn: sqlite3.Connection) -> None:
    new = logic.validate_complaint(GOOD, logic.DEFAULT_CATEGORIES)
    assert db.create_complaint(conn, new, when="2026-01-05T10:00:00Z") == "ADU-2026-000001"
    assert db.create_complaint(conn, new, when="2026-12-31T23:59:00Z") == "ADU-2026-000002"
    assert db.create_complaint(conn, new, when="2027-01-01T00:00:00Z") == "ADU-2027-000001"
    assert db.count_by_status(conn)["diterima"] == 3
    assert [r["ticket"] for r in db.list_complaints(conn)] == ["ADU-2027-000001", "ADU-2026-000002", "ADU-2026-000001"]


def test_change_status_records_history_and_rolls_back_bad_moves(conn: sqlite3.Connection) -> None:
    ticket = db.create_complaint(conn, logic.validate_complaint(GOOD, logic.DEFAULT_CATEGORIES))
    assert db.change_status(conn, ticket, "diverifikasi", " Lengkap ", oleh="petugas") == "diterima"
    with pytest.raises(logic.InvalidTransition):
        db.change_status(conn, ticket, "selesai", "x", oleh="petugas")
    with pytest.raises(KeyError):
        db.change_status(conn, "ADU-2026-999999", "diverifikasi", "", oleh="petugas")
    found = db.get_complaint(conn, ticket)
    assert found is not None
    complaint, history = found
    assert complaint["status"] == "diverifikasi"
    assert [(h["status"], h["catatan"], h["oleh"]) for h in history] == [
        ("diterima", "Pengaduan diterima oleh sistem.", "sistem"),
        ("diverifikasi", "Lengkap", "petugas"),
    ]
    assert db.list_complaints(conn, status="diterima") == []


# ----------------------------------------------------------------- config


def test_parse_config() -> None:
    cfg = pconfig.parse_config({"pemda_name": "Kabupaten Buleleng", "kode_wilayah": "51.08", "unit_name": "Diskominfo",
                                "categories": ["A", " B "], "port": 9000, "deployment": {"app": "pengaduan"}})  # fmt: skip
    assert cfg.categories == ("A", "B") and cfg.port == 9000 and cfg.extra == {"deployment": {"app": "pengaduan"}}
    with pytest.raises(pconfig.ConfigError, match="pemda_name"):
        pconfig.parse_config({"kode_wilayah": "51.08", "unit_name": "x"})
    with pytest.raises(pconfig.ConfigError, match="categories"):
        pconfig.parse_config({"pemda_name": "a", "kode_wilayah": "b", "unit_name": "c", "categories": "A;B"})


def test_load_config_and_secret_errors(tmp_path: Path) -> None:
    with pytest.raises(pconfig.ConfigError, match="not found"):
        pconfig.load_config(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  nope\n}")
    with pytest.raises(pconfig.ConfigError, match=r"bad.json:2: invalid JSON"):
        pconfig.load_config(bad)
    with pytest.raises(pconfig.ConfigError, match="not found"):
        pconfig.read_secret("STAFF_PASSWORD", tmp_path)
    (tmp_path / "SHORT").write_text("abc\n")
    with pytest.raises(pconfig.ConfigError, match="too short"):
        pconfig.read_secret("SHORT", tmp_path)
    (tmp_path / "OK").write_text("a-long-enough-secret\n")
    assert pconfig.read_secret("OK", tmp_path) == "a-long-enough-secret"


def test_config_template_renders_valid_config() -> None:
    import jinja2

    template = APP_DIR.parents[1] / "templates" / "pengaduan" / "config.json.j2"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701
    text = env.from_string(template.read_text()).render(
        spbe_pemda='Kota "Uji" <Coba>', spbe_kode_wilayah="99.71", unit_pengelola="Diskominfo",
        kategori="Jalan; Air ;;Listrik", kontak_pengaduan="", spbe_version="1.0.0", spbe_app="pengaduan",
        spbe_target="t1", berkas_basis_data="pengaduan-pemda.db",
    )  # fmt: skip
    cfg = pconfig.parse_config(json.loads(text))
    assert cfg.pemda_name == 'Kota "Uji" <Coba>'
    assert str(cfg.database) == "/data/pengaduan-pemda.db" or os.environ.get("PENGADUAN_DB")
    assert cfg.categories == ("Jalan", "Air", "Listrik")
    assert cfg.app_version == "1.0.0"
    with pytest.raises((jinja2.UndefinedError, TypeError)):  # tojson of an undefined raises TypeError
        env.from_string(template.read_text()).render(spbe_pemda="x")


# ----------------------------------------------------------------- Flask routes (no server)


@pytest.fixture()
def client(tmp_path: Path) -> Any:
    from needs import module

    module("flask")
    from pengaduan.app import create_app

    cfg = pconfig.Config(pemda_name="Kabupaten Uji", kode_wilayah="99.01", unit_name="Diskominfo",
                         database=tmp_path / "data" / "p.db", app_version="1.0.0")  # fmt: skip
    app = create_app(cfg, staff_password="sandi-petugas-uji", secret_key="k" * 32)
    return app.test_client()


def test_routes_health_api_and_staff_login(client: Any) -> None:
    assert client.get("/healthz").get_json()["status"] == "ok"
    r = client.post("/api/v1/complaints", json=GOOD)
    assert r.status_code == 201
    ticket = r.get_json()["ticket"]
    assert r.headers["Location"].endswith(ticket)
    assert client.post("/api/v1/complaints", data="x", content_type="text/plain").status_code == 400
    page = client.get(f"/pengaduan/{ticket}").get_data(as_text=True)
    assert "Obat kosong" in page and "Ni Luh Sari" not in page
    assert client.get("/lacak?tiket=" + ticket.lower()).headers["Location"].endswith(f"/pengaduan/{ticket}")

    # staff pages need a login with a CSRF token
    assert client.get("/petugas").status_code == 302
    client.get("/petugas/masuk")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert client.post("/petugas/masuk", data={"password": "sandi-petugas-uji"}).status_code == 400  # no csrf
    assert client.post("/petugas/masuk", data={"password": "salah", "csrf": token}).status_code == 401
    assert client.post("/petugas/masuk", data={"password": "sandi-petugas-uji", "csrf": token}).status_code == 302
    assert ticket in client.get("/petugas").get_data(as_text=True)
    with client.session_transaction() as sess:
        token = sess["csrf"]
    r = client.post(f"/petugas/pengaduan/{ticket}/status", data={"status": "ditolak", "catatan": "", "csrf": token})
    assert r.status_code == 400 and "catatan wajib" in r.get_data(as_text=True)
    r = client.post(f"/petugas/pengaduan/{ticket}/status",
                    data={"status": "ditolak", "catatan": "Bukan kewenangan", "csrf": token})  # fmt: skip
    assert r.status_code == 302
    assert client.get(f"/api/v1/complaints/{ticket}").get_json()["status"] == "ditolak"


def test_login_lockout(client: Any) -> None:
    client.get("/petugas/masuk")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    for _ in range(5):
        assert client.post("/petugas/masuk", data={"password": "x", "csrf": token}).status_code == 401
    assert client.post("/petugas/masuk", data={"password": "sandi-petugas-uji", "csrf": token}).status_code == 429
