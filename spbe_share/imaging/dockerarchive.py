"""Docker image archives <-> content-addressed blobs. Standard library only.

This module has no third-party imports on purpose, so it can be copied to a target
(``python3 dockerarchive.py ...``) and used there to rebuild a ``docker load``-able
tar from the blobs a bundle ships.

* :func:`split_docker_save` reads the stream ``docker save`` writes (legacy layout with
  ``manifest.json`` + ``<id>/layer.tar``, or the OCI layout Docker >= 25 writes with
  ``blobs/sha256/<hex>``) and stores the image config and every layer tar, byte for byte,
  as ``<blob_dir>/<hex>`` where ``<hex>`` is the SHA-256 of the content.
* :func:`write_docker_archive` writes ``manifest.json`` (Config, RepoTags, Layers) followed
  by the referenced blobs as a deterministic tar that ``docker load`` accepts. Every blob's
  digest is checked while it is copied, so a corrupted blob store never loads silently.
  A blob is stored as ``<hex>`` or zstd-compressed as ``<hex>.zst`` (decompressed with the
  ``zstd`` program; its digest is the one of the uncompressed content). Layers the engine
  already holds (a leading ``present`` count) are left out: ``docker load`` only opens the
  layers it lacks.

Nothing here loads a whole layer in memory: data moves in 1 MiB chunks.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import posixpath
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 20
HEX64 = re.compile(r"^[0-9a-f]{64}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Small files of a `docker save` stream (manifest.json, index.json, ...) are kept in memory;
# anything larger is a blob and goes to disk.
_SMALL_LIMIT = 16 << 20
FIXED_MTIME = 0
ZSTD_SUFFIX = ".zst"


class ArchiveError(Exception):
    """The docker archive or the blob store is malformed or corrupted (one-line message)."""


class CorruptBlob(ArchiveError):
    """A stored blob whose content does not match its digest (``path``: the file)."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class SavedImage:
    """One image found in a ``docker save`` stream."""

    config: str  # "sha256:<hex>" = the image id
    layers: tuple[str, ...]  # "sha256:<hex>" of each layer tar, base first
    repo_tags: tuple[str, ...]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_blob(blob_dir: Path, hx: str) -> Path | None:
    """``blob_dir/<hex>`` or ``blob_dir/<hex>.zst``, whichever exists (uncompressed first)."""
    for name in (hx, hx + ZSTD_SUFFIX):
        path = blob_dir / name
        if path.is_file():
            return path
    return None


def zstd_decompress_argv(path: Path) -> list[str]:
    return ["zstd", "-d", "-c", "-q", "--no-progress", "--", str(path)]


