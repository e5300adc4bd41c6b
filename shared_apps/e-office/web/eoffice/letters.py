"""Pure rules for letters: input validation, the content that gets signed, visibility."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .numbering import check_part, is_kode_klasifikasi

JENIS = ("masuk", "keluar")
SIFAT = ("biasa", "segera", "sangat_segera", "rahasia")
KEAMANAN = ("biasa", "terbatas", "rahasia", "sangat_rahasia")
RESTRICTED = ("rahasia", "sangat_rahasia")
STATUS = ("draf", "diterima", "ditandatangani", "diarsipkan")
DISPOSISI_STATUS = ("baru", "dibaca", "diproses", "selesai")
TEXT_FIELDS = ("perihal", "pengirim", "nomor_asal", "tujuan", "isi")
MAX_LEN = {"perihal": 500, "pengirim": 300, "nomor_asal": 100, "tujuan": 500, "isi": 100_000}


class InvalidLetter(ValueError):
    """Bad letter input; the message names the field."""


def _text(data: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidLetter(f"{name}: harus teks")
    value = value.strip()
    if required and not value:
        raise InvalidLetter(f"{name}: wajib diisi")
    if len(value) > MAX_LEN[name]:
        raise InvalidLetter(f"{name}: maksimal {MAX_LEN[name]} karakter")
    return value


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(name) or default
    if value not in allowed:
        raise InvalidLetter(f"{name}: harus salah satu dari {', '.join(allowed)}")
    return str(value)


def parse_date(value: Any, name: str = "tanggal") -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidLetter(f"{name}: tanggal harus berformat YYYY-MM-DD") from exc


def validate_new(
    data: dict[str, Any], *, klasifikasi: bool, default_unit: str, today: dt.date
) -> dict[str, Any]:
    """Checked values for a new letter. ``klasifikasi`` = the 1.1.0 fields are on."""
    if not isinstance(data, dict):
        raise InvalidLetter("body harus objek JSON")
    out: dict[str, Any] = {"jenis": _choice(data, "jenis", JENIS, "")}
    out["tanggal"] = parse_date(data.get("tanggal") or today.isoformat())
    for name in TEXT_FIELDS:
        out[name] = _text(data, name, required=(name == "perihal"))
    if out["jenis"] == "masuk" and not out["pengirim"]:
        raise InvalidLetter("pengirim: wajib diisi untuk surat masuk")
    if out["jenis"] == "keluar" and not out["tujuan"]:
        raise InvalidLetter("tujuan: wajib diisi untuk surat keluar")
    out["sifat"] = _choice(data, "sifat", SIFAT, "biasa")
    try:
        out["unit"] = check_part("unit", str(data.get("unit") or default_unit))
        if klasifikasi:
            kk = str(data.get("kode_klasifikasi") or "").strip()
            if not is_kode_klasifikasi(kk):
                raise InvalidLetter(
                    "kode_klasifikasi: wajib, format kode klasifikasi arsip mis. 000.1.2 "
                    "(Permendagri 83/2022)"
                )
            out["kode_klasifikasi"] = kk
            out["kode"] = kk
            default_keamanan = "rahasia" if out["sifat"] == "rahasia" else "biasa"
            out["klasifikasi_keamanan"] = _choice(data, "klasifikasi_keamanan", KEAMANAN, default_keamanan)
        else:
            out["kode"] = check_part("kode", str(data.get("kode") or "UM"))
    except ValueError as exc:
        if isinstance(exc, InvalidLetter):
            raise
        raise InvalidLetter(str(exc)) from exc
    pid = data.get("penandatangan_id")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise InvalidLetter("penandatangan_id: harus id pengguna (angka)")
    out["penandatangan_id"] = pid
    return out


def validate_update(data: dict[str, Any], *, klasifikasi: bool) -> dict[str, Any]:
    """Fields a PATCH may change. Nomor, jenis, tanggal and kode are fixed once numbered."""
    if not isinstance(data, dict):
        raise InvalidLetter("body harus objek JSON")
    fixed = {"nomor", "jenis", "tanggal", "kode", "unit", "seq", "tahun", "kode_klasifikasi"}
    bad = sorted(fixed & data.keys())
    if bad:
        raise InvalidLetter(f"{bad[0]}: tidak dapat diubah setelah surat bernomor")
    allowed = set(TEXT_FIELDS) | {"sifat", "status", "penandatangan_id"}
    if klasifikasi:
        allowed |= {"klasifikasi_keamanan"}
    unknown = sorted(data.keys() - allowed)
    if unknown:
        raise InvalidLetter(f"{unknown[0]}: kolom tidak dikenal")
    out: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in data:
            out[name] = _text(data, name, required=(name == "perihal"))
    if "sifat" in data:
        out["sifat"] = _choice(data, "sifat", SIFAT, "")
    if "status" in data:
        if data["status"] != "diarsipkan":
            raise InvalidLetter("status: hanya dapat diubah menjadi 'diarsipkan' (tanda tangan lewat /sign)")
        out["status"] = "diarsipkan"
    if "klasifikasi_keamanan" in data:
        out["klasifikasi_keamanan"] = _choice(data, "klasifikasi_keamanan", KEAMANAN, "")
    if "penandatangan_id" in data:
        pid = data["penandatangan_id"]
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
            raise InvalidLetter("penandatangan_id: harus id pengguna (angka)")
        out["penandatangan_id"] = pid
    return out


def signed_content(
    letter: dict[str, Any], *, pemda: str, signer_nama: str, signer_jabatan: str, klasifikasi: bool
) -> dict[str, Any]:
    """The exact content an electronic signature covers (versi 1 = 1.0.0, versi 2 = 1.1.0)."""
    tanggal = letter["tanggal"]
    content: dict[str, Any] = {
        "versi": 2 if klasifikasi else 1,
        "pemda": pemda,
        "jenis": letter["jenis"],
        "nomor": letter["nomor"],
        "tanggal": tanggal.isoformat() if isinstance(tanggal, dt.date) else str(tanggal),
        "perihal": letter["perihal"],
        "tujuan": letter["tujuan"],
        "sifat": letter["sifat"],
        "isi": letter["isi"],
        "penandatangan": {"nama": signer_nama, "jabatan": signer_jabatan},
    }
    if klasifikasi:
        content["kode_klasifikasi"] = letter["kode_klasifikasi"]
        content["klasifikasi_keamanan"] = letter["klasifikasi_keamanan"]
    return content


def is_restricted(letter: dict[str, Any]) -> bool:
    return letter.get("klasifikasi_keamanan") in RESTRICTED
