"""e-Office: surat masuk/keluar, disposisi, tanda tangan elektronik (SPBE shared app).

One source tree builds every release: ``APP_VERSION`` (baked into the image env at build
time) decides which features and which schema migrations this process uses.
"""

from __future__ import annotations

import os

DEFAULT_VERSION = "1.1.0"


def app_version() -> str:
    return os.environ.get("APP_VERSION") or DEFAULT_VERSION
