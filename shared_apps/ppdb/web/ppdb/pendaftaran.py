"""Checking what an applicant (or a school form) sends, before anything is stored. Pure:
each function returns clean values or raises ``ValueError`` with an Indonesian message that
names the field."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import aturan
from .jarak import parse_coordinate

_NIK = re.compile(r"^\d{16}$")
_NISN = re.compile(r"^\d{10}$")
_NPSN = re.compile(r"^\d{8}$")
_NOMOR = re.compile(r"^[A-Z]{4}-\d{4}-\d{6,}$")


def _text(data: dict[str, Any], field: str, *, lo: int, hi: int, label: str) -> str:
    value = " ".join(str(data.get(field) or "").split())
    if not lo <= len(value) <= hi:
        raise ValueError(f"{label} wajib diisi, {lo}-{hi} karakter")
    return value


def tanggal(value: object, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise ValueError(f"{label} harus tanggal TTTT-BB-HH, mis. 2014-05-21") from None


def umur_pada(lahir: dt.date, hari: dt.date) -> int:
    """Age in whole years on ``hari``."""
    return hari.year - lahir.year - ((hari.month, hari.day) < (lahir.month, lahir.day))


def bersihkan_pendaftaran(data: dict[str, Any], *, jenjang: str, tahun: int) -> dict[str, Any]:
    """The registration fields of ``data`` for a school of ``jenjang`` in ``tahun``."""
    nik = str(data.get("nik") or "").strip()
    if not _NIK.match(nik):
        raise ValueError("NIK harus 16 angka (lihat Kartu Keluarga)")
    nisn = str(data.get("nisn") or "").strip()
    if nisn and not _NISN.match(nisn):
        raise ValueError("NISN harus 10 angka (boleh dikosongkan untuk calon murid SD)")
    nama = _text(data, "nama", lo=2, hi=100, label="nama")
    lahir = tanggal(data.get("tanggal_lahir"), "tanggal lahir")
    umur = umur_pada(lahir, dt.date(tahun, 7, 1))
    if not 5 <= umur <= 21:
        raise ValueError(f"tanggal lahir {lahir.isoformat()}: umur pada 1 Juli {tahun} adalah {umur} tahun, di luar 5-21")
    alamat = _text(data, "alamat", lo=5, hi=300, label="alamat")
    lat, lon = parse_coordinate(data.get("lat"), data.get("lon"), what="koordinat rumah")
    jalur = str(data.get("jalur") or "").strip()
    open_ = aturan.jalur_tersedia(jenjang)
    if jalur not in open_:
        raise ValueError(f"jalur harus salah satu dari {', '.join(open_)} untuk {jenjang}")
    nilai: Decimal | None = None
    if aturan.PERINGKAT[jalur] == "nilai":
        try:
            nilai = Decimal(str(data.get("nilai")).strip().replace(",", "."))
        except InvalidOperation:
            raise ValueError("nilai wajib diisi untuk jalur prestasi: rata-rata rapor 0-100") from None
        if not nilai.is_finite() or not Decimal(0) <= nilai <= Decimal(100) or nilai != round(nilai, 2):
            raise ValueError("nilai harus 0-100 dengan paling banyak 2 angka desimal")
    bukti = " ".join(str(data.get("bukti") or "").split())
    if jalur in aturan.BUKTI:
        if not 3 <= len(bukti) <= 100:
            raise ValueError(f"jalur {aturan.LABEL_JALUR[jalur].lower()} wajib mengisi {aturan.BUKTI[jalur]}")
    else:
        bukti = ""
    return {"nik": nik, "nisn": nisn or None, "nama": nama, "tanggal_lahir": lahir, "alamat": alamat,
            "lat": lat, "lon": lon, "jalur": jalur, "nilai": nilai, "bukti": bukti}  # fmt: skip


def bersihkan_sekolah(data: dict[str, Any]) -> dict[str, Any]:
    npsn = str(data.get("npsn") or "").strip()
    if not _NPSN.match(npsn):
        raise ValueError("NPSN harus 8 angka")
    nama = _text(data, "nama", lo=3, hi=120, label="nama sekolah")
    jenjang = str(data.get("jenjang") or "").strip().upper()
    if jenjang not in aturan.JENJANG:
        raise ValueError(f"jenjang harus salah satu dari {', '.join(aturan.JENJANG)}")
    alamat = _text(data, "alamat", lo=5, hi=300, label="alamat sekolah")
    lat, lon = parse_coordinate(data.get("lat"), data.get("lon"), what="koordinat sekolah")
    daya_tampung = bilangan(data.get("daya_tampung"), "daya tampung", lo=1, hi=10_000)
    return {"npsn": npsn, "nama": nama, "jenjang": jenjang, "alamat": alamat, "lat": lat, "lon": lon,
            "daya_tampung": daya_tampung}  # fmt: skip


def bilangan(value: object, label: str, *, lo: int, hi: int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{label} harus bilangan bulat") from None
    if not lo <= n <= hi:
        raise ValueError(f"{label} harus {lo}-{hi}")
    return n


def bersihkan_kuota(data: object, jenjang: str) -> dict[str, int]:
    """``{"zonasi": 70, ...}`` as route -> seats (the regulation check is aturan.periksa_kuota)."""
    if not isinstance(data, dict):
        raise ValueError("kuota harus objek jalur -> jumlah kursi")
    out = {}
    for key, value in data.items():
        if key not in aturan.JALUR:
            raise ValueError(f"jalur tidak dikenal: {key!r} (jalur: {', '.join(aturan.jalur_tersedia(jenjang))})")
        out[key] = bilangan(value, f"kuota {key}", lo=0, hi=10_000)
    return out


def nomor_sah(value: str) -> bool:
    return bool(_NOMOR.match(value))
