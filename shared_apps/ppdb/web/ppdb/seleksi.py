"""Ranking (perangkingan) of the applicants of one school and one route, and who is within
the route's quota. Pure: the web layer fetches the applicants and shows the result.

Rules (``aturan.PERINGKAT``):
- ``jarak``: nearest home first; the same distance: the older applicant first; then who
  registered first.
- ``nilai``: highest score first; the same score: nearest home, then older, then earlier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Calon:
    id: int
    nomor: str
    nama: str
    jarak_m: int
    tanggal_lahir: dt.date
    nilai: Decimal | None = None


@dataclass(frozen=True)
class Hasil:
    calon: Calon
    peringkat: int
    diterima: bool


def kunci(aturan: str, c: Calon) -> tuple[object, ...]:
    if aturan == "jarak":
        return (c.jarak_m, c.tanggal_lahir, c.id)
    if aturan == "nilai":
        return (-(c.nilai if c.nilai is not None else Decimal(-1)), c.jarak_m, c.tanggal_lahir, c.id)
    raise ValueError(f"aturan peringkat tidak dikenal: {aturan!r}")


def peringkat(calon: Iterable[Calon], *, kuota: int, aturan: str) -> list[Hasil]:
    """Every applicant with a rank (1 = best); the first ``kuota`` are within the quota."""
    ordered = sorted(calon, key=lambda c: kunci(aturan, c))
    return [Hasil(calon=c, peringkat=i, diterima=i <= kuota) for i, c in enumerate(ordered, start=1)]


def samarkan(nama: str) -> str:
    """A name as published in rankings: the first word and the initials of the others
    ("Siti Nurhaliza Putri" -> "Siti N. P.")."""
    words = nama.split()
    if not words:
        return ""
    return " ".join([words[0], *(w[0].upper() + "." for w in words[1:])])
