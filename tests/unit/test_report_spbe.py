"""`report spbe --pemda KODE --out FILE.docx` (issue 22, item 4): the SPBE evaluation evidence of
one Pemda, a Word file naming the app, its classification and donor, the agreement, the release
and its regulations, the verified backups of the period, the SOPs and the incidents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_bundle_cli import run

from spbe_share.agreements import build_agreement
from spbe_share.catalog.models import Entry
from spbe_share.reports.spbe import build_evidence, write_docx
from spbe_share.targets.inventory import Target

REPO = Path(__file__).resolve().parents[2]


def _text(path: Path) -> str:
    from docx import Document

    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        for row in t.rows:
            parts.append(" | ".join(c.text for c in row.cells))
    return "\n".join(parts)


def _line(ts: str, what: str, where: str, result: str, **details: Any) -> dict[str, Any]:
    return {"ts": ts, "who": "op", "what": what, "where": where, "result": result, "details": {"app": "e-office", **details}}


def test_the_report_names_the_app_the_agreement_and_the_backups(tmp_path: Path) -> None:
    entry = Entry.model_validate(yaml.safe_load((REPO / "catalog" / "e-office" / "spbe-app.yaml").read_text()))
    sorong = Target(name="sorong-dc", host="10.0.0.1", user="root", pemda="Kota Sorong", kode_wilayah="96.71",
                    bind_address="10.0.0.1")  # fmt: skip
    other = Target(name="biak-dc", host="10.0.0.2", user="root", pemda="Kabupaten Biak", kode_wilayah="91.06",
                   bind_address="10.0.0.2")  # fmt: skip
    ag = build_agreement(number="NK/001/2026", apps=["e-office"], donor="Provinsi Papua", donor_kode="91",
                         adopter="Kota Sorong", adopter_kode="96.71", scope=["install", "support"],
                         signed="2026-01-15", valid_until="2028-01-15")  # fmt: skip
    lines = [
        _line("2026-03-01T02:30:00Z", "backup", "sorong-dc", "ok", backup="20260301T023000Z-daily-1a2b", bytes=5_300_000),
        _line("2025-01-01T02:30:00Z", "backup", "sorong-dc", "ok", backup="20250101-old"),  # before the period
        _line("2026-03-02T02:30:00Z", "backup", "biak-dc", "ok", backup="biak-backup"),  # another Pemda's
        _line("2026-04-01T10:00:00Z", "upgrade", "sorong-dc", "failed: rolled_back", reason="health timeout"),
        _line("2026-04-02T10:00:00Z", "upgrade", "sorong-dc", "ok", to="1.1.0"),
        _line("2026-04-03T10:00:00Z", "install", "sorong-dc", "refused: no_agreement"),  # nothing changed: no incident
    ]
    ev = build_evidence(kode="96.71", targets=[sorong, other], running=[("sorong-dc", "e-office", "1.1.0"),
                        ("biak-dc", "e-office", "1.0.0")], agreements=[ag], entries={"e-office": entry},
                        audit_lines=lines, sop_present={"e-office": {"hak_akses": True, "backup": True,
                        "eskalasi": True, "manajemen_perubahan": True, "risiko_keamanan": False}},
                        since=dt.date(2026, 1, 1), until=dt.date(2026, 12, 31), today=dt.date(2026, 12, 31))  # fmt: skip
    (app,) = ev.apps
    assert [b["details"]["backup"] for b in app.backups] == ["20260301T023000Z-daily-1a2b"]
    assert [i["result"] for i in app.incidents] == ["failed: rolled_back"] and len(app.changes) == 1
    out = tmp_path / "bukti.docx"
    write_docx(ev, out)
    text = _text(out)
    assert "e-Office" in text and "Kota Sorong (kode wilayah 96.71)" in text
    assert "NK/001/2026 | 2026-01-15 | 2028-01-15 | install, support | berlaku" in text
    assert "20260301T023000Z-daily-1a2b" in text and "biak-backup" not in text and "20250101-old" not in text
    assert "sorong-dc: versi 1.1.0" in text
    assert all(reg.name in text for reg in entry.release("1.1.0").regulations)
    assert "Layanan Administrasi Pemerintahan Berbasis Elektronik" in text
    assert "SOP risiko keamanan | docs/sop/risiko-keamanan.md | TIDAK" in text
    assert "health timeout" in text and "Peraturan Menteri PANRB Nomor 59 Tahun 2020" in text


def test_the_command_writes_a_word_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "home")
    run(capsys, "--workspace", home, "mou", "add", "--app", "pengaduan", "--donor", "Kabupaten Buleleng",
        "--donor-kode", "51.08", "--adopter", "Kota Sorong", "--adopter-kode", "96.71", "--number", "PKS/7",
        "--signed", "2026-01-01", "--valid-until", "2030-01-01", "--scope", "install")  # fmt: skip
    out = tmp_path / "r.docx"
    code, printed, err = run(capsys, "--workspace", home, "report", "spbe", "--pemda", "96.71", "--out", str(out))
    assert code == 0, err
    assert "Kota Sorong (96.71), 1 app(s)" in printed
    assert "PKS/7" in _text(out) and "Pengaduan" in _text(out)
    code, _, err = run(capsys, "--workspace", home, "report", "spbe", "--pemda", "96.71", "--out", str(out))
    assert code == 9 and "--force" in err  # not overwritten by accident
    code, _, err = run(capsys, "--workspace", home, "report", "spbe", "--pemda", "11.01", "--out", str(tmp_path / "x.docx"))
    assert code == 3 and "kode wilayah 11.01" in err and "Traceback" not in err
    code, _, err = run(capsys, "--workspace", home, "report", "spbe", "--pemda", "abc", "--out", str(tmp_path / "x.docx"))
    assert code == 2
