"""publiccode.yml (standard versions 0.x): offline validation, export from and import into the catalog.

- :func:`validate_publiccode` / :func:`validate_publiccode_text`: offline validator
  (:mod:`.validator`), problems named like the reference parser names them;
- :func:`export_publiccode`: a catalog entry as publiccode.yml (:mod:`.export`);
- :func:`draft_from_publiccode`: a draft spbe-app.yaml from a publiccode.yml (:mod:`.draft`).

Import is light: the validator's heavier helpers (langcodes, license-expression, regex)
load only when a file is validated.
"""

from __future__ import annotations

from .draft import draft_from_publiccode
from .export import export_publiccode, publiccode_data
from .validator import (
    Problem,
    PubliccodeReport,
    validate_publiccode,
    validate_publiccode_text,
)

__all__ = [
    "Problem",
    "PubliccodeReport",
    "draft_from_publiccode",
    "export_publiccode",
    "publiccode_data",
    "validate_publiccode",
    "validate_publiccode_text",
]
