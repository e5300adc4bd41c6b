"""PostgreSQL access (pg8000). Every function takes an open connection."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pg8000.native

from . import letters as L
from . import signing
from .config import Config
from .numbering import format_nomor
from .security import SEES_ALL, check_password, hash_password, new_token, token_hash

Row = dict[str, Any]


class AppError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


def connect(cfg: Config, timeout: float = 10.0) -> pg8000.native.Connection:
    return pg8000.native.Connection(
        user=cfg.db_user, password=cfg.db_password, host=cfg.db_host, port=cfg.db_port,
        database=cfg.db_name, timeout=timeout, application_name="e-office",
    )


def rows(conn: pg8000.native.Connection, sql: str, **params: Any) -> list[Row]:
    result = conn.run(sql, **params)
    cols = [c["name"] for c in (conn.columns or [])]
    return [dict(zip(cols, r, strict=True)) for r in (result or [])]


def one(conn: pg8000.native.Connection, sql: str, **params: Any) -> Row | None:
    found = rows(conn, sql, **params)
    return found[0] if found else None


@contextmanager
def transaction(conn: pg8000.native.Connection) -> Iterator[None]:
    conn.run("BEGIN")
    try:
        yield
    except BaseException:
        conn.run("ROLLBACK")
        raise
    conn.run("COMMIT")


# -- users ------------------------------------------------------------------------------

USER_COLS = "id, username, nama, jabatan, role, aktif, created_at"


def ensure_admin(conn: pg8000.native.Connection, password: str) -> None:
    """Create user 'admin' with the ADMIN_PASSWORD secret on first start."""
    if one(conn, "SELECT id FROM users WHERE username = 'admin'") is None:
        conn.run(
            "INSERT INTO users (username, nama, jabatan, role, password_hash)"
            " VALUES ('admin', 'Administrator', 'Administrator Sistem', 'admin', :h)"
            " ON CONFLICT (username) DO NOTHING",
            h=hash_password(password),
        )


def authenticate(conn: pg8000.native.Connection, username: str, password: str) -> Row | None:
    user = one(conn, f"SELECT {USER_COLS}, password_hash FROM users WHERE username = :u", u=username)
    if user is None or not user["aktif"] or not check_password(password, user["password_hash"]):
        return None
    user.pop("password_hash")
    return user


def password_hash_of(conn: pg8000.native.Connection, username: str) -> str | None:
    found = one(conn, "SELECT password_hash FROM users WHERE username = :u", u=username)
    return None if found is None else str(found["password_hash"])


def change_own_password(conn: pg8000.native.Connection, user: Row, data: dict[str, Any], *,
                        initial: str) -> None:
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


def user_by_token(conn: pg8000.native.Connection, token: str) -> Row | None:
    user = one(
        conn,
        f"UPDATE api_tokens t SET last_used_at = now() FROM users u"
        f" WHERE t.token_hash = :h AND u.id = t.user_id AND u.aktif"
        f" RETURNING {', '.join('u.' + c.strip() for c in USER_COLS.split(','))}",
        h=token_hash(token),
    )
    return user


def user_by_id(conn: pg8000.native.Connection, user_id: int) -> Row | None:
    return one(conn, f"SELECT {USER_COLS} FROM users WHERE id = :i", i=user_id)


def issue_token(conn: pg8000.native.Connection, user_id: int, label: str) -> str:
    token, hashed = new_token()
    conn.run("INSERT INTO api_tokens (token_hash, user_id, label) VALUES (:h, :u, :l)",
             h=hashed, u=user_id, l=label[:100])
    return token


def list_users(conn: pg8000.native.Connection) -> list[Row]:
    return rows(conn, f"SELECT {USER_COLS} FROM users ORDER BY id")


def create_user(conn: pg8000.native.Connection, data: dict[str, Any]) -> Row:
    from .security import ROLES

    try:
        username = str(data["username"]).strip().lower()
        nama = str(data["nama"]).strip()
        role = str(data["role"])
        password = str(data["password"])
    except KeyError as exc:
        raise AppError(f"{exc.args[0]}: wajib diisi") from exc
    if role not in ROLES:
        raise AppError(f"role: harus salah satu dari {', '.join(ROLES)}")
    if not nama:
        raise AppError("nama: wajib diisi")
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise AppError(f"password: {exc}") from exc
    if one(conn, "SELECT 1 AS x FROM users WHERE username = :u", u=username):
        raise AppError(f"username: {username!r} sudah dipakai", 409)
    try:
        return rows(
            conn,
            f"INSERT INTO users (username, nama, jabatan, role, password_hash)"
            f" VALUES (:u, :n, :j, :r, :h) RETURNING {USER_COLS}",
            u=username, n=nama, j=str(data.get("jabatan") or "").strip(), r=role, h=hashed,
        )[0]
    except pg8000.native.DatabaseError as exc:
        raise AppError("username: hanya huruf kecil, angka, '.', '_' dan '-' (3-40)") from exc


def update_user(conn: pg8000.native.Connection, user_id: int, data: dict[str, Any]) -> Row:
    from .security import ROLES

    user = user_by_id(conn, user_id)
    if user is None:
        raise AppError("pengguna tidak ditemukan", 404)
    sets: dict[str, Any] = {}
    for name in ("nama", "jabatan"):
        if name in data:
            sets[name] = str(data[name]).strip()
    if "role" in data:
        if data["role"] not in ROLES:
            raise AppError(f"role: harus salah satu dari {', '.join(ROLES)}")
        sets["role"] = data["role"]
    if "aktif" in data:
        sets["aktif"] = bool(data["aktif"])
    if "password" in data:
        try:
            sets["password_hash"] = hash_password(str(data["password"]))
        except ValueError as exc:
            raise AppError(f"password: {exc}") from exc
    if not sets:
        return user
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    updated = rows(conn, f"UPDATE users SET {assignments} WHERE id = :id RETURNING {USER_COLS}",
                   id=user_id, **sets)[0]
    if sets.get("aktif") is False or "password_hash" in sets:
        conn.run("DELETE FROM api_tokens WHERE user_id = :u", u=user_id)
    return updated


# -- letters ----------------------------------------------------------------------------

BASE_COLS = (
    "id, jenis, nomor, seq, tahun, kode, unit, tanggal, perihal, pengirim, nomor_asal, tujuan,"
    " sifat, isi, status, penandatangan_id, created_by, created_at, updated_at"
)
KLAS_COLS = (
    ", kode_klasifikasi, klasifikasi_keamanan, retensi_aktif, retensi_inaktif, nasib_akhir,"
    " klasifikasi_sumber"
)


def letter_cols(klasifikasi: bool, alias: str = "") -> str:
    cols = BASE_COLS + (KLAS_COLS if klasifikasi else "")
    if not alias:
        return cols
    return ", ".join(f"{alias}.{c.strip()}" for c in cols.split(","))


def _visibility(klasifikasi: bool) -> str:
    if not klasifikasi:
        return "TRUE"
    return (
        "(l.klasifikasi_keamanan NOT IN ('rahasia', 'sangat_rahasia') OR :see_all"
        " OR l.created_by = :uid OR l.penandatangan_id = :uid"
        " OR EXISTS (SELECT 1 FROM dispositions d WHERE d.letter_id = l.id"
        " AND (d.kepada_id = :uid OR d.dari_id = :uid)))"
    )


def _vis_params(user: Row, klasifikasi: bool) -> dict[str, Any]:
    return {"see_all": user["role"] in SEES_ALL, "uid": user["id"]} if klasifikasi else {}


def next_sequence(conn: pg8000.native.Connection, tahun: int, jenis: str) -> int:
    """Next nomor urut for (tahun, jenis). Call inside the letter's transaction: the counter
    row stays locked until commit, so concurrent letters are numbered one after another and a
    rolled-back letter does not burn a number."""
    return int(conn.run(
        "INSERT INTO letter_counters (tahun, jenis, last_seq) VALUES (:t, :j, 1)"
        " ON CONFLICT (tahun, jenis) DO UPDATE SET last_seq = letter_counters.last_seq + 1"
        " RETURNING last_seq",
        t=tahun, j=jenis,
    )[0][0])


def retensi_for(conn: pg8000.native.Connection, kode: str) -> Row:
    """Retention of the most specific kode klasifikasi arsip that covers ``kode``."""
    found = one(
        conn,
        "SELECT kode, retensi_aktif, retensi_inaktif, nasib_akhir FROM klasifikasi_arsip"
        " WHERE :k = kode OR :k LIKE kode || '.%' OR kode = substr(:k, 1, 1) || '00'"
        " ORDER BY length(kode) DESC LIMIT 1",
        k=kode,
    )
    if found is None:
        raise AppError(f"kode_klasifikasi: {kode!r} tidak ada dalam daftar klasifikasi arsip")
    return found


def create_letter(
    conn: pg8000.native.Connection, user: Row, data: dict[str, Any], *, cfg: Config,
    klasifikasi: bool, today: dt.date | None = None,
) -> Row:
    try:
        v = L.validate_new(data, klasifikasi=klasifikasi, default_unit=cfg.kode_unit,
                           today=today or dt.date.today())
    except L.InvalidLetter as exc:
        raise AppError(str(exc)) from exc
    if v["penandatangan_id"] is not None:
        signer = user_by_id(conn, v["penandatangan_id"])
        if signer is None or signer["role"] not in ("pejabat", "admin") or not signer["aktif"]:
            raise AppError("penandatangan_id: harus pengguna aktif dengan peran pejabat")
    with transaction(conn):
        extra_cols, extra_vals, extra = "", "", {}
        if klasifikasi:
            ret = retensi_for(conn, v["kode_klasifikasi"])
            extra_cols = (", kode_klasifikasi, klasifikasi_keamanan, retensi_aktif,"
                          " retensi_inaktif, nasib_akhir")
            extra_vals = ", :kk, :kam, :ra, :ri, :na"
            extra = {"kk": v["kode_klasifikasi"], "kam": v["klasifikasi_keamanan"],
                     "ra": ret["retensi_aktif"], "ri": ret["retensi_inaktif"],
                     "na": ret["nasib_akhir"]}
        tanggal: dt.date = v["tanggal"]
        seq = next_sequence(conn, tanggal.year, v["jenis"])
        nomor = format_nomor(seq=seq, kode=v["kode"], unit=v["unit"], month=tanggal.month,
                             year=tanggal.year)
        status = "diterima" if v["jenis"] == "masuk" else "draf"
        letter = rows(
            conn,
            "INSERT INTO letters (jenis, nomor, seq, tahun, kode, unit, tanggal, perihal, pengirim,"
            " nomor_asal, tujuan, sifat, isi, status, penandatangan_id, created_by" + extra_cols + ")"
            " VALUES (:jenis, :nomor, :seq, :tahun, :kode, :unit, :tanggal, :perihal, :pengirim,"
            " :nomor_asal, :tujuan, :sifat, :isi, :status, :pid, :uid" + extra_vals + ")"
            f" RETURNING {letter_cols(klasifikasi)}",
            jenis=v["jenis"], nomor=nomor, seq=seq, tahun=tanggal.year, kode=v["kode"],
            unit=v["unit"], tanggal=tanggal, perihal=v["perihal"], pengirim=v["pengirim"],
            nomor_asal=v["nomor_asal"], tujuan=v["tujuan"], sifat=v["sifat"], isi=v["isi"],
            status=status, pid=v["penandatangan_id"], uid=user["id"], **extra,
        )[0]
    return letter


def list_letters(
    conn: pg8000.native.Connection, user: Row, *, klasifikasi: bool, jenis: str | None = None,
    q: str | None = None, limit: int = 100, offset: int = 0,
) -> list[Row]:
    where = [_visibility(klasifikasi)]
    params: dict[str, Any] = _vis_params(user, klasifikasi)
    if jenis:
        if jenis not in L.JENIS:
            raise AppError("jenis: harus 'masuk' atau 'keluar'")
        where.append("l.jenis = :jenis")
        params["jenis"] = jenis
    if q:
        where.append("(l.perihal ILIKE :q OR l.nomor ILIKE :q OR l.pengirim ILIKE :q OR l.tujuan ILIKE :q)")
        params["q"] = f"%{q}%"
    return rows(
        conn,
        f"SELECT {letter_cols(klasifikasi, 'l')} FROM letters l WHERE {' AND '.join(where)}"
        " ORDER BY l.tanggal DESC, l.id DESC LIMIT :limit OFFSET :offset",
        limit=max(1, min(limit, 500)), offset=max(0, offset), **params,
    )


def get_letter(conn: pg8000.native.Connection, user: Row, letter_id: int, *, klasifikasi: bool) -> Row:
    letter = one(
        conn,
        f"SELECT {letter_cols(klasifikasi, 'l')} FROM letters l WHERE l.id = :id AND {_visibility(klasifikasi)}",
        id=letter_id, **_vis_params(user, klasifikasi),
    )
    if letter is None:
        raise AppError("surat tidak ditemukan", 404)
    return letter


def update_letter(
    conn: pg8000.native.Connection, user: Row, letter_id: int, data: dict[str, Any], *, klasifikasi: bool
) -> Row:
    letter = get_letter(conn, user, letter_id, klasifikasi=klasifikasi)
    try:
        v = L.validate_update(data, klasifikasi=klasifikasi)
    except L.InvalidLetter as exc:
        raise AppError(str(exc)) from exc
    if letter["status"] == "ditandatangani" and set(v) - {"status"}:
        raise AppError("surat sudah ditandatangani: isinya tidak dapat diubah", 409)
    if letter["status"] == "diarsipkan":
        raise AppError("surat sudah diarsipkan", 409)
    if not v:
        return letter
    sets = ", ".join(f"{k} = :{k}" for k in v)
    return rows(
        conn,
        f"UPDATE letters SET {sets}, updated_at = now() WHERE id = :id RETURNING {letter_cols(klasifikasi)}",
        id=letter_id, **v,
    )[0]


def delete_letter(conn: pg8000.native.Connection, user: Row, letter_id: int, *, klasifikasi: bool) -> None:
    letter = get_letter(conn, user, letter_id, klasifikasi=klasifikasi)
    if letter["status"] in ("ditandatangani", "diarsipkan"):
        raise AppError("surat yang sudah ditandatangani/diarsipkan tidak dapat dihapus", 409)
    conn.run("DELETE FROM letters WHERE id = :id", id=letter_id)


# -- dispositions -----------------------------------------------------------------------

DISP_SELECT = (
    "SELECT d.id, d.letter_id, d.parent_id, d.dari_id, fu.nama AS dari_nama, d.kepada_id,"
    " tu.nama AS kepada_nama, tu.jabatan AS kepada_jabatan, d.instruksi, d.batas_waktu,"
    " d.status, d.catatan, d.created_at, d.updated_at"
    " FROM dispositions d JOIN users fu ON fu.id = d.dari_id JOIN users tu ON tu.id = d.kepada_id"
)


def create_disposition(
    conn: pg8000.native.Connection, user: Row, letter_id: int, data: dict[str, Any], *,
    klasifikasi: bool, may_dispose: bool,
) -> Row:
    get_letter(conn, user, letter_id, klasifikasi=klasifikasi)
    parent_id = data.get("parent_id")
    if parent_id is not None:
        parent = one(conn, "SELECT id, letter_id, kepada_id FROM dispositions WHERE id = :i", i=parent_id)
        if parent is None or parent["letter_id"] != letter_id:
            raise AppError("parent_id: disposisi induk tidak ada pada surat ini")
        if parent["kepada_id"] != user["id"] and not may_dispose:
            raise AppError("hanya penerima disposisi yang dapat meneruskannya", 403)
    elif not may_dispose:
        raise AppError("peran Anda tidak dapat membuat disposisi baru", 403)
    kepada_id = data.get("kepada_id")
    if not isinstance(kepada_id, int) or isinstance(kepada_id, bool):
        raise AppError("kepada_id: wajib, id pengguna tujuan")
    target = user_by_id(conn, kepada_id)
    if target is None or not target["aktif"]:
        raise AppError("kepada_id: pengguna tujuan tidak ada atau tidak aktif")
    if kepada_id == user["id"]:
        raise AppError("kepada_id: tidak dapat mendisposisikan ke diri sendiri")
    instruksi = str(data.get("instruksi") or "").strip()
    if not instruksi or len(instruksi) > 2000:
        raise AppError("instruksi: wajib diisi (maks. 2000 karakter)")
    batas = data.get("batas_waktu")
    try:
        batas_date = L.parse_date(batas, "batas_waktu") if batas else None
    except L.InvalidLetter as exc:
        raise AppError(str(exc)) from exc
    new_id = conn.run(
        "INSERT INTO dispositions (letter_id, parent_id, dari_id, kepada_id, instruksi, batas_waktu)"
        " VALUES (:l, :p, :d, :k, :i, :b) RETURNING id",
        l=letter_id, p=parent_id, d=user["id"], k=kepada_id, i=instruksi, b=batas_date,
    )[0][0]
    if parent_id is not None:
        conn.run("UPDATE dispositions SET status = 'diproses', updated_at = now()"
                 " WHERE id = :i AND status IN ('baru', 'dibaca')", i=parent_id)
    return rows(conn, DISP_SELECT + " WHERE d.id = :i", i=new_id)[0]


def letter_dispositions(conn: pg8000.native.Connection, letter_id: int) -> list[Row]:
    return rows(conn, DISP_SELECT + " WHERE d.letter_id = :l ORDER BY d.id", l=letter_id)


def my_dispositions(conn: pg8000.native.Connection, user: Row, status: str | None = None) -> list[Row]:
    sql = DISP_SELECT.replace("SELECT d.id,", "SELECT l.nomor, l.perihal, d.id,") + (
        " JOIN letters l ON l.id = d.letter_id WHERE d.kepada_id = :u"
    )
    params: dict[str, Any] = {"u": user["id"]}
    if status:
        if status not in L.DISPOSISI_STATUS:
            raise AppError(f"status: harus salah satu dari {', '.join(L.DISPOSISI_STATUS)}")
        sql += " AND d.status = :s"
        params["s"] = status
    return rows(conn, sql + " ORDER BY d.id DESC LIMIT 200", **params)


def update_disposition(conn: pg8000.native.Connection, user: Row, disp_id: int, data: dict[str, Any]) -> Row:
    disp = one(conn, "SELECT id, kepada_id FROM dispositions WHERE id = :i", i=disp_id)
    if disp is None:
        raise AppError("disposisi tidak ditemukan", 404)
    if disp["kepada_id"] != user["id"]:
        raise AppError("hanya penerima disposisi yang dapat mengubah statusnya", 403)
    sets: dict[str, Any] = {}
    if "status" in data:
        if data["status"] not in L.DISPOSISI_STATUS:
            raise AppError(f"status: harus salah satu dari {', '.join(L.DISPOSISI_STATUS)}")
        sets["status"] = data["status"]
    if "catatan" in data:
        sets["catatan"] = str(data["catatan"] or "").strip()[:2000]
    if sets:
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        conn.run(f"UPDATE dispositions SET {assignments}, updated_at = now() WHERE id = :id",
                 id=disp_id, **sets)
    return rows(conn, DISP_SELECT + " WHERE d.id = :i", i=disp_id)[0]


# -- signatures -------------------------------------------------------------------------


def ensure_signing_key(conn: pg8000.native.Connection, secret: str) -> signing.StoredKey:
    """The deployment's signing key; generated on first start (once, under a lock)."""
    with transaction(conn):
        conn.run("SELECT pg_advisory_xact_lock(7320451002)")
        row = one(conn, "SELECT key_id, public_key, sealed_private FROM signing_keys"
                        " ORDER BY created_at LIMIT 1")
        if row is None:
            stored, _ = signing.new_key(secret)
            conn.run("INSERT INTO signing_keys (key_id, public_key, sealed_private) VALUES (:k, :p, :s)",
                     k=stored.key_id, p=stored.public_b64, s=stored.sealed_private)
            return stored
    return signing.StoredKey(row["key_id"], row["public_key"], row["sealed_private"])


