"""The checks of ``spbe-share catalog lint``: id, severity, and a one-line title in id/en.

``docs/lint.md`` explains each check (why it matters, how to fix it) under a heading whose
anchor is the check id; a unit test keeps this table and that file in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title_id: str
    title_en: str

    @property
    def doc(self) -> str:
        return f"docs/lint.md#{self.id}"


E, W, INFO = Severity.error, Severity.warning, Severity.info

_ALL = [
    # the entry (spbe-app.yaml)
    Check("entry-invalid", E, "Entri tidak lolos validasi", "The entry does not validate"),
    Check("contact-unreachable", E, "Kontak tanpa email atau telepon", "A contact has no email or phone"),
    Check("contact-no-role", INFO, "Kontak tanpa peran", "A contact has no role"),
    Check("release-no-changelog", E, "Rilis tanpa catatan perubahan", "A release has no changelog"),
    Check("regulation-uri-unofficial", W, "Tautan regulasi bukan ke sumber resmi (.go.id, https)",
          "A regulation link is not an official source (.go.id, https)"),
    Check("description-short", W, "Deskripsi terlalu singkat (< 150 karakter)",
          "The description is too short (< 150 characters)"),
    Check("summary-too-long", W, "Ringkasan terlalu panjang (> 150 karakter)",
          "The summary is too long (> 150 characters)"),
    Check("adopter-provides-empty", W, "Kewajiban Pemda penerima tidak disebut",
          "What the adopter must provide is not listed"),
    Check("keywords-missing", INFO, "Tanpa kata kunci pencarian", "No search keywords"),
    Check("logo-missing", INFO, "Tanpa logo", "No logo"),
    Check("logo-unsafe", E, "Logo tidak dapat diterbitkan dengan aman", "The logo cannot be published safely"),
    Check("secret-no-description", INFO, "Rahasia tanpa keterangan", "A secret has no description"),
    Check("first-login-missing", INFO, "Tidak disebut akun untuk masuk pertama kali",
          "The account to log in with first is not named"),
    Check("first-login-unchecked", INFO, "Tidak ada alamat untuk memeriksa apakah kata sandi awal masih dipakai",
          "No address tells whether the initial password is still in use"),
    Check("first-login-state-unreachable", W, "first_login.state_path tanpa pemeriksaan kesehatan http",
          "first_login.state_path without an http health check"),
    Check("post-install-message-long", W, "Pesan setelah instalasi terlalu panjang (> 1000 karakter)",
          "The post-install message is too long (> 1000 characters)"),
    Check("setting-undocumented", W, "Pengaturan tidak dijelaskan di panduan instalasi",
          "A setting is not explained in the install guide"),
    Check("setting-data-mutable", W, "Pengaturan yang menamai data dapat diubah setelah instalasi",
          "A setting naming stored data may change after install"),
    Check("volume-not-backed-up", W, "Volume data tidak masuk rencana backup",
          "A data volume is not in the backup plan"),
    Check("component-no-health", W, "Komponen tanpa pemeriksaan kesehatan", "A component has no health check"),
    Check("role-no-component", W, "Peran tanpa komponen (selain backup)",
          "A role carries no component (other than backup)"),
    Check("role-no-recommended", INFO, "Peran tanpa spesifikasi yang dianjurkan",
          "A role has no recommended figures"),
    Check("role-undocumented", W, "Peran tidak dijelaskan di panduan instalasi",
          "A role is not explained in the install guide"),
    Check("release-migration-undocumented", W, "Rilis yang memigrasi data tidak dibahas di panduan",
          "A release that migrates data is not covered by the guides"),
    # the documents (Markdown)
    Check("doc-unreadable", E, "Dokumen tidak dapat dibaca", "A document cannot be read"),
    Check("doc-stub", E, "Dokumen hanya kerangka (terlalu sedikit isi)", "A document is a stub"),
    Check("doc-no-title", W, "Dokumen tidak diawali judul (# ...)", "A document does not start with a title"),
    Check("heading-skip", W, "Tingkat judul melompat", "A heading level is skipped"),
    Check("doc-placeholder", W, "Dokumen berisi penanda belum selesai (TODO, lorem ipsum)",
          "A document holds unfinished markers (TODO, lorem ipsum)"),
    Check("install-missing-section", E, "Panduan instalasi tanpa bagian wajib",
          "The install guide lacks a required section"),
    Check("sop-no-role", E, "SOP tanpa penanggung jawab", "An SOP names no responsible role"),
    Check("sop-no-steps", W, "SOP tanpa langkah bernomor", "An SOP has no numbered steps"),
    Check("link-broken", E, "Tautan relatif rusak", "A relative link is broken"),
    Check("link-unsafe", E, "Tautan dengan skema berbahaya", "A link has an unsafe scheme"),
    Check("link-insecure", INFO, "Tautan http tanpa enkripsi", "An unencrypted http link"),
    Check("image-missing", E, "Gambar tidak ditemukan", "An image is missing"),
    Check("image-no-alt", W, "Gambar tanpa teks alternatif", "An image has no alt text"),
    Check("image-remote", W, "Gambar dari situs lain (tidak tampil luring)",
          "An image comes from another site (not shown offline)"),
    Check("raw-html", W, "HTML mentah di Markdown (ditampilkan sebagai teks)",
          "Raw HTML in Markdown (shown as text)"),
]  # fmt: skip

CHECKS: dict[str, Check] = {c.id: c for c in _ALL}
assert len(CHECKS) == len(_ALL)

LEVELS = {
    0: ("tidak valid", "invalid"),
    1: ("perlu perbaikan", "needs work"),
    2: ("cukup", "fair"),
    3: ("baik", "good"),
    4: ("sangat baik", "excellent"),
}
MAX_LEVEL = max(LEVELS)
