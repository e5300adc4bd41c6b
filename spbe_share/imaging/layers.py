"""Deterministic image layers. Standard library only.
One file on purpose (~520 lines): one normalisation pass over a tar, read top to bottom.

A layer is a tar of a filesystem change. Two builds of the same source give different
tars because of time stamps, entry order, owner names, logs, caches and other files that
record *when* or *where* something ran. This module rewrites layers so that the same
content always gives the same bytes:

* entries sorted by path (parents before children), one entry per path;
* every time stamp set to :data:`FIXED_MTIME`; owner names dropped (numeric ids kept);
  modes, devices and extended attributes (``SCHILY.xattr.*``) kept, other PAX records
  (atime, ctime) dropped;
* files that only record the build run are dropped (:func:`dropped`): logs, apt and ldconfig
  caches, ``*-old``/``*-`` backups, ``/tmp``, and ``.pyc`` files that are timestamp-based
  (stale once times are fixed; hash-based ones are kept);
* ``etc/shadow``: the "last password change" day is set to the day of :data:`FIXED_MTIME`;
* hard links: in each set of linked paths the first one in sorted order holds the data.

A layer written here, read back and normalized again gives the same bytes (idempotent).

:func:`group_layers` merges a layer into the previous one when it deletes (whiteout) what
that one added, e.g. ``COPY wheels/`` followed by ``RUN pip install ... && rm -rf wheels``:
the merged layer holds the installed packages and not the wheels.
"""

# Over 500 lines on purpose: one idea, a deterministic layer tar; its reader, normalizer and writer share one member model.

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z
SHADOW_DAY = FIXED_MTIME // 86400
CHUNK = 1 << 20
# Bump when the normalization rules change: it is part of the cache key of normalized layers.
RULES_VERSION = "1"

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

Opener = Callable[[], IO[bytes]]


class LayerError(Exception):
    """A layer tar could not be read or has an entry that cannot be kept (one-line message)."""


@dataclass(frozen=True)
class Member:
    """One entry of a layer. ``data`` opens the content of a regular file."""

    path: str
    kind: str  # file, dir, symlink, hardlink, char, block, fifo
    mode: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, str], ...] = ()
    data: Opener | None = None
    link_key: str = ""  # members with the same non-empty key are hard links of one file

    @property
    def is_whiteout(self) -> bool:
        return posixpath.basename(self.path).startswith(WHITEOUT)


# ------------------------------------------------------------------ rules


_DROP_EXACT = {
    "var/cache/ldconfig/aux-cache",
    "etc/passwd-",
    "etc/group-",
    "etc/shadow-",
    "etc/gshadow-",
    "etc/subuid-",
    "etc/subgid-",
    "root/.wget-hsts",
    "root/.python_history",
    "root/.bash_history",
    "etc/.pwd.lock",
}
# Everything strictly below these folders is dropped (the folders themselves are kept).
_DROP_BELOW = (
    "var/log/",
    "tmp/",
    "var/tmp/",
    "root/.cache/",
    "var/cache/apt/",
    "var/lib/apt/lists/",
)
_KEEP_BELOW = {"var/lib/apt/lists/partial", "var/cache/apt/archives", "var/cache/apt/archives/partial"}
_DROP_SUFFIX_IN = {"var/cache/debconf/": "-old", "var/lib/dpkg/": "-old"}


def norm_path(name: str) -> str:
    """``./a/b/`` -> ``a/b``; refuses paths that leave the layer."""
    path = name
    while path.startswith("./"):
        path = path[2:]
    path = path.strip("/")
    if not path or path == ".":
        return ""
    parts = path.split("/")
    if any(p in ("..",) for p in parts):
        raise LayerError(f"layer entry {name!r} leaves the layer")
    return posixpath.normpath(path)


def dropped(path: str, kind: str) -> bool:
    """True for entries that only record the build run (see the module docstring)."""
    if path in _DROP_EXACT:
        return True
    for prefix in _DROP_BELOW:
        if path.startswith(prefix):
            return not (kind == "dir" and (path in _KEEP_BELOW or path.startswith("var/log/")))
    for folder, suffix in _DROP_SUFFIX_IN.items():
        if path.startswith(folder) and path.endswith(suffix):
            return True
    return False


