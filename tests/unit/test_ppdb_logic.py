"""PPDB/SPMB pure logic: distance, the regulation's quotas per route and level (both
releases), ranking, registration checks, and the 1.0.0 -> 2.0.0 route mapping of the data
migration. No database, no Docker.

The working tree is release 2.0.0 (Permendikdasmen 3/2025); release 1.0.0's rules
(Permendikbud 1/2021) are read from the commit the catalog entry pins for it."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "shared_apps" / "ppdb" / "web"
sys.path.insert(0, str(WEB))

from ppdb import aturan, migrations, seleksi  # noqa: E402
from ppdb.__main__ import gunicorn_argv  # noqa: E402
from ppdb.config import ConfigError, parse_tahun_ajaran  # noqa: E402
from ppdb.jarak import haversine_m, parse_coordinate  # noqa: E402
from ppdb.pendaftaran import bersihkan_kuota, bersihkan_pendaftaran, bersihkan_sekolah  # noqa: E402


def release_commit(version: str) -> str:
    entry = yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text(encoding="utf-8"))
    return next(r["commit"] for r in entry["releases"] if r["version"] == version)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout  # noqa: S603,S607


def source_at(version: str, rel: str) -> str:
    return git("show", f"{release_commit(version)}:shared_apps/ppdb/web/ppdb/{rel}")


@pytest.fixture(scope="module")
def aturan_1() -> types.ModuleType:
    """aturan.py of release 1.0.0, as pinned (a module with no imports of its package)."""
    mod = types.ModuleType("aturan_1_0_0")
    sys.modules[mod.__name__] = mod  # dataclasses look the module up
    exec(compile(source_at("1.0.0", "aturan.py"), "aturan_1_0_0.py", "exec"), mod.__dict__)  # noqa: S102
    return mod


# ------------------------------------------------------------------ distance


def test_haversine() -> None:
    assert haversine_m(-0.03, 109.33, -0.03, 109.33) == 0
    assert haversine_m(0.0, 109.0, 1.0, 109.0) == 111_195  # one degree of latitude
    assert haversine_m(0.0, 109.0, 0.0, 110.0) == 111_195  # one degree of longitude at the equator
    a, b = (-0.0286, 109.3406), (-0.0350, 109.3350)  # two points in Pontianak
    assert haversine_m(*a, *b) == haversine_m(*b, *a) == 946
    assert haversine_m(-2.0, 109.0, -2.0, 110.0) < 111_195  # meridians converge away from the equator


def test_coordinates() -> None:
    assert parse_coordinate("-0,0263", " 109.3425 ") == (-0.0263, 109.3425)
    for lat, lon in [(109.3, -0.03), (-0.03, -109.3), (51.5, 0.0)]:  # swapped, sign lost, London
        with pytest.raises(ValueError, match="di luar wilayah Indonesia"):
            parse_coordinate(lat, lon)
    for lat, lon in [("utara", "109"), ("nan", "109"), ("", "")]:
        with pytest.raises(ValueError, match="angka desimal"):
            parse_coordinate(lat, lon)


# ------------------------------------------------------------------ the regulations' quotas


def test_permendikdasmen_3_2025_bounds() -> None:
    """Release 2.0.0: the figures of Pasal 30 as the public sources quote them."""
    assert aturan.REGULASI_KODE == "Permendikdasmen 3/2025" and aturan.SEBUTAN == "SPMB"
    assert aturan.JALUR == ("domisili", "afirmasi", "mutasi", "prestasi")
    assert aturan.tabel_batas() == {
        "SD": {"domisili": "paling sedikit 70%", "afirmasi": "paling sedikit 15%", "mutasi": "paling banyak 5%"},
        "SMP": {"domisili": "paling sedikit 40%", "afirmasi": "paling sedikit 20%", "mutasi": "paling banyak 5%",
                "prestasi": "paling sedikit 25%"},
        "SMA": {"domisili": "paling sedikit 30%", "afirmasi": "paling sedikit 30%", "mutasi": "paling banyak 5%",
                "prestasi": "paling sedikit 30%"},
    }  # fmt: skip
    assert aturan.PERINGKAT == {"domisili": "jarak", "afirmasi": "jarak", "mutasi": "jarak", "prestasi": "nilai"}


def test_permendikbud_1_2021_bounds(aturan_1: types.ModuleType) -> None:
    """Release 1.0.0 (its pinned source): zonasi, afirmasi, perpindahan tugas, prestasi = sisa."""
    assert aturan_1.REGULASI_KODE == "Permendikbud 1/2021" and aturan_1.SEBUTAN == "PPDB"
    assert aturan_1.JALUR == ("zonasi", "afirmasi", "perpindahan_tugas", "prestasi")
    assert aturan_1.tabel_batas() == {
        "SD": {"zonasi": "paling sedikit 70%", "afirmasi": "paling sedikit 15%", "perpindahan_tugas": "paling banyak 5%"},
        "SMP": {"zonasi": "paling sedikit 50%", "afirmasi": "paling sedikit 15%", "perpindahan_tugas": "paling banyak 5%",
                "prestasi": "sisa kuota"},
        "SMA": {"zonasi": "paling sedikit 50%", "afirmasi": "paling sedikit 15%", "perpindahan_tugas": "paling banyak 5%",
                "prestasi": "sisa kuota"},
    }  # fmt: skip
    assert aturan_1.kuota_bawaan("SMP", 32) == {"zonasi": 16, "afirmasi": 5, "perpindahan_tugas": 1, "prestasi": 10}
    assert aturan_1.kuota_bawaan("SD", 28) == {"zonasi": 22, "afirmasi": 5, "perpindahan_tugas": 1}


def test_seats_round_minimums_up_and_maximums_down() -> None:
    assert aturan.kursi(aturan.Batas(min_persen=20), 32) == (7, 32)  # 6.4 -> at least 7
    assert aturan.kursi(aturan.Batas(max_persen=5), 32) == (0, 1)  # 1.6 -> at most 1
    assert aturan.kursi(aturan.Batas(min_persen=40), 10) == (4, 10)


def test_quota_checks() -> None:
    ok = {"domisili": 13, "afirmasi": 7, "mutasi": 1, "prestasi": 11}
    assert aturan.periksa_kuota("SMP", 32, ok) == []
    # the 1.0.0 default quota of an SMP of 32 seats breaks 3/2025 on afirmasi only
    migrated = {"domisili": 16, "afirmasi": 5, "mutasi": 1, "prestasi": 10}
    assert aturan.periksa_kuota("SMP", 32, migrated) == [
        "kuota jalur afirmasi 5 kursi: Permendikdasmen 3/2025 menetapkan paling sedikit 20% dari daya tampung 32,"
        " yaitu paling sedikit 7 kursi"]  # fmt: skip
    problems = aturan.periksa_kuota("SMA", 20, {"domisili": 5, "afirmasi": 6, "mutasi": 3, "prestasi": 6})
    assert [p.split(":")[0] for p in problems] == ["kuota jalur domisili 5 kursi", "kuota jalur mutasi 3 kursi"]
    assert aturan.periksa_kuota("SD", 20, {"domisili": 14, "afirmasi": 3, "mutasi": 1, "prestasi": 2}) == [
        "jalur 'prestasi' tidak ada untuk SD menurut Permendikdasmen 3/2025",
        "jumlah kuota semua jalur 18 kursi, harus sama dengan daya tampung 20"]  # fmt: skip
    assert aturan.periksa_kuota("SD", 20, {"domisili": 16, "afirmasi": 4}) == ["kuota jalur mutasi belum diisi"]
    assert aturan.periksa_kuota("SD", 20, {"zonasi": 16, "afirmasi": 3, "mutasi": 1})[0].startswith(
        "jalur 'zonasi' tidak ada untuk SD")
    with pytest.raises(ValueError, match="jenjang"):
        aturan.periksa_kuota("SMK", 20, {})


@pytest.mark.parametrize("jenjang", ["SD", "SMP", "SMA"])
def test_default_quota_complies_whenever_one_can(jenjang: str) -> None:
    """Every daya tampung whose minimums (rounded up) fit gets a complying default quota; the
    others are refused (e.g. an SMA of 11 seats: 30% of 11 is 4 seats, three times)."""
    refused = []
    for daya_tampung in range(1, 400):
        need = sum(aturan.kursi(aturan.BATAS[jenjang][j], daya_tampung)[0] for j in aturan.jalur_tersedia(jenjang))
        if need > daya_tampung:
            with pytest.raises(ValueError, match="terlalu kecil"):
                aturan.kuota_bawaan(jenjang, daya_tampung)
            refused.append(daya_tampung)
            continue
        kuota = aturan.kuota_bawaan(jenjang, daya_tampung)
        assert aturan.periksa_kuota(jenjang, daya_tampung, kuota) == [], daya_tampung
    assert refused == {"SD": [1, 2, 3], "SMP": [1, 2, 3, 6], "SMA": [1, 2, 4, 5, 7, 8, 11, 14, 17]}[jenjang]
    assert aturan.kuota_bawaan("SMA", 36) == {"domisili": 13, "afirmasi": 11, "mutasi": 1, "prestasi": 11}
    assert aturan.kuota_bawaan("SMA", 21) == {"domisili": 7, "afirmasi": 7, "mutasi": 0, "prestasi": 7}


# ------------------------------------------------------------------ the data migration's map


def test_route_map_covers_every_1_0_0_route(aturan_1: types.ModuleType) -> None:
    assert set(aturan.PETA_JALUR_2021) == set(aturan_1.JALUR)
    assert aturan.PETA_JALUR_2021 == {"zonasi": "domisili", "afirmasi": "afirmasi",
                                      "perpindahan_tugas": "mutasi", "prestasi": "prestasi"}  # fmt: skip
    assert set(aturan.PETA_JALUR_2021.values()) == set(aturan.JALUR)
    # a route open at a level in 1.0.0 maps to a route open at that level in 2.0.0
    for jenjang in aturan.JENJANG:
        assert {aturan.jalur_baru(j) for j in aturan_1.jalur_tersedia(jenjang)} == set(aturan.jalur_tersedia(jenjang))
    with pytest.raises(ValueError):
        aturan.jalur_baru("domisili")


def test_migration_sql_moves_routes_on_the_same_map(aturan_1: types.ModuleType) -> None:
    """0002's CASE expressions (registrations and quotas) are the map, and its CHECKs allow
    exactly the new routes; 0001's CHECKs allowed exactly the old ones."""
    sql2 = (WEB / "ppdb" / "migrations" / "0002_spmb.sql").read_text(encoding="utf-8")
    cases = re.findall(r"CASE jalur\s+((?:WHEN '\w+' THEN '\w+'\s+)+)END", sql2)
    assert len(cases) == 2
    for case in cases:
        assert dict(re.findall(r"WHEN '(\w+)' THEN '(\w+)'", case)) == aturan.PETA_JALUR_2021
    checks = re.findall(r"CHECK \(jalur IN \(([^)]*)\)\)", sql2)
    assert [tuple(re.findall(r"'(\w+)'", c)) for c in checks] == [aturan.JALUR, aturan.JALUR]
    sql1 = source_at("1.0.0", "migrations/0001_ppdb.sql")
    assert [tuple(re.findall(r"'(\w+)'", c)) for c in re.findall(r"CHECK \(jalur IN \(([^)]*)\)\)", sql1)] == [
        aturan_1.JALUR, aturan_1.JALUR]


