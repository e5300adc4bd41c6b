"""PPDB/SPMB on the real Docker engine: build both releases (each from its own commit), run
db + web (gunicorn, several workers), register applicants on every route of Permendikbud
1/2021, then upgrade 1.0.0 -> 2.0.0 (Permendikdasmen 3/2025) on the same volume: every
registration is still there on its new route, the quotas carried across are checked against
the new bounds, the ranking holds, and the year can be announced once the quotas comply.

The scenario functions take a base URL, so they also run against a local process.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from appdata import Api

pytestmark = pytest.mark.docker

PEMDA = "Pemerintah Kota Pontianak"
SETTINGS = {"pemda_name": PEMDA, "tahun_ajaran": "2026/2027", "web_workers": "2", "web_threads": "4"}
MAP_1_TO_2 = {"zonasi": "domisili", "afirmasi": "afirmasi", "perpindahan_tugas": "mutasi", "prestasi": "prestasi"}
SCHOOLS = [  # npsn, nama, jenjang, daya tampung, lat, lon (Pontianak)
    ("30105101", "SD Negeri 01 Pontianak Kota", "SD", 28, -0.0300, 109.3300),
    ("30105001", "SMP Negeri 1 Pontianak", "SMP", 32, -0.0286, 109.3406),
    ("30105201", "SMA Negeri 1 Pontianak", "SMA", 36, -0.0420, 109.3330),
]
ROUTES_1 = {"SD": ["zonasi", "afirmasi", "perpindahan_tugas"],
            "SMP": ["zonasi", "afirmasi", "perpindahan_tugas", "prestasi"],
            "SMA": ["zonasi", "afirmasi", "perpindahan_tugas", "prestasi"]}  # fmt: skip
BORN = {"SD": "2019-03-01", "SMP": "2013-03-01", "SMA": "2010-03-01"}


def applicant(i: int, school: dict[str, Any], jalur: str) -> dict[str, Any]:
    """Applicant i: homes spread north of the school, 150 m apart (so the ranking is known)."""
    body = {"sekolah_id": school["id"], "jalur": jalur, "nik": f"6171{i:012d}", "nisn": f"{i:010d}",
            "nama": f"Murid Uji {i} Pontianak", "tanggal_lahir": BORN[school["jenjang"]],
            "alamat": f"Jl. Uji No. {i}, Pontianak", "lat": round(school["lat"] + 0.00135 * ((i * 7) % 23 + 1), 6),
            "lon": school["lon"]}  # fmt: skip
    if jalur == "prestasi":
        body["nilai"] = f"{70 + (i * 13) % 30}.{i % 100:02d}"
    if jalur in ("afirmasi", "perpindahan_tugas", "mutasi"):
        body["bukti"] = f"BUKTI/{i:04d}/2026"
    return body


def seed_1_0_0(admin: Api) -> dict[str, Any]:
    """Schools with the default quotas of Permendikbud 1/2021 and applicants on every route,
    registered concurrently (several gunicorn workers serve them); one is rejected."""
    info = admin.call("GET", "/api/v1/info", expect=200)
    assert (info["version"], info["regulasi"], info["sebutan"]) == ("1.0.0", "Permendikbud 1/2021", "PPDB")
    assert info["batas_kuota"]["SMP"]["zonasi"] == "paling sedikit 50%"
    schools = {}
    for npsn, nama, jenjang, dt, lat, lon in SCHOOLS:
        schools[jenjang] = admin.call("POST", "/api/v1/sekolah", {"npsn": npsn, "nama": nama, "jenjang": jenjang,
                                      "alamat": f"{nama}, Pontianak", "lat": lat, "lon": lon, "daya_tampung": dt},
                                      expect=201)  # fmt: skip
    assert schools["SD"]["kuota"] == {"zonasi": 22, "afirmasi": 5, "perpindahan_tugas": 1}
    assert schools["SMP"]["kuota"] == {"zonasi": 16, "afirmasi": 5, "perpindahan_tugas": 1, "prestasi": 10}
    assert schools["SMA"]["kuota"] == {"zonasi": 18, "afirmasi": 6, "perpindahan_tugas": 1, "prestasi": 11}
    bad = admin.call("PUT", f"/api/v1/sekolah/{schools['SMP']['id']}/kuota",
                     {"kuota": {"zonasi": 10, "afirmasi": 5, "perpindahan_tugas": 2, "prestasi": 15}}, expect=400)
    assert any("paling sedikit 16 kursi" in d for d in bad["details"]), bad

    todo = []
    i = 0
    for jenjang, routes in ROUTES_1.items():
        for jalur in routes:
            for _ in range(3 if jalur == "perpindahan_tugas" else 5):
                i += 1
                todo.append(applicant(i, schools[jenjang], jalur))
    public = Api(admin.base)
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda b: public.call("POST", "/api/v1/pendaftaran", b, expect=201), todo))
    assert len({r["nomor"] for r in made}) == len(todo) and all(r["nomor"].startswith("PPDB-2026-") for r in made)
    public.call("POST", "/api/v1/pendaftaran", todo[0], expect=409)  # one NIK, one registration a year
    public.call("POST", "/api/v1/pendaftaran", applicant(999, schools["SD"], "prestasi") | {"nilai": "90"}, expect=400)
    rejected = made[1]["nomor"]
    admin.call("POST", f"/api/v1/pendaftaran/{rejected}/tolak", {"catatan": "Kartu Keluarga terbit kurang dari 1 tahun"},
               expect=200)  # fmt: skip
    return {"schools": schools, "rejected": rejected, "count": len(todo)}


def all_registrations(admin: Api) -> dict[str, dict[str, Any]]:
    return {r["nomor"]: r for r in admin.call("GET", "/api/v1/pendaftaran?limit=5000", expect=200)}


def ranking(api: Api, school_id: int, jalur: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/api/v1/sekolah/{school_id}/peringkat?jalur={jalur}", expect=200)["peringkat"]


def check_ranking_rule(rows: list[dict[str, Any]], rule: str, kuota: int) -> None:
    key = (lambda r: (-r["nilai"], r["jarak_m"])) if rule == "nilai" else (lambda r: r["jarak_m"])
    assert rows == sorted(rows, key=key)
    assert [r["peringkat"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["dalam_kuota"] for r in rows] == [r["peringkat"] <= kuota for r in rows]


def check_after_upgrade(admin: Api, before: dict[str, dict[str, Any]], seeded: dict[str, Any],
                        rank_before: dict[tuple[int, str], list[str]]) -> None:  # fmt: skip
    """2.0.0 on 1.0.0's data: every row carried across on its new route."""
    info = admin.call("GET", "/api/v1/info", expect=200)
    assert (info["version"], info["regulasi"], info["sebutan"]) == ("2.0.0", "Permendikdasmen 3/2025", "SPMB")
    assert info["peta_jalur_permendikbud_1_2021"] == MAP_1_TO_2
    after = all_registrations(admin)
    assert after.keys() == before.keys() and len(after) == seeded["count"]
    same = ("id", "tahun", "nik", "nisn", "nama", "tanggal_lahir", "alamat", "lat", "lon", "sekolah_id", "jarak_m",
            "nilai", "bukti", "status", "catatan", "created_at")  # fmt: skip
    for nomor, old in before.items():
        new = after[nomor]
        assert {k: new[k] for k in same} == {k: old[k] for k in same}, f"{nomor} changed by the migration"
        assert (new["jalur"], new["jalur_asal"], new["migrasi"]) == (MAP_1_TO_2[old["jalur"]], old["jalur"], "migrasi-2.0.0")
    assert after[seeded["rejected"]]["status"] == "ditolak"
    # quotas carried on the same map; the ones below the new minimums are named
    schools = {s["jenjang"]: s for s in admin.call("GET", "/api/v1/sekolah", expect=200)}
    for jj in ("SD", "SMP", "SMA"):
        old_q = seeded["schools"][jj]["kuota"]
        assert schools[jj]["kuota"] == {MAP_1_TO_2[j]: n for j, n in old_q.items()}
    assert schools["SD"]["kuota_sesuai_regulasi"] is True
    assert schools["SMP"]["masalah_kuota"] == [
        "kuota jalur afirmasi 5 kursi: Permendikdasmen 3/2025 menetapkan paling sedikit 20% dari daya tampung 32,"
        " yaitu paling sedikit 7 kursi"]  # fmt: skip
    assert [m.split(":")[0] for m in schools["SMA"]["masalah_kuota"]] == ["kuota jalur afirmasi 6 kursi"]
    # the ranking of every school and route is the one 1.0.0 had, under the new route names
    for (sid, jalur), order in rank_before.items():
        rows = ranking(admin, sid, MAP_1_TO_2[jalur])
        assert [r["nomor"] for r in rows] == order
        kuota = next(s for s in schools.values() if s["id"] == sid)["kuota"][MAP_1_TO_2[jalur]]
        check_ranking_rule(rows, "nilai" if jalur == "prestasi" else "jarak", kuota)


