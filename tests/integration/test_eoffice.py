"""e-Office on the real Docker engine: build both releases (each from its own commit), run
db + web, use the API, sign and verify, then upgrade 1.0.0 -> 1.1.0 on the same volume and
check every row.

Uses H4's fixtures (``built_app``, ``app_runner``, ``load_app``) from conftest.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.docker

PEMDA = "Pemerintah Provinsi Papua Barat Daya"
SETTINGS = {"pemda_name": PEMDA, "domain": "eoffice.test", "kode_unit": "DISKOMINFO"}


class Api:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - loopback
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - loopback
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        if expect is not None:
            assert status == expect, f"{method} {path}: HTTP {status} {raw[:300]!r}"
        return json.loads(raw) if raw else None

    def login(self, username: str, password: str) -> Api:
        out = self.call("POST", "/api/v1/tokens", {"username": username, "password": password}, expect=201)
        return Api(self.base, out["token"])


def admin_password(app: Any) -> str:
    return (app.workdir / "secrets" / "ADMIN_PASSWORD").read_text().strip()


def seed_1_0_0(api: Api) -> dict[str, Any]:
    """Users, letters (masuk/keluar, one 'rahasia'), a disposition chain and a signature."""
    users = {}
    for username, role, nama, jabatan in [
        ("sekre", "sekretariat", "Maria Wanggai", "Kepala Subbagian TU"),
        ("kadis", "pejabat", "Yohanes Rumbiak", "Kepala Dinas"),
        ("kabid", "pejabat", "Agustina Mayor", "Kepala Bidang Aplikasi"),
        ("staf1", "staf", "Lukas Kambu", "Pranata Komputer"),
    ]:
        users[username] = api.call("POST", "/api/v1/users", {
            "username": username, "role": role, "nama": nama, "jabatan": jabatan, "password": f"sandi-{username}-123",
        }, expect=201)
    tu = Api(api.base).login("sekre", "sandi-sekre-123")
    kadis = Api(api.base).login("kadis", "sandi-kadis-123")
    kabid = Api(api.base).login("kabid", "sandi-kabid-123")
    staf = Api(api.base).login("staf1", "sandi-staf1-123")

    masuk = tu.call("POST", "/api/v1/letters", {
        "jenis": "masuk", "tanggal": "2026-03-10", "perihal": "Undangan rapat koordinasi SPBE",
        "pengirim": "Kementerian PANRB", "nomor_asal": "B/123/M.SM.02/2026", "kode": "000.1.2",
    }, expect=201)
    assert masuk["nomor"] == "001/000.1.2/DISKOMINFO/III/2026"
    masuk2 = tu.call("POST", "/api/v1/letters", {
        "jenis": "masuk", "tanggal": "2026-04-01", "perihal": "Data kepegawaian", "pengirim": "BKD",
        "sifat": "rahasia", "kode": "KP",
    }, expect=201)
    assert masuk2["nomor"] == "002/KP/DISKOMINFO/IV/2026"
    keluar = tu.call("POST", "/api/v1/letters", {
        "jenis": "keluar", "tanggal": "2026-04-02", "perihal": "Jawaban undangan rapat",
        "tujuan": "Kementerian PANRB", "isi": "Dengan hormat, kami akan hadir. Papua – Sorong.",
        "kode": "UM", "penandatangan_id": users["kadis"]["id"],
    }, expect=201)
    assert keluar["nomor"] == "001/UM/DISKOMINFO/IV/2026"  # own sequence per jenis
    # 1.0.0 has no klasifikasi fields
    assert "kode_klasifikasi" not in keluar
    tu.call("POST", "/api/v1/letters", {"jenis": "masuk", "perihal": "x", "pengirim": "y",
                                        "kode": "a/b"}, expect=400)
    staf.call("POST", "/api/v1/letters", {"jenis": "masuk", "perihal": "x", "pengirim": "y"}, expect=403)

    # disposition chain: TU -> kadis -> kabid -> staf
    d1 = tu.call("POST", f"/api/v1/letters/{masuk['id']}/dispositions",
                 {"kepada_id": users["kadis"]["id"], "instruksi": "Mohon arahan"}, expect=201)
    d2 = kadis.call("POST", f"/api/v1/letters/{masuk['id']}/dispositions",
                    {"kepada_id": users["kabid"]["id"], "instruksi": "Hadiri dan laporkan",
                     "parent_id": d1["id"], "batas_waktu": "2026-03-15"}, expect=201)
    d3 = kabid.call("POST", f"/api/v1/letters/{masuk['id']}/dispositions",
                    {"kepada_id": users["staf1"]["id"], "instruksi": "Siapkan bahan paparan",
                     "parent_id": d2["id"]}, expect=201)
    staf.call("PATCH", f"/api/v1/dispositions/{d3['id']}", {"status": "selesai", "catatan": "Bahan siap"}, expect=200)
    kadis.call("PATCH", f"/api/v1/dispositions/{d3['id']}", {"status": "selesai"}, expect=403)
    chain = tu.call("GET", f"/api/v1/letters/{masuk['id']}/dispositions", expect=200)
    assert [(d["dari_id"], d["kepada_id"], d["status"]) for d in chain] == [
        (users["sekre"]["id"], users["kadis"]["id"], "diproses"),
        (users["kadis"]["id"], users["kabid"]["id"], "diproses"),
        (users["kabid"]["id"], users["staf1"]["id"], "selesai"),
    ]
    assert [d["parent_id"] for d in chain] == [None, d1["id"], d2["id"]]
    mine = staf.call("GET", "/api/v1/dispositions", expect=200)
    assert [d["id"] for d in mine] == [d3["id"]]

    # signing: only the designated pejabat
    kabid.call("POST", f"/api/v1/letters/{keluar['id']}/sign", expect=403)
    sig = kadis.call("POST", f"/api/v1/letters/{keluar['id']}/sign", expect=201)
    assert sig["content"]["versi"] == 1 and sig["content"]["nomor"] == keluar["nomor"]
    kadis.call("POST", f"/api/v1/letters/{keluar['id']}/sign", expect=409)  # already signed
    tu.call("PATCH", f"/api/v1/letters/{keluar['id']}", {"isi": "diubah"}, expect=409)
    check_signature(Api(api.base), sig)
    return {"users": users, "masuk": masuk, "masuk2": masuk2, "keluar": keluar, "sig": sig,
            "chain": chain}


def check_signature(public: Api, sig: dict[str, Any]) -> None:
    """Anyone (no token) can verify; one changed character makes it invalid."""
    ok = public.call("POST", "/api/v1/verify", {"content": sig["content"], "signature": sig["signature"]}, expect=200)
    assert ok["valid"] is True and ok["key_id"] == sig["key_id"] and ok["digest"] == sig["digest"]
    tampered = dict(sig["content"], isi=sig["content"]["isi"].replace("hadir", "hadis"))
    bad = public.call("POST", "/api/v1/verify", {"content": tampered, "signature": sig["signature"]}, expect=200)
    assert bad["valid"] is False
    page = urllib.request.urlopen(public.base + f"/verifikasi/{sig['kode_verifikasi']}", timeout=10)  # noqa: S310
    html = page.read().decode()
    assert "SAH: tanda tangan elektronik valid" in html and sig["content"]["nomor"] in html
    keys = public.call("GET", "/api/v1/public-keys", expect=200)
    assert [k["key_id"] for k in keys] == [sig["key_id"]]


def test_eoffice_lifecycle_and_upgrade(built_app: Any, load_app: Any, app_runner: Any) -> None:
    loaded = load_app("e-office")
    built_app("e-office", "1.0.0")
    built_app("e-office", "1.1.0")

    app = app_runner(loaded, "1.0.0", settings=SETTINGS, name="eo")
    public = Api(app.url)
    health = public.call("GET", "/healthz", expect=200)
    assert health == {"status": "ok", "version": "1.0.0", "db": "ok", "schema": 1}
    public.call("GET", "/api/v1/letters", expect=401)
    Api(app.url).call("POST", "/api/v1/tokens", {"username": "admin", "password": "salah"}, expect=401)
    admin = public.login("admin", admin_password(app))
    seeded = seed_1_0_0(admin)
    info = public.call("GET", "/api/v1/info", expect=200)
    assert info["version"] == "1.0.0" and "features" not in info  # 1.0.0's own source: no 1.1.0 code
    public.call("GET", "/api/v1/klasifikasi", expect=404)
    before = {lt["id"]: lt for lt in admin.call("GET", "/api/v1/letters", expect=200)}
    assert len(before) == 3

    # -- upgrade: stop 1.0.0, start 1.1.0 on the same volume and secrets
    app.stop()
    app = app_runner(loaded, "1.1.0", settings=SETTINGS, name="eo")
    public = Api(app.url)
    assert public.call("GET", "/healthz", expect=200) == {"status": "ok", "version": "1.1.0", "db": "ok", "schema": 2}
    admin = public.login("admin", admin_password(app))
    after = {lt["id"]: lt for lt in admin.call("GET", "/api/v1/letters", expect=200)}
    assert after.keys() == before.keys()
    for lid, old in before.items():
        new = after[lid]
        assert {k: new[k] for k in old} == old, f"letter {lid} changed by the migration"
        assert new["klasifikasi_sumber"] == "migrasi-1.1.0"
        assert (new["retensi_aktif"], new["retensi_inaktif"], new["nasib_akhir"]) == (2, 3, "dinilai_kembali")
    m1, m2, k1 = after[seeded["masuk"]["id"]], after[seeded["masuk2"]["id"]], after[seeded["keluar"]["id"]]
    assert (m1["kode_klasifikasi"], m1["klasifikasi_keamanan"]) == ("000.1.2", "biasa")   # old kode was a kode klasifikasi
    assert (m2["kode_klasifikasi"], m2["klasifikasi_keamanan"]) == ("000", "rahasia")     # sifat rahasia -> rahasia
    assert (k1["kode_klasifikasi"], k1["klasifikasi_keamanan"]) == ("000", "biasa")
    chain = admin.call("GET", f"/api/v1/letters/{m1['id']}/dispositions", expect=200)
    assert [(d["id"], d["status"], d["instruksi"]) for d in chain] == [
        (d["id"], d["status"], d["instruksi"]) for d in seeded["chain"]]
    # the 1.0.0 signature still verifies under 1.1.0, page and API
    check_signature(public, seeded["sig"])
    assert admin.call("GET", f"/api/v1/letters/{k1['id']}/signature", expect=200)["signature"] == seeded["sig"]["signature"]

    # 1.1.0 features: kode klasifikasi required and in the number, rahasia restricted
    tu = public.login("sekre", "sandi-sekre-123")
    tu.call("POST", "/api/v1/letters", {"jenis": "keluar", "perihal": "x", "tujuan": "y", "tanggal": "2026-05-01"},
            expect=400)
    new = tu.call("POST", "/api/v1/letters", {
        "jenis": "keluar", "tanggal": "2026-05-04", "perihal": "Laporan kepegawaian triwulan",
        "tujuan": "Gubernur", "isi": "Terlampir.", "kode_klasifikasi": "800.1.2",
        "klasifikasi_keamanan": "rahasia", "penandatangan_id": seeded["users"]["kabid"]["id"],
    }, expect=201)
    assert new["nomor"] == "002/800.1.2/DISKOMINFO/V/2026"  # sequence continued from 1.0.0
    assert (new["kode_klasifikasi"], new["klasifikasi_sumber"]) == ("800.1.2", "input")
    staf = public.login("staf1", "sandi-staf1-123")
    staf.call("GET", f"/api/v1/letters/{new['id']}", expect=404)
    assert new["id"] not in {lt["id"] for lt in staf.call("GET", "/api/v1/letters", expect=200)}
    kabid = public.login("kabid", "sandi-kabid-123")
    sig2 = kabid.call("POST", f"/api/v1/letters/{new['id']}/sign", expect=201)
    assert sig2["content"]["versi"] == 2 and sig2["content"]["kode_klasifikasi"] == "800.1.2"
    ok = public.call("POST", "/api/v1/verify", {"content": sig2["content"], "signature": sig2["signature"]}, expect=200)
    assert ok["valid"] is True
    html = urllib.request.urlopen(app.url + f"/verifikasi/{sig2['kode_verifikasi']}", timeout=10).read().decode()  # noqa: S310
    assert "dirahasiakan" in html and "Laporan kepegawaian" not in html
    # concurrent numbering: 24 letters at once get 24 distinct consecutive numbers
    from concurrent.futures import ThreadPoolExecutor

    def create(i: int) -> int:
        return int(tu.call("POST", "/api/v1/letters", {
            "jenis": "masuk", "tanggal": "2027-01-05", "perihal": f"paralel {i}", "pengirim": "Uji",
            "kode_klasifikasi": "000"}, expect=201)["seq"])

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(create, range(24))) == list(range(1, 25))
    klas = admin.call("GET", "/api/v1/klasifikasi", expect=200)
    assert [k["kode"] for k in klas][:2] == ["000", "100"]


def test_eoffice_db_down_makes_health_503(built_app: Any, load_app: Any, app_runner: Any) -> None:
    loaded = load_app("e-office")
    built_app("e-office", "1.1.0")
    app = app_runner(loaded, "1.1.0", settings=SETTINGS, name="down")
    app.containers["db"].stop(timeout=10)
    try:
        urllib.request.urlopen(app.url + "/healthz", timeout=10)  # noqa: S310
        raise AssertionError("healthz answered 200 with the database stopped")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503
        assert json.loads(exc.read())["status"] == "error"