def test_migrations_by_release() -> None:
    found = migrations.discover()
    assert [(m.number, m.introduced) for m in found] == [(1, "1.0.0"), (2, "2.0.0")]
    assert [m.number for m in migrations.for_version(found, "1.0.0")] == [1]
    assert [m.number for m in migrations.for_version(found, "2.0.0")] == [1, 2]
    # 1.0.0's pinned tree has no migration 0002
    assert "0002" not in git("ls-tree", "-r", "--name-only", release_commit("1.0.0"), "--", "shared_apps/ppdb/web/ppdb/migrations")


# ------------------------------------------------------------------ ranking


def calon(i: int, jarak: int, lahir: str, nilai: str | None = None) -> seleksi.Calon:
    return seleksi.Calon(id=i, nomor=f"SPMB-2026-{i:06d}", nama=f"Murid {i}", jarak_m=jarak,
                         tanggal_lahir=dt.date.fromisoformat(lahir), nilai=Decimal(nilai) if nilai else None)  # fmt: skip


def test_ranking_by_distance_then_age_then_time() -> None:
    c = [calon(1, 900, "2013-05-01"), calon(2, 300, "2013-05-01"), calon(3, 900, "2013-01-01"),
         calon(4, 900, "2013-01-01"), calon(5, 1500, "2012-01-01")]  # fmt: skip
    result = seleksi.peringkat(c, kuota=3, aturan="jarak")
    assert [(h.calon.id, h.peringkat, h.diterima) for h in result] == [
        (2, 1, True), (3, 2, True), (4, 3, True), (1, 4, False), (5, 5, False)]


