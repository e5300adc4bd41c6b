"""``spbe-share site build``: the static web catalog (HTML + one CSS + one small JS + a JSON index).

Layout of the output folder (every link is relative, so the site works from any sub-path
of any web server)::

    index.html  regulasi.html  mutu.html  [armada.html]     Bahasa Indonesia
    en/index.html  en/regulasi.html ...                     English (same paths under en/)
    apps/<app>/index.html, apps/<app>/<doc>.html            one page per app, one per document
    apps/<app>/publiccode.yml, apps/<app>/<files>           exported metadata, logo, doc images
    search-index.json  assets/site.css  assets/search.js    search data and code (no CDN)

Deterministic: the same catalog (and fleet file) gives byte-identical files: no clock, no
absolute paths, sorted everything. Pages are jinja2 with autoescape; documents are Markdown
rendered by :mod:`.render`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from ..catalog import mdocs
from ..catalog.assets import asset_problem, load_asset
from ..catalog.loader import LoadedEntry
from ..catalog.models import semver_key
from ..errors import Conflict, InvalidInput
from ..fleet.models import FleetStatus
from ..lint import lint_entry
from ..lint.checks import CHECKS, LEVELS, MAX_LEVEL
from ..lint.findings import EntryLint
from .i18n import LANGS, t
from .render import render_doc

if TYPE_CHECKING:
    from ..agreements import Agreement
    from ..reports.reuse import PemdaUse

MARKER = ".spbe-site"
PREFIX, LABEL = "\x00prefix\x00", "\x00label\x00"
DATA = Path(__file__).resolve().parent.parent / "data" / "site"
LANG_NAMES = {"id": "Bahasa Indonesia", "en": "English"}


@dataclass
class SiteApp:
    le: LoadedEntry
    slug: str
    lint: EntryLint
    docs: list[mdocs.Doc]
    publiccode: str
    used_by: int | None = None  # Pemda using it (the fleet file and agreements); None: no fleet file


@dataclass(frozen=True)
class BuildResult:
    output: Path
    apps: int
    pages: int
    files: int


def _env() -> ImmutableSandboxedEnvironment:
    # The site's own templates, but they walk catalog data from donors' repositories: sandboxed,
    # like every other rendering in spbe-share (see plans/render.py).
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(DATA / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _slugs(entries: Sequence[LoadedEntry]) -> dict[tuple[str, str], str]:
    ids: dict[str, int] = {}
    for le in entries:
        ids[le.id] = ids.get(le.id, 0) + 1
    return {(le.source, le.id): le.id if ids[le.id] == 1 else f"{le.id}--{le.source}" for le in entries}


def _reg_groups(apps: list[SiteApp]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Regulations grouped by their URI (one text, several names), with anchors; uri -> anchor."""
    groups: dict[str, dict[str, Any]] = {}
    for a in apps:
        e = a.le.entry
        for r in e.releases:
            for reg in r.regulations:
                g = groups.setdefault(str(reg.uri), {"uri": str(reg.uri), "names": set(), "uses": []})
                g["names"].add(reg.name)
                g["uses"].append({"app": e.name, "slug": a.slug, "version": r.version,
                                  "date": r.date.isoformat(), "name": reg.name})  # fmt: skip
    out = []
    for g in groups.values():
        g["name"] = min(g["names"], key=lambda n: (len(n), n))
        out.append(g)
    out.sort(key=lambda g: (g["name"].lower(), g["uri"]))
    anchors = mdocs.heading_ids(["regulasi " + g["name"] for g in out])
    for g, anchor in zip(out, anchors, strict=True):
        g["anchor"] = anchor
        g["uses"].sort(key=lambda u: (u["app"].lower(), u["slug"], semver_key(u["version"]), u["name"]))
        del g["names"]
    return out, {g["uri"]: g["anchor"] for g in out}


def _quality(lint: EntryLint, lang: str) -> dict[str, Any]:
    n = lint.level
    return {"level": n, "max": MAX_LEVEL, "name": LEVELS[n][LANGS.index(lang)]}


