"""A signed bundle holding only an entry (no images), for the checks an operation makes before
it reads the target: signature, entry, the catalog's donor, trust, agreement. Unit and e2e tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import yaml


def entry_bundle(out: Path, key: Any, data: dict[str, Any], *, version: str | None = None) -> Path:
    """A signed bundle at ``out`` holding only the entry ``data`` (no images): enough for every
    check an operation makes before it reads the target (signature, entry, donor, trust)."""
    from spbe_share.bundle.keyformat import key_id_of
    from spbe_share.bundle.pack import make_manifest, write_bundle

    src = out.with_name(out.name + ".entry.yaml")
    src.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    raw = src.read_bytes()
    manifest = make_manifest(
        app=data["id"], version=version or data["releases"][-1]["version"], created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        signer=key_id_of(key.public_key()), files={"entry/spbe-app.yaml": (hashlib.sha256(raw).hexdigest(), len(raw))},
        images=[],
    )  # fmt: skip
    write_bundle(out, manifest=manifest, key=key, sources={"entry/spbe-app.yaml": src})
    return out