def finish_2_0_0(admin: Api, seeded: dict[str, Any]) -> None:
    """New registrations use the new routes; the announcement waits for complying quotas."""
    public = Api(admin.base)
    schools = {s["jenjang"]: s for s in admin.call("GET", "/api/v1/sekolah", expect=200)}
    old_route = applicant(500, schools["SMP"], "zonasi")
    assert "jalur harus salah satu dari domisili" in public.call("POST", "/api/v1/pendaftaran", old_route, expect=400)["error"]
    new = public.call("POST", "/api/v1/pendaftaran", applicant(500, schools["SMP"], "domisili"), expect=201)
    assert new["nomor"].startswith("SPMB-2026-") and new["jalur_asal"] is None and new["posisi"]["dari"] >= 1
    mutasi = public.call("POST", "/api/v1/pendaftaran", applicant(501, schools["SMA"], "mutasi"), expect=201)
    assert mutasi["jalur"] == "mutasi"
    public.call("POST", "/api/v1/pendaftaran", applicant(1, schools["SD"], "domisili"), expect=409)  # NIK of 1.0.0
    refused = admin.call("POST", "/api/v1/pengumuman", {}, expect=409)
    assert [d.split(" (NPSN")[0] for d in refused["details"]] == ["SMA Negeri 1 Pontianak", "SMP Negeri 1 Pontianak"]
    admin.call("PUT", f"/api/v1/sekolah/{schools['SMP']['id']}/kuota",
               {"kuota": {"domisili": 14, "afirmasi": 7, "mutasi": 1, "prestasi": 10}}, expect=200)
    admin.call("PUT", f"/api/v1/sekolah/{schools['SMA']['id']}/kuota",
               {"kuota": {"domisili": 13, "afirmasi": 11, "mutasi": 1, "prestasi": 11}}, expect=200)
    summary = admin.call("POST", "/api/v1/pengumuman", {}, expect=201)
    assert summary["regulasi"] == "Permendikdasmen 3/2025"
    assert summary["diterima"] + summary["tidak_diterima"] == seeded["count"] - 1 + 2  # the rejected one is not ranked
    migrated = next(r for r in all_registrations(admin).values() if r["jalur_asal"] == "zonasi" and r["status"] == "terdaftar")
    result = public.call("GET", f"/api/v1/pengumuman/hasil/{migrated['nomor']}?nik={migrated['nik']}", expect=200)
    assert result["jalur"] == "domisili" and result["diterima"] in (True, False)
    public.call("POST", "/api/v1/pendaftaran", applicant(502, schools["SMP"], "domisili"), expect=409)  # closed
    page = public.call("GET", "/", expect=200)
    assert "SPMB 2026/2027" in page and PEMDA in page and "Permendikdasmen 3/2025" in page
    assert public.call("GET", "/static/style.css", expect=200).startswith("/* PPDB")