def _app_view(a: SiteApp, lang: str, reg_anchor: dict[str, str]) -> dict[str, Any]:
    e = a.le.entry
    c = e.classification
    releases = []
    for r in sorted(e.releases, key=lambda r: semver_key(r.version), reverse=True):
        releases.append({
            "version": r.version, "date": r.date.isoformat(), "changelog": r.changelog,
            "migrates_data": r.migrates_data, "upgrades_from": r.upgrades_from,
            "regulations": [{"name": g.name, "uri": str(g.uri), "anchor": reg_anchor[str(g.uri)]}
                            for g in r.regulations],
        })  # fmt: skip
    findings = []
    for f in a.lint.findings:
        rel = f.file.relative_to(a.le.entry_dir) if f.file.is_relative_to(a.le.entry_dir) else Path(f.file.name)
        chk = CHECKS[f.check]
        findings.append({"check": f.check, "severity": f.severity.value,
                         "title": chk.title_id if lang == "id" else chk.title_en,
                         "where": f"{rel.as_posix()}:{f.line}"})  # fmt: skip
    vols = {v.name: v.path for comp in e.components for v in comp.volumes}
    advisories = [{"id": adv.id, "severity": adv.severity.value, "affected": adv.affected, "fixed_in": adv.fixed_in,
                   "description": adv.description, "published": adv.published.isoformat() if adv.published else None,
                   "references": [str(u) for u in adv.references],
                   "releases": [r.version for r in sorted(e.releases, key=lambda r: semver_key(r.version))
                                if adv.affects(r.version)]}
                  for _r, adv in e.advisories()]  # fmt: skip
    return {
        "e": e, "slug": a.slug, "name": e.name,
        "summary": getattr(e.summary, lang), "description": getattr(e.description, lang),
        "logo": e.logo if e.logo and asset_problem(a.le.entry_dir, e.logo) is None else None,
        "jenis_label": t(f"jenis_{c.jenis.value}", lang),
        "layanan_label": t(f"layanan_{c.layanan.value}", lang),
        "domain": c.domain, "donor": e.donor.pemda, "version": e.latest.version,
        "quality": _quality(a.lint, lang),
        "scopes": [t(f"scope_{s.value}", lang) for s in e.sharing.scope],
        "os": [f"{o.name.capitalize()} {'/'.join(o.versions)}" for o in e.requirements.os],
        "components": [comp.name for comp in e.components],
        "volumes": [f"{v} ({vols.get(v, '?')})" for v in e.backup.volumes],
        "databases": [f"{d.engine} {d.name} ({d.component})" for d in e.backup.databases],
        "releases": releases,
        "docs": [{"slug": d.ref.slug, "title": d.ref.title_id if lang == "id" else d.ref.title_en}
                 for d in a.docs if d.error is None],  # fmt: skip
        "findings": findings,
        "publiccode": a.publiccode,
        "advisories": advisories,
        "used_by": a.used_by,
    }


APP_SECTIONS = [
    ("deskripsi", "description"), ("donor", "donor"), ("lisensi", "license"),
    ("klasifikasi", "classification"), ("berbagi", "sharing"), ("kebutuhan", "requirements"),
    ("data", "data"), ("rilis", "releases"), ("keamanan", "advisories"), ("dokumentasi", "docs"), ("mutu", "quality"),
    ("publiccode", "publiccode"),
]


def _search_index(apps: list[SiteApp], reg_anchor: dict[str, str]) -> dict[str, Any]:
    rows = []
    for a in apps:
        e = a.le.entry
        regs = sorted({(reg_anchor[str(g.uri)], g.name) for r in e.releases for g in r.regulations})
        rows.append({
            "slug": a.slug, "id": e.id, "source": a.le.source, "name": e.name,
            "summary": {"id": e.summary.id, "en": e.summary.en},
            "description": {"id": e.description.id, "en": e.description.en},
            "jenis": e.classification.jenis.value, "layanan": e.classification.layanan.value,
            "domain": e.classification.domain, "donor": e.donor.pemda,
            "kode_wilayah": e.donor.kode_wilayah, "keywords": list(e.keywords),
            "regulations": sorted({r[0] for r in regs}), "regulation_names": sorted({r[1] for r in regs}),
            "version": e.latest.version, "license": e.license, "level": a.lint.level,
        })  # fmt: skip
    return {"schema_version": 1, "apps": rows}


