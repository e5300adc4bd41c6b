"""PPDB: penerimaan peserta didik baru daring (SPBE shared app of a Dinas Pendidikan).

This source tree is one release: its version is ``__version__`` below, the regulation it
implements is in ``aturan.py``, and the schema migrations it knows are the files in
``migrations/``.
"""

from __future__ import annotations

__version__ = "2.0.1"


def app_version() -> str:
    return __version__
