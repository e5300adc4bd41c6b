#!/usr/bin/env python3
"""Writes templates/mou/pks.docx from spbe_share/mou/docx_template.py (deterministic)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spbe_share.mou.docx_template import build_template  # noqa: E402

out = ROOT / "templates" / "mou" / "pks.docx"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_bytes(build_template())
print(f"wrote {out.relative_to(ROOT)}")
