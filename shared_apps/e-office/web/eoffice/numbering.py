"""Nomor surat: ``{seq}/{kode}/{unit}/{bulan romawi}/{tahun}``.

1.0.0 puts the letter's free ``kode`` in the second place; 1.1.0 puts the kode
klasifikasi arsip (Permendagri 83/2022). The sequence restarts every year, per jenis
(masuk/keluar); the database hands it out (see ``store.next_sequence``).
"""

from __future__ import annotations

import re

_ROMAN = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
]

KODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,29}$")
KLASIFIKASI_PATTERN = re.compile(r"^\d{3}(\.\d{1,3}){0,4}$")


def roman(n: int) -> str:
    """Roman numeral of 1..3999 (bulan: 1 -> I, 12 -> XII)."""
    if not 1 <= n <= 3999:
        raise ValueError(f"angka romawi hanya untuk 1..3999, bukan {n}")
    out = []
    for value, sym in _ROMAN:
        while n >= value:
            out.append(sym)
            n -= value
    return "".join(out)


def check_part(name: str, value: str) -> str:
    value = value.strip()
    if not KODE_PATTERN.match(value):
        raise ValueError(f"{name} hanya boleh huruf, angka, titik dan '-' (maks. 30), bukan {value!r}")
    return value


def is_kode_klasifikasi(value: str) -> bool:
    """A kode klasifikasi arsip looks like ``000``, ``000.1``, ``800.1.2.3``."""
    return bool(KLASIFIKASI_PATTERN.match(value.strip()))


def format_nomor(*, seq: int, kode: str, unit: str, month: int, year: int) -> str:
    if seq < 1:
        raise ValueError("nomor urut dimulai dari 1")
    if not 1 <= month <= 12:
        raise ValueError(f"bulan tidak sah: {month}")
    kode = check_part("kode", kode)
    unit = check_part("unit", unit)
    return f"{seq:03d}/{kode}/{unit}/{roman(month)}/{year}"