def test_ranking_by_score_then_distance() -> None:
    c = [calon(1, 900, "2013-05-01", "88.50"), calon(2, 300, "2013-05-01", "91"), calon(3, 100, "2013-05-01", "88.5"),
         calon(4, 50, "2013-05-01", "70")]  # fmt: skip
    assert [h.calon.id for h in seleksi.peringkat(c, kuota=2, aturan="nilai")] == [2, 3, 1, 4]
    assert [h.diterima for h in seleksi.peringkat(c, kuota=0, aturan="nilai")] == [False] * 4
    assert seleksi.peringkat([], kuota=5, aturan="jarak") == []
    with pytest.raises(ValueError):
        seleksi.peringkat(c, kuota=1, aturan="undian")


def test_masked_names() -> None:
    assert seleksi.samarkan("Siti Nurhaliza Putri") == "Siti N. P."
    assert seleksi.samarkan("  Budi ") == "Budi" and seleksi.samarkan("") == ""


# ------------------------------------------------------------------ what applicants send

GOOD = {"nik": "6171010101140001", "nama": "Budi  Santoso", "tanggal_lahir": "2013-05-01", "alamat": "Jl. Gajah Mada 10",
        "lat": "-0.035", "lon": "109.335", "jalur": "domisili"}  # fmt: skip


