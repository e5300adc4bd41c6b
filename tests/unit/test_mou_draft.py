"""``mou draft`` (docx opened with python-docx, md), template lookup and sandbox; signed documents."""

from __future__ import annotations

import json
from pathlib import Path

import docx
import pytest
from doc_fixtures import write_good_entry
from test_catalog_cli import run

from spbe_share.mou.docx_template import build_template

REPO = Path(__file__).resolve().parents[2]
HUKUM = "«[DIISI OLEH BAGIAN HUKUM:"


def docx_text(path: Path) -> str:
    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    parts += [c.text for t in d.tables for row in t.rows for c in row.cells]
    return "\n".join(parts)


def test_committed_template_is_what_the_script_builds() -> None:
    assert (REPO / "templates" / "mou" / "pks.docx").read_bytes() == build_template()


def test_docx_draft_of_the_real_catalog(tmp_path: Path) -> None:
    out = tmp_path / "pks.docx"
    r = run(tmp_path, "mou", "draft", "--app", "e-office", "--adopter", "Provinsi Papua Barat Daya",
            "--adopter-kode", "96", "--output", str(out), catalog=REPO)  # fmt: skip
    assert r.exit_code == 0, r.output
    text = docx_text(out)
    for fact in (
        "Pemanfaatan Bersama Aplikasi e-Office Persuratan Dinas",
        "Pihak Pertama (donor): Provinsi Papua (kode wilayah 91), Dinas Komunikasi dan Informatika.",
        "Pihak Kedua (penerima): Provinsi Papua Barat Daya (kode wilayah 96).",
        "Dukungan teknis (support)", "Pelatihan (training)",
        "Masa dukungan teknis setelah instalasi menurut katalog: 12 bulan.",
        "Nama domain dan sertifikat TLS pada reverse proxy milik Pemda",
        "Lisensi aplikasi (SPDX): EUPL-1.2.",
        "db: volume pgdata (/var/lib/postgresql/data)",
        "pgdata (komponen db, /var/lib/postgresql/data)", "PostgreSQL eoffice (komponen db)",
        "DB_PASSWORD, SECRET_KEY, ADMIN_PASSWORD",
        "Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022",
        "Tim Aplikasi Diskominfo Provinsi Papua (pengelola aplikasi), diskominfo@papua.go.id",
        f"{HUKUM} nama, NIP dan jabatan penandatangan Pihak Pertama]»",
        f"{HUKUM} ketentuan kerahasiaan dan pelindungan data, termasuk data pribadi]»",
    ):
        assert fact in text, fact
    assert "{{" not in text and "{%" not in text
    # deterministic: the same facts give the same bytes
    out2 = tmp_path / "pks2.docx"
    run(tmp_path, "mou", "draft", "--app", "e-office", "--adopter", "Provinsi Papua Barat Daya",
        "--adopter-kode", "96", "--output", str(out2), catalog=REPO)  # fmt: skip
    assert out.read_bytes() == out2.read_bytes()


def test_values_are_data_never_templates(tmp_path: Path) -> None:
    out = tmp_path / "x.docx"
    name = "Kota {{ 7*7 }} {% raw %}<b>&amp;"
    r = run(tmp_path, "mou", "draft", "--app", "pengaduan", "--adopter", name, "--adopter-kode", "96.71",
            "--output", str(out), catalog=REPO)  # fmt: skip
    assert r.exit_code == 0, r.output
    text = docx_text(out)
    assert "Pihak Kedua (penerima): Kota {{ 7*7 }} {% raw %}<b>&amp; (kode wilayah 96.71)." in text
    md = tmp_path / "x.md"
    run(tmp_path, "mou", "draft", "--app", "pengaduan", "--adopter", name, "--adopter-kode", "96.71",
        "--format", "md", "--output", str(md), catalog=REPO)  # fmt: skip
    assert "antara Kabupaten Buleleng dan Kota {{ 7*7 }} {% raw %}<b>&amp;" in md.read_text()


