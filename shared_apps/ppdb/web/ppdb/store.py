"""What the app stores and reads (PostgreSQL). Every function takes an open connection;
rules and checks come from aturan.py, seleksi.py and pendaftaran.py."""

from __future__ import annotations

from typing import Any

from . import aturan, seleksi
from .db import Connection, Row, one, rows, transaction
from .jarak import haversine_m
from .pendaftaran import bersihkan_kuota, bersihkan_pendaftaran, bersihkan_sekolah
from .security import check_password, hash_password, new_token, token_hash


class AppError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []
        if status is not None:
            self.status = status


def _clean(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise AppError(str(exc)) from None


# -- users ------------------------------------------------------------------------------

USER_COLS = "id, username, nama, role, aktif, created_at"


def ensure_admin(conn: Connection, password: str) -> None:
    """Create user 'admin' with the ADMIN_PASSWORD secret on first start."""
    if one(conn, "SELECT id FROM users WHERE username = 'admin'") is None:
        conn.run(
            "INSERT INTO users (username, nama, role, password_hash) VALUES ('admin', 'Administrator PPDB',"
            " 'admin', :h) ON CONFLICT (username) DO NOTHING",
            h=hash_password(password),
        )


def authenticate(conn: Connection, username: str, password: str) -> Row | None:
    user = one(conn, f"SELECT {USER_COLS}, password_hash FROM users WHERE username = :u", u=username)
    if user is None or not user["aktif"] or not check_password(password, user.pop("password_hash")):
        return None
    return user


def password_hash_of(conn: Connection, username: str) -> str | None:
    found = one(conn, "SELECT password_hash FROM users WHERE username = :u", u=username)
    return None if found is None else str(found["password_hash"])


def change_own_password(conn: Connection, user: Row, data: dict[str, Any], *, initial: str) -> None:
    """The user replaces their own password: the current one must verify, the new one must
    pass :func:`firstlogin.validate_new_password`. Every API token of the user is revoked."""
    from .firstlogin import validate_new_password

    current = str(data.get("current_password") or "")
    new = str(data.get("new_password") or "")
    confirm = data.get("confirm_password")
    stored = password_hash_of(conn, str(user["username"]))
    if stored is None or not check_password(current, stored):
        raise AppError("current_password: kata sandi lama salah", 403)
    why = validate_new_password(current=current, new=new, initial=initial,
                                confirm=None if confirm is None else str(confirm))
    if why:
        raise AppError(f"new_password: {why}")
    with transaction(conn):
        conn.run("UPDATE users SET password_hash = :h WHERE id = :i", h=hash_password(new), i=user["id"])
        conn.run("DELETE FROM api_tokens WHERE user_id = :u", u=user["id"])


def issue_token(conn: Connection, user_id: int, label: str) -> str:
    token, digest = new_token()
    conn.run("INSERT INTO api_tokens (token_hash, user_id, label) VALUES (:h, :u, :l)", h=digest, u=user_id,
             l=label[:60])  # fmt: skip
    return token


def user_by_token(conn: Connection, token: str) -> Row | None:
    return one(conn, f"SELECT {', '.join('u.' + c for c in USER_COLS.split(', '))} FROM api_tokens t"
                     " JOIN users u ON u.id = t.user_id WHERE t.token_hash = :h AND u.aktif", h=token_hash(token))


def user_by_id(conn: Connection, uid: int) -> Row | None:
    return one(conn, f"SELECT {USER_COLS} FROM users WHERE id = :i", i=uid)


def list_users(conn: Connection) -> list[Row]:
    return rows(conn, f"SELECT {USER_COLS} FROM users ORDER BY id")


def create_user(conn: Connection, data: dict[str, Any]) -> Row:
    username = str(data.get("username") or "").strip().lower()
    role = str(data.get("role") or "")
    nama = " ".join(str(data.get("nama") or "").split())
    if role not in ("admin", "operator"):
        raise AppError("peran harus admin atau operator")
    if not nama:
        raise AppError("nama wajib diisi")
    pw = _clean(hash_password, str(data.get("password") or ""))
    if one(conn, "SELECT id FROM users WHERE username = :u", u=username):
        raise AppError(f"username {username!r} sudah dipakai", 409)
    try:
        return rows(conn, f"INSERT INTO users (username, nama, role, password_hash) VALUES (:u, :n, :r, :h)"
                          f" RETURNING {USER_COLS}", u=username, n=nama, r=role, h=pw)[0]  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the CHECK on username
        if "users_username_check" in str(exc):
            raise AppError("username 3-40 karakter: huruf kecil, angka, titik, garis bawah, tanda minus") from None
        raise


# -- schools ----------------------------------------------------------------------------

SEKOLAH_COLS = "id, npsn, nama, jenjang, alamat, lat, lon, daya_tampung"


def _kuota_of(conn: Connection, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for r in conn.run("SELECT sekolah_id, jalur, kursi FROM kuota WHERE sekolah_id = ANY(:ids)", ids=ids):
            out[r[0]][r[1]] = r[2]
    return out


def _with_quota(conn: Connection, schools: list[Row], tahun: int) -> list[Row]:
    ids = [s["id"] for s in schools]
    kuota = _kuota_of(conn, ids)
    counts: dict[tuple[int, str], int] = {}
    if ids:
        for sid, jalur, n in conn.run(
            "SELECT sekolah_id, jalur, count(*) FROM pendaftaran WHERE tahun = :t AND status = 'terdaftar'"
            " AND sekolah_id = ANY(:ids) GROUP BY sekolah_id, jalur", t=tahun, ids=ids,
        ):  # fmt: skip
            counts[(sid, jalur)] = n
    for s in schools:
        s["kuota"] = {j: kuota[s["id"]].get(j, 0) for j in aturan.jalur_tersedia(s["jenjang"])}
        s["pendaftar"] = {j: counts.get((s["id"], j), 0) for j in aturan.jalur_tersedia(s["jenjang"])}
        s["masalah_kuota"] = aturan.periksa_kuota(s["jenjang"], s["daya_tampung"], kuota[s["id"]])
    return schools


def list_schools(conn: Connection, tahun: int, jenjang: str | None = None) -> list[Row]:
    if jenjang is not None and jenjang not in aturan.JENJANG:
        raise AppError(f"jenjang harus salah satu dari {', '.join(aturan.JENJANG)}")
    found = rows(conn, f"SELECT {SEKOLAH_COLS} FROM sekolah WHERE (CAST(:j AS text) IS NULL OR jenjang = :j)"
                       " ORDER BY jenjang, nama, id", j=jenjang)  # fmt: skip
    return _with_quota(conn, found, tahun)


def get_school(conn: Connection, sid: int, tahun: int) -> Row:
    found = rows(conn, f"SELECT {SEKOLAH_COLS} FROM sekolah WHERE id = :i", i=sid)
    if not found:
        raise AppError("sekolah tidak ditemukan", 404)
    return _with_quota(conn, found, tahun)[0]


def create_school(conn: Connection, data: dict[str, Any], tahun: int) -> Row:
    s = _clean(bersihkan_sekolah, data)
    if data.get("kuota") is not None:
        kuota = _clean(bersihkan_kuota, data["kuota"], s["jenjang"])
    else:
        kuota = _clean(aturan.kuota_bawaan, s["jenjang"], s["daya_tampung"])
    problems = aturan.periksa_kuota(s["jenjang"], s["daya_tampung"], kuota)
    if problems:
        raise AppError(f"kuota tidak sesuai {aturan.REGULASI_KODE}", details=problems)
    if one(conn, "SELECT id FROM sekolah WHERE npsn = :n", n=s["npsn"]):
        raise AppError(f"NPSN {s['npsn']} sudah terdaftar", 409)
    with transaction(conn):
        sid = conn.run("INSERT INTO sekolah (npsn, nama, jenjang, alamat, lat, lon, daya_tampung) VALUES"
                       " (:npsn, :nama, :jenjang, :alamat, :lat, :lon, :daya_tampung) RETURNING id", **s)[0][0]
        for jalur, kursi in kuota.items():
            conn.run("INSERT INTO kuota (sekolah_id, jalur, kursi) VALUES (:s, :j, :k)", s=sid, j=jalur, k=kursi)
    return get_school(conn, sid, tahun)


def set_quota(conn: Connection, sid: int, data: dict[str, Any], tahun: int) -> Row:
    """New quotas (and optionally a new daya tampung) for a school; refused unless they comply."""
    school = get_school(conn, sid, tahun)
    kuota = _clean(bersihkan_kuota, data.get("kuota"), school["jenjang"])
    daya_tampung = school["daya_tampung"]
    if data.get("daya_tampung") is not None:
        from .pendaftaran import bilangan

        daya_tampung = _clean(bilangan, data["daya_tampung"], "daya tampung", lo=1, hi=10_000)
    problems = aturan.periksa_kuota(school["jenjang"], daya_tampung, kuota)
    if problems:
        raise AppError(f"kuota tidak sesuai {aturan.REGULASI_KODE}", details=problems)
    if one(conn, "SELECT 1 AS x FROM pengumuman WHERE tahun = :t", t=tahun):
        raise AppError(f"hasil seleksi {tahun} sudah diumumkan; kuota tidak dapat diubah", 409)
    with transaction(conn):
        conn.run("UPDATE sekolah SET daya_tampung = :d WHERE id = :i", d=daya_tampung, i=sid)
        conn.run("DELETE FROM kuota WHERE sekolah_id = :i", i=sid)
        for jalur, kursi in kuota.items():
            conn.run("INSERT INTO kuota (sekolah_id, jalur, kursi) VALUES (:s, :j, :k)", s=sid, j=jalur, k=kursi)
    return get_school(conn, sid, tahun)


# -- registrations ----------------------------------------------------------------------

DAFTAR_COLS = ("p.id, p.nomor, p.tahun, p.nik, p.nisn, p.nama, p.tanggal_lahir, p.alamat, p.lat, p.lon,"
               " p.sekolah_id, s.nama AS sekolah, s.npsn, s.jenjang, p.jalur, p.jarak_m, p.nilai, p.bukti,"
               " p.status, p.catatan, p.jalur_asal, p.migrasi, p.created_at")  # fmt: skip


def announced(conn: Connection, tahun: int) -> Row | None:
    return one(conn, "SELECT tahun, regulasi, diumumkan_at FROM pengumuman WHERE tahun = :t", t=tahun)


def register(conn: Connection, data: dict[str, Any], tahun: int) -> Row:
    try:
        sid = int(str(data.get("sekolah_id") or "").strip())
    except ValueError:
        raise AppError("pilih sekolah tujuan (sekolah_id)") from None
    school = one(conn, "SELECT id, jenjang, lat, lon FROM sekolah WHERE id = :i", i=sid)
    if school is None:
        raise AppError("sekolah tujuan tidak ditemukan", 404)
    p = _clean(bersihkan_pendaftaran, data, jenjang=school["jenjang"], tahun=tahun)
    if announced(conn, tahun):
        raise AppError(f"pendaftaran {aturan.SEBUTAN} {tahun} sudah ditutup: hasil seleksi sudah diumumkan", 409)
    p["jarak_m"] = haversine_m(p["lat"], p["lon"], school["lat"], school["lon"])
    with transaction(conn):
        if one(conn, "SELECT id FROM pendaftaran WHERE tahun = :t AND nik = :n FOR UPDATE", t=tahun, n=p["nik"]):
            raise AppError(f"NIK ini sudah terdaftar pada {aturan.SEBUTAN} {tahun}", 409)
        found = rows(
            conn,
            "INSERT INTO pendaftaran (id, nomor, tahun, nik, nisn, nama, tanggal_lahir, alamat, lat, lon,"
            " sekolah_id, jalur, jarak_m, nilai, bukti)"
            " SELECT n.id, CAST(:awalan AS text) || lpad(n.id::text, 6, '0'), :t, :nik, :nisn, :nama, :lahir,"
            " :alamat, :lat, :lon, :sid, :jalur, :jarak, :nilai, :bukti"
            " FROM (SELECT nextval(pg_get_serial_sequence('pendaftaran', 'id')) AS id) n"
            " ON CONFLICT (tahun, nik) DO NOTHING RETURNING nomor",
            awalan=f"{aturan.NOMOR_AWALAN}-{tahun}-", t=tahun, nik=p["nik"], nisn=p["nisn"], nama=p["nama"],
            lahir=p["tanggal_lahir"], alamat=p["alamat"], lat=p["lat"], lon=p["lon"], sid=sid, jalur=p["jalur"],
            jarak=p["jarak_m"], nilai=p["nilai"], bukti=p["bukti"],
        )  # fmt: skip
        if not found:
            raise AppError(f"NIK ini sudah terdaftar pada {aturan.SEBUTAN} {tahun}", 409)
    return get_registration(conn, found[0]["nomor"])


def get_registration(conn: Connection, nomor: str, nik: str | None = None) -> Row:
    """A registration by its number (and, for the applicant's own view, the NIK that made it)."""
    r = one(conn, f"SELECT {DAFTAR_COLS} FROM pendaftaran p JOIN sekolah s ON s.id = p.sekolah_id"
                  " WHERE p.nomor = :n", n=nomor.strip().upper())  # fmt: skip
    if r is None or (nik is not None and r["nik"] != nik.strip()):
        raise AppError("pendaftaran tidak ditemukan (periksa nomor pendaftaran dan NIK)", 404)
    return r


def list_registrations(conn: Connection, tahun: int, *, sekolah_id: int | None = None, limit: int = 500,
                       offset: int = 0) -> list[Row]:  # fmt: skip
    return rows(conn, f"SELECT {DAFTAR_COLS} FROM pendaftaran p JOIN sekolah s ON s.id = p.sekolah_id"
                      " WHERE p.tahun = :t AND (CAST(:s AS integer) IS NULL OR p.sekolah_id = :s)"
                      " ORDER BY p.id LIMIT :l OFFSET :o",
                t=tahun, s=sekolah_id, l=max(1, min(limit, 5000)), o=max(0, offset))  # fmt: skip


def reject(conn: Connection, nomor: str, catatan: str, tahun: int) -> Row:
    catatan = " ".join(catatan.split())
    if len(catatan) < 5:
        raise AppError("alasan penolakan wajib diisi (paling sedikit 5 karakter)")
    r = get_registration(conn, nomor)
    if announced(conn, r["tahun"]):
        raise AppError(f"hasil seleksi {r['tahun']} sudah diumumkan", 409)
    conn.run("UPDATE pendaftaran SET status = 'ditolak', catatan = :c WHERE id = :i", c=catatan[:300], i=r["id"])
    return get_registration(conn, nomor)


# -- ranking and announcement -------------------------------------------------------------


def ranking(conn: Connection, school: Row, jalur: str, tahun: int) -> list[seleksi.Hasil]:
    if jalur not in aturan.jalur_tersedia(school["jenjang"]):
        raise AppError(f"jalur {jalur!r} tidak ada untuk {school['jenjang']}", 404)
    calon = [
        seleksi.Calon(id=r[0], nomor=r[1], nama=r[2], jarak_m=r[3], tanggal_lahir=r[4], nilai=r[5])
        for r in conn.run("SELECT id, nomor, nama, jarak_m, tanggal_lahir, nilai FROM pendaftaran WHERE tahun = :t"
                          " AND sekolah_id = :s AND jalur = :j AND status = 'terdaftar'",
                          t=tahun, s=school["id"], j=jalur)  # fmt: skip
    ]
    return seleksi.peringkat(calon, kuota=school["kuota"][jalur], aturan=aturan.PERINGKAT[jalur])


def my_rank(conn: Connection, reg: Row) -> dict[str, Any]:
    """The applicant's place in the current ranking of their school and route."""
    school = get_school(conn, reg["sekolah_id"], reg["tahun"])
    if reg["status"] != "terdaftar":
        return {"peringkat": None, "dari": None, "kuota": school["kuota"].get(reg["jalur"], 0), "dalam_kuota": False}
    result = ranking(conn, school, reg["jalur"], reg["tahun"])
    me = next(h for h in result if h.calon.id == reg["id"])
    return {"peringkat": me.peringkat, "dari": len(result), "kuota": school["kuota"][reg["jalur"]],
            "dalam_kuota": me.diterima}  # fmt: skip


def publish(conn: Connection, tahun: int, user_id: int) -> Row:
    """Freeze the ranking of ``tahun``: refused while a school's quota breaks the regulation."""
    if announced(conn, tahun):
        raise AppError(f"hasil seleksi {tahun} sudah diumumkan", 409)
    schools = list_schools(conn, tahun)
    bad = [f"{s['nama']} (NPSN {s['npsn']}): {'; '.join(s['masalah_kuota'])}" for s in schools if s["masalah_kuota"]]
    if bad:
        raise AppError(f"kuota sekolah berikut belum sesuai {aturan.REGULASI_KODE}; sesuaikan dulu", 409, details=bad)
    with transaction(conn):
        conn.run("INSERT INTO pengumuman (tahun, regulasi, diumumkan_oleh) VALUES (:t, :r, :u)", t=tahun,
                 r=aturan.REGULASI_KODE, u=user_id)  # fmt: skip
        for s in schools:
            for jalur in aturan.jalur_tersedia(s["jenjang"]):
                for h in ranking(conn, s, jalur, tahun):
                    conn.run("INSERT INTO pengumuman_hasil (tahun, pendaftaran_id, sekolah_id, jalur, peringkat,"
                             " diterima) VALUES (:t, :p, :s, :j, :r, :d)", t=tahun, p=h.calon.id, s=s["id"],
                             j=jalur, r=h.peringkat, d=h.diterima)  # fmt: skip
    return summary(conn, tahun)


def summary(conn: Connection, tahun: int) -> Row:
    head = announced(conn, tahun)
    if head is None:
        raise AppError(f"hasil seleksi {tahun} belum diumumkan", 404)
    counts = rows(conn, "SELECT count(*) FILTER (WHERE diterima) AS diterima, count(*) FILTER (WHERE NOT diterima)"
                        " AS tidak_diterima FROM pengumuman_hasil WHERE tahun = :t", t=tahun)[0]  # fmt: skip
    return {**head, **counts}


def result_of(conn: Connection, tahun: int, nomor: str, nik: str) -> Row:
    reg = get_registration(conn, nomor, nik)
    head = announced(conn, tahun)
    if head is None or reg["tahun"] != tahun:
        raise AppError(f"hasil seleksi {tahun} belum diumumkan", 404)
    hasil = one(conn, "SELECT h.jalur, h.peringkat, h.diterima, s.nama AS sekolah FROM pengumuman_hasil h"
                      " JOIN sekolah s ON s.id = h.sekolah_id WHERE h.tahun = :t AND h.pendaftaran_id = :p",
                t=tahun, p=reg["id"])  # fmt: skip
    return {"nomor": reg["nomor"], "nama": reg["nama"], "regulasi": head["regulasi"], "status": reg["status"],
            "catatan": reg["catatan"], **(hasil or {"diterima": False, "peringkat": None, "jalur": reg["jalur"],
                                                    "sekolah": reg["sekolah"]})}  # fmt: skip


def accepted(conn: Connection, tahun: int, sekolah_id: int) -> list[Row]:
    """The published list of one school: accepted applicants per route (names masked)."""
    found = rows(conn, "SELECT p.nomor, p.nama, h.jalur, h.peringkat FROM pengumuman_hasil h JOIN pendaftaran p"
                       " ON p.id = h.pendaftaran_id WHERE h.tahun = :t AND h.sekolah_id = :s AND h.diterima"
                       " ORDER BY h.jalur, h.peringkat", t=tahun, s=sekolah_id)  # fmt: skip
    for r in found:
        r["nama"] = seleksi.samarkan(r["nama"])
    return found


def counts(conn: Connection, tahun: int) -> Row:
    return rows(conn, "SELECT (SELECT count(*) FROM sekolah) AS sekolah, (SELECT count(*) FROM pendaftaran WHERE"
                      " tahun = :t) AS pendaftaran, (SELECT count(*) FROM pendaftaran WHERE tahun = :t AND status ="
                      " 'ditolak') AS ditolak", t=tahun)[0]  # fmt: skip