def test_registration_ok() -> None:
    p = bersihkan_pendaftaran(GOOD, jenjang="SMP", tahun=2026)
    assert p["nama"] == "Budi Santoso" and p["nisn"] is None and p["nilai"] is None and p["bukti"] == ""
    assert p["tanggal_lahir"] == dt.date(2013, 5, 1) and (p["lat"], p["lon"]) == (-0.035, 109.335)
    p = bersihkan_pendaftaran(GOOD | {"jalur": "prestasi", "nilai": "91,25", "bukti": "x"}, jenjang="SMA", tahun=2026)
    assert p["nilai"] == Decimal("91.25") and p["bukti"] == ""
    p = bersihkan_pendaftaran(GOOD | {"jalur": "mutasi", "bukti": " ST/12/2026 "}, jenjang="SD", tahun=2020)
    assert p["bukti"] == "ST/12/2026"


@pytest.mark.parametrize(
    ("change", "jenjang", "message"),
    [
        ({"nik": "617101010114000"}, "SMP", "NIK harus 16 angka"),
        ({"nisn": "12345"}, "SMP", "NISN harus 10 angka"),
        ({"nama": "B"}, "SMP", "nama wajib diisi"),
        ({"tanggal_lahir": "01-05-2013"}, "SMP", "tanggal lahir harus tanggal"),
        ({"tanggal_lahir": "2023-05-01"}, "SMP", "di luar 5-21"),
        ({"lat": "109.3", "lon": "-0.03"}, "SMP", "di luar wilayah Indonesia"),
        ({"jalur": "zonasi"}, "SMP", "jalur harus salah satu dari domisili, afirmasi, mutasi, prestasi"),
        ({"jalur": "prestasi", "nilai": "90"}, "SD", "jalur harus salah satu dari domisili, afirmasi, mutasi untuk SD"),
        ({"jalur": "prestasi"}, "SMP", "nilai wajib diisi"),
        ({"jalur": "prestasi", "nilai": "100.5"}, "SMP", "nilai harus 0-100"),
        ({"jalur": "prestasi", "nilai": "90.125"}, "SMP", "paling banyak 2 angka desimal"),
        ({"jalur": "prestasi", "nilai": "NaN"}, "SMP", "nilai harus 0-100"),
        ({"jalur": "afirmasi"}, "SMP", "wajib mengisi nomor Kartu Indonesia Pintar"),
        ({"jalur": "mutasi", "bukti": "  "}, "SMP", "wajib mengisi nomor surat penugasan"),
    ],
)  # fmt: skip
def test_registration_refused(change: dict, jenjang: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        bersihkan_pendaftaran(GOOD | change, jenjang=jenjang, tahun=2026)


def test_school_and_quota_input() -> None:
    s = bersihkan_sekolah({"npsn": "30105001", "nama": "SMP Negeri 1", "jenjang": "smp", "alamat": "Jl. Sudirman",
                           "lat": -0.0286, "lon": 109.3406, "daya_tampung": "32"})  # fmt: skip
    assert (s["jenjang"], s["daya_tampung"]) == ("SMP", 32)
    with pytest.raises(ValueError, match="NPSN"):
        bersihkan_sekolah({"npsn": "301"})
    assert bersihkan_kuota({"domisili": "13", "afirmasi": 7}, "SMP") == {"domisili": 13, "afirmasi": 7}
    with pytest.raises(ValueError, match="jalur tidak dikenal: 'zonasi'"):
        bersihkan_kuota({"zonasi": 13}, "SMP")
    with pytest.raises(ValueError, match="kuota afirmasi harus bilangan bulat"):
        bersihkan_kuota({"afirmasi": "tujuh"}, "SMP")


# ------------------------------------------------------------------ settings and processes


def test_tahun_ajaran() -> None:
    assert parse_tahun_ajaran("2026/2027") == 2026
    assert parse_tahun_ajaran("", today=dt.date(2027, 3, 1)) == 2027
    for bad in ("2026", "2026/2028", "26/27"):
        with pytest.raises(ConfigError, match="tahun_ajaran"):
            parse_tahun_ajaran(bad)


def test_gunicorn_argv() -> None:
    argv = gunicorn_argv(port=8080, workers=4, threads=8)
    assert argv[:3] == [sys.executable, "-m", "gunicorn"] and argv[-1] == "ppdb.wsgi:application"
    assert argv[argv.index("--workers") + 1] == "4" and argv[argv.index("--threads") + 1] == "8"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8080" and argv[argv.index("--worker-class") + 1] == "gthread"


def test_first_login_2_0_1_forces_the_change_of_the_initial_password() -> None:
    """2.0.1: the initial secret verified against the stored hash (no column), the forced
    session reaches the change only, and a new password must be long and different."""
    from ppdb import firstlogin
    from ppdb.security import hash_password

    initial = "Awal-Rahasia-20-Char"
    state = firstlogin.InitialPassword(initial)
    assert state.matches(hash_password(initial)) and not state.matches(hash_password("lain-yang-panjang"))
    assert not state.matches(None)
    assert firstlogin.is_allowed("ganti_sandi") and firstlogin.is_allowed("api_change_password")
    for endpoint in ("admin", "api_users", "daftar", "index", None):
        assert not firstlogin.is_allowed(endpoint)
    assert firstlogin.forced_error()["required"] == "password_change"
    rule = firstlogin.validate_new_password
    assert "minimal 12" in (rule(current=initial, new="pendek", confirm=None, initial=initial) or "")
    assert "kata sandi awal" in (rule(current="lama-yang-panjang", new=initial, confirm=None, initial=initial) or "")
    assert rule(current=initial, new="baru-yang-panjang", confirm="baru-yang-panjang", initial=initial) is None
