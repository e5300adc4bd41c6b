"""``catalog lint``: each check fires on the fault it names, levels, CLI, docs/lint.md, list column."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from doc_fixtures import SVG, write_good_entry
from test_catalog_cli import run

from spbe_share.lint import lint_file
from spbe_share.lint.checks import CHECKS

REPO = Path(__file__).resolve().parents[2]


def findings(path: Path) -> list[tuple[str, str, int]]:
    r = lint_file(path)
    return [(f.check, f.file.name, f.line) for f in r.findings]


def checks(path: Path) -> set[str]:
    return {c for c, _, _ in findings(path)}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_good_entry(tmp_path / "repo")


def test_complete_entry_is_level_4(good: Path) -> None:
    r = lint_file(good)
    assert r.findings == [] and r.level == 4


def test_real_catalog_reaches_a_good_level() -> None:
    for app in ("e-office", "pengaduan", "ppdb"):
        r = lint_file(REPO / "catalog" / app / "spbe-app.yaml")
        assert r.level >= 3, [f.line_text() for f in r.findings]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_yaml(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_install_guide_sections_and_setting(good: Path) -> None:
    guide = good.parent / "docs" / "instalasi.md"
    edit(guide, "## 4. Pemulihan (rollback)", "## 4. Catatan")
    edit(guide, "Atur `pemda_name`", "Atur nama")
    r = lint_file(good)
    msgs = [f.message for f in r.findings if f.check == "install-missing-section"]
    assert msgs == ["docs/instalasi.md has no section on pemulihan/rollback (a heading naming it)"]
    assert "setting-undocumented" in {f.check for f in r.findings}
    assert r.level == 1


def test_sop_role_steps_stub_title_heading_placeholder(good: Path) -> None:
    sop = good.parent / "docs" / "sop" / "eskalasi.md"
    edit(sop, "**Penanggung jawab:** Administrator server Pemda penerima", "Semua orang.")
    edit(sop, "1. Periksa.\n2. Catat.", "- Periksa.\n- Catat. TODO")
    edit(sop, "## Langkah", "#### Langkah")
    (good.parent / "docs" / "sop" / "backup.md").write_text("Catatan singkat.\n## Langkah\n", encoding="utf-8")
    got = findings(good)
    assert ("sop-no-role", "eskalasi.md", 1) in got
    assert ("sop-no-steps", "eskalasi.md", 1) in got
    assert ("heading-skip", "eskalasi.md", 7) in got
    assert any(c == "doc-placeholder" and f == "eskalasi.md" for c, f, _ in got)
    assert ("doc-stub", "backup.md", 1) in got and ("doc-no-title", "backup.md", 1) in got
    # the install guide links to backup.md#langkah: that anchor still exists
    assert not any(c == "link-broken" for c, _, _ in got)


def test_links_and_images(good: Path) -> None:
    guide = good.parent / "docs" / "panduan-pengguna.md"
    guide.write_text(guide.read_text(encoding="utf-8") + (
        "\n[tidak ada](hilang.md) [keluar](../../rahasia.txt) [jangkar](sop/backup.md#tidak-ada)\n"
        "[skrip](javascript:alert(1)) [lama](http://contoh.go.id) <b>tebal</b>\n\n"
        "![](img/diagram.png) ![hilang](img/x.png) ![remote](https://contoh.go.id/a.png)\n"
    ), encoding="utf-8")  # fmt: skip
    got = findings(good)
    by = {}
    for c, f, line in got:
        by.setdefault(c, []).append((f, line))
    assert len(by["link-broken"]) == 3
    assert by["link-unsafe"] == [("panduan-pengguna.md", 10)]
    assert by["link-insecure"] == [("panduan-pengguna.md", 10)]
    assert by["raw-html"] == [("panduan-pengguna.md", 9)]
    assert by["image-no-alt"] == [("panduan-pengguna.md", 12)]
    assert by["image-missing"] == [("panduan-pengguna.md", 12)]
    assert by["image-remote"] == [("panduan-pengguna.md", 12)]


def test_entry_field_checks(good: Path) -> None:
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["donor"]["contacts"] = [{"name": "Tanpa Kontak"}]
    data["releases"][0]["changelog"] = []
    data["releases"][0]["regulations"][0]["uri"] = "http://example.com/perpres"
    data["releases"][0]["migrates_data"] = True
    data["releases"][0]["version"] = "2.3.4"
    data["summary"]["id"] = "x" * 151
    data["description"]["en"] = "Short."
    data["sharing"]["adopter_provides"] = []
    data["keywords"] = []
    data["secrets"] = [{"name": "DB_PASSWORD"}]
    data["components"][0]["volumes"] = [{"name": "data", "path": "/data"}]
    del data["components"][0]["health"]
    good.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (good.parent / "logo.svg").write_text(SVG.replace("<rect", "<script>alert(1)</script><rect"))
    assert checks(good) == {
        "contact-unreachable", "contact-no-role", "release-no-changelog", "regulation-uri-unofficial",
        "release-migration-undocumented", "summary-too-long", "description-short",
        "adopter-provides-empty", "keywords-missing", "secret-no-description", "volume-not-backed-up",
        "component-no-health", "logo-unsafe", "first-login-missing",
    }  # fmt: skip
    line = next(f for f in lint_file(good).findings if f.check == "contact-unreachable")
    assert line.field == "donor.contacts[0]"
    assert good.read_text().splitlines()[line.line - 1].lstrip().startswith("- name: Tanpa Kontak")


def test_post_install_message_too_long(good: Path) -> None:
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["post_install_message"] = {"id": "Masuk sebagai admin. " * 60, "en": "Log in as admin."}
    good.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    [f] = [f for f in lint_file(good).findings if f.check == "post-install-message-long"]
    assert f.field == "post_install_message.id" and "at most 1000" in f.message


def test_invalid_entry_is_level_0(tmp_path: Path) -> None:
    path = write_good_entry(tmp_path / "repo")
    edit(path, "uri: https://peraturan.go.id/id/perpres-no-95-tahun-2018", "note: none")
    r = lint_file(path)
    assert r.level == 0 and {f.check for f in r.findings} == {"entry-invalid"}
    assert any("regulations[0]" in f.message for f in r.findings)


def test_levels_follow_worst_severity(good: Path) -> None:
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["keywords"] = []  # info
    good.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert lint_file(good).level == 3
    edit(good.parent / "docs" / "sop" / "hak-akses.md", "1. Periksa.", "- Periksa.")  # warning
    edit(good.parent / "docs" / "sop" / "hak-akses.md", "2. Catat.", "- Catat.")
    assert lint_file(good).level == 2


def test_every_check_is_documented_with_its_anchor() -> None:
    text = (REPO / "docs" / "lint.md").read_text(encoding="utf-8")
    documented = re.findall(r"^### ([a-z0-9-]+)$", text, flags=re.M)
    assert sorted(documented) == sorted(CHECKS)
    for cid, check in CHECKS.items():
        section = text.split(f"### {cid}\n", 1)[1]
        assert section.lstrip().startswith(f"**{check.severity.value}.**"), cid


def test_cli_lint_exit_codes_and_json(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_good_entry(repo, "baik")
    bad = write_good_entry(repo, "kurang")
    edit(bad.parent / "docs" / "sop" / "backup.md", "**Penanggung jawab:** Administrator server Pemda penerima", "-")
    r = run(tmp_path, "catalog", "lint", "baik")
    assert r.exit_code == 0 and "builtin/baik: level 4 (excellent)" in r.stdout
    r = run(tmp_path, "catalog", "lint")
    assert r.exit_code == 2
    assert "catalog/kurang/docs/sop/backup.md:1: sop-no-role (error):" in r.stdout
    assert "[docs/lint.md#sop-no-role]" in r.stdout
    assert "1 of 2 entries have errors (level 0 or 1): builtin/kurang" in r.stderr
    r = run(tmp_path, "catalog", "lint", "--json", "kurang")
    data = json.loads(r.stdout)
    assert r.exit_code == 2 and data["ok"] is False
    (entry,) = data["entries"]
    assert entry["level"] == 1 and entry["findings"][0]["check"] == "sop-no-role"
    assert entry["findings"][0]["doc"] == "docs/lint.md#sop-no-role"
    assert run(tmp_path, "catalog", "lint", "tidak-ada").exit_code == 3


def test_list_shows_quality_and_follows_doc_edits(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    path = write_good_entry(repo, "baik")
    r = run(tmp_path, "catalog", "list", "--json")
    assert json.loads(r.stdout)[0]["quality"] == {"level": 4, "name": "excellent", "error": 0, "warning": 0,
                                                   "info": 0}  # fmt: skip
    assert "4 excellent" in run(tmp_path, "catalog", "list").stdout.splitlines()[1]
    # a document changes, the entry file does not: the level follows (cache keyed on every file read)
    (path.parent / "docs" / "sop" / "backup.md").write_text("# SOP\n\nterlalu singkat\n", encoding="utf-8")
    r = run(tmp_path, "catalog", "list", "--json")
    assert json.loads(r.stdout)[0]["quality"]["level"] == 1


def test_a_setting_naming_stored_data_should_be_immutable(good: Path) -> None:
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["settings"].append({"name": "nama_database", "description": "Nama basis data", "default": "app"})
    set_yaml(good, settings=data["settings"])
    msgs = [f.message for f in lint_file(good).findings if f.check == "setting-data-mutable"]
    assert msgs == ["setting 'nama_database' seems to name stored data; mark it immutable: true so `config set`"
                    " cannot point the app at an empty one"]
    data["settings"][-1]["immutable"] = True
    set_yaml(good, settings=data["settings"])
    assert "setting-data-mutable" not in {f.check for f in lint_file(good).findings}


def test_first_login_state_path(good: Path) -> None:
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["secrets"] = [{"name": "ADMIN_PASSWORD", "description": "Kata sandi awal admin"}]
    data["components"][0]["secrets"] = ["ADMIN_PASSWORD"]
    data["first_login"] = {"user": "admin", "secret": "ADMIN_PASSWORD"}
    good.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert "first-login-unchecked" in checks(good)
    data["first_login"]["state_path"] = "/api/v1/first-login"
    good.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert not {"first-login-unchecked", "first-login-state-unreachable"} & checks(good)
    data["components"][0]["health"] = {"type": "command", "command": ["true"]}
    good.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    [f] = [f for f in lint_file(good).findings if f.check == "first-login-state-unreachable"]
    assert f.field == "first_login.state_path" and "no component has one" in f.message
