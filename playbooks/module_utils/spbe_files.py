"""Files on a target written whole or not at all (standard library only, Python 3.11).

The one write helper of the target side: the Ansible modules import it as
``ansible.module_utils.spbe_files``, the scripts get it sent with them or installed beside
them (see README.md in this folder).

* :func:`write_atomic` replaces a file: a new temporary file in the same folder, written,
  fsynced, given its mode (and owner), renamed over the old one, the folder fsynced. A reader
  sees the old content or the new one, never half; after a power cut it is one of them.
  :func:`replacing` is the same for content written as it streams (the file to write is
  yielded; an exception in the block leaves the old file and no temporary one).
* :func:`write_new` creates a file that must not exist yet (``O_CREAT|O_EXCL``: a lock, a
  generated secret), fsynced with its folder; :class:`FileExistsError` when it exists.
* :func:`replace_if_different`, :func:`ensure_dir`: a file or folder made right the way
  Ansible's copy and file do it (only what differs; a file's new content by :func:`write_atomic`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO


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


@contextmanager
def replacing(path: str, mode: int = 0o600, *, uid: int | None = None,
              gid: int | None = None) -> Iterator[BinaryIO]:
    """Replace ``path`` with what the block writes to the yielded file (mode ``mode``, owner
    ``uid``:``gid`` when given), whole or not at all."""
    folder = os.path.dirname(path) or "."
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
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


def write_atomic(path: str, data: bytes, mode: int = 0o600, *, uid: int | None = None,
                 gid: int | None = None) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``, owner ``uid``:``gid`` when given)."""
    with replacing(path, mode, uid=uid, gid=gid) as out:
        out.write(data)


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


def _holds(path: str, data: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(data) + 1) == data


def replace_if_different(path: str, data: bytes, mode: int = 0o644, *, uid: int | None = None,
                         gid: int | None = None, check: bool = False) -> bool:
    """Make ``path`` hold ``data`` with mode ``mode`` (and owner ``uid``:``gid`` when given),
    like Ansible's copy: a file whose content differs is replaced whole (:func:`write_atomic`, a
    new inode: a bind-mounted file is replaced, not edited; a replaced file keeps its owner when
    none is given); a file whose content is right only gets its mode and owner fixed. True when
    anything changed (or, with ``check``, would change)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is None or not _holds(path, data):
        if not check:
            if st is not None:  # the replacing file keeps the old one's owner (copy's atomic_move)
                uid = st.st_uid if uid is None and st.st_uid != os.geteuid() else uid
                gid = st.st_gid if gid is None and st.st_gid != os.getegid() else gid
            write_atomic(path, data, mode, uid=uid, gid=gid)
        return True
    return fix_attributes(path, st, mode, uid=uid, gid=gid, check=check)


def ensure_dir(path: str, mode: int = 0o755, *, uid: int | None = None, gid: int | None = None,
               check: bool = False) -> bool:
    """A folder ``path`` (its missing parents too) with mode ``mode`` (and owner), like Ansible's
    file state=directory. True when anything changed (or, with ``check``, would change)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if check:
            return True
        os.makedirs(path, exist_ok=True)
        st = os.stat(path)
        fix_attributes(path, st, mode, uid=uid, gid=gid)
        return True
    return fix_attributes(path, st, mode, uid=uid, gid=gid, check=check)


def fix_attributes(path: str, st: os.stat_result, mode: int, *, uid: int | None = None,
                   gid: int | None = None, check: bool = False) -> bool:
    """Give ``path`` (whose stat is ``st``) mode ``mode`` and owner ``uid``:``gid`` where they
    differ; True when anything differed."""
    changed = False
    if (uid is not None and st.st_uid != uid) or (gid is not None and st.st_gid != gid):
        if not check:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        changed = True
    if st.st_mode & 0o7777 != mode:
        if not check:
            os.chmod(path, mode)
        changed = True
    return changed
