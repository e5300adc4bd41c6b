"""``spbe-share report spbe --pemda KODE --out FILE.docx``: the evidence (bukti dukung) one Pemda
submits for its SPBE evaluation about the shared apps it runs, from what this workspace knows.

The evaluation is PermenPANRB 59/2020 (Pemantauan dan Evaluasi SPBE, implementing Perpres
95/2018 Pasal 71): four domains, Kebijakan SPBE, Tata Kelola SPBE, Manajemen SPBE and Layanan
SPBE, in aspects and indicators scored by maturity level (1-5) from the data dukung an
instance gives. Each part of the report says which part of that structure it is evidence for
(:data:`ANSWERS`); no indicator number is given here, since they are the evaluator's (and the
report is one input among many):

* the app, its SPBE classification and donor: Domain Layanan SPBE, the aspect of the app's
  ``layanan`` (Layanan Administrasi Pemerintahan Berbasis Elektronik, or Layanan Publik Berbasis
  Elektronik), and the use of a shared app (aplikasi umum berbagi pakai, Perpres 95/2018);
* the agreement (MoU/PKS: number, dates, scope): that the app is used under a formal agreement
  between Pemda, for the Tata Kelola and Kebijakan domains;
* the release and the regulations it implements: that the service follows the regulation;
* verified backups in the period: Domain Manajemen SPBE (Manajemen Data, Manajemen Risiko);
* the SOPs the entry documents (hak akses, backup, eskalasi, manajemen perubahan, risiko
  keamanan): Manajemen Keamanan Informasi, Manajemen Data, Manajemen Layanan, Manajemen
  Perubahan, Manajemen Risiko;
* incidents (operations that failed, were rolled back or cancelled) and changes (installs,
  upgrades, rollbacks): Manajemen Layanan and Manajemen Perubahan.

Sources: this workspace's agreements, the catalog, the release records last seen on the
Pemda's targets (``fleet status`` / operations refresh them) and the audit log (every
operation run from this workspace: a backup whose line says ``ok`` was verified before it
was recorded). Operations run from another workspace are not in it; the report says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..agreements import Agreement
    from ..catalog.models import Entry
    from ..targets.inventory import Target
    from ..workspace import Workspace

REGULATION = "Peraturan Menteri PANRB Nomor 59 Tahun 2020 tentang Pemantauan dan Evaluasi SPBE"
# Where the structure above was looked up (public copies and summaries of the regulation).
SOURCES = (
    "https://id.scribd.com/document/538657938/PermenPANRB-59-Tahun-2020-Tentang-Pemantauan-Dan-Evaluasi-SPBE",
    "https://id.scribd.com/document/501484908/20201119-Materi1-Sekilas-PermenPANRB-59-2020",
    "https://simpspbe.purbalinggakab.go.id/2021/05/05/domain-4-layanan-spbe/",
)
ANSWERS = {
    "app": "Domain Layanan SPBE, aspek {aspek}; pemanfaatan aplikasi umum berbagi pakai (Perpres 95/2018).",
    "agreement": "Domain Kebijakan dan Tata Kelola SPBE: penggunaan aplikasi berbagi pakai berdasarkan perjanjian"
                 " kerja sama antar-Pemda.",
    "release": "Domain Layanan SPBE: layanan berjalan pada rilis yang menerapkan regulasi berikut.",
    "backups": "Domain Manajemen SPBE: Manajemen Data dan Manajemen Risiko (cadangan data yang terverifikasi).",
    "sops": "Domain Manajemen SPBE: Manajemen Keamanan Informasi, Manajemen Data, Manajemen Layanan, Manajemen"
            " Perubahan dan Manajemen Risiko (SOP yang tersedia).",
    "incidents": "Domain Manajemen SPBE: Manajemen Layanan dan Manajemen Perubahan (insiden dan perubahan).",
}  # fmt: skip
ASPEK = {"publik": "Layanan Publik Berbasis Elektronik",
         "administrasi_pemerintahan": "Layanan Administrasi Pemerintahan Berbasis Elektronik"}  # fmt: skip
SOP_NAMES = {"hak_akses": "SOP hak akses", "backup": "SOP pencadangan (backup)", "eskalasi": "SOP eskalasi",
             "manajemen_perubahan": "SOP manajemen perubahan", "risiko_keamanan": "SOP risiko keamanan"}  # fmt: skip
CHANGE_OPS = ("install", "upgrade", "rollback", "restore", "uninstall", "secrets rotate")


@dataclass
class AppEvidence:
    app: str
    entry: Entry | None
    agreements: list[Agreement] = field(default_factory=list)
    running: list[tuple[str, str]] = field(default_factory=list)  # (target, version)
    backups: list[dict[str, Any]] = field(default_factory=list)  # audit lines
    changes: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    sops: list[tuple[str, str, bool]] = field(default_factory=list)  # (name, file, present)


@dataclass
class Evidence:
    pemda: str
    kode_wilayah: str
    since: dt.date
    until: dt.date
    generated: dt.date
    targets: list[str]
    apps: list[AppEvidence]


def _day(line: dict[str, Any]) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(str(line.get("ts", "")).replace("Z", "+00:00")).date()
    except ValueError:
        return None


def build_evidence(*, kode: str, targets: Sequence[Target], running: Sequence[tuple[str, str, str]],
                   agreements: Sequence[Agreement], entries: dict[str, Entry], audit_lines: Sequence[dict[str, Any]],
                   sop_present: dict[str, dict[str, bool]], since: dt.date, until: dt.date,
                   today: dt.date) -> Evidence:  # fmt: skip
    """The evidence of Pemda ``kode`` (pure). ``running``: (target, app, version) last seen on its
    targets; ``sop_present``: app -> SOP key -> whether the entry's file is there."""
    from ..errors import NotFound

    mine = [t for t in targets if t.kode_wilayah == kode]
    names = {t.name for t in mine}
    ags = [a for a in agreements if a.adopter.kode_wilayah == kode]
    pemda = (mine[0].pemda if mine else None) or (ags[0].adopter.pemda if ags else None)
    if pemda is None:
        raise NotFound(f"no target and no agreement of a Pemda with kode wilayah {kode} in this workspace")
    apps = sorted({app for t, app, _v in running if t in names} | {app for a in ags for app in a.apps})
    out = []
    for app in apps:
        ev = AppEvidence(app=app, entry=entries.get(app))
        ev.agreements = sorted((a for a in ags if app in a.apps), key=lambda a: (a.signed, a.number))
        ev.running = sorted((t, v) for t, a, v in running if a == app and t in names)
        for line in audit_lines:
            day = _day(line)
            raw = line.get("details")
            details: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if line.get("where") not in names or details.get("app") != app or day is None or not since <= day <= until:
                continue
            what, result = str(line.get("what", "")), str(line.get("result", ""))
            if what == "backup" and result == "ok":
                ev.backups.append(line)
            if what in (*CHANGE_OPS, "backup") and (result.startswith("failed") or result == "cancelled"):
                ev.incidents.append(line)
            elif what in CHANGE_OPS and result == "ok":
                ev.changes.append(line)
        if ev.entry is not None:
            files = ev.entry.docs.sop.model_dump()
            ev.sops = [(SOP_NAMES[k], files[k], sop_present.get(app, {}).get(k, False)) for k in SOP_NAMES]
        out.append(ev)
    return Evidence(pemda=pemda, kode_wilayah=kode, since=since, until=until, generated=today,
                    targets=sorted(names), apps=out)  # fmt: skip