def whiteout_target(path: str) -> str:
    """``a/.wh.b`` -> ``a/b``; ``a/.wh..wh..opq`` -> ``a`` (the folder made opaque)."""
    head, base = posixpath.split(path)
    if base == OPAQUE:
        return head
    return posixpath.join(head, base[len(WHITEOUT) :]) if head else base[len(WHITEOUT) :]


def whiteout_of(path: str) -> str:
    """``a/b`` -> ``a/.wh.b`` (the entry that deletes ``a/b``)."""
    head, base = posixpath.split(path)
    return posixpath.join(head, WHITEOUT + base) if head else WHITEOUT + base


def _is_timestamp_pyc(member: Member) -> bool:
    if member.kind != "file" or not member.path.endswith(".pyc") or member.data is None:
        return False
    with member.data() as f:
        head = f.read(16)
    # PEP 552: bytes 4..8 are the flags; 0 = validated by the source's mtime and size.
    return len(head) < 16 or int.from_bytes(head[4:8], "little") == 0


def _rewrite_shadow(data: bytes) -> bytes:
    out = []
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        fields = line.split(":")
        if len(fields) == 9 and fields[2].isdigit():
            fields[2] = str(SHADOW_DAY)
        out.append(":".join(fields))
    return "\n".join(out).encode("utf-8", "surrogateescape")


def _bytes_opener(data: bytes) -> Opener:
    return lambda: io.BytesIO(data)


