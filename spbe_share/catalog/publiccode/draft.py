"""Draft a catalog entry (spbe-app.yaml) from a publiccode.yml.

publiccode.yml carries identity, descriptions, license, source URL, logo and maintenance
contacts; it carries nothing of SPBE (classification, sharing terms), of deployment
(requirements, components, secrets, backup), of the donor's kode wilayah and unit, nor the
Indonesian docs and SOPs. The draft fills what it can and marks every other required part
with a ``# TODO`` comment and a ``TODO`` value, so the draft never passes
``spbe-share catalog validate`` until a person has completed it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...yamlio import dump_yaml
from .validator import PubliccodeReport, validate_publiccode

TODO = "TODO"

_SEMVER = re.compile(r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$")


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s[:64].strip("-") or "app"


def _pick(desc: dict[str, Any], lang: str) -> tuple[str | None, dict[str, Any]]:
    """The description in ``lang`` (exact, then any region of it), else (None, first)."""
    for key in desc:
        if key.lower() == lang:
            return key, desc[key] or {}
    for key in desc:
        if key.lower().split("-")[0] == lang:
            return key, desc[key] or {}
    first = next(iter(desc))
    return None, desc[first] or {}


def _block(key: str, value: Any) -> str:
    return dump_yaml({key: value})


def _text_pair(desc: dict[str, Any], field: str) -> tuple[dict[str, str], list[str]]:
    out: dict[str, str] = {}
    todos: list[str] = []
    for lang in ("id", "en"):
        found, d = _pick(desc, lang)
        value = " ".join(str(d.get(field) or "").split())
        out[lang] = value or TODO
        if found is None:
            todos.append(f"{field}.{lang}: no '{lang}' description in the publiccode.yml; translate this text")
    return out, todos


def draft_from_report(report: PubliccodeReport) -> str:
    """The draft text for an already validated publiccode.yml (``report.ok`` must be true)."""
    d = report.data or {}
    desc: dict[str, Any] = d.get("description") or {}
    parts: list[str] = [
        f"# DRAFT catalog entry generated from {report.path}.\n"
        "# Complete every TODO, then check it with: spbe-share catalog validate <this file>\n"
        "# (publiccode.yml has no SPBE classification, sharing terms, requirements, components,\n"
        "# kode wilayah nor Indonesian docs: those parts are yours to write).\n",
        "schema_version: 1\n",
        _block("id", _slug(str(d.get("name") or "app"))),
        _block("name", d.get("name")),
    ]
    summary, todo1 = _text_pair(desc, "shortDescription")
    description, todo2 = _text_pair(desc, "longDescription")
    for line in todo1 + todo2:
        parts.append(f"# TODO {line}\n")
    parts.append(_block("summary", summary))
    parts.append(_block("description", description))
    parts.append(_block("source_url", d.get("url")))
    logo = d.get("logo")
    if logo and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", logo):
        parts.append(f"# TODO logo: download {logo} into the entry folder and name it here\n")
    elif logo:
        src = (report.path.parent / logo).resolve()
        parts.append(f"# TODO logo: copy {src} into the entry folder (path relative to it)\n")
        parts.append(_block("logo", Path(logo).name))
    maintenance = d.get("maintenance") or {}
    people = list(maintenance.get("contacts") or []) + list(maintenance.get("contractors") or [])
    contacts: list[dict[str, Any]] = []
    for c in people:
        contact: dict[str, Any] = {"name": c.get("name") or TODO}
        if c.get("affiliation"):
            contact["role"] = c["affiliation"]
        if c.get("email"):
            contact["email"] = c["email"]
        if c.get("phone"):
            contact["phone"] = c["phone"]
        contacts.append(contact)
    legal = d.get("legal") or {}
    org = (d.get("organisation") or {}).get("name")
    pemda = legal.get("mainCopyrightOwner") or org or legal.get("repoOwner") or TODO
    parts.append(
        "# TODO donor: check the Pemda name, set its kode wilayah (Kemendagri, e.g. \"51.08\")\n"
        "# and the unit (OPD) that maintains the app.\n"
    )
    parts.append(
        _block(
            "donor",
            {
                "pemda": pemda,
                "kode_wilayah": TODO,
                "unit": TODO,
                "contacts": contacts or [{"name": TODO, "email": TODO}],
            },
        )
    )
    parts.append(_block("license", legal.get("license")))
    parts.append(
        "# TODO classification: SPBE (Perpres 95/2018): jenis umum|khusus,\n"
        "# layanan publik|administrasi_pemerintahan, domain (business area).\n"
        + _block("classification", {"jenis": TODO, "layanan": TODO, "domain": TODO})
    )
    parts.append(
        "# TODO sharing: terms of the MoU/PKS under which the app is shared.\n"
        + _block("sharing", {"mou_required": True, "scope": ["install"], "support_months": 0})
    )
    parts.append(
        "# TODO requirements: what the adopter's server needs.\n"
        + _block(
            "requirements",
            {"cpu_cores": TODO, "memory_mb": TODO, "disk_gb": TODO, "os": [{"name": "debian", "versions": ["12"]}],
             "concurrent_users": TODO},
        )
    )
    deps = d.get("dependsOn") or {}
    dep_names = [x.get("name") for kind in ("open", "proprietary", "hardware") for x in (deps.get(kind) or []) if x]
    hint = f" (the publiccode.yml names: {', '.join(map(str, dep_names))})" if dep_names else ""
    parts.append(
        f"# TODO components: the containers of the app, their images and health checks{hint}.\n"
        + _block(
            "components",
            [{"name": "web", "image": f"spbe-share/{_slug(str(d.get('name') or 'app'))}-web",
              "build": {"context": TODO}, "health": {"type": "http", "port": TODO}}],
        )
    )
    version = str(d.get("softwareVersion") or "")
    m = _SEMVER.match(version)
    release: dict[str, Any] = {
        "version": m[1] if m else TODO,
        "date": d.get("releaseDate") or TODO,
        "changelog": [],
    }
    if not m:
        parts.append(f"# TODO releases: softwareVersion {version or '(none)'!r} is not SemVer; set the version\n")
    parts.append(_block("releases", [release]))
    parts.append(
        "# TODO docs: installation guide, user manual and the LPSE SOPs, in Bahasa Indonesia.\n"
        + _block(
            "docs",
            {"install": "docs/instalasi.md", "user_manual": "docs/panduan-pengguna.md",
             "sop": {"hak_akses": "docs/sop/hak-akses.md", "backup": "docs/sop/backup.md",
                     "eskalasi": "docs/sop/eskalasi.md",
                     "manajemen_perubahan": "docs/sop/manajemen-perubahan.md",
                     "risiko_keamanan": "docs/sop/risiko-keamanan.md"}},
        )
    )
    parts.append("# TODO manifests: the compose manifest of the app.\n" + _block("manifests", {"compose": "compose.yaml"}))
    keywords = [str(c) for c in d.get("categories") or []]
    if keywords:
        parts.append(_block("keywords", keywords))
    return "".join(parts)


def draft_from_publiccode(path: Path) -> str:
    """YAML text of a DRAFT spbe-app.yaml filled from the publiccode.yml at ``path``.

    The file is validated offline first: an invalid one raises :class:`ValidationFailed`.
    """
    report = validate_publiccode(path)
    report.raise_for_errors()
    return draft_from_report(report)
