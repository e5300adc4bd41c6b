"""Files on the operator's machine written whole or not at all: the one write helper.

:func:`atomic_file` is a binary file in the target's folder (a temporary name); when the block
ends without an error it is flushed, fsynced, given its mode, renamed over ``path`` and the
folder fsynced: a reader (another spbe-share, an editor, a crash) sees the old file or the new
one, never half of one. On an error the temporary file is removed and ``path`` is untouched.
:func:`atomic_write_bytes` and :func:`atomic_write_text` write a value that is all in memory.

The target side has its own (standard library only): ``playbooks/module_utils/spbe_files.py``.

Not through here, on purpose: content-addressed stores (layer and blob caches, extracted
bundles), whose files are written under a temporary name and renamed to their digest once it is
known, and are verified against it whenever they are read; and folders swapped whole (an
extracted bundle, the built site).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    """Make a rename in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Write ``path`` through the yielded file; it replaces ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all."""
    with atomic_file(path, mode) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``path`` (UTF-8) whole or not at all."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


__all__ = ["atomic_file", "atomic_write_bytes", "atomic_write_text", "fsync_dir"]