def _table(doc: Any, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    t = doc.add_table(rows=1, cols=len(header))
    t.style = "Table Grid"
    for cell, text in zip(t.rows[0].cells, header, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in rows:
        cells = t.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = text


def _answers(doc: Any, key: str, **kw: str) -> None:
    p = doc.add_paragraph()
    p.add_run("Bukti untuk: ").italic = True
    p.add_run(ANSWERS[key].format(**kw)).italic = True


def write_docx(ev: Evidence, out: Path) -> None:
    """The report as a Word document (python-docx), in Bahasa Indonesia."""
    from docx import Document

    doc = Document()
    doc.core_properties.title = f"Bukti dukung evaluasi SPBE: aplikasi berbagi pakai, {ev.pemda}"
    doc.core_properties.author = "spbe-share"
    doc.add_heading("Bukti Dukung Evaluasi SPBE: Aplikasi Berbagi Pakai", level=0)
    doc.add_paragraph(f"Pemerintah Daerah: {ev.pemda} (kode wilayah {ev.kode_wilayah})")
    doc.add_paragraph(f"Periode: {ev.since.isoformat()} s.d. {ev.until.isoformat()}; dibuat {ev.generated.isoformat()}")
    doc.add_paragraph(f"Pusat data (target): {', '.join(ev.targets) or '-'}")
    doc.add_heading("Dasar", level=1)
    doc.add_paragraph(
        f"Evaluasi SPBE dilaksanakan menurut {REGULATION}: empat domain (Kebijakan SPBE, Tata Kelola SPBE,"
        " Manajemen SPBE dan Layanan SPBE) yang terdiri atas aspek dan indikator, dinilai tingkat kematangannya"
        " dari data dukung. Setiap bagian laporan ini menyebut bagian evaluasi yang didukungnya; nomor indikator"
        " ditetapkan oleh evaluator dan tidak dicantumkan di sini.")  # fmt: skip
    doc.add_paragraph(
        "Sumber data: perjanjian (MoU/PKS), katalog aplikasi, catatan rilis terakhir yang terbaca dari pusat data"
        " Pemda, dan log audit spbe-share di ruang kerja ini (hanya operasi yang dijalankan dari ruang kerja ini).")  # fmt: skip
    if not ev.apps:
        doc.add_paragraph("Tidak ada aplikasi berbagi pakai yang tercatat untuk Pemda ini.")
    for a in ev.apps:
        e = a.entry
        doc.add_heading(f"Aplikasi: {e.name if e else a.app} ({a.app})", level=1)
        if e is not None:
            c = e.classification
            _table(doc, ["Keterangan", "Isi"], [
                ("Klasifikasi SPBE", f"aplikasi {c.jenis.value}, {ASPEK[c.layanan.value].lower()}, bidang {c.domain}"),
                ("Donor", f"{e.donor.pemda} (kode wilayah {e.donor.kode_wilayah}), {e.donor.unit}"),
                ("Lisensi", e.license), ("Kode sumber", str(e.source_url))])  # fmt: skip
            _answers(doc, "app", aspek=ASPEK[c.layanan.value])
        else:
            doc.add_paragraph("Aplikasi ini tidak ada di katalog ruang kerja ini.")
        doc.add_heading("Perjanjian (MoU/PKS)", level=2)
        if a.agreements:
            _table(doc, ["Nomor", "Ditandatangani", "Berlaku s.d.", "Ruang lingkup", "Status pada akhir periode"],
                   [(g.number, g.signed.isoformat(), g.valid_until.isoformat(), ", ".join(s.value for s in g.scope),
                     {"active": "berlaku", "expired": "berakhir", "future": "belum berlaku"}[g.state_on(ev.until)])
                    for g in a.agreements])  # fmt: skip
        else:
            doc.add_paragraph("Tidak ada perjanjian yang tercatat.")
        _answers(doc, "agreement")
        doc.add_heading("Rilis yang berjalan dan regulasi yang diterapkan", level=2)
        if a.running:
            for target, version in a.running:
                rel = next((r for r in e.releases if r.version == version), None) if e else None
                doc.add_paragraph(f"{target}: versi {version}" + (f" (rilis {rel.date.isoformat()})" if rel else ""),
                                  style="List Bullet")  # fmt: skip
                for reg in (rel.regulations if rel else []):
                    doc.add_paragraph(f"{reg.name} ({reg.uri})", style="List Bullet 2")
        else:
            doc.add_paragraph("Belum terbaca berjalan di pusat data Pemda ini (jalankan spbe-share fleet status).")
        _answers(doc, "release")
        doc.add_heading("Cadangan data terverifikasi dalam periode", level=2)
        if a.backups:
            _table(doc, ["Waktu (UTC)", "Pusat data", "ID cadangan", "Ukuran (MB)"],
                   [(str(b.get("ts")), str(b.get("where")), str(b["details"].get("backup", "-")),
                     f"{int(b['details'].get('bytes') or 0) / 1e6:.1f}") for b in a.backups])  # fmt: skip
        else:
            doc.add_paragraph("Tidak ada cadangan terverifikasi dalam periode ini (dari ruang kerja ini).")
        _answers(doc, "backups")
        doc.add_heading("SOP yang tersedia", level=2)
        if a.sops:
            _table(doc, ["SOP", "Berkas (di katalog)", "Ada"], [(n, f, "ya" if ok else "TIDAK") for n, f, ok in a.sops])
        else:
            doc.add_paragraph("-")
        _answers(doc, "sops")
        doc.add_heading("Insiden dan perubahan", level=2)
        rows = [(str(x.get("ts")), str(x.get("where")), str(x.get("what")), str(x.get("result")),
                 str(x["details"].get("reason") or x["details"].get("cause") or "")[:200])
                for x in sorted(a.incidents + a.changes, key=lambda x: str(x.get("ts")))]  # fmt: skip
        if rows:
            _table(doc, ["Waktu (UTC)", "Pusat data", "Operasi", "Hasil", "Sebab"], rows)
        else:
            doc.add_paragraph("Tidak ada insiden atau perubahan dalam periode ini.")
        doc.add_paragraph(f"Insiden: {len(a.incidents)}; perubahan berhasil: {len(a.changes)}.")
        _answers(doc, "incidents")
    doc.add_heading("Rujukan", level=1)
    for url in SOURCES:
        doc.add_paragraph(url, style="List Bullet")
    doc.save(str(out))


def spbe_report(ws: Workspace, *, kode: str, since: dt.date, until: dt.date, today: dt.date) -> Evidence:
    """Gather the evidence of Pemda ``kode`` from the workspace (no target is contacted)."""
    from .. import audit
    from ..agreements import load_agreements
    from ..catalog.loader import open_catalog
    from ..outside import link_problem
    from ..records.state import load_cached
    from ..targets.inventory import list_targets

    targets = list_targets(ws, include_local=False)
    running = [(t.name, r.app, r.version) for t in targets for r in load_cached(ws, t.name)]
    entries: dict[str, Entry] = {}
    present: dict[str, dict[str, bool]] = {}
    for le in open_catalog(ws).entries:
        if le.id in entries:
            continue
        entries[le.id] = le.entry
        present[le.id] = {k: link_problem(le.entry_dir, f) is None for k, f in le.entry.docs.sop.model_dump().items()}
    return build_evidence(kode=kode, targets=targets, running=running, agreements=load_agreements(ws),
                          entries=entries, audit_lines=audit.read(ws), sop_present=present, since=since,
                          until=until, today=today)  # fmt: skip


__all__ = ["ANSWERS", "AppEvidence", "Evidence", "build_evidence", "spbe_report", "write_docx"]
