"""The facts a PKS draft is filled with, taken from the catalog entry and the CLI options (pure).

Only facts: parties, app, scope, support months, the adopter's obligations as the donor
listed them, the license, the data the app holds. Clauses are not invented: the template
marks each one legal staff must write with :func:`placeholder`.
"""

from __future__ import annotations

import re
from typing import Any

from ..catalog.models import KODE_WILAYAH, Entry
from ..errors import InvalidInput

PLACEHOLDER = "«[DIISI OLEH BAGIAN HUKUM: {}]»"

SCOPE_LABELS = {
    "install": "Instalasi aplikasi di pusat data Pihak Kedua",
    "support": "Dukungan teknis",
    "source": "Akses kode sumber",
    "training": "Pelatihan",
}
JENIS = {"umum": "aplikasi umum", "khusus": "aplikasi khusus"}
LAYANAN = {"publik": "layanan publik", "administrasi_pemerintahan": "administrasi pemerintahan"}
ENGINES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def placeholder(what: str) -> str:
    """A clearly marked gap that legal staff fill in: «[DIISI OLEH BAGIAN HUKUM: what]»."""
    return PLACEHOLDER.format(what)


def check_adopter(adopter: str, adopter_kode: str) -> tuple[str, str]:
    adopter = " ".join(adopter.split())
    if not adopter:
        raise InvalidInput("--adopter: give the adopter Pemda's name, e.g. \"Kota Sorong\"")
    if len(adopter) > 200:
        raise InvalidInput("--adopter: longer than 200 characters")
    kode = adopter_kode.strip()
    if not re.match(KODE_WILAYAH, kode):
        raise InvalidInput(f"--adopter-kode: invalid kode wilayah {adopter_kode!r} (expected like 91, 96.71, 96.71.01)")
    return adopter, kode


def draft_context(entry: Entry, *, adopter: str, adopter_kode: str) -> dict[str, Any]:
    """Everything the template may use; every value is data (never a template)."""
    adopter, kode = check_adopter(adopter, adopter_kode)
    e = entry
    vol_path = {v.name: (c.name, v.path) for c in e.components for v in c.volumes}
    regs: dict[str, dict[str, str]] = {}
    for r in sorted(e.releases, key=lambda r: r.date):
        for reg in r.regulations:
            regs.setdefault(reg.name, {"name": reg.name, "uri": str(reg.uri), "release": r.version})
    contacts = []
    for c in e.donor.contacts:
        parts = [c.name + (f" ({c.role})" if c.role else ""), c.email or "", c.phone or ""]
        contacts.append(", ".join(p for p in parts if p))
    return {
        "app": {
            "id": e.id, "name": e.name, "version": e.latest.version, "summary": e.summary.id,
            "description": " ".join(e.description.id.split()), "source_url": str(e.source_url),
            "license": e.license,
            "classification": f"{JENIS[e.classification.jenis.value]}, "
                              f"{LAYANAN[e.classification.layanan.value]}, domain {e.classification.domain}",
        },
        "donor": {"pemda": e.donor.pemda, "kode_wilayah": e.donor.kode_wilayah, "unit": e.donor.unit,
                  "contacts": contacts},
        "adopter": {"pemda": adopter, "kode_wilayah": kode},
        "mou_required": e.sharing.mou_required,
        "scope": [{"value": s.value, "label": SCOPE_LABELS[s.value]} for s in e.sharing.scope],
        "support_months": e.sharing.support_months,
        "adopter_provides": list(e.sharing.adopter_provides),
        "regulations": list(regs.values()),
        "data": {
            "components": [
                {"name": c.name, "volumes": [f"{v.name} ({v.path})" for v in c.volumes]} for c in e.components
            ],
            "volumes": [f"{v} (komponen {vol_path[v][0]}, {vol_path[v][1]})" for v in e.backup.volumes],
            "databases": [f"{ENGINES[d.engine]} {d.name} (komponen {d.component})" for d in e.backup.databases],
            "secrets": [s.name for s in e.secrets],
        },
    }  # fmt: skip
