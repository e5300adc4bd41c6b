"""``site build``: pages, safety of donors' Markdown, deterministic output, links, fleet page."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag

import pytest
from doc_fixtures import write_good_entry
from test_catalog_cli import run

from spbe_share.catalog.loader import load_catalog
from spbe_share.catalog.roots import CatalogRoot
from spbe_share.site.build import build_site

REPO = Path(__file__).resolve().parents[2]
FLEET = REPO / "tests" / "fixtures" / "fleet-status.json"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.add(str(a["id"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def build(repo: Path, out: Path, **kw: object) -> Path:
    cat = load_catalog([CatalogRoot("builtin", repo)])
    assert not cat.problems
    build_site(cat.entries, out, **kw)  # type: ignore[arg-type]
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    write_good_entry(r, "contoh-app")
    return r


def test_real_catalog_every_page_and_link(tmp_path: Path) -> None:
    out = build(REPO, tmp_path / "site", fleet=_fleet())
    pages = sorted(out.rglob("*.html"))
    for app in ("e-office", "pengaduan"):
        for lang in ("", "en/"):
            for doc in ("index", "instalasi", "manual-pengguna", "sop-hak-akses", "sop-backup", "sop-eskalasi",
                        "sop-manajemen-perubahan", "sop-risiko-keamanan"):  # fmt: skip
                assert (out / f"{lang}apps/{app}/{doc}.html").is_file()
        assert (out / f"apps/{app}/publiccode.yml").read_text().startswith("# publiccode.yml of")
    for name in ("index", "regulasi", "mutu", "armada"):
        assert (out / f"{name}.html").is_file() and (out / f"en/{name}.html").is_file()
    parsed = {p: parse(p) for p in pages}
    for path, page in parsed.items():
        lang = "en" if path.relative_to(out).parts[0] == "en" else "id"
        html_tag = page.tags[0]
        assert html_tag == ("html", {"lang": lang}), path
        assert [t for t, _ in page.tags].count("h1") == 1, path
        assert [t for t, _ in page.tags].count("main") == 1, path
        assert any(t == "a" and a.get("class") == "skip-link" for t, a in page.tags), path
        levels = [int(t[1]) for t, _ in page.tags if re.fullmatch(r"h[1-6]", t)]
        assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), path
        for tag, a in page.tags:
            if tag == "img":
                assert "alt" in a, path
            if tag in ("input", "select"):
                assert any(t == "label" and b.get("for") == a.get("id") for t, b in page.tags), path
            for attr in ("href", "src"):
                url = a.get(attr)
                if not url or re.match(r"^(https?:|mailto:|tel:|data:)", url):
                    continue
                target, frag = urldefrag(url)
                dest = (path.parent / target).resolve() if target else path
                assert dest.is_file() and dest.is_relative_to(out.resolve()), (path, url)
                if frag and dest.suffix == ".html":
                    assert frag in parsed[dest].ids, (path, url)


def _fleet():  # noqa: ANN202
    from spbe_share.fleet.models import load_fleet_status

    return load_fleet_status(FLEET)


def test_deterministic_and_independent_of_where_the_catalog_lives(repo: Path, tmp_path: Path) -> None:
    a = files_of(build(repo, tmp_path / "a"))
    b = files_of(build(repo, tmp_path / "b"))
    assert a == b
    moved = tmp_path / "elsewhere" / "repo"
    shutil.copytree(repo, moved)
    assert files_of(build(moved, tmp_path / "c")) == a
    assert str(tmp_path) not in "".join(v.decode("utf-8", "replace") for v in a.values())


def test_donor_markdown_is_data(repo: Path, tmp_path: Path) -> None:
    entry_dir = repo / "catalog" / "contoh-app"
    manual = entry_dir / "docs" / "panduan-pengguna.md"
    manual.write_text(manual.read_text() + (
        "\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[klik](javascript:alert(1)) [data](data:text/html,hi) [keluar](../../../../etc/passwd)\n"
        "[hilang](tidak-ada.md) [instal](instalasi.md#3-verifikasi) [pdf](lampiran.pdf)\n\n"
        "![remote](https://contoh.go.id/a.png) ![svg jahat](jahat.svg)\n"
    ), encoding="utf-8")  # fmt: skip
    (entry_dir / "docs" / "lampiran.pdf").write_bytes(b"%PDF-1.4\n")
    (entry_dir / "docs" / "jahat.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    out = build(repo, tmp_path / "site")
    html = (out / "apps/contoh-app/manual-pengguna.html").read_text()
    body = html.split('<article class="doc"', 1)[1]
    assert "<script" not in body and "<img src=x" not in body and "onerror" not in body.replace("onerror=alert", "")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body or "&lt;script&gt;" in body
    assert "javascript:" not in re.sub(r"\[klik\]\(javascript:alert\(1\)\)", "", body)
    assert 'href="javascript' not in body and 'href="data:' not in body
    assert '<span class="tautan-rusak">keluar</span>' in body
    assert '<span class="tautan-rusak">hilang</span>' in body
    assert '<a href="instalasi.html#3-verifikasi">instal</a>' in body
    assert '<a href="docs/lampiran.pdf">pdf</a>' in body and (out / "apps/contoh-app/docs/lampiran.pdf").is_file()
    assert '<a href="https://contoh.go.id/a.png">[remote]</a>' in body  # a link, nothing loaded
    assert "[svg jahat]" in body and not (out / "apps/contoh-app/docs/jahat.svg").exists()
    assert '<img src="docs/img/diagram.png" alt="Diagram arsitektur"' in (out / "apps/contoh-app/instalasi.html").read_text()
    en = (out / "en/apps/contoh-app/instalasi.html").read_text()
    assert '<img src="../../../apps/contoh-app/docs/img/diagram.png"' in en
    assert '<article class="doc" lang="id"' in en and "written in Bahasa Indonesia" in en


def test_entry_text_is_escaped_and_unsafe_logo_left_out(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_good_entry(repo, "contoh-app", name="<script>alert(1)</script> {{ 7*7 }}")
    (repo / "catalog" / "contoh-app" / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    out = build(repo, tmp_path / "site")
    for page in ("index.html", "apps/contoh-app/index.html", "en/index.html"):
        html = (out / page).read_text()
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in html
    assert not (out / "apps/contoh-app/logo.svg").exists()
    assert "logo.svg" not in (out / "apps/contoh-app/index.html").read_text()


def test_search_index_and_filters(repo: Path, tmp_path: Path) -> None:
    write_good_entry(repo, "lapor", name="Lapor Warga",
                     classification={"jenis": "khusus", "layanan": "publik", "domain": "Pelayanan Publik"})
    out = build(repo, tmp_path / "site")
    index = json.loads((out / "search-index.json").read_text())
    assert [a["slug"] for a in index["apps"]] == ["contoh-app", "lapor"]
    lapor = index["apps"][1]
    assert lapor["jenis"] == "khusus" and lapor["layanan"] == "publik" and lapor["level"] == 4
    assert lapor["regulation_names"] == ["Perpres Nomor 95 Tahun 2018"]
    page = parse(out / "index.html")
    opts = [a.get("value") for t, a in page.tags if t == "option"]
    assert {"umum", "khusus", "publik", "administrasi_pemerintahan", "Pelayanan Publik", "Kota Contoh",
            lapor["regulations"][0]} <= set(opts)  # fmt: skip
    assert any(t == "form" and "hidden" in a for t, a in page.tags)  # shown by the script only


def test_output_folder_rules(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "penting.txt").write_text("jangan dihapus")
    r = run(tmp_path, "site", "build", "--output", str(out), catalog=repo)
    assert r.exit_code == 9 and "not empty" in r.stderr
    assert (out / "penting.txt").read_text() == "jangan dihapus"
    site = tmp_path / "site"
    assert run(tmp_path, "site", "build", "--output", str(site), catalog=repo).exit_code == 0
    (site / "stale.html").write_text("old")
    r = run(tmp_path, "site", "build", "--output", str(site), catalog=repo)
    assert r.exit_code == 0 and "built" in r.stdout and not (site / "stale.html").exists()


def test_fleet_page(repo: Path, tmp_path: Path) -> None:
    r = run(tmp_path, "site", "build", "--output", str(tmp_path / "s"), "--fleet", str(FLEET), catalog=REPO)
    assert r.exit_code == 0, r.output
    html = (tmp_path / "s" / "armada.html").read_text()
    for text in ("pbd-dc1", "1 rilis tertinggal", "berakhir dalam 90 hari", "tidak terjangkau",
                 "Connection timed out", "Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022", "mutakhir"):
        assert text in html, text
    assert 'href="apps/e-office/index.html"' in html
    assert "1 releases behind" in (tmp_path / "s" / "en" / "armada.html").read_text()
    assert "armada.html" in (tmp_path / "s" / "index.html").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "generated_at": "2026-01-01T00:00:00Z",
                               "rows": [{"target": "x", "app": "Bad App", "reachable": True}]}))  # fmt: skip
    r = run(tmp_path, "site", "build", "--output", str(tmp_path / "s2"), "--fleet", str(bad), catalog=repo)
    assert r.exit_code == 2 and "rows[0].app" in r.stderr and "rows[0].pemda" in r.stderr
    assert not (tmp_path / "s2").exists()


def test_regulation_index(tmp_path: Path) -> None:
    out = build(REPO, tmp_path / "site")
    page = (out / "regulasi.html").read_text()
    # one text (one URI) named two ways by two releases: one section, both releases listed
    assert page.count("https://peraturan.bpk.go.id/Details/38788/uu-no-43-tahun-2009\"") == 1
    section = page.split("Undang-Undang Nomor 43 Tahun 2009 tentang Kearsipan</h2>", 1)[1].split("</section>")[0]
    assert "e-Office Persuratan Dinas 1.0.0" in section and "e-Office Persuratan Dinas 1.1.0" in section
    assert "(Pasal 40 ayat 4)" in section