@contextlib.contextmanager
def open_blob(path: Path) -> Iterator[IO[bytes]]:
    """The uncompressed content of a blob file (``.zst`` ones through the zstd program)."""
    if not path.name.endswith(ZSTD_SUFFIX):
        with path.open("rb") as f:
            yield f
        return
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv list
            zstd_decompress_argv(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError:
        raise ArchiveError("the zstd program is missing (Debian: apt-get install zstd)") from None
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
        proc.wait()


def hex_of(digest: str) -> str:
    if not DIGEST.match(digest):
        raise ArchiveError(f"not a sha256 digest: {digest!r}")
    return digest.split(":", 1)[1]


def copy_hashing(
    src: IO[bytes], dst: IO[bytes] | None, *, limit: int | None = None
) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` (if any) in chunks; return (sha256 hex, size)."""
    h = hashlib.sha256()
    size = 0
    while True:
        want = CHUNK if limit is None else min(CHUNK, limit - size)
        if want <= 0:
            break
        chunk = src.read(want)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return h.hexdigest(), size


class IterStream(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (e.g. the docker SDK's)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return posixpath.normpath(name)


def split_docker_save(stream: IO[bytes], blob_dir: Path) -> list[SavedImage]:
    """Split a ``docker save`` tar stream into ``blob_dir/<hex>`` files; return its images.

    The stream is read once, sequentially (``tarfile`` stream mode). Each regular member is
    hashed while written; members of the same content are stored once.
    """
    blob_dir.mkdir(parents=True, exist_ok=True)
    by_path: dict[str, tuple[str, int]] = {}  # member path -> (hex, size)
    links: dict[str, str] = {}  # symlink member path -> resolved target path
    small: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = _norm(member.name)
                if member.isdir():
                    continue
                if member.issym():
                    links[name] = posixpath.normpath(
                        posixpath.join(posixpath.dirname(name), member.linkname)
                    )
                    continue
                if member.islnk():
                    links[name] = _norm(member.linkname)
                    continue
                if not member.isfile():
                    raise ArchiveError(f"unexpected member type in docker archive: {name}")
                src = tar.extractfile(member)
                assert src is not None
                if (
                    member.size <= _SMALL_LIMIT
                    and not name.startswith("blobs/")
                    and not name.endswith("layer.tar")
                ):
                    data = src.read()
                    small[name] = data
                    hx = hashlib.sha256(data).hexdigest()
                    if not (blob_dir / hx).exists():
                        _write_atomic(blob_dir / hx, data)
                    by_path[name] = (hx, len(data))
                    continue
                fd, tmp = tempfile.mkstemp(dir=blob_dir, prefix=".part-")
                try:
                    with os.fdopen(fd, "wb") as out:
                        hx, size = copy_hashing(src, out)
                    if (blob_dir / hx).exists():
                        os.unlink(tmp)
                    else:
                        os.replace(tmp, blob_dir / hx)
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
                by_path[name] = (hx, size)
    except tarfile.TarError as exc:
        raise ArchiveError(f"not a docker archive: {exc}") from None

    def resolve(path: str) -> str:
        seen = 0
        path = _norm(path)
        while path in links and seen < 40:
            path = links[path]
            seen += 1
        if path not in by_path:
            raise ArchiveError(f"docker archive lacks member {path}")
        return by_path[path][0]

    if "manifest.json" not in small:
        raise ArchiveError("docker archive has no manifest.json")
    try:  # standard library only here (copied to targets), so not spbe_share.outside.loads_json
        manifest = json.loads(small["manifest.json"])
    except RecursionError:
        raise ArchiveError("docker archive manifest.json is nested too deeply") from None
    except ValueError as exc:
        raise ArchiveError(f"docker archive manifest.json is not JSON: {exc}") from None
    images = []
    for item in manifest:
        config = "sha256:" + resolve(item["Config"])
        layers = tuple("sha256:" + resolve(p) for p in item.get("Layers") or [])
        images.append(
            SavedImage(config=config, layers=layers, repo_tags=tuple(item.get("RepoTags") or []))
        )
    return images


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def regular_tarinfo(name: str, size: int, mtime: int = FIXED_MTIME) -> tarfile.TarInfo:
    """A reproducible regular-file member: fixed mode, owner and mtime."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


class VerifyingReader(io.RawIOBase):
    """Reads a blob and fails at EOF if its SHA-256 or size is not the expected one."""

    def __init__(self, f: IO[bytes], expect_hex: str, expect_size: int, label: str) -> None:
        self._f = f
        self._h = hashlib.sha256()
        self._n = 0
        self._hex = expect_hex
        self._size = expect_size
        self._label = label

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(len(b))
        if data:
            self._h.update(data)
            self._n += len(data)
            b[: len(data)] = data
            return len(data)
        if self._n != self._size or self._h.hexdigest() != self._hex:
            raise ArchiveError(f"blob {self._label} is corrupted (digest or size mismatch)")
        return 0


def archive_manifest(config: str, layers: Sequence[str], repo_tags: Sequence[str]) -> bytes:
    """The ``manifest.json`` of a docker archive whose blobs sit at ``blobs/sha256/<hex>``."""
    doc = [
        {
            "Config": f"blobs/sha256/{hex_of(config)}",
            "RepoTags": list(repo_tags),
            "Layers": [f"blobs/sha256/{hex_of(d)}" for d in layers],
        }
    ]
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_docker_archive(
    out: IO[bytes],
    *,
    blob_dir: Path,
    config: str,
    layers: Sequence[str],
    repo_tags: Sequence[str] = (),
    skip_layers: int = 0,
    sizes: Mapping[str, int] | None = None,
) -> None:
    """Write a deterministic ``docker load``-able tar of one image to ``out``.

    ``blob_dir`` must hold the config and every layer after the first ``skip_layers`` (which
    the engine already holds), as ``<hex>`` or ``<hex>.zst``; each is verified as it is
    copied. ``sizes`` gives the uncompressed size of ``.zst`` blobs (digest -> bytes).
    """
    wanted = [config, *layers[skip_layers:]]
    digests = [d for i, d in enumerate(wanted) if d not in wanted[:i]]
    paths: dict[str, Path] = {}
    for d in digests:
        found = find_blob(blob_dir, hex_of(d))
        if found is None:
            raise ArchiveError(f"blob store {blob_dir} lacks {d}")
        paths[d] = found
    manifest = archive_manifest(config, layers, repo_tags)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(regular_tarinfo("manifest.json", len(manifest)), io.BytesIO(manifest))
        for d in digests:
            hx = hex_of(d)
            path = paths[d]
            if path.name.endswith(ZSTD_SUFFIX):
                if sizes is None or d not in sizes:
                    raise ArchiveError(f"the uncompressed size of {d} is not known")
                size = int(sizes[d])
            else:
                size = path.stat().st_size
            with open_blob(path) as f:
                reader = io.BufferedReader(VerifyingReader(f, hx, size, d), CHUNK)
                try:
                    tar.addfile(regular_tarinfo(f"blobs/sha256/{hx}", size), reader)
                    # tarfile stops reading at `size`; drain to trigger the digest check at EOF.
                    if reader.read(1):
                        raise ArchiveError(f"blob {d} is corrupted (longer than {size} bytes)")
                except ArchiveError as exc:
                    raise CorruptBlob(str(exc), path) from None
                except (OSError, tarfile.TarError) as exc:
                    raise CorruptBlob(f"blob {d} is corrupted or truncated ({exc})", path) from None


def main(argv: list[str] | None = None) -> int:
    """``python3 dockerarchive.py --blobs DIR --config sha256:.. --layer sha256:.. [--tag REF]
    [--present N] [--size sha256:..=BYTES] -o OUT``"""
    p = argparse.ArgumentParser(
        description="Rebuild a docker-load-able tar from content-addressed blobs."
    )
    p.add_argument("--blobs", required=True, type=Path, help="folder holding <hex>[.zst] blob files")
    p.add_argument("--config", required=True, help="sha256:<hex> of the image config")
    p.add_argument(
        "--layer", action="append", default=[], help="sha256:<hex> of a layer, base first"
    )
    p.add_argument("--tag", action="append", default=[], help="repository:tag to give the image")
    p.add_argument("--present", type=int, default=0, help="leading layers the engine already has")
    p.add_argument("--size", action="append", default=[], help="sha256:<hex>=BYTES (uncompressed)")
    p.add_argument("-o", "--output", required=True, help="output tar file, '-' for stdout")
    p.add_argument("--delete-corrupt", action="store_true", help="delete a blob whose content fails its digest")
    args = p.parse_args(argv)
    try:
        sizes = {}
        for item in args.size:
            digest, _, n = item.partition("=")
            hex_of(digest)
            if not n.isdigit():
                raise ArchiveError(f"--size {item!r}: expected sha256:<hex>=BYTES")
            sizes[digest] = int(n)
        kwargs = {
            "blob_dir": args.blobs,
            "config": args.config,
            "layers": args.layer,
            "repo_tags": args.tag,
            "skip_layers": args.present,
            "sizes": sizes,
        }
        if args.output == "-":
            write_docker_archive(sys.stdout.buffer, **kwargs)
        else:
            tmp = args.output + ".part"
            try:
                with open(tmp, "wb") as out:
                    write_docker_archive(out, **kwargs)
                os.replace(tmp, args.output)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except CorruptBlob as exc:
        if args.delete_corrupt:
            exc.path.unlink(missing_ok=True)
        print(f"error: {exc}{' (deleted)' if args.delete_corrupt else ''}", file=sys.stderr)
        return 6
    except ArchiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 6
    except BrokenPipeError:
        print("error: the reader stopped (docker load failed)", file=sys.stderr)
        return 6
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = [
    "ZSTD_SUFFIX",
    "ArchiveError",
    "CorruptBlob",
    "find_blob",
    "open_blob",
    "sha256_hex",
    "IterStream",
    "SavedImage",
    "VerifyingReader",
    "archive_manifest",
    "copy_hashing",
    "hex_of",
    "split_docker_save",
    "write_docker_archive",
]
