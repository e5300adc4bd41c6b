"""publiccode.yml (standard versions 0.x): offline validation, export from and import into the catalog.

Import is light: the validator's heavier helpers (langcodes, license-expression, regex)
load only when a file is validated.
"""

from __future__ import annotations

from .validator import (
    Problem,
    PubliccodeReport,
    validate_publiccode,
    validate_publiccode_text,
)

__all__ = [
    "Problem",
    "PubliccodeReport",
    "validate_publiccode",
    "validate_publiccode_text",
]