def public_keys(conn: pg8000.native.Connection) -> list[Row]:
    return rows(conn, "SELECT key_id, public_key, created_at FROM signing_keys ORDER BY created_at")


SIG_COLS = "id, letter_id, kode, key_id, content_json, digest, signature, signer_id, signed_at"


def sign_letter(
    conn: pg8000.native.Connection, user: Row, letter_id: int, *, cfg: Config, key: signing.StoredKey,
    private: Any, klasifikasi: bool,
) -> Row:
    with transaction(conn):
        locked = one(conn, "SELECT status, penandatangan_id FROM letters WHERE id = :i FOR UPDATE", i=letter_id)
        letter = get_letter(conn, user, letter_id, klasifikasi=klasifikasi)
        assert locked is not None
        if letter["jenis"] != "keluar":
            raise AppError("hanya surat keluar yang ditandatangani", 409)
        if locked["status"] != "draf":
            raise AppError(f"surat berstatus {locked['status']}, tidak dapat ditandatangani", 409)
        if locked["penandatangan_id"] not in (None, user["id"]):
            raise AppError("surat ini harus ditandatangani oleh pejabat penandatangan yang ditunjuk", 403)
        content = L.signed_content(letter, pemda=cfg.pemda_name, signer_nama=user["nama"],
                                   signer_jabatan=user["jabatan"], klasifikasi=klasifikasi)
        canonical = signing.canonical_json(content).decode("utf-8")
        sig = signing.sign(private, content)
        row = rows(
            conn,
            "INSERT INTO signatures (letter_id, kode, key_id, content_json, digest, signature, signer_id)"
            f" VALUES (:l, :k, :kid, :c, :d, :s, :u) RETURNING {SIG_COLS}",
            l=letter_id, k=secrets.token_urlsafe(16), kid=key.key_id, c=canonical,
            d=signing.digest(content), s=sig, u=user["id"],
        )[0]
        conn.run("UPDATE letters SET status = 'ditandatangani', penandatangan_id = :u,"
                 " updated_at = now() WHERE id = :i", u=user["id"], i=letter_id)
    return row