def test_ppdb_registrations_survive_the_spmb_upgrade(built_app: Any, load_app: Any, app_runner: Any) -> None:
    loaded = load_app("ppdb")
    built_app("ppdb", "1.0.0")
    built_app("ppdb", "2.0.0")

    app = app_runner(loaded, "1.0.0", settings=SETTINGS, name="ppdb", kode_wilayah="61.71", pemda="Kota Pontianak")
    public = Api(app.url)
    assert public.call("GET", "/healthz", expect=200) == {"status": "ok", "version": "1.0.0", "db": "ok", "schema": 1}
    password = (app.workdir / "secrets" / "ADMIN_PASSWORD").read_text().strip()
    public.call("POST", "/api/v1/tokens", {"username": "admin", "password": "salah"}, expect=401)
    public.call("POST", "/api/v1/sekolah", {"npsn": "30105999"}, expect=401)
    admin = public.login("admin", password)
    seeded = seed_1_0_0(admin)
    before = all_registrations(admin)
    rank_before = {}
    for s in seeded["schools"].values():
        for jalur in ROUTES_1[s["jenjang"]]:
            rows = ranking(public, s["id"], jalur)
            check_ranking_rule(rows, "nilai" if jalur == "prestasi" else "jarak", s["kuota"][jalur])
            rank_before[(s["id"], jalur)] = [r["nomor"] for r in rows]
    assert "PPDB 2026/2027" in public.call("GET", "/", expect=200)

    # -- upgrade: stop 1.0.0, start 2.0.0 on the same volume and secrets (its migration runs)
    app.stop()
    app = app_runner(loaded, "2.0.0", settings=SETTINGS, name="ppdb", kode_wilayah="61.71", pemda="Kota Pontianak")
    public = Api(app.url)
    assert public.call("GET", "/healthz", expect=200) == {"status": "ok", "version": "2.0.0", "db": "ok", "schema": 2}
    procs = [p[-1] for p in app.containers["web"].top()["Processes"]]
    assert sum("gunicorn" in p for p in procs) == 1 + int(SETTINGS["web_workers"]), procs  # master + workers
    admin = public.login("admin", password)
    check_after_upgrade(admin, before, seeded, rank_before)
    finish_2_0_0(admin, seeded)