def test_markdown_draft_default_name_and_no_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["mou", "draft", "--app", "pengaduan", "--adopter", "Kota Sorong", "--adopter-kode", "96.71",
            "--format", "md"]  # fmt: skip
    r = run(tmp_path, *args, catalog=REPO)
    assert r.exit_code == 0, r.output
    text = (tmp_path / "pks-pengaduan-96-71.md").read_text()
    assert "- Petugas pengelola pengaduan yang ditetapkan dengan SK Kepala Daerah" in text
    assert "- basis data SQLite /data/pengaduan.db (komponen web)" in text
    assert text.count(HUKUM) >= 10
    r = run(tmp_path, *args, catalog=REPO)
    assert r.exit_code == 9 and "already exists" in r.stderr
    assert run(tmp_path, *args, "--force", catalog=REPO).exit_code == 0


def test_bad_options(tmp_path: Path) -> None:
    base = ["mou", "draft", "--app", "pengaduan", "--adopter", "Kota Sorong"]
    r = run(tmp_path, *base, "--adopter-kode", "9671", catalog=REPO)
    assert r.exit_code == 2 and "--adopter-kode: invalid kode wilayah '9671'" in r.stderr
    r = run(tmp_path, *base[:-1], "  ", "--adopter-kode", "96.71", catalog=REPO)
    assert r.exit_code == 2 and "--adopter:" in r.stderr
    assert run(tmp_path, "mou", "draft", "--app", "tidak-ada", "--adopter", "X", "--adopter-kode", "96",
               catalog=REPO).exit_code == 3  # fmt: skip
    r = run(tmp_path, *base, "--adopter-kode", "96.71", "--template", str(tmp_path / "none.docx"), catalog=REPO)
    assert r.exit_code == 2 and "--template" in r.stderr
    junk = tmp_path / "junk.docx"
    junk.write_text("not a zip")
    r = run(tmp_path, *base, "--adopter-kode", "96.71", "--template", str(junk), "--output",
            str(tmp_path / "o.docx"), catalog=REPO)  # fmt: skip
    assert r.exit_code == 2 and "not a usable .docx template" in r.stderr


def test_donor_replaces_the_template_and_it_runs_sandboxed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_good_entry(repo, "contoh-app")
    (repo / "templates" / "mou").mkdir(parents=True)
    (repo / "templates" / "mou" / "pks.md.j2").write_text("PKS {{ app.name }} untuk {{ adopter.pemda }}\n")
    out = tmp_path / "d.md"
    r = run(tmp_path, "mou", "draft", "--app", "contoh-app", "--adopter", "Kota Sorong", "--adopter-kode",
            "96.71", "--format", "md", "--output", str(out), catalog=repo)  # fmt: skip
    assert r.exit_code == 0 and out.read_text() == "PKS Aplikasi contoh-app untuk Kota Sorong\n"
    (repo / "templates" / "mou" / "contoh-app.md.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    r = run(tmp_path, "mou", "draft", "--app", "contoh-app", "--adopter", "Kota Sorong", "--adopter-kode",
            "96.71", "--format", "md", "--output", str(tmp_path / "e.md"), catalog=repo)  # fmt: skip
    # refused by the sandbox: exit 6, like a refused config template (README, exit codes)
    assert r.exit_code == 6 and "refused by the template sandbox" in r.stderr, r.output
    assert not (tmp_path / "e.md").exists()
    # no docx template in this repository: the built-in one is used
    r = run(tmp_path, "mou", "draft", "--app", "contoh-app", "--adopter", "Kota Sorong", "--adopter-kode",
            "96.71", "--output", str(tmp_path / "f.docx"), "--template", str(REPO / "templates/mou/pks.docx"),
            catalog=repo)  # fmt: skip
    assert r.exit_code == 0 and "Aplikasi contoh-app" in docx_text(tmp_path / "f.docx")


SECRET = "OPERATOR-SECRET-5d2e -----BEGIN OPENSSH PRIVATE KEY-----"


