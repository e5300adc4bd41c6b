"""Files on a target written whole or not at all (standard library only, Python 3.11).

The one write helper of the target side: the Ansible modules import it as
``ansible.module_utils.spbe_files``, the scripts get it sent with them or installed beside
them (see README.md in this folder).

* :func:`write_atomic` replaces a file: a new temporary file in the same folder, written,
  fsynced, given its mode (and owner), renamed over the old one, the folder fsynced. A reader
  sees the old content or the new one, never half; after a power cut it is one of them.
* :func:`write_new` creates a file that must not exist yet (``O_CREAT|O_EXCL``: a lock, a
  generated secret), fsynced with its folder; :class:`FileExistsError` when it exists.
"""

from __future__ import annotations

import os


def fsync_dir(path: str) -> None:
    """Make a rename or a new name in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_atomic(path: str, data: bytes, mode: int = 0o600, *, uid: int | None = None,
                 gid: int | None = None) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``, owner ``uid``:``gid`` when given)."""
    folder = os.path.dirname(path) or "."
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if uid is not None or gid is not None:
            os.chown(tmp, -1 if uid is None else uid, -1 if gid is None else gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)


def write_new(path: str, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` holding ``data``; :class:`FileExistsError` if it exists (nothing written)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:  # a half-written file is no lock and no secret
        os.unlink(path)
        raise
    fsync_dir(os.path.dirname(path) or ".")