def signature_of(conn: pg8000.native.Connection, letter_id: int) -> Row | None:
    return one(conn, f"SELECT {SIG_COLS} FROM signatures WHERE letter_id = :l", l=letter_id)


def signature_by_code(conn: pg8000.native.Connection, kode: str) -> Row | None:
    return one(conn, f"SELECT {SIG_COLS} FROM signatures WHERE kode = :k", k=kode)


def verify(conn: pg8000.native.Connection, content: Any, signature_b64: Any, key_id: Any = None) -> Row:
    """Check ``signature_b64`` over ``content`` against this deployment's public keys."""
    if not isinstance(content, dict) or not isinstance(signature_b64, str):
        raise AppError("body: perlu 'content' (objek) dan 'signature' (base64)")
    try:
        dg = signing.digest(content)
    except ValueError as exc:
        raise AppError(str(exc)) from exc
    for k in public_keys(conn):
        if key_id and k["key_id"] != key_id:
            continue
        if signing.verify(signing.load_public(k["public_key"]), content, signature_b64):
            return {"valid": True, "key_id": k["key_id"], "digest": dg}
    return {"valid": False, "key_id": None, "digest": dg}


def verification_status(conn: pg8000.native.Connection, sig: Row) -> Row:
    """Is the stored signature valid, and does the letter in the database still match it?"""
    content = json.loads(sig["content_json"])
    result = verify(conn, content, sig["signature"], sig["key_id"])
    klas = content.get("versi", 1) >= 2
    letter = one(conn, f"SELECT {letter_cols(klas)} FROM letters WHERE id = :i", i=sig["letter_id"])
    unchanged = False
    if letter is not None:
        current = L.signed_content(letter, pemda=content.get("pemda", ""),
                                   signer_nama=content["penandatangan"]["nama"],
                                   signer_jabatan=content["penandatangan"]["jabatan"], klasifikasi=klas)
        unchanged = signing.digest(current) == sig["digest"]
    return {**result, "unchanged": unchanged, "content": content, "letter": letter}


