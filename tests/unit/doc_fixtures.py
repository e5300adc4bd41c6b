"""A fixture entry whose documents are complete (lint level 4), to break one thing at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog_fixtures import write_entry

FILLER = (
    "Operator Pemda penerima membaca bagian ini sebelum bekerja dan mencatat setiap langkah "
    "yang dijalankan beserta waktu, hasil, dan nama pelaksana di buku log operasional. "
)

INSTALL = f"""# Panduan Instalasi Contoh

{FILLER}

## 1. Persyaratan

| Kebutuhan | Nilai |
|---|---|
| CPU | 1 inti |

Atur `pemda_name` sesuai nama resmi Pemda.

## 2. Langkah instalasi

1. Jalankan `spbe-share install contoh-app --target x`.
2. Tunggu sampai selesai.

## 3. Verifikasi

Buka `/healthz`. Lihat juga [SOP backup](sop/backup.md#langkah) dan ![Diagram arsitektur](img/diagram.png).

## 4. Pemulihan (rollback)

{FILLER}
"""

MANUAL = f"# Manual Pengguna\n\n{FILLER}{FILLER}\n\n## Masuk\n\n{FILLER}{FILLER}\n"


def sop(title: str) -> str:
    return (f"# {title}\n\n**Penanggung jawab:** Administrator server Pemda penerima\n\n{FILLER}\n\n"
            f"## Langkah\n\n1. Periksa.\n2. Catat.\n\n{FILLER}{FILLER}{FILLER}\n")  # fmt: skip


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#036"/></svg>\n'


def write_good_entry(repo: Path, app_id: str = "contoh-app", **overrides: Any) -> Path:
    data: dict[str, Any] = {
        "donor": {
            "pemda": "Kota Contoh", "kode_wilayah": "94.71", "unit": "Dinas Komunikasi dan Informatika",
            "contacts": [{"name": "Admin Diskominfo", "role": "pengelola aplikasi", "email": "admin@contoh.go.id"}],
        },
        "description": {
            "id": "Aplikasi contoh yang dipakai oleh pengujian unit untuk memeriksa katalog web, "
                  "pemeriksaan mutu dokumentasi dan draf PKS; isinya cukup panjang untuk publiccode.yml.",
            "en": "An example application used by the unit tests to check the web catalog, the "
                  "documentation linter and PKS drafts; its text is long enough for publiccode.yml.",
        },
        "sharing": {"mou_required": True, "scope": ["install", "support"], "support_months": 12,
                    "adopter_provides": ["Server Debian 12 dengan Docker Engine"]},
        "settings": [{"name": "pemda_name", "description": "Nama Pemda", "required": True}],
        "logo": "logo.svg",
    }  # fmt: skip
    data.update(overrides)
    path = write_entry(repo, app_id, **data)
    d = path.parent
    (d / "logo.svg").write_text(SVG, encoding="utf-8")
    (d / "docs" / "img").mkdir(parents=True, exist_ok=True)
    (d / "docs" / "img" / "diagram.png").write_bytes(PNG)
    (d / "docs" / "instalasi.md").write_text(INSTALL, encoding="utf-8")
    (d / "docs" / "panduan-pengguna.md").write_text(MANUAL, encoding="utf-8")
    for name in ("hak-akses", "backup", "eskalasi", "manajemen-perubahan", "risiko-keamanan"):
        (d / "docs" / "sop" / f"{name}.md").write_text(sop(f"SOP {name}"), encoding="utf-8")
    return path
