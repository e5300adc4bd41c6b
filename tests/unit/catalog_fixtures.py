"""Fixture catalogs for tests: a minimal valid entry plus every file it names.

Usage (from any test under tests/)::

    from catalog_fixtures import write_entry
    path = write_entry(tmp_path / "repo", "surat-masuk", name="Surat Masuk")

``write_entry`` lays out ``<repo>/catalog/<id>/spbe-app.yaml`` with docs/, the compose
manifest and ``<repo>/shared_apps/<id>/web/Dockerfile``, so the entry passes every check
of :mod:`spbe_share.catalog.loader` (model, folder name, file existence).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DOC_FILES = [
    "docs/instalasi.md",
    "docs/panduan-pengguna.md",
    "docs/sop/hak-akses.md",
    "docs/sop/backup.md",
    "docs/sop/eskalasi.md",
    "docs/sop/manajemen-perubahan.md",
    "docs/sop/risiko-keamanan.md",
    "compose.yaml",
]


def entry_data(app_id: str = "contoh-app", **overrides: Any) -> dict[str, Any]:
    """A minimal valid entry as data; top-level ``overrides`` replace keys."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": app_id,
        "name": f"Aplikasi {app_id}",
        "summary": {"id": "Aplikasi contoh untuk pengujian", "en": "An example app for tests"},
        "description": {
            "id": "Aplikasi contoh yang dipakai oleh pengujian unit.",
            "en": "An example application used by the unit tests.",
        },
        "source_url": f"https://git.example.go.id/diskominfo/{app_id}",
        "donor": {
            "pemda": "Kota Contoh",
            "kode_wilayah": "94.71",
            "unit": "Dinas Komunikasi dan Informatika",
            "contacts": [{"name": "Admin Diskominfo", "email": "admin@contoh.go.id"}],
        },
        "license": "EUPL-1.2",
        "classification": {
            "jenis": "umum",
            "layanan": "administrasi_pemerintahan",
            "domain": "Kearsipan dan Persuratan",
        },
        "sharing": {"mou_required": True, "scope": ["install", "support"], "support_months": 12},
        "requirements": {
            "cpu_cores": 1,
            "memory_mb": 512,
            "disk_gb": 5,
            "os": [{"name": "debian", "versions": ["12"]}],
            "ports": [8080],
            "concurrent_users": 50,
        },
        "components": [
            {
                "name": "web",
                "image": f"spbe-share/{app_id}-web",
                "build": {"context": f"shared_apps/{app_id}/web"},
                "ports": [{"container": 8080}],
                "health": {"type": "http", "port": 8080},
            }
        ],
        "releases": [
            {
                "version": "1.0.0",
                "date": "2026-01-15",
                "changelog": ["Rilis pertama"],
                "regulations": [
                    {"name": "Perpres Nomor 95 Tahun 2018", "uri": "https://peraturan.go.id/id/perpres-no-95-tahun-2018"}
                ],
            }
        ],
        "docs": {
            "install": "docs/instalasi.md",
            "user_manual": "docs/panduan-pengguna.md",
            "sop": {
                "hak_akses": "docs/sop/hak-akses.md",
                "backup": "docs/sop/backup.md",
                "eskalasi": "docs/sop/eskalasi.md",
                "manajemen_perubahan": "docs/sop/manajemen-perubahan.md",
                "risiko_keamanan": "docs/sop/risiko-keamanan.md",
            },
        },
        "manifests": {"compose": "compose.yaml"},
        "keywords": ["contoh"],
    }
    data.update(copy.deepcopy(overrides))
    return data


def write_support_files(repo: Path, data: dict[str, Any], folder: str | None = None) -> None:
    """Create every file the entry ``data`` names (docs, manifests, build contexts, templates)."""
    entry_dir = repo / "catalog" / (folder or data["id"])
    for rel in DOC_FILES:
        f = entry_dir / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"# {rel}\n", encoding="utf-8")
    for c in data.get("components", []):
        ctx = repo / c["build"]["context"]
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / c["build"].get("dockerfile", "Dockerfile")).write_text("FROM spbe-share/base:bookworm\n")
        for cf in c.get("config", []):
            t = repo / cf["template"]
            t.parent.mkdir(parents=True, exist_ok=True)
            t.write_text("{{ pemda_name }}\n", encoding="utf-8")


def write_entry(
    repo: Path,
    app_id: str = "contoh-app",
    *,
    folder: str | None = None,
    text: str | None = None,
    files: bool = True,
    **overrides: Any,
) -> Path:
    """Write ``<repo>/catalog/<folder or id>/spbe-app.yaml`` (+ its files); return its path.

    ``text`` writes that YAML verbatim instead of the generated entry (for syntax errors);
    ``files=False`` skips the docs/manifest/build files (for file-existence errors).
    """
    data = entry_data(app_id, **overrides)
    entry_dir = repo / "catalog" / (folder or app_id)
    entry_dir.mkdir(parents=True, exist_ok=True)
    path = entry_dir / "spbe-app.yaml"
    if text is None:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    if files:
        write_support_files(repo, data, folder)
    return path
