"""The committed JSON Schema matches the model; the commented example entry is valid."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from catalog_fixtures import write_support_files

from spbe_share.catalog.loader import check_entry
from spbe_share.catalog.models import Entry
from spbe_share.catalog.schema import committed_schema_text, entry_json_schema, schema_text
from spbe_share.yamlio import load_yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "spbe-app.example.yaml"


def test_committed_schema_equals_generated() -> None:
    committed = (REPO / "spbe_share" / "data" / "spbe-app.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "regenerate: python3 -m spbe_share.catalog.schema --write"
    assert committed_schema_text() == committed  # found as package data


def test_schema_describes_the_model() -> None:
    schema = entry_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False  # unknown keys are errors
    assert set(schema["properties"]) == set(Entry.model_fields)
    assert set(schema["required"]) == {n for n, f in Entry.model_fields.items() if f.is_required()}
    json.dumps(schema)  # serialisable


def _top_level_keys_commented(text: str) -> dict[str, bool]:
    """For each top-level key: is it preceded by a comment line?"""
    lines = text.splitlines()
    out = {}
    for i, line in enumerate(lines):
        if line and not line.startswith((" ", "#", "-")) and ":" in line:
            key = line.split(":", 1)[0]
            out[key] = i > 0 and lines[i - 1].lstrip().startswith("#")
    return out


def test_example_documents_every_field() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = load_yaml(EXAMPLE).data
    # every top-level field of the model is present and has a comment above it
    assert _top_level_keys_commented(text) == {k: True for k in Entry.model_fields}
    # every optional field of nested models appears somewhere, so all are documented
    for name in ("logo", "role", "phone", "adopter_provides", "published", "protocol", "dockerfile",
                 "command", "env", "config", "depends_on", "length", "default", "required",
                 "databases", "migrates_data", "upgrades_from", "language", "ansible_vars", "keywords"):
        assert f"{name}:" in text, name
    assert {c["health"]["type"] for c in data["components"]} == {"http", "command"}


def test_example_is_a_valid_entry(tmp_path: Path) -> None:
    data = load_yaml(EXAMPLE).data
    repo = tmp_path / "repo"
    entry_dir = repo / "catalog" / data["id"]
    entry_dir.mkdir(parents=True)
    shutil.copy(EXAMPLE, entry_dir / "spbe-app.yaml")
    # the files the example names (with the fixture's doc names plus logo and ansible vars)
    write_support_files(repo, yaml.safe_load(EXAMPLE.read_text()))
    (entry_dir / "logo.png").write_bytes(b"\x89PNG\r\n")
    (entry_dir / "ansible-vars.yml").write_text("{}\n")
    loaded, problems = check_entry(entry_dir / "spbe-app.yaml")
    assert problems == []
    assert loaded is not None
    assert loaded.entry.latest.version == "1.1.0"
    assert [s.name for s in loaded.entry.secrets] == ["DB_PASSWORD", "SESSION_KEY", "ADMIN_PASSWORD"]
    assert loaded.entry.first_login is not None and loaded.entry.first_login.user == "admin"
    assert loaded.entry.post_install_message is not None