def _draft(tmp_path: Path, repo: Path, out: Path, *extra: str) -> object:
    return run(tmp_path, "mou", "draft", "--app", "contoh-app", "--adopter", "Kota Sorong", "--adopter-kode",
               "96.71", "--output", str(out), *extra, catalog=repo)  # fmt: skip


@pytest.mark.parametrize("linked", ["templates/mou/pks.md.j2", "templates/mou", "templates"])
def test_a_donor_template_through_a_symlink_is_never_read(tmp_path: Path, linked: str) -> None:
    """Issue 17 finding 5: the draft goes back to the donor; a link must not fill it with the
    operator's files."""
    repo = tmp_path / "repo"
    write_good_entry(repo, "contoh-app")
    mine = tmp_path / "operator" / "templates" / "mou" / "pks.md.j2"
    mine.parent.mkdir(parents=True)
    mine.write_text(SECRET + " {{ app.name }}\n")
    target = {"templates/mou/pks.md.j2": mine, "templates/mou": mine.parent, "templates": mine.parent.parent}
    (repo / linked).parent.mkdir(parents=True, exist_ok=True)
    (repo / linked).symlink_to(target[linked])
    out = tmp_path / "d.md"
    r = _draft(tmp_path, repo, out, "--format", "md")
    assert r.exit_code == 2, r.output  # type: ignore[attr-defined]
    assert f"{repo / 'templates/mou/contoh-app.md.j2'}: " in r.stderr or f"{repo / 'templates/mou/pks.md.j2'}: " \
        in r.stderr, r.stderr  # type: ignore[attr-defined]
    assert "a symlink" in r.stderr and SECRET not in r.output and not out.exists()  # type: ignore[attr-defined]


LIMITED_MD = {
    "repeat_length": ("{{ ('x' * 900000000) | length }}", 6, "refused by the template sandbox"),
    "center": ("{{ app.name | center(900000000) }}", 6, "over the template limits: needs more than 512 MiB"),
    "loops": ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", 6,
              "over the template limits: more than 1000000 loop steps"),
    "output": ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", 6,
               "over the template limits: output larger than 8 MiB"),
}


@pytest.mark.parametrize("name", sorted(LIMITED_MD))
def test_markdown_templates_render_with_limits(tmp_path: Path, name: str) -> None:
    import resource

    text, code, reason = LIMITED_MD[name]
    repo = tmp_path / "repo"
    write_good_entry(repo, "contoh-app")
    (repo / "templates" / "mou").mkdir(parents=True)
    (repo / "templates" / "mou" / "pks.md.j2").write_text(f"PKS\n{text}\n")
    out = tmp_path / "d.md"
    r = _draft(tmp_path, repo, out, "--format", "md")
    assert r.exit_code == code, r.output  # type: ignore[attr-defined]
    line = r.stderr.strip()  # type: ignore[attr-defined]
    where = f"{repo / 'templates/mou/pks.md.j2'}" + ("" if name == "output" else ":2")  # output: counted outside
    assert line.startswith(f"error: {where}: ") and reason in line, line
    assert "\n" not in line and "Traceback" not in r.output and not out.exists()  # type: ignore[attr-defined]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 600 * 1024  # never built here


def _docx_with(tmp_path: Path, text: str, *, extra: bytes = b"") -> Path:
    import io
    import zipfile

    d = docx.Document()
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    path = tmp_path / "t.docx"
    if extra:
        src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for n in src.namelist():
                dst.writestr(n, src.read(n))
            dst.writestr("word/media/filler.bin", extra)
        path.write_bytes(out.getvalue())
    else:
        path.write_bytes(buf.getvalue())
    return path


