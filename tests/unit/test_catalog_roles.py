"""Roles in the catalog format (issue 19): an entry spreads its components over hosts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from catalog_fixtures import entry_data, write_entry
from doc_fixtures import write_good_entry
from test_catalog_loader import line_of, problems_of

from spbe_share.catalog.loader import check_entry
from spbe_share.catalog.models import Entry
from spbe_share.catalog.schema import entry_json_schema
from spbe_share.lint import lint_file

REPO = Path(__file__).resolve().parents[2]
WEB = {"name": "web", "minimum": {"cpu_cores": 1, "memory_mb": 512, "disk_gb": 5},
       "recommended": {"cpu_cores": 4, "memory_mb": 8192, "disk_gb": 100}}  # fmt: skip
DB = {"name": "database", "minimum": {"cpu_cores": 1, "memory_mb": 1024, "disk_gb": 10}}


def roles(*items: dict[str, Any]) -> list[dict[str, Any]]:
    return [copy.deepcopy(i) for i in items]  # no YAML aliases


def two_components(**web: Any) -> list[dict[str, Any]]:
    base = entry_data("surat")["components"][0]
    db = {**base, "name": "db", "image": "spbe-share/surat-db", "ports": [], "role": "database"}
    db.pop("config", None)
    return [copy.deepcopy({**base, "role": "web", **web}), copy.deepcopy(db)]


def test_single_server_entry_is_unchanged() -> None:
    e = Entry.model_validate(entry_data("surat"))
    assert e.roles == [] and all(c.role is None for c in e.components)


def test_roles_and_components(tmp_path: Path) -> None:
    path = write_entry(tmp_path / "repo", "surat", roles=roles(WEB, DB), components=two_components())
    assert problems_of(path) == []
    e = check_entry(path)[0].entry  # type: ignore[union-attr]
    assert [c.name for c in e.components_of("database")] == ["db"]
    web, db = e.roles
    assert web.wanted.memory_mb == 8192 and db.wanted == db.minimum  # no recommended: the minimum


def test_component_naming_an_undeclared_role(tmp_path: Path) -> None:
    path = write_entry(tmp_path / "repo", "surat", roles=roles(WEB, DB), components=two_components(role="frontend"))
    text = path.read_text()
    assert problems_of(path) == [
        f"{path}:{line_of(text, 'role: frontend')}: components[0].role: Value error, component 'web' names role 'frontend',"
        " which is not declared (roles: web, database)"
    ]


def test_component_without_role_when_roles_exist(tmp_path: Path) -> None:
    comps = two_components()
    del comps[1]["role"]
    path = write_entry(tmp_path / "repo", "surat", roles=roles(WEB, DB), components=comps)
    text = path.read_text()
    line = line_of(text, "name: db", line_of(text, "components:"))
    assert problems_of(path) == [
        f"{path}:{line}: components[1]: Value error, component 'db' has no role (the entry declares roles: web, database)"
    ]


def test_role_without_roles_and_duplicates_and_minimum(tmp_path: Path) -> None:
    comp = {**entry_data("surat")["components"][0], "role": "web"}
    path = write_entry(tmp_path / "repo", "surat", components=[comp])
    assert problems_of(path) == [f"{path}:{line_of(path.read_text(), 'role: web')}: components[0].role:"
                                 " Value error, component 'web' names role 'web' but the entry declares no 'roles'"]
    path = write_entry(tmp_path / "r2", "surat", roles=roles(WEB, {**DB, "name": "web"}), components=two_components())
    [problem] = problems_of(path)
    assert problem.endswith(": roles[1].name: Value error, role 'web' is declared twice")
    low = {**WEB, "recommended": {"cpu_cores": 4, "memory_mb": 256, "disk_gb": 100}}
    path = write_entry(tmp_path / "r3", "surat", roles=roles(low, DB), components=two_components())
    [problem] = problems_of(path)
    assert "roles[0]: Value error, recommended memory_mb 256 is below the minimum 512" in problem
    bad = {**DB, "name": "Data-Base"}
    path = write_entry(tmp_path / "r4", "surat", roles=roles(WEB, bad), components=two_components())
    assert any("roles[1].name:" in p for p in problems_of(path))


def test_schema_covers_roles() -> None:
    schema = entry_json_schema()
    assert schema["properties"]["roles"]["items"] == {"$ref": "#/$defs/Role"}
    assert set(schema["$defs"]["Role"]["properties"]) == {"name", "description", "minimum", "recommended"}
    assert "role" in schema["$defs"]["Component"]["properties"]
    committed = json.loads((REPO / "spbe_share" / "data" / "spbe-app.schema.json").read_text())
    assert committed == schema


def test_ppdb_has_three_roles_with_the_specification() -> None:
    data = yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text())
    e = Entry.model_validate(data)
    rec = {r.name: r.recommended.model_dump() for r in e.roles if r.recommended}
    assert rec == {
        "web": {"cpu_cores": 8, "memory_mb": 32768, "disk_gb": 500},
        "database": {"cpu_cores": 12, "memory_mb": 32768, "disk_gb": 600},
        "backup": {"cpu_cores": 8, "memory_mb": 32768, "disk_gb": 600},
    }
    assert {c.name: c.role for c in e.components} == {"db": "database", "web": "web"}
    for r in e.roles:
        assert r.recommended is not None and r.minimum.model_dump().items() <= {
            k: min(v, r.recommended.model_dump()[k]) for k, v in r.minimum.model_dump().items()}.items()


def test_lint_roles(tmp_path: Path) -> None:
    idle = {"name": "cache", "minimum": {"cpu_cores": 1, "memory_mb": 256, "disk_gb": 1}}
    backup = {"name": "backup", "minimum": {"cpu_cores": 1, "memory_mb": 256, "disk_gb": 1},
              "recommended": {"cpu_cores": 1, "memory_mb": 256, "disk_gb": 1}}  # fmt: skip
    path = write_good_entry(tmp_path / "repo", "surat", roles=roles(WEB, DB, idle, backup),
                            components=two_components())  # fmt: skip
    found = {(f.check, f.message) for f in lint_file(path).findings if f.check.startswith("role-")}
    assert found == {
        ("role-no-component", "role 'cache' carries no component: a host would be prepared for nothing"),
        ("role-no-recommended", "role 'database' has only a minimum: say what the adopter should prepare"
                                " (recommended)"),
        ("role-no-recommended", "role 'cache' has only a minimum: say what the adopter should prepare"
                                " (recommended)"),
        *{("role-undocumented", f"role {n!r} is not mentioned in docs/instalasi.md")
          for n in ("web", "database", "cache")}, # the guide names backups,
    }  # fmt: skip
    guide = path.parent / "docs" / "instalasi.md"
    guide.write_text(guide.read_text() + "\nPeran: web, database, cache dan backup.\n")
    assert {f.check for f in lint_file(path).findings if f.check == "role-undocumented"} == set()
