"""Pure rules of Pengaduan Masyarakat: ticket numbers, status flow, input validation.

No Flask, no database: everything here is a plain function, unit-tested on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TICKET_PREFIX = "ADU"
TICKET_RE = re.compile(r"^ADU-(\d{4})-(\d{6,})$")

# Status flow (SP4N-LAPOR! style): every complaint starts "diterima".
STATUS_DITERIMA = "diterima"
STATUSES: tuple[str, ...] = ("diterima", "diverifikasi", "ditindaklanjuti", "selesai", "ditolak")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "diterima": ("diverifikasi", "ditolak"),
    "diverifikasi": ("ditindaklanjuti", "ditolak"),
    "ditindaklanjuti": ("selesai",),
    "selesai": (),
    "ditolak": (),
}
# A reason is owed to the citizen when a complaint is closed.
NOTE_REQUIRED = frozenset({"ditolak", "selesai"})

STATUS_LABELS: dict[str, str] = {
    "diterima": "Diterima",
    "diverifikasi": "Diverifikasi",
    "ditindaklanjuti": "Ditindaklanjuti",
    "selesai": "Selesai",
    "ditolak": "Ditolak",
}

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "Infrastruktur",
    "Kesehatan",
    "Pendidikan",
    "Administrasi Kependudukan",
    "Lingkungan Hidup",
    "Ketertiban Umum",
    "Pelayanan Publik Lainnya",
)

LIMITS = {"nama": 100, "kontak": 100, "kategori": 80, "judul": 150, "isi": 5000, "lokasi": 200, "catatan": 1000}
MIN_ISI = 20


class InvalidComplaint(ValueError):
    """Input a citizen or officer must correct; ``errors`` maps field -> message (Bahasa Indonesia)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class InvalidTransition(ValueError):
    pass


def format_ticket(year: int, seq: int) -> str:
    """``ADU-2026-000123``: year of submission and a per-year sequence number."""
    if year < 1000 or year > 9999 or seq < 1:
        raise ValueError(f"bad ticket parts: {year}, {seq}")
    return f"{TICKET_PREFIX}-{year:04d}-{seq:06d}"


def parse_ticket(text: str) -> tuple[int, int] | None:
    """(year, seq) of a ticket number typed by a citizen (case and spaces forgiven), else None."""
    m = TICKET_RE.match(text.strip().upper().replace(" ", ""))
    if not m:
        return None
    seq = int(m[2])
    return (int(m[1]), seq) if seq >= 1 else None


def normalize_ticket(text: str) -> str | None:
    parts = parse_ticket(text)
    return format_ticket(*parts) if parts else None


def allowed_next(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def check_transition(current: str, new: str, note: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> new`` is allowed with this note."""
    if new not in STATUSES:
        raise InvalidTransition(f"status tidak dikenal: {new!r}")
    if new not in allowed_next(current):
        nxt = ", ".join(allowed_next(current)) or "tidak ada (status akhir)"
        raise InvalidTransition(f"status {current!r} tidak dapat diubah menjadi {new!r} (yang boleh: {nxt})")
    if new in NOTE_REQUIRED and not note.strip():
        raise InvalidTransition(f"catatan wajib diisi untuk status {new!r}")
    if len(note) > LIMITS["catatan"]:
        raise InvalidTransition(f"catatan terlalu panjang (maksimal {LIMITS['catatan']} karakter)")


@dataclass(frozen=True)
class NewComplaint:
    nama: str | None
    kontak: str | None
    kategori: str
    judul: str
    isi: str
    lokasi: str | None

    @property
    def anonim(self) -> bool:
        return self.nama is None


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    # collapse control characters except newlines/tabs in long text
    return "".join(ch for ch in value if ch in "\n\t" or ch.isprintable()).strip()


def validate_complaint(data: dict[str, Any], categories: tuple[str, ...] | list[str]) -> NewComplaint:
    """Check a submitted complaint; raise :class:`InvalidComplaint` with every problem at once."""
    errors: dict[str, str] = {}
    values = {k: _clean(data.get(k)) for k in ("nama", "kontak", "kategori", "judul", "isi", "lokasi")}
    anonim = str(data.get("anonim", "")).lower() in ("1", "true", "on", "ya", "yes")
    for key, value in values.items():
        if len(value) > LIMITS[key]:
            errors[key] = f"terlalu panjang (maksimal {LIMITS[key]} karakter)"
    if values["kategori"] not in categories:
        errors.setdefault("kategori", "pilih salah satu kategori yang tersedia")
    if len(values["judul"]) < 5:
        errors.setdefault("judul", "judul wajib diisi (minimal 5 karakter)")
    if len(values["isi"]) < MIN_ISI:
        errors.setdefault("isi", f"uraikan pengaduan Anda (minimal {MIN_ISI} karakter)")
    kontak = values["kontak"]
    if kontak and not (_looks_like_email(kontak) or _looks_like_phone(kontak)):
        errors.setdefault("kontak", "isi dengan alamat email atau nomor telepon yang valid")
    if errors:
        raise InvalidComplaint(errors)
    return NewComplaint(
        nama=None if anonim or not values["nama"] else values["nama"],
        kontak=kontak or None,
        kategori=values["kategori"],
        judul=values["judul"],
        isi=values["isi"],
        lokasi=values["lokasi"] or None,
    )


def _looks_like_email(text: str) -> bool:
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) is not None


def _looks_like_phone(text: str) -> bool:
    digits = re.sub(r"[\s().-]", "", text)
    return re.fullmatch(r"\+?\d{8,15}", digits) is not None


def public_view(complaint: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """What anyone holding the ticket number may see: no name, contact or complaint text."""
    return {
        "ticket": complaint["ticket"],
        "kategori": complaint["kategori"],
        "judul": complaint["judul"],
        "lokasi": complaint["lokasi"],
        "status": complaint["status"],
        "created_at": complaint["created_at"],
        "updated_at": complaint["updated_at"],
        "history": [
            {"status": h["status"], "catatan": h["catatan"], "at": h["at"]} for h in history
        ],
    }


def staff_view(complaint: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    view = public_view(complaint, history)
    view.update(
        {
            "nama": complaint["nama"],
            "anonim": complaint["nama"] is None,
            "kontak": complaint["kontak"],
            "isi": complaint["isi"],
            "next_statuses": list(allowed_next(complaint["status"])),
        }
    )
    for item, h in zip(view["history"], history, strict=True):
        item["oleh"] = h["oleh"]
    return view
