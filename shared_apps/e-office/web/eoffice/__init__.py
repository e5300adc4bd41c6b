"""e-Office: surat masuk/keluar, disposisi, tanda tangan elektronik (SPBE shared app).

This source tree is one release: its version is ``__version__`` below, and the schema
migrations it knows are the files in ``migrations/``.
"""

from __future__ import annotations

__version__ = "1.1.1"


def app_version() -> str:
    return __version__
