"""Export a catalog entry as a publiccode.yml (standard 0.4).

What maps to what (``Entry`` -> publiccode.yml):

- ``name`` -> ``name``; ``source_url`` -> ``url``; the newest release -> ``softwareVersion``
  and ``releaseDate``; ``license`` -> ``legal.license``; ``donor.pemda`` ->
  ``legal.mainCopyrightOwner``; ``donor.contacts`` -> ``maintenance.contacts`` (type
  ``internal``: the donor Pemda maintains the app itself), affiliation = unit + Pemda.
- ``summary``/``description`` (id, en) -> ``description.id``/``description.en``
  (``shortDescription`` <= 150 grapheme clusters, cut at a word with an ellipsis if longer;
  ``longDescription`` >= 150: a shorter description is completed with true facts from the
  entry: the summary, the donor and the SPBE classification, never filler).
- ``features``: the changelog lines of the releases (newest first, at most 10), else the
  keywords, else the summary.
- ``usedBy``: the Pemda that use the app (running it in the fleet, or under an agreement in
  force), when the caller knows them (:mod:`spbe_share.reports.reuse`).
- ``categories``: from the SPBE domain, keywords and id through :data:`CATEGORY_RULES`;
  ``["other"]`` when nothing matches (a valid category, never a guess).
- ``logo``: the entry's logo, written as a path relative to ``base_dir`` (the folder the
  publiccode.yml will live in; default: the entry's folder). The file is not copied: a
  publiccode.yml written elsewhere points back at the catalog's logo with a relative path,
  which the validator then checks exists.
- fixed: ``platforms: [web]``, ``softwareType: standalone/web``, ``developmentStatus:
  stable`` (a catalog entry is a released, deployable app), ``intendedAudience`` countries
  ``[ID]`` and scope ``government``/``local-authorities``, ``localisation.availableLanguages``
  ``[id]`` (the apps and their docs are in Bahasa Indonesia; only the catalog texts are also
  in English), ``dependsOn.open``: Docker Engine and each database engine of the backup plan.

Nothing non-standard is written: the publiccode.yml standard has no Indonesian country
section, so SPBE-specific facts (classification, sharing terms) stay in spbe-app.yaml.
The result is validated by the same offline validator before it is returned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ValidationFailed
from ...yamlio import dump_yaml
from . import vocab
from .validator import grapheme_len, validate_publiccode_text

if TYPE_CHECKING:
    from ..loader import LoadedEntry
    from ..models import Entry

#: (regular expression over "domain keywords id", categories), first matches win, in order.
CATEGORY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"persuratan|surat|naskah dinas|e-?office|tata naskah", ("document-management", "workflow-management")),
    (r"kearsipan|arsip", ("document-management",)),
    (r"pengaduan|aspirasi|complaint|lapor", ("feedback-and-reviews-management", "customer-service-and-support")),
    (r"kepegawaian|sdm|pegawai|asn\b|hr\b", ("hr", "employee-management")),
    (r"keuangan|anggaran|akuntansi|budget", ("accounting", "budgeting")),
    (r"pajak|retribusi|tax", ("taxes-management",)),
    (r"pengadaan|procurement|lelang", ("procurement",)),
    (r"perencanaan|proyek|project", ("project-management",)),
    (r"aset|barang milik|inventaris|inventory", ("inventory-management",)),
    (r"gis|geospasial|peta|spasial", ("geographic-information-systems",)),
    (r"perizinan|izin|permit", ("digital-citizenship", "workflow-management")),
    (r"survei|survey|kuesioner", ("survey",)),
    (r"website|portal|cms|berita", ("content-management",)),
    (r"helpdesk|help desk|layanan tiket|service desk", ("help-desk",)),
    (r"data|statistik|dashboard|analitik", ("data-analytics", "data-visualization")),
)


def categories_for(entry: Entry) -> list[str]:
    text = " ".join([entry.classification.domain, *entry.keywords, entry.id]).lower()
    out: list[str] = []
    for pattern, cats in CATEGORY_RULES:
        if re.search(pattern, text):
            out.extend(c for c in cats if c not in out)
    assert all(c in vocab.CATEGORIES for c in out)
    return out or ["other"]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if grapheme_len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


_LAYANAN = {
    "id": {"publik": "layanan publik", "administrasi_pemerintahan": "administrasi pemerintahan"},
    "en": {"publik": "public services", "administrasi_pemerintahan": "government administration"},
}


def _long_description(entry: Entry, lang: str) -> str:
    text = " ".join(getattr(entry.description, lang).split())
    if grapheme_len(text) >= 150:
        return _shorten(text, 10000)
    summary = " ".join(getattr(entry.summary, lang).split())
    if summary and summary[-1] not in ".!?":
        summary += "."
    c = entry.classification
    if lang == "id":
        facts = [
            summary if summary not in text else "",
            f"Aplikasi {c.jenis} untuk {_LAYANAN['id'][c.layanan.value]}, bidang {c.domain}.",
            f"Dikembangkan dan dibagipakaikan oleh {entry.donor.unit}, {entry.donor.pemda}, "
            "kepada Pemda lain sesuai SPBE (Perpres 95/2018).",
        ]
    else:
        facts = [
            summary if summary not in text else "",
            f"An SPBE 'aplikasi {c.jenis}' for {_LAYANAN['en'][c.layanan.value]}, domain: {c.domain}.",
            f"Built and shared by {entry.donor.unit}, {entry.donor.pemda}, with other Indonesian "
            "regional governments under SPBE (Perpres 95/2018).",
        ]
    for fact in facts:
        if fact:
            text = f"{text} {fact}".strip() if text else fact
        if grapheme_len(text) >= 150:
            break
    if grapheme_len(text) < 150:
        releases = ", ".join(r.version for r in sorted(entry.releases, key=lambda r: r.date))
        text += (f" Rilis: {releases}." if lang == "id" else f" Releases: {releases}.") + (
            f" Lisensi: {entry.license}." if lang == "id" else f" License: {entry.license}."
        )
    return text


def _features(entry: Entry) -> list[str]:
    seen: list[str] = []
    for rel in sorted(entry.releases, key=lambda r: r.date, reverse=True):
        for line in rel.changelog:
            line = " ".join(line.split())
            if line and line not in seen:
                seen.append(line)
    if not seen:
        seen = list(dict.fromkeys(k for k in entry.keywords if k.strip()))
    return (seen or [entry.summary.en])[:10]


def publiccode_data(entry: Entry, *, entry_dir: Path | None = None, base_dir: Path | None = None,
                    used_by: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The publiccode.yml document for ``entry`` as data (see the module doc for the mapping);
    ``used_by``: the Pemda that use it (:mod:`spbe_share.reports.reuse`), as ``usedBy``."""
    latest = entry.latest
    data: dict[str, Any] = {
        "publiccodeYmlVersion": vocab.EXPORT_VERSION,
        "name": entry.name,
        "url": str(entry.source_url),
        "softwareVersion": latest.version,
        "releaseDate": latest.date.isoformat(),
    }
    if entry.logo:
        logo = entry.logo
        if entry_dir is not None and base_dir is not None:
            logo = Path(os.path.relpath((entry_dir / entry.logo).resolve(), base_dir.resolve())).as_posix()
        data["logo"] = logo
    data["platforms"] = ["web"]
    data["categories"] = categories_for(entry)
    if used_by:
        data["usedBy"] = list(used_by)
    data["developmentStatus"] = "stable"
    data["softwareType"] = "standalone/web"
    data["intendedAudience"] = {"countries": ["ID"], "scope": ["government", "local-authorities"]}
    features = _features(entry)
    data["description"] = {
        lang: {
            "localisedName": entry.name,
            "shortDescription": _shorten(getattr(entry.summary, lang), 150),
            "longDescription": _long_description(entry, lang),
            "features": list(features),
        }
        for lang in ("id", "en")
    }
    data["legal"] = {"license": entry.license, "mainCopyrightOwner": entry.donor.pemda}
    contacts = []
    for c in entry.donor.contacts:
        contact: dict[str, str] = {"name": c.name}
        if c.email:
            contact["email"] = c.email
        if c.phone:
            contact["phone"] = c.phone
        contact["affiliation"] = f"{entry.donor.unit}, {entry.donor.pemda}"
        contacts.append(contact)
    data["maintenance"] = {"type": "internal", "contacts": contacts}
    data["localisation"] = {"localisationReady": False, "availableLanguages": ["id"]}
    deps = [{"name": "Docker Engine"}]
    engines = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
    for db in entry.backup.databases:
        name = engines[db.engine]
        if all(d["name"] != name for d in deps):
            deps.append({"name": name})
    data["dependsOn"] = {"open": deps}
    return data