def test_docx_templates_are_bounded_unpacked_and_rendered(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_good_entry(repo, "contoh-app")
    out = tmp_path / "d.docx"
    bomb = _docx_with(tmp_path, "PKS {{ app.name }}", extra=b"\0" * (40 << 20))
    assert bomb.stat().st_size < 200_000  # small on disk, 40 MB unpacked
    r = _draft(tmp_path, repo, out, "--template", str(bomb))
    assert r.exit_code == 2 and f"{bomb}: unpacks to " in r.stderr and "more than 33554432" in r.stderr, r.output  # type: ignore[attr-defined]
    assert not out.exists()
    loops = _docx_with(tmp_path, "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
    r = _draft(tmp_path, repo, out, "--template", str(loops))
    assert r.exit_code == 6 and "over the template limits: more than 1000000 loop steps" in r.stderr, r.output  # type: ignore[attr-defined]
    big = _docx_with(tmp_path, "{{ app.name | center(900000000) }}")
    r = _draft(tmp_path, repo, out, "--template", str(big))
    assert r.exit_code == 6 and "over the template limits: needs more than 512 MiB" in r.stderr, r.output  # type: ignore[attr-defined]
    assert "Traceback" not in r.output and not out.exists()  # type: ignore[attr-defined]
    ok = _docx_with(tmp_path, "PKS {{ app.name }}: {{ hukum('pasal') }}")
    assert _draft(tmp_path, repo, out, "--template", str(ok)).exit_code == 0  # type: ignore[attr-defined]
    assert "PKS Aplikasi contoh-app: «[DIISI OLEH BAGIAN HUKUM: pasal]»" in docx_text(out)


def _add(tmp_path: Path, *extra: str) -> object:
    return run(tmp_path, "mou", "add", "--app", "e-office", "--donor", "Provinsi Papua", "--donor-kode", "91",
               "--adopter", "Kota Sorong", "--adopter-kode", "96.71", "--number", "NK/001/2026",
               "--signed", "2026-01-15", "--valid-until", "2028-01-15", "--scope", "install", *extra,
               catalog=REPO)  # fmt: skip


def test_signed_document_stored_verified_and_kept(tmp_path: Path) -> None:
    scan = tmp_path / "pks-ttd.pdf"
    scan.write_bytes(b"%PDF-1.4 ditandatangani\n")
    r = _add(tmp_path, "--document", str(scan))
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    r = run(tmp_path, "mou", "show", "NK/001/2026", "--json", catalog=REPO)
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["document_status"] == "ok"
    import hashlib

    assert data["document"]["sha256"] == hashlib.sha256(scan.read_bytes()).hexdigest()
    stored = tmp_path / "home" / "agreements" / data["document"]["file"]
    assert stored.read_bytes() == scan.read_bytes()
    # replacing the record without a new scan keeps the stored document
    assert _add(tmp_path, "--replace").exit_code == 0  # type: ignore[attr-defined]
    assert json.loads(run(tmp_path, "mou", "show", "NK/001/2026", "--json", catalog=REPO).stdout)["document"]
    stored.write_bytes(b"%PDF-1.4 diubah\n")
    r = run(tmp_path, "mou", "show", "NK/001/2026", catalog=REPO)
    assert r.exit_code == 6 and "has changed" in r.stderr and "(modified)" in r.stdout
    stored.unlink()
    r = run(tmp_path, "mou", "show", "NK/001/2026", "--json", catalog=REPO)
    assert r.exit_code == 6 and json.loads(r.stdout)["document_status"] == "missing" and "missing" in r.stderr


def test_document_path_and_suffix_are_checked(tmp_path: Path) -> None:
    scan = tmp_path / "scan.p d f"
    scan.write_bytes(b"x")
    r = _add(tmp_path, "--document", str(scan))
    assert r.exit_code == 2 and "usual extension" in r.stderr  # type: ignore[attr-defined]
    ag = tmp_path / "home" / "agreements"
    ag.mkdir(parents=True, exist_ok=True)
    (ag / "x.yml").write_text(
        "number: X/1\napps: [e-office]\ndonor: {pemda: A, kode_wilayah: '91'}\n"
        "adopter: {pemda: B, kode_wilayah: '96'}\nscope: [install]\nsigned: 2026-01-01\n"
        f"valid_until: 2027-01-01\ndocument: {{file: ../../etc/passwd, sha256: {'0' * 64}}}\n"
    )
    r = run(tmp_path, "mou", "show", "X/1", catalog=REPO)
    assert r.exit_code == 2 and "x.yml:8: document.file" in r.stderr