def _filters(apps: list[SiteApp], regs: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    def opts(values: set[str]) -> list[tuple[str, str]]:
        return sorted(((v, v) for v in values), key=lambda x: x[1].lower())

    es = [a.le.entry for a in apps]
    return [
        {"name": "jenis", "label": t("filter_jenis", lang),
         "options": [(j, t(f"jenis_{j}", lang)) for j in ("umum", "khusus")]},
        {"name": "layanan", "label": t("filter_layanan", lang),
         "options": [(v, t(f"layanan_{v}", lang)) for v in ("publik", "administrasi_pemerintahan")]},
        {"name": "domain", "label": t("filter_domain", lang),
         "options": opts({e.classification.domain for e in es})},
        {"name": "donor", "label": t("filter_donor", lang), "options": opts({e.donor.pemda for e in es})},
        {"name": "regulasi", "label": t("filter_regulation", lang),
         "options": [(g["anchor"], g["name"]) for g in regs]},
    ]  # fmt: skip


def _fleet_rows(fleet: FleetStatus, slugs_by_id: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for r in sorted(fleet.rows, key=lambda r: (r.target, r.app)):
        d = r.model_dump(mode="json")
        d["app_slug"] = slugs_by_id.get(r.app)
        rows.append(d)
    return rows


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pages = 0
        self.files = 0

    def text(self, rel: str, content: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode("utf-8"))
        self.files += 1
        self.pages += rel.endswith(".html")

    def donor_file(self, rel: str, root: Path, src: str) -> None:
        """Publish the donor's file ``root/src`` as ``rel`` when it may be published (read
        without following symlinks, SVG without active content: :mod:`..catalog.assets`)."""
        data, _why = load_asset(root, src)
        if data is not None:
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            self.files += 1

    def copy(self, rel: str, src: Path) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, p)
        self.files += 1


def prepare_apps(entries: Sequence[LoadedEntry], *, uses: Mapping[str, Sequence[PemdaUse]] | None = None) -> list[SiteApp]:
    from ..catalog.publiccode.export import export_publiccode
    from ..reports.reuse import used_by_names

    slugs = _slugs(entries)
    apps = []
    for le in sorted(entries, key=lambda le: (le.entry.name.lower(), le.id, le.source)):
        docs = [mdocs.read_doc(le, ref, parse=False) for ref in mdocs.doc_refs(le)]
        label = f"catalog/{le.id}/spbe-app.yaml ({le.source})"
        exported = le
        if le.entry.logo and asset_problem(le.entry_dir, le.entry.logo) is not None:
            # the site leaves an unsafe logo out: so does the publiccode.yml it publishes
            exported = dataclasses.replace(le, entry=le.entry.model_copy(update={"logo": None}))
        mine = None if uses is None else uses.get(le.id, [])
        apps.append(SiteApp(le, slugs[(le.source, le.id)], lint_entry(le), docs,
                            export_publiccode(exported, label=label, used_by=used_by_names(mine or [])),
                            used_by=None if mine is None else len(mine)))  # fmt: skip
    return apps


def _render_all(w: _Writer, apps: list[SiteApp], fleet: FleetStatus | None, invalid: int) -> None:
    env = _env()
    regs, reg_anchor = _reg_groups(apps)
    slugs_by_id = {a.le.id: a.slug for a in apps}

    def page(template: str, rel: str, lang: str, nav: str, **ctx: Any) -> None:
        depth = rel.count("/")
        root = "../" * (depth + (lang != "id"))
        other = "en" if lang == "id" else "id"
        switch = (root + "en/" + rel) if lang == "id" else (root + rel)
        html = env.get_template(template).render(
            lang=lang, t=lambda key, **kw: t(key, lang, **kw), root=root, home="../" * depth,
            other_lang=other, other_lang_name=LANG_NAMES[other], switch_href=switch, nav=nav,
            has_fleet=fleet is not None, **ctx,
        )
        w.text(rel if lang == "id" else f"en/{rel}", html)

    # each document is rendered once; the two languages differ only in these two markers
    # (NUL cannot come from a document: markdown-it replaces it with U+FFFD)
    rendered = {}
    for a in apps:
        by_path = {d.ref.relpath: d.ref for d in a.docs}
        for d in a.docs:
            if d.error is None:
                r = render_doc(d, entry_dir=a.le.entry_dir, docs_by_path=by_path, asset_prefix=PREFIX,
                               table_label=LABEL)  # fmt: skip
                rendered[(a.slug, d.ref.slug)] = r
                for rel in sorted(r.assets):
                    w.donor_file(f"apps/{a.slug}/{rel}", a.le.entry_dir, rel)
    for lang in LANGS:
        views = [_app_view(a, lang, reg_anchor) for a in apps]
        page("index.html.j2", "index.html", lang, "catalog", apps=views, invalid=invalid,
             filters=_filters(apps, regs, lang))  # fmt: skip
        page("regulations.html.j2", "regulasi.html", lang, "regulations", regulations=regs)
        page("quality.html.j2", "mutu.html", lang, "quality",
             levels=[(n, names[LANGS.index(lang)], t(f"level_{n}", lang)) for n, names in LEVELS.items()],
             checks=[{"id": c.id, "severity": c.severity.value, "title": c.title_id if lang == "id" else c.title_en}
                     for c in CHECKS.values()])  # fmt: skip
        if fleet is not None:
            page("fleet.html.j2", "armada.html", lang, "fleet", rows=_fleet_rows(fleet, slugs_by_id),
                 generated_at=fleet.generated_at.isoformat())  # fmt: skip
        for a, view in zip(apps, views, strict=True):
            base = f"apps/{a.slug}/"
            page("app.html.j2", base + "index.html", lang, "catalog", a=view,
                 sections=[s for s in APP_SECTIONS if (s[0] != "data" or view["components"])
                           and (s[0] != "keamanan" or view["advisories"])])  # fmt: skip
            for d in a.docs:
                if d.error is not None:
                    continue
                r = rendered[(a.slug, d.ref.slug)]
                prefix = "" if lang == "id" else f"../../../{base}"
                html = r.html.replace(PREFIX, prefix).replace(LABEL, t("table", lang))
                nav_title = d.ref.title_id if lang == "id" else d.ref.title_en
                page("doc.html.j2", f"{base}{d.ref.slug}.html", lang, "catalog", a=view, slug=d.ref.slug,
                     title=r.title or nav_title, nav_title=nav_title, toc=r.toc, body=Markup(html))  # fmt: skip
    for a in apps:
        base = f"apps/{a.slug}/"
        w.text(base + "publiccode.yml", a.publiccode)
        logo = a.le.entry.logo
        if logo:
            w.donor_file(base + logo, a.le.entry_dir, logo)
    index = _search_index(apps, reg_anchor)
    w.text("search-index.json", json.dumps(index, ensure_ascii=False, sort_keys=True, indent=1) + "\n")
    for name in ("site.css", "search.js"):
        w.copy(f"assets/{name}", DATA / "static" / name)
    w.text(MARKER, "spbe-share web catalog: `spbe-share site build` replaces this folder.\n")


def _check_output(output: Path) -> None:
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise InvalidInput(f"--output: {output} is not a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).is_file():
        raise Conflict(f"--output: {output} is not empty and holds no site built by spbe-share; "
                       "choose an empty or new folder")  # fmt: skip


def build_site(entries: Sequence[LoadedEntry], output: Path, *, fleet: FleetStatus | None = None,
               invalid: int = 0, agreements: Sequence[Agreement] = ()) -> BuildResult:  # fmt: skip
    """Build the site into ``output`` (replaced whole, only if it is empty or an earlier build).

    With a ``fleet`` file each app says how many Pemda use it (running it in that fleet, or
    under one of ``agreements`` in force on the fleet file's day) and its publiccode.yml names
    them (``usedBy``)."""
    output = output.absolute()
    _check_output(output)
    uses = None
    if fleet is not None:
        from ..reports.reuse import pemda_using, running_from_fleet

        running = running_from_fleet(fleet.rows)
        day = fleet.generated_at.date()
        uses = {le.id: pemda_using(le.id, running=running, agreements=agreements, today=day) for le in entries}
    apps = prepare_apps(entries, uses=uses)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        w = _Writer(tmp)
        _render_all(w, apps, fleet, invalid)
        os.chmod(tmp, 0o755)
        if output.exists():
            old = output.with_name(f".{output.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(output, old)
            os.replace(tmp, output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuildResult(output, len(apps), w.pages, w.files)