def export_publiccode(loaded: LoadedEntry, *, base_dir: Path | None = None, label: str | None = None,
                      used_by: Sequence[str] = ()) -> str:  # fmt: skip
    """YAML text of a publiccode.yml for a loaded catalog entry, checked by the offline validator.

    ``base_dir`` is the folder the file will be written to (relative ``logo`` path);
    default: the entry's folder. ``label`` names the entry in the header comment (default: its
    path; the web catalog passes a path that is the same on every machine). Raises :class:`ValidationFailed` if the result does not
    validate (a bug in the mapping, or a logo missing on disk).
    """
    where = (base_dir or loaded.entry_dir).resolve()
    data = publiccode_data(loaded.entry, entry_dir=loaded.entry_dir, base_dir=where, used_by=used_by)
    header = (
        f"# publiccode.yml of {loaded.entry.id}, exported from the spbe-share catalog entry\n"
        f"# {label or loaded.path}. Edit the entry, not this file, and export again.\n"
    )
    text = header + dump_yaml(data)
    report = validate_publiccode_text(text, where / "publiccode.yml", base_dir=where)
    if not report.ok:
        raise ValidationFailed(
            report.lines(warnings=False),
            message=f"the publiccode.yml exported from {loaded.path} does not validate",
        )
    return text