# -- klasifikasi arsip (1.1.0) -------------------------------------------------------------


def list_klasifikasi(conn: pg8000.native.Connection) -> list[Row]:
    return rows(conn, "SELECT kode, nama, retensi_aktif, retensi_inaktif, nasib_akhir"
                      " FROM klasifikasi_arsip ORDER BY kode")


def put_klasifikasi(conn: pg8000.native.Connection, kode: str, data: dict[str, Any]) -> Row:
    from .numbering import is_kode_klasifikasi

    if not is_kode_klasifikasi(kode):
        raise AppError("kode: format kode klasifikasi arsip mis. 000.1.2")
    try:
        nama = str(data["nama"]).strip()
        ra, ri = int(data["retensi_aktif"]), int(data["retensi_inaktif"])
        nasib = str(data["nasib_akhir"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AppError("perlu nama, retensi_aktif, retensi_inaktif (tahun), nasib_akhir") from exc
    if nasib not in ("musnah", "permanen", "dinilai_kembali") or ra < 0 or ri < 0 or not nama:
        raise AppError("nasib_akhir: musnah/permanen/dinilai_kembali; retensi >= 0; nama wajib")
    return rows(
        conn,
        "INSERT INTO klasifikasi_arsip (kode, nama, retensi_aktif, retensi_inaktif, nasib_akhir)"
        " VALUES (:k, :n, :ra, :ri, :na) ON CONFLICT (kode) DO UPDATE SET nama = :n,"
        " retensi_aktif = :ra, retensi_inaktif = :ri, nasib_akhir = :na"
        " RETURNING kode, nama, retensi_aktif, retensi_inaktif, nasib_akhir",
        k=kode, n=nama, ra=ra, ri=ri, na=nasib,
    )[0]


def counts(conn: pg8000.native.Connection) -> Row:
    return one(conn, "SELECT (SELECT count(*) FROM letters WHERE jenis = 'masuk') AS masuk,"
                     " (SELECT count(*) FROM letters WHERE jenis = 'keluar') AS keluar,"
                     " (SELECT count(*) FROM dispositions WHERE status <> 'selesai') AS disposisi_aktif"
               ) or {}
