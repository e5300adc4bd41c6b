"""Builds ``templates/mou/pks.docx``, the Word template of a PKS draft (python-docx).

Run ``python3 scripts/make_mou_template.py`` after changing this file; a unit test checks
that the committed template equals what this code builds, byte for byte. Every docxtpl tag
sits whole in one run, so Word's run splitting cannot break it; loops use ``{%p ... %}``
paragraphs. The text invents no clause: each clause is a ``hukum(...)`` placeholder.
"""

from __future__ import annotations

import datetime as dt
import io

from .docxzip import normalize_docx

H = "heading"
P = "para"
B = "bullets"  # (loop expression, item expression)
FIXED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

#: (kind, content) in document order; text in Bahasa Indonesia
CONTENT: list[tuple[str, object]] = [
    (P, "{{ hukum('nomor perjanjian Pihak Pertama dan Pihak Kedua') }}"),
    (P, "Draf ini disusun oleh spbe-share dari entri katalog {{ app.id }} versi {{ app.version }}. "
        "Data aplikasi berasal dari katalog. Setiap bagian bertanda «[DIISI OLEH BAGIAN HUKUM: ...]» "
        "wajib ditulis oleh bagian hukum para pihak; spbe-share tidak menyusun klausul hukum."),
    (H, "Para Pihak"),
    (P, "Pihak Pertama (donor): {{ donor.pemda }} (kode wilayah {{ donor.kode_wilayah }}), {{ donor.unit }}."),
    (P, "Diwakili oleh: {{ hukum('nama, NIP dan jabatan penandatangan Pihak Pertama') }}"),
    (P, "Pihak Kedua (penerima): {{ adopter.pemda }} (kode wilayah {{ adopter.kode_wilayah }})."),
    (P, "Diwakili oleh: {{ hukum('nama, NIP dan jabatan penandatangan Pihak Kedua') }}"),
    (H, "Dasar Hukum"),
    (P, "{{ hukum('dasar hukum perjanjian') }}"),
    (P, "Regulasi yang diterapkan oleh rilis aplikasi (informasi dari katalog):"),
    (B, ("r in regulations", "{{ r.name }} (rilis {{ r.release }}; {{ r.uri }})")),
    (H, "Objek Perjanjian"),
    (P, "Aplikasi: {{ app.name }} (kode katalog {{ app.id }}), versi terbaru {{ app.version }}."),
    (P, "Uraian: {{ app.description }}"),
    (P, "Klasifikasi SPBE: {{ app.classification }}."),
    (P, "Kode sumber: {{ app.source_url }}"),
    (H, "Ruang Lingkup"),
    (P, "Ruang lingkup berbagi menurut katalog:"),
    (B, ("s in scope", "{{ s.label }} ({{ s.value }})")),
    (P, "{{ hukum('rincian dan batasan ruang lingkup') }}"),
    (H, "Jangka Waktu"),
    (P, "Masa dukungan teknis setelah instalasi menurut katalog: {{ support_months }} bulan."),
    (P, "{{ hukum('jangka waktu berlakunya perjanjian, tanggal mulai dan berakhir') }}"),
    (H, "Kewajiban Pihak Kedua"),
    (P, "Menurut katalog, Pihak Kedua menyediakan:"),
    (B, ("x in adopter_provides", "{{ x }}")),
    (P, "{{ hukum('kewajiban lain Pihak Kedua') }}"),
    (H, "Kewajiban Pihak Pertama"),
    (P, "{{ hukum('kewajiban Pihak Pertama') }}"),
    (H, "Lisensi dan Hak Kekayaan Intelektual"),
    (P, "Lisensi aplikasi (SPDX): {{ app.license }}."),
    (P, "{{ hukum('ketentuan hak kekayaan intelektual dan penggunaan lisensi') }}"),
    (H, "Data yang Dikelola Aplikasi"),
    (P, "Komponen aplikasi dan volume datanya:"),
    (B, ("c in data.components", "{{ c.name }}{% if c.volumes %}: volume {{ c.volumes|join(', ') }}{% endif %}")),
    (P, "Data yang dicadangkan (backup), volume:"),
    (B, ("v in data.volumes", "{{ v }}")),
    (P, "Data yang dicadangkan (backup), basis data:"),
    (B, ("d in data.databases", "{{ d }}")),
    (P, "Rahasia yang dibuat per instalasi di server Pihak Kedua (nilainya tidak dibagikan): "
        "{{ data.secrets|join(', ') }}"),
    (P, "{{ hukum('ketentuan kerahasiaan dan pelindungan data, termasuk data pribadi') }}"),
    (H, "Pembiayaan"),
    (P, "{{ hukum('ketentuan pembiayaan') }}"),
    (H, "Penyelesaian Perselisihan"),
    (P, "{{ hukum('ketentuan penyelesaian perselisihan') }}"),
    (H, "Kontak Pelaksana"),
    (P, "Pihak Pertama:"),
    (B, ("c in donor.contacts", "{{ c }}")),
    (P, "Pihak Kedua: {{ hukum('nama dan kontak pelaksana Pihak Kedua') }}"),
    (H, "Penandatanganan"),
]  # fmt: skip


def build_template() -> bytes:
    """The bytes of ``templates/mou/pks.docx`` (deterministic)."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    cp = doc.core_properties
    cp.title = "Draf PKS pemanfaatan bersama aplikasi SPBE"
    cp.author = "spbe-share"
    cp.last_modified_by = "spbe-share"
    cp.created = FIXED
    cp.modified = FIXED
    cp.revision = 1
    cp.language = "id-ID"
    doc.styles["Normal"].font.name = "Arial"
    doc.styles["Normal"].font.size = Pt(11)
    doc.add_heading("DRAF PERJANJIAN KERJA SAMA", level=0)
    doc.add_paragraph("Pemanfaatan Bersama Aplikasi {{ app.name }}", style="Subtitle")
    doc.add_paragraph("antara {{ donor.pemda }} dan {{ adopter.pemda }}")
    for kind, content in CONTENT:
        if kind == H:
            doc.add_heading(str(content), level=1)
        elif kind == P:
            doc.add_paragraph(str(content))
        else:
            assert isinstance(content, tuple)
            loop, item = str(content[0]), str(content[1])
            doc.add_paragraph("{%p for " + loop + " %}")
            doc.add_paragraph(item, style="List Bullet")
            doc.add_paragraph("{%p endfor %}")
    table = doc.add_table(rows=3, cols=2)
    table.style = "Table Grid"
    cells = [
        ("Pihak Pertama", "Pihak Kedua"),
        ("{{ donor.pemda }}", "{{ adopter.pemda }}"),
        ("{{ hukum('nama, NIP dan jabatan penandatangan') }}", "{{ hukum('nama, NIP dan jabatan penandatangan') }}"),
    ]
    for r, (left, right) in enumerate(cells):
        table.cell(r, 0).text = left
        table.cell(r, 1).text = right
    buf = io.BytesIO()
    doc.save(buf)
    return normalize_docx(buf.getvalue())
