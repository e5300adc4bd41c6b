"""publiccode.yml: value checks, export of catalog entries, draft import, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from catalog_fixtures import write_entry

from spbe_share.catalog.loader import LoadedEntry, load_entry
from spbe_share.catalog.publiccode import (
    draft_from_publiccode,
    export_publiccode,
    validate_publiccode,
    validate_publiccode_text,
)
from spbe_share.catalog.publiccode.validator import (
    grapheme_len,
    is_bcp47,
    is_country,
    is_date,
    is_http_url,
    is_spdx_expression,
    is_url,
)
from spbe_share.cli import main
from spbe_share.errors import ValidationFailed

CONF = Path(__file__).resolve().parents[1] / "conformance" / "publiccode-v0" / "testdata"
LONG_EN = (
    "A long enough description of the software for the tests, written out in full so that it "
    "passes the one hundred and fifty grapheme minimum that the standard asks for. Twice over."
)


# ------------------------------------------------------------------ value checks


@pytest.mark.parametrize(
    ("tag", "ok"),
    [("en", True), ("en-GB", True), ("id", True), ("zh-Hant-TW", True), ("es-419", True),
     ("en_GB", False), ("xxx", False), ("no such language", False), ("", False)],
)
def test_bcp47(tag: str, ok: bool) -> None:
    assert is_bcp47(tag) is ok


@pytest.mark.parametrize(
    ("expr", "ok"),
    [("EUPL-1.2", True), ("MIT OR Apache-2.0", True), ("GPL-2.0-only WITH Classpath-exception-2.0", True),
     ("(MIT AND BSD-3-Clause) OR GPL-3.0-or-later", True), ("LicenseRef-pemda-papua", True),
     ("Proprietary", False), ("MIT WITH MIT", False), ("(MIT", False), ("", False)],
)
def test_spdx(expr: str, ok: bool) -> None:
    assert is_spdx_expression(expr) is ok


def test_small_checks() -> None:
    assert is_country("ID") and is_country("id") and not is_country("Id") and not is_country("XX")
    assert is_date("2026-02-28") and not is_date("2026-02-30") and not is_date("2011-01-01 20:04:05")
    assert is_url("urn:foo:bar") and is_url("https://a.example/x") and not is_url("foobar")
    assert is_http_url("https://a.example") and not is_http_url("ftp://a.example") and not is_http_url("???")
    # grapheme clusters, not code points: a family emoji is one character
    assert grapheme_len("👨‍👩‍👧") == 1 and grapheme_len("abc") == 3


def _doc(**over: object) -> dict:
    doc: dict = {
        "publiccodeYmlVersion": "0.4", "name": "X", "url": "https://git.example.go.id/x",
        "platforms": ["web"], "developmentStatus": "stable", "softwareType": "standalone/web",
        "description": {"en": {"shortDescription": "Short.", "longDescription": LONG_EN, "features": ["a"]}},
        "legal": {"license": "EUPL-1.2"},
        "maintenance": {"type": "internal", "contacts": [{"name": "Admin"}]},
        "localisation": {"localisationReady": True, "availableLanguages": ["id"]},
    }
    doc.update(over)
    return doc


def _check(tmp_path: Path, doc: dict) -> list[str]:
    text = yaml.safe_dump(doc, sort_keys=False)
    report = validate_publiccode_text(text, tmp_path / "publiccode.yml")
    return [f"{p.field}: {p.message}" for p in report.errors]


def test_minimal_document_is_valid(tmp_path: Path) -> None:
    assert _check(tmp_path, _doc()) == []


def test_yaml11_booleans_are_strings(tmp_path: Path) -> None:
    text = yaml.safe_dump(_doc(), sort_keys=False).replace("localisationReady: true", "localisationReady: yes")
    report = validate_publiccode_text(text, tmp_path / "publiccode.yml")
    assert "localisation.localisationReady: wrong type for this field" in [
        f"{p.field}: {p.message}" for p in report.errors
    ]


def test_errors_name_line_and_field(tmp_path: Path) -> None:
    doc = _doc(categories=["document-management", "surat-menyurat"])
    report = validate_publiccode_text(yaml.safe_dump(doc, sort_keys=False), tmp_path / "p.yml")
    (err,) = report.errors
    assert err.field == "categories[1]"
    text_lines = yaml.safe_dump(doc, sort_keys=False).splitlines()
    assert text_lines[err.line - 1].strip() == "- surat-menyurat"
    assert report.lines()[0].startswith(f"{tmp_path / 'p.yml'}:{err.line}: categories[1]: ")


def test_logo_is_checked_next_to_the_file(tmp_path: Path) -> None:
    assert _check(tmp_path, _doc(logo="logo.png")) == [f"logo: no such file: {tmp_path / 'logo.png'}"]
    (tmp_path / "logo.png").write_bytes(b"not a png")
    assert _check(tmp_path, _doc(logo="logo.png")) == ["logo: image: unknown format"]
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert _check(tmp_path, _doc(logo="logo.svg")) == []
    assert _check(tmp_path, _doc(logo="/etc/logo.svg")) == [
        "logo: is an absolute path. Only relative paths or HTTP(s) URLs allowed"
    ]


# ------------------------------------------------------------------ export


def _loaded(tmp_path: Path, *, logo_bytes: bytes | None = None, **over: object) -> LoadedEntry:
    path = write_entry(tmp_path / "repo", "surat-masuk", name="Surat Masuk", **over)
    if logo_bytes is not None:
        (path.parent / str(over["logo"])).write_bytes(logo_bytes)
    return load_entry(path)


def test_export_of_a_fixture_entry_validates(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    text = export_publiccode(loaded)
    out = loaded.entry_dir / "publiccode.yml"
    out.write_text(text, encoding="utf-8")
    report = validate_publiccode(out)
    assert report.errors == [] and report.warnings == [], report.lines()
    data = yaml.safe_load(text)
    assert data["publiccodeYmlVersion"] == "0.4"
    assert data["url"] == "https://git.example.go.id/diskominfo/surat-masuk"
    assert data["softwareVersion"] == "1.0.0" and data["releaseDate"] == "2026-01-15"
    assert data["legal"] == {"license": "EUPL-1.2", "mainCopyrightOwner": "Kota Contoh"}
    assert data["maintenance"]["contacts"][0]["email"] == "admin@contoh.go.id"
    assert data["categories"] == ["document-management", "workflow-management"]  # Kearsipan dan Persuratan
    assert data["intendedAudience"]["countries"] == ["ID"]
    # the fixture's description is shorter than 150: completed with true facts, not padding
    entry = loaded.entry
    for lang in ("id", "en"):
        long = data["description"][lang]["longDescription"]
        assert grapheme_len(long) >= 150
        assert long.startswith(getattr(entry.description, lang) + " " + getattr(entry.summary, lang) + ".")
    assert data["description"]["id"]["features"] == ["Rilis pertama"]


def test_export_logo_relative_to_output_folder(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, logo="logo.svg", logo_bytes=b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    elsewhere = tmp_path / "out"
    elsewhere.mkdir()
    text = export_publiccode(loaded, base_dir=elsewhere)
    assert yaml.safe_load(text)["logo"] == "../repo/catalog/surat-masuk/logo.svg"
    (elsewhere / "publiccode.yml").write_text(text)
    assert validate_publiccode(elsewhere / "publiccode.yml").ok


def test_export_refuses_a_broken_logo(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, logo="logo.png", logo_bytes=b"")
    with pytest.raises(ValidationFailed) as exc:
        export_publiccode(loaded)
    assert any(": logo: image: unknown format" in p for p in exc.value.problems)


def test_export_long_summary_is_cut_at_a_word(tmp_path: Path) -> None:
    summary = {"id": "kata " * 60, "en": "word " * 60}
    data = yaml.safe_load(export_publiccode(_loaded(tmp_path, summary=summary)))
    short = data["description"]["en"]["shortDescription"]
    assert grapheme_len(short) <= 150 and short.endswith("word…")


# ------------------------------------------------------------------ import (draft)


def test_draft_from_publiccode_fills_what_it_can(tmp_path: Path) -> None:
    text = draft_from_publiccode(CONF / "valid" / "valid.yml")
    data = yaml.safe_load(text)
    assert data["name"] == "Medusa" and data["id"] == "medusa"
    assert data["source_url"] == "https://github.com/italia/developers.italia.it.git"
    assert data["license"] == "AGPL-3.0-or-later"
    assert data["donor"]["kode_wilayah"] == "TODO"
    assert data["donor"]["contacts"][0]["name"] == "Francesco Rossi"
    assert data["summary"]["en"] == "A really interesting software."
    for part in ("classification", "sharing", "requirements", "components", "kode wilayah"):
        assert f"# TODO {part}" in text or f"set its {part}" in text


def test_draft_round_trip_from_export(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    pc = tmp_path / "publiccode.yml"
    pc.write_text(export_publiccode(loaded, base_dir=tmp_path))
    data = yaml.safe_load(draft_from_publiccode(pc))
    assert data["summary"] == {"id": loaded.entry.summary.id, "en": loaded.entry.summary.en}
    assert data["releases"][0]["version"] == "1.0.0"
    assert data["donor"]["pemda"] == "Kota Contoh"


def test_draft_refuses_an_invalid_file() -> None:
    with pytest.raises(ValidationFailed) as exc:
        draft_from_publiccode(CONF / "invalid" / "legal_license_invalid.yml")
    assert any(": legal.license: license must be a valid license" in p for p in exc.value.problems)


# ------------------------------------------------------------------ CLI


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_validate(capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = CONF / "valid" / "valid.yml", CONF / "invalid" / "categories_invalid.yml"
    assert _run(["publiccode", "validate", str(good)]) == 0
    assert f"{good}: OK" in capsys.readouterr().out
    assert _run(["publiccode", "validate", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:13: categories[0]: categories[0] must be a valid category" in err
    assert _run(["publiccode", "validate", "--json", str(bad)]) == 2
    (result,) = json.loads(capsys.readouterr().out)
    assert result["valid"] is False and result["errors"][0]["field"] == "categories[0]"


def test_cli_export_and_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    write_entry(tmp_path / "repo", "surat-masuk")
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(tmp_path / "repo"))
    ws = ["--workspace", str(tmp_path / "ws")]
    out = tmp_path / "pc" / "publiccode.yml"
    assert _run([*ws, "catalog", "export-publiccode", "surat-masuk", "--output", str(out)]) == 0
    assert validate_publiccode(out).ok
    before = out.read_text()
    assert _run([*ws, "catalog", "export-publiccode", "surat-masuk", "--output", str(out)]) == 9
    assert out.read_text() == before
    assert _run([*ws, "catalog", "export-publiccode", "nope"]) == 3
    capsys.readouterr()

    draft = tmp_path / "draft" / "spbe-app.yaml"
    assert _run([*ws, "catalog", "import-publiccode", str(out), "--output", str(draft)]) == 0
    assert "kode_wilayah: TODO" in draft.read_text()
    assert _run([*ws, "catalog", "import-publiccode", str(out), "--output", str(draft)]) == 9
    assert _run([*ws, "catalog", "import-publiccode", str(out), "--output", str(draft), "--force"]) == 0
    bad_out = tmp_path / "never.yaml"
    bad = CONF / "invalid" / "legal_license_invalid.yml"
    assert _run([*ws, "catalog", "import-publiccode", str(bad), "--output", str(bad_out)]) == 2
    assert not bad_out.exists()
