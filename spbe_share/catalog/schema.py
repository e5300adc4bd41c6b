"""The JSON Schema of ``spbe-app.yaml``, generated from :class:`~spbe_share.catalog.models.Entry`.

The schema is committed as package data (``spbe_share/data/spbe-app.schema.json``) so
editors and other tools can use it without running Python; a unit test asserts the committed
file equals the generated one. Regenerate it after changing the model::

    python3 -m spbe_share.catalog.schema --write
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_ID = "urn:spbe-share:schema:spbe-app:1"
DATA_FILE = "spbe-app.schema.json"


def entry_json_schema() -> dict[str, Any]:
    from .models import Entry

    schema = Entry.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "spbe-share catalog entry (spbe-app.yaml)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    """The generated schema, exactly as committed (2-space indent, trailing newline)."""
    return json.dumps(entry_json_schema(), indent=2, ensure_ascii=False) + "\n"


def committed_schema_text() -> str:
    """The schema shipped as package data (what ``spbe-share catalog schema`` prints)."""
    return resources.files("spbe_share").joinpath("data", DATA_FILE).read_text(encoding="utf-8")


def committed_schema_path() -> Path:
    return Path(str(resources.files("spbe_share").joinpath("data", DATA_FILE)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        committed_schema_path().write_text(schema_text(), encoding="utf-8")
        return 0
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