def sort_key(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


def normalize(members: Iterable[Member]) -> list[Member]:
    """Apply the rules of this module; returns the members in write order."""
    kept: dict[str, Member] = {}
    for m in members:
        if not m.path:
            continue
        target = whiteout_target(m.path) if m.is_whiteout else m.path
        if dropped(target, "file" if m.is_whiteout else m.kind):
            continue
        if _is_timestamp_pyc(m):
            continue
        if m.path == "etc/shadow" and m.kind == "file" and m.data is not None:
            with m.data() as f:
                new = _rewrite_shadow(f.read())
            m = replace(m, data=_bytes_opener(new), size=len(new))
        kept[m.path] = replace(m, xattrs=tuple(sorted(m.xattrs)))
    ordered = sorted(kept.values(), key=lambda m: sort_key(m.path))
    # hard links: the first path of each set (in write order) carries the data
    first: dict[str, str] = {}
    out: list[Member] = []
    for m in ordered:
        if m.link_key and m.kind in ("file", "hardlink"):
            holder = first.get(m.link_key)
            if holder is None:
                first[m.link_key] = m.path
                out.append(replace(m, kind="file", linkname=""))
            else:
                out.append(replace(m, kind="hardlink", linkname=holder, size=0, data=None))
        else:
            out.append(m)
    return out


# ------------------------------------------------------------------ reading


class _Window(io.RawIOBase):
    """Read ``size`` bytes of ``path`` from ``offset``."""

    def __init__(self, path: str, offset: int, size: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed with the window
        self._f.seek(offset)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        n = self._f.readinto(memoryview(b)[: min(len(b), self._left)])
        self._left -= n or 0
        return n or 0

    def close(self) -> None:
        self._f.close()
        super().close()


def _kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.ischr():
        return "char"
    if info.isblk():
        return "block"
    if info.isfifo():
        return "fifo"
    raise LayerError(f"layer entry {info.name!r}: unsupported type {info.type!r}")


def members_of_tar(path: Path) -> list[Member]:
    """The entries of the layer tar at ``path`` (uncompressed), in tar order.

    Hard links get the data and ``link_key`` of their target; a later entry for the same
    path replaces an earlier one.
    """
    out: dict[str, Member] = {}
    by_name: dict[str, Member] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                name = norm_path(info.name)
                kind = _kind(info)
                xattrs = tuple(
                    (k, v)
                    for k, v in info.pax_headers.items()
                    if k.startswith("SCHILY.xattr.") and k != "SCHILY.xattr.security.selinux"
                )
                m = Member(
                    path=name,
                    kind=kind,
                    mode=info.mode & 0o7777,
                    uid=info.uid,
                    gid=info.gid,
                    size=info.size if kind == "file" else 0,
                    linkname=info.linkname if kind == "symlink" else "",
                    devmajor=info.devmajor if kind in ("char", "block") else 0,
                    devminor=info.devminor if kind in ("char", "block") else 0,
                    xattrs=xattrs,
                )
                if kind == "file":
                    if info.sparse is not None:
                        raise LayerError(f"layer entry {info.name!r}: sparse files are not supported")
                    m = replace(m, data=_window_opener(str(path), info.offset_data, info.size))
                elif kind == "hardlink":
                    target = by_name.get(norm_path(info.linkname))
                    if target is None or target.kind != "file":
                        raise LayerError(f"layer entry {info.name!r}: hard link to a missing file")
                    key = target.link_key or target.path
                    if not target.link_key:
                        target = replace(target, link_key=key)
                        by_name[target.path] = target
                        out[target.path] = target
                    m = replace(
                        m, kind="file", size=target.size, data=target.data, link_key=key,
                        mode=target.mode, uid=target.uid, gid=target.gid, xattrs=target.xattrs,
                    )  # fmt: skip
                if name:
                    out.pop(name, None)
                    out[name] = m
                    by_name[name] = m
    except (tarfile.TarError, OSError, UnicodeError) as exc:
        raise LayerError(f"{path}: not a readable layer tar ({exc})") from None
    return list(out.values())


def _window_opener(path: str, offset: int, size: int) -> Opener:
    return lambda: io.BufferedReader(_Window(path, offset, size), CHUNK)


def members_of_tree(root: Path, *, skip_top: Sequence[str] = ("dev", "proc", "sys")) -> list[Member]:
    """The entries of a directory tree (e.g. a debootstrap root), as a layer would hold them."""
    out: list[Member] = []
    inodes: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in skip_top]
            for d in skip_top:
                if (root / d).is_dir():
                    st = os.lstat(root / d)
                    out.append(Member(path=d, kind="dir", mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid))
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            base: dict[str, Any] = {"path": rel, "mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid}
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFDIR:
                out.append(Member(kind="dir", xattrs=_xattrs(full), **base))
            elif fmt == stat.S_IFLNK:
                out.append(Member(kind="symlink", linkname=os.readlink(full), **base))
            elif fmt == stat.S_IFREG:
                key = ""
                if st.st_nlink > 1:
                    key = inodes.setdefault((st.st_dev, st.st_ino), rel)
                out.append(
                    Member(
                        kind="file", size=st.st_size, xattrs=_xattrs(full), link_key=key,
                        data=_file_opener(full), **base,
                    )
                )  # fmt: skip
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                out.append(
                    Member(
                        kind="char" if fmt == stat.S_IFCHR else "block",
                        devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev), **base,
                    )
                )  # fmt: skip
            elif fmt == stat.S_IFIFO:
                out.append(Member(kind="fifo", **base))
            # sockets are not kept (they cannot be in a tar)
    return out


def _file_opener(path: str) -> Opener:
    return lambda: open(path, "rb")  # noqa: SIM115 - the caller closes it


def _xattrs(path: str) -> tuple[tuple[str, str], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    out = []
    for name in names:
        if name == "security.selinux":
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        out.append((f"SCHILY.xattr.{name}", value.decode("utf-8", "surrogateescape")))
    return tuple(sorted(out))


# ------------------------------------------------------------------ merging layers


def squash(layers: Sequence[Sequence[Member]]) -> list[Member]:
    """Apply several layers in order into one: later entries and whiteouts win.

    A whiteout is kept in the result (it may hide a path of a lower layer outside the set).
    """
    view: dict[str, Member] = {}
    for layer in layers:
        for m in layer:
            if m.is_whiteout:
                target = whiteout_target(m.path)
                opaque = posixpath.basename(m.path) == OPAQUE
                prefix = target + "/"
                for p in [p for p in view if p.startswith(prefix) or (not opaque and p == target)]:
                    del view[p]
                view[m.path] = m
                continue
            if m.kind != "dir":
                prefix = m.path + "/"
                for p in [p for p in view if p.startswith(prefix)]:
                    del view[p]
            if view.pop(whiteout_of(m.path), None) is not None and m.kind == "dir":
                # deleted then made again: what lower layers had in it stays hidden
                opaque_path = posixpath.join(m.path, OPAQUE)
                view[opaque_path] = Member(path=opaque_path, kind="file", mode=0, data=_bytes_opener(b""))
            view[m.path] = m
    return list(view.values())


def group_layers(layers: Sequence[Sequence[Member]]) -> list[list[int]]:
    """Indexes of ``layers`` grouped: a layer joins the previous group when one of its
    whiteouts removes a path that group added (so deleted files are not shipped)."""
    groups: list[list[int]] = []
    added: set[str] = set()
    for i, layer in enumerate(layers):
        targets = [whiteout_target(m.path) for m in layer if m.is_whiteout]
        hit = any(t in added or any(a.startswith(t + "/") for a in added) for t in targets) if groups else False
        if hit:
            groups[-1].append(i)
        else:
            groups.append([i])
            added = set()
        added.update(m.path for m in layer if not m.is_whiteout and m.kind != "dir")
    return groups


# ------------------------------------------------------------------ writing


def tarinfo_of(m: Member) -> tarfile.TarInfo:
    info = tarfile.TarInfo(m.path + ("/" if m.kind == "dir" else ""))
    info.type = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "char": tarfile.CHRTYPE,
        "block": tarfile.BLKTYPE,
        "fifo": tarfile.FIFOTYPE,
    }[m.kind]
    info.mode = m.mode
    info.uid, info.gid = m.uid, m.gid
    info.uname = info.gname = ""
    info.mtime = FIXED_MTIME
    info.size = m.size if m.kind == "file" else 0
    info.linkname = m.linkname
    info.devmajor, info.devminor = m.devmajor, m.devminor
    if m.xattrs:
        info.pax_headers = dict(m.xattrs)
    return info


def write_layer(members: Sequence[Member], out: IO[bytes]) -> None:
    """Write ``members`` (already :func:`normalize`\\ d) as a tar to ``out``."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
        for m in members:
            info = tarinfo_of(m)
            if m.kind == "file":
                if m.data is None:
                    raise LayerError(f"layer entry {m.path!r} has no data")
                with m.data() as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


class _HashingWriter(io.RawIOBase):
    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._f.write(b)
        self.hash.update(b)
        self.size += len(b)
        return len(b)


def write_layer_blob(members: Sequence[Member], blob_dir: Path) -> tuple[str, int]:
    """Write a layer into ``blob_dir/<sha256 hex>`` atomically; returns (hex, size)."""
    blob_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=blob_dir, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as raw:
            w = _HashingWriter(raw)
            write_layer(members, w)  # type: ignore[arg-type]
        hx = w.hash.hexdigest()
        os.replace(tmp, blob_dir / hx)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return hx, w.size


def normalize_layers(paths: Sequence[Path], blob_dir: Path) -> list[tuple[str, int]]:
    """Normalize the layer tars at ``paths`` (in order) into blobs; returns (hex, size) of
    each output layer. Layers are merged as :func:`group_layers` says; empty ones vanish."""
    layers = [members_of_tar(p) for p in paths]
    out = []
    for group in group_layers(layers):
        members = normalize(squash([layers[i] for i in group]))
        if members:
            out.append(write_layer_blob(members, blob_dir))
    return out


__all__ = [
    "FIXED_MTIME",
    "LayerError",
    "Member",
    "dropped",
    "group_layers",
    "members_of_tar",
    "members_of_tree",
    "normalize",
    "normalize_layers",
    "squash",
    "write_layer",
    "write_layer_blob",
]
