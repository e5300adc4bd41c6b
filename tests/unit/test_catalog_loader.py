"""Loading and checking catalog entries: every invalid case gives its exact problem line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from catalog_fixtures import entry_data, write_entry

from spbe_share.catalog.loader import (
    discover_entries,
    get_entry,
    load_catalog,
    load_entry,
    validate_paths,
)
from spbe_share.catalog.roots import BUILTIN, CatalogRoot
from spbe_share.errors import InvalidInput, NotFound, ValidationFailed
from spbe_share.workspace import Workspace


def line_of(text: str, needle: str, start: int = 0) -> int:
    """1-based number of the first line (from ``start``) containing ``needle``."""
    for i, line in enumerate(text.splitlines()[start:], start=start + 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


def base_text(app_id: str = "surat") -> str:
    return yaml.safe_dump(entry_data(app_id), sort_keys=False, allow_unicode=True)


def problems_of(path: Path) -> list[str]:
    return validate_paths([path]).problems


def test_valid_entry_loads(tmp_path: Path) -> None:
    path = write_entry(tmp_path / "repo", "surat")
    loaded = load_entry(path)
    assert loaded.id == "surat"
    assert loaded.entry_dir == path.parent
    assert loaded.repo_root == tmp_path / "repo"
    assert loaded.source == BUILTIN and loaded.commit is None
    assert loaded.resolve("docs/instalasi.md").is_file()
    assert loaded.resolve("shared_apps/surat/web", "repo").is_dir()
    report = validate_paths([tmp_path / "repo"])
    assert report.ok and report.checked == 1


def test_unknown_key(tmp_path: Path) -> None:
    text = base_text().replace("license: EUPL-1.2\n", "license: EUPL-1.2\ncolour: merah\n")
    path = write_entry(tmp_path, "surat", text=text)
    assert problems_of(path) == [f"{path}:{line_of(text, 'colour:')}: colour: unknown key"]


def test_unknown_nested_key(tmp_path: Path) -> None:
    text = base_text().replace("  cpu_cores: 1\n", "  cpu_cores: 1\n  gpu: 1\n")
    path = write_entry(tmp_path, "surat", text=text)
    assert problems_of(path) == [f"{path}:{line_of(text, 'gpu:')}: requirements.gpu: unknown key"]


def test_wrong_type(tmp_path: Path) -> None:
    text = base_text().replace("cpu_cores: 1", "cpu_cores: dua")
    path = write_entry(tmp_path, "surat", text=text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, 'cpu_cores:')}: requirements.cpu_cores: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_missing_required_top_level_and_nested(tmp_path: Path) -> None:
    text = base_text().replace("license: EUPL-1.2\n", "").replace(
        "  unit: Dinas Komunikasi dan Informatika\n", ""
    )
    path = write_entry(tmp_path, "surat", text=text)
    assert sorted(problems_of(path)) == sorted([
        # a missing key has no line of its own: its parent's line (the file's first line at top level)
        f"{path}:{line_of(text, 'donor:')}: donor.unit: required field is missing",
        f"{path}:1: license: required field is missing",
    ])


def test_bad_slug(tmp_path: Path) -> None:
    text = base_text().replace("id: surat\n", "id: Surat_Masuk\n")
    path = write_entry(tmp_path, "surat", folder="Surat_Masuk", text=text)
    assert problems_of(path) == [
        f"{path}:2: id: must be lowercase letters, digits and '-' (e.g. 'surat-masuk')"
    ]


def test_bad_semver(tmp_path: Path) -> None:
    text = base_text().replace("version: 1.0.0", "version: '1.0'")
    path = write_entry(tmp_path, "surat", text=text)
    assert problems_of(path) == [
        f"{path}:{line_of(text, '- version:')}: releases[0].version: "
        "must be a Semantic Version such as 1.2.0 or 2.0.0-rc.1"
    ]


def test_missing_doc_file(tmp_path: Path) -> None:
    path = write_entry(tmp_path, "surat")
    (path.parent / "docs/sop/backup.md").unlink()
    text = path.read_text()
    sop = line_of(text, "sop:")
    assert problems_of(path) == [
        f"{path}:{line_of(text, 'backup:', sop)}: docs.sop.backup: file not found: docs/sop/backup.md"
    ]


def test_missing_build_context_and_template(tmp_path: Path) -> None:
    comp = entry_data("surat")["components"][0]
    comp = {**comp, "config": [{"template": "templates/surat/app.ini.j2", "path": "/etc/app.ini"}]}
    path = write_entry(tmp_path, "surat", components=[comp])
    text = path.read_text()
    (tmp_path / "templates/surat/app.ini.j2").unlink()
    import shutil

    shutil.rmtree(tmp_path / "shared_apps")
    assert problems_of(path) == [
        f"{path}:{line_of(text, 'context:')}: components[0].build.context: "
        "directory not found: shared_apps/surat/web",
        f"{path}:{line_of(text, 'template:')}: components[0].config[0].template: "
        "file not found: templates/surat/app.ini.j2",
    ]


def test_bad_yaml_syntax(tmp_path: Path) -> None:
    text = base_text().replace("name: Aplikasi surat", "name: [Aplikasi surat")
    path = write_entry(tmp_path, "surat", text=text)
    assert problems_of(path) == [f"{path}:4: (yaml): did not find expected ',' or ']'"]


def test_duplicate_key(tmp_path: Path) -> None:
    text = base_text().replace("license: EUPL-1.2\n", "license: EUPL-1.2\nname: Nama Lain\n")
    path = write_entry(tmp_path, "surat", text=text)
    assert problems_of(path) == [f"{path}:{line_of(text, 'name: Nama Lain')}: name: duplicate key"]


def test_folder_name_must_equal_id(tmp_path: Path) -> None:
    path = write_entry(tmp_path, "surat", folder="surat-lama")
    assert problems_of(path) == [f"{path}:2: id: must equal the entry's folder name 'surat-lama'"]


def test_cross_reference_error_is_reported(tmp_path: Path) -> None:
    comp = {**entry_data("surat")["components"][0], "secrets": ["DB_PASSWORD"]}
    path = write_entry(tmp_path, "surat", components=[comp])
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:1: (file): ")
    assert "uses secret 'DB_PASSWORD' not declared in 'secrets'" in problem


def test_all_problems_of_all_files_are_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    good = write_entry(repo, "baik")
    bad1 = write_entry(repo, "satu", text=base_text("satu").replace("jenis: umum", "jenis: campuran"))
    bad2 = write_entry(repo, "dua", text=base_text("dua").replace("cpu_cores: 1", "cpu_cores: 0"))
    (bad2.parent / "compose.yaml").unlink()  # not reported: the model failed first
    write_entry(repo, "_draf", text="id: [rusak")  # skipped: folder starts with '_'
    (repo / "catalog" / ".git").mkdir()
    report = validate_paths([repo])
    assert report.checked == 3
    assert [e.path for e in report.entries] == [good]
    assert report.problems == [
        f"{bad2}:{line_of(bad2.read_text(), 'cpu_cores:')}: requirements.cpu_cores: "
        "Input should be greater than or equal to 1",
        f"{bad1}:{line_of(bad1.read_text(), 'jenis:')}: classification.jenis: "
        "Input should be 'umum' or 'khusus'",
    ]


def test_validate_paths_accepts_files_folders_and_roots(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    a = write_entry(repo, "a-app")
    b = write_entry(repo, "b-app")
    assert [e.path for e in validate_paths([a]).entries] == [a]
    assert [e.path for e in validate_paths([b.parent]).entries] == [b]
    assert [e.path for e in validate_paths([repo / "catalog"]).entries] == [a, b]
    assert [e.path for e in validate_paths([repo, a]).entries] == [a, b]  # no double check
    missing = tmp_path / "nope"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert validate_paths([missing, empty]).problems == [
        f"{missing}: not found",
        f"{empty}: no catalog entries found (expected catalog/<id>/spbe-app.yaml)",
    ]


def test_discover_skips_hidden_and_underscore(tmp_path: Path) -> None:
    write_entry(tmp_path, "zeta")
    write_entry(tmp_path, "alfa")
    write_entry(tmp_path, "_template", files=False)
    (tmp_path / "catalog" / "kosong").mkdir()
    assert [p.parent.name for p in discover_entries(tmp_path / "catalog")] == ["alfa", "zeta"]


def test_load_entry_raises_with_all_problems(tmp_path: Path) -> None:
    path = write_entry(tmp_path, "surat", files=False)
    with pytest.raises(ValidationFailed) as err:
        load_entry(path)
    assert len(err.value.problems) == 9  # 7 docs + compose + build context
    assert all(p.startswith(f"{path}:") for p in err.value.problems)


def test_catalog_keeps_duplicates_and_get_asks_for_source(tmp_path: Path) -> None:
    write_entry(tmp_path / "a", "surat")
    write_entry(tmp_path / "b", "surat")
    write_entry(tmp_path / "b", "lain")
    cat = load_catalog([CatalogRoot(BUILTIN, tmp_path / "a"), CatalogRoot("donor-b", tmp_path / "b", "abc")])
    assert sorted(e.qualified_id for e in cat.entries) == ["builtin/surat", "donor-b/lain", "donor-b/surat"]
    assert cat.duplicates() == {"surat": ["builtin", "donor-b"]}
    assert cat.get("lain").source == "donor-b"
    assert cat.get("donor-b/surat").commit == "abc"
    with pytest.raises(InvalidInput, match=r"several sources \(builtin, donor-b\).*SOURCE/APP"):
        cat.get("surat")
    with pytest.raises(NotFound):
        cat.get("tidak-ada")


def test_get_entry_from_workspace(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "home", root=tmp_path / "repo")
    write_entry(ws.root, "surat")
    assert get_entry(ws, "surat").path == ws.catalog_dir / "surat" / "spbe-app.yaml"
    assert get_entry(ws, "builtin/surat").id == "surat"
    with pytest.raises(NotFound, match="no app 'tidak-ada'"):
        get_entry(ws, "tidak-ada")
    with pytest.raises(NotFound, match="unknown catalog source 'x'"):
        get_entry(ws, "x/surat")
    for bad in ("../surat", "_draf", ""):
        with pytest.raises(NotFound):
            get_entry(ws, bad)
    write_entry(ws.root, "rusak", files=False)
    with pytest.raises(ValidationFailed):
        get_entry(ws, "rusak")


def test_first_login_must_name_a_secret_a_component_uses(tmp_path: Path) -> None:
    login = {"user": "admin", "secret": "ADMIN_PASSWORD"}
    path = write_entry(tmp_path / "a", "surat", first_login=login)
    [problem] = problems_of(path)
    assert "first_login names secret 'ADMIN_PASSWORD' not declared in 'secrets'" in problem
    path = write_entry(tmp_path / "b", "surat", first_login=login, secrets=[{"name": "ADMIN_PASSWORD"}])
    [problem] = problems_of(path)
    assert "first_login names secret 'ADMIN_PASSWORD' that no component uses" in problem
    comp = {**entry_data("surat")["components"][0], "secrets": ["ADMIN_PASSWORD"]}
    path = write_entry(tmp_path / "c", "surat", first_login={**login, "user": "ad min"},
                       secrets=[{"name": "ADMIN_PASSWORD"}], components=[comp])
    [problem] = problems_of(path)
    assert "first_login.user:" in problem
    path = write_entry(tmp_path / "d", "surat", first_login=login, secrets=[{"name": "ADMIN_PASSWORD"}],
                       components=[comp], post_install_message={"id": "Masuk sebagai admin."})
    [problem] = problems_of(path)
    assert "post_install_message.en:" in problem
