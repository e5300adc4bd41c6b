"""Deterministic .docx files: the same content always gives the same bytes.

python-docx (and docxtpl, which uses it) stamps every zip member with the current time;
:func:`normalize_docx` rewrites the archive with a fixed time, fixed order and fixed
compression, so a template built by a script is reproducible and a draft can be diffed.
"""

from __future__ import annotations

import io
import zipfile

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def normalize_docx(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    names = src.namelist()
    # [Content_Types].xml first, as Word writes it; the rest in a stable order
    order = sorted(names, key=lambda n: (n != "[Content_Types].xml", n))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            dst.writestr(info, src.read(name), compresslevel=9)
    return out.getvalue()
