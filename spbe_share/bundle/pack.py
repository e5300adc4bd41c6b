"""Build a signed bundle ``<app>-<version>.spbe`` (one deterministic tar).

Member order: ``spbe-bundle.json``, ``spbe-bundle.json.sig``, then every other member sorted
by path (``blobs/sha256/<hex>[.zst]``, ``entry/...``, ``playbooks/...``, ``sbom/...``,
``templates/...``). ``sbom/<component>.cdx.json`` is the CycloneDX SBOM of each image
(:mod:`.sbom`), read from its layers while they are bundled.
Every member is a regular file with mode 0644, uid/gid 0, no owner names and mtime = the
manifest's ``created``; there are no directory entries. So the same inputs give the same bytes.

Image blobs (configs and layers) are zstd-compressed by default (``compression="none"``
keeps them as they are); the manifest records both the digest of the content and the digest
of the stored bytes. Compression is deterministic (fixed level per size, one thread, content
size in the frame header) and cached per blob in the workspace.

Images come from the layer cache that ``app build`` fills (:mod:`spbe_share.imaging.finalize`)
when it holds every blob, else they are streamed out of the Docker engine (``docker save``) and
split into content-addressed blobs on disk; nothing holds a whole layer in memory.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import EnvironmentProblem, InvalidInput, NotFound
from ..files import atomic_file
from ..i18n import N_
from ..imaging import dockerarchive as da
from ..meter import Count, CountingFile, Meter, counted
from ..outside import MISSING, link_problem
from .manifest import (
    FORMAT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    BundleFile,
    BundleImage,
    BundleManifest,
    blob_path,
    member_path_problem,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..catalog.loader import LoadedEntry
    from ..workspace import Workspace

Progress = Callable[[str], None]
BuildMode = Literal["missing", "always", "never"]
CompressionMode = Literal["zstd", "none"]
COMPRESSIONS: tuple[str, ...] = ("zstd", "none")
SKIP_NAMES = {"__pycache__", ".git", ".DS_Store"}
# Release records written by `publish` live in the entry folder but are not part of a release.
ENTRY_EXCLUDE_DIRS = {"releases"}


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    manifest: BundleManifest
    sha256: str  # of the whole bundle file
    size: int


def bundle_filename(app: str, version: str) -> str:
    return f"{app}-{version}.spbe"


def default_created(release_date: dt.date) -> dt.datetime:
    """``$SOURCE_DATE_EPOCH`` if set, else the release's date at 00:00 UTC (reproducible)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    return dt.datetime(release_date.year, release_date.month, release_date.day, tzinfo=dt.UTC)


# ------------------------------------------------------------------ files of the bundle


def _walk(base: Path, prefix: str, *, exclude_top: Iterable[str] = ()) -> dict[str, Path]:
    out: dict[str, Path] = {}
    excluded = set(exclude_top)
    if not base.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        d = Path(dirpath)
        rel_dir = d.relative_to(base)
        dirnames[:] = sorted(
            n
            for n in dirnames
            if n not in SKIP_NAMES
            and not n.startswith(".")
            and not (rel_dir == Path(".") and n in excluded)
        )
        for n in dirnames:
            if (d / n).is_symlink():
                raise InvalidInput(
                    f"{d / n}: symbolic links are not bundled; copy the files instead"
                )
        for n in sorted(filenames):
            if n in SKIP_NAMES or n.startswith(".") or n.endswith((".pyc", ".retry")):
                continue
            p = d / n
            if p.is_symlink() or not p.is_file():
                raise InvalidInput(
                    f"{p}: only regular files are bundled (no symbolic links or devices)"
                )
            member = (
                f"{prefix}{(rel_dir / n).as_posix()}" if str(rel_dir) != "." else f"{prefix}{n}"
            )
            problem = member_path_problem(member)
            if problem:
                raise InvalidInput(f"{p}: cannot be bundled: {problem}")
            out[member] = p
    return out


def collect_files(loaded: LoadedEntry, *, playbooks_dir: Path | None) -> dict[str, Path]:
    """member path -> local file for ``entry/``, ``templates/`` and ``playbooks/``."""
    files = _walk(loaded.entry_dir, "entry/", exclude_top=ENTRY_EXCLUDE_DIRS)
    entry = loaded.entry
    for i, comp in enumerate(entry.components):
        for j, cf in enumerate(comp.config):
            if not cf.template.startswith("templates/"):
                from ..yamlio import load_yaml

                line = load_yaml(loaded.path).line_of(("components", i, "config", j, "template"))
                raise InvalidInput(
                    f"{loaded.path}:{line}: components[{i}].config[{j}].template: "
                    "must be under templates/ to be bundled"
                )
            src = loaded.repo_root / cf.template
            problem = link_problem(loaded.repo_root, cf.template)  # no symlink on its way
            if problem == MISSING:
                raise NotFound(
                    f"{loaded.path}: components[{i}].config[{j}].template: {src} not found"
                )
            if problem:
                raise InvalidInput(f"{loaded.path}: components[{i}].config[{j}].template: {cf.template}: {problem}")
            files[cf.template] = src
    if playbooks_dir is not None:
        files.update(_walk(playbooks_dir, "playbooks/"))
    return files


def hash_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as f:
        return da.copy_hashing(f, None)


# ------------------------------------------------------------------ images


def docker_client() -> Any:
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover
        raise EnvironmentProblem(
            "the Python package 'docker' is missing: pip install docker"
        ) from None
    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except DockerException as exc:
        raise EnvironmentProblem(f"cannot reach the Docker engine: {exc}") from None
    return client


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        dst.hardlink_to(src)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


def export_image(
    client: Any, *, component: str, ref: str, blob_dir: Path, cache: Path | None = None,
    meter: Meter | None = None,
) -> BundleImage:
    """One image's config and layers as ``blob_dir/<hex>`` blobs: from the layer ``cache``
    (``<cache>/sha256/<hex>``, filled by ``app build``) when it holds them all, else streamed
    out of the engine with ``docker save``. Either way every blob is re-hashed when bundled.
    ``meter`` is told the bytes read from the engine (their total is not known before the end)."""
    from docker.errors import ImageNotFound

    try:
        info = client.api.inspect_image(ref)
    except ImageNotFound:
        raise NotFound(
            f"image {ref} is not in the Docker engine (build it: spbe-share app build)"
        ) from None
    config = str(info["Id"])
    layers = list((info.get("RootFS") or {}).get("Layers") or [])
    if cache is not None:
        wanted = [d.split(":", 1)[1] for d in [config, *layers]]
        if all((cache / "sha256" / hx).is_file() for hx in wanted):
            blob_dir.mkdir(parents=True, exist_ok=True)
            for hx in wanted:
                _link_or_copy(cache / "sha256" / hx, blob_dir / hx)
            return BundleImage(component=component, ref=ref, config=config, layers=layers)
    chunks = client.api.get_image(ref, chunk_size=da.CHUNK)
    count = Count(meter, N_(f"exporting {ref}"), None) if meter is not None else None
    stream = io.BufferedReader(da.IterStream(chunks if count is None else counted(chunks, count)), da.CHUNK)
    try:
        saved = da.split_docker_save(stream, blob_dir)
    except da.ArchiveError as exc:
        raise EnvironmentProblem(f"docker save {ref}: {exc}") from None
    if count is not None:
        count.end()
    matches = [s for s in saved if ref in s.repo_tags] or saved
    if len(matches) != 1:
        raise EnvironmentProblem(f"docker save {ref}: expected one image, got {len(saved)}")
    img = matches[0]
    return BundleImage(component=component, ref=ref, config=img.config, layers=list(img.layers))


def ensure_images(
    ws: Workspace,
    loaded: LoadedEntry,
    version: str,
    *,
    build: BuildMode,
    client: Any,
    progress: Progress,
    source_commit: str | None = None,
) -> list[tuple[str, str]]:
    """(component, ref) of every component image, building them as ``build`` says."""
    from docker.errors import ImageNotFound

    refs = [(c.name, f"{c.image}:{version}") for c in loaded.entry.components]
    missing = []
    for _comp, ref in refs:
        try:
            client.images.get(ref)
        except ImageNotFound:
            missing.append(ref)
    if build == "always" or (build == "missing" and missing):
        from ..imaging.app import build_app

        progress(f"building images of {loaded.entry.id} {version}")
        build_app(ws, loaded, version, progress=progress, commit=source_commit)
    elif missing:
        raise NotFound(
            f"image {missing[0]} is not in the Docker engine; build it (spbe-share app build) "
            "or drop --no-build"
        )
    return refs


# ------------------------------------------------------------------ the SBOM of each image


def write_sboms(ws: Workspace, *, app: str, version: str, images: list[BundleImage], blob_dir: Path,
                out_dir: Path, created: dt.datetime) -> dict[str, Path]:  # fmt: skip
    """member path -> file of the CycloneDX SBOM of every image (read from its layers in
    ``blob_dir``; the package inventory is cached per image id in the workspace)."""
    from .sbom import cached_inventory, render_sbom, sbom_member

    out: dict[str, Path] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for img in images:
        layers = [blob_dir / d.split(":", 1)[1] for d in img.layers]
        inv = cached_inventory(layers, image_id=img.config, cache=ws.cache_dir / "sbom")
        path = out_dir / f"{img.component}.cdx.json"
        path.write_bytes(render_sbom(inv, app=app, version=version, component=img.component, ref=img.ref,
                                     image_id=img.config, created=created))  # fmt: skip
        out[sbom_member(img.component)] = path
    return out


# ------------------------------------------------------------------ writing the tar


FileSpec = tuple[str, int] | tuple[str, int, str, int]


def make_manifest(
    *,
    app: str,
    version: str,
    created: dt.datetime,
    signer: str,
    files: Mapping[str, FileSpec],
    images: list[BundleImage],
) -> BundleManifest:
    """``files``: member path -> (sha256, size) or, for a zstd-compressed blob,
    (sha256, size, stored sha256, stored size)."""
    entries = []
    for path, spec in sorted(files.items()):
        if len(spec) == 4:
            h, n, sh, sn = spec
            entries.append(
                BundleFile(path=path, sha256=h, size=n, compression="zstd", stored_sha256=sh, stored_size=sn)
            )
        else:
            h, n = spec[0], spec[1]
            entries.append(BundleFile(path=path, sha256=h, size=n))
    return BundleManifest(
        format=FORMAT, app=app, version=version, created=created, signer=signer,
        files=entries, images=images,
    )  # fmt: skip


# ------------------------------------------------------------------ compression


def zstd_level(size: int) -> int:
    """Compression level by content size: small blobs (configs, app code) squeezed hard,
    big layers fast. A pure function of the size, so the output stays deterministic."""
    if size <= 1 << 20:
        return 19
    if size <= 16 << 20:
        return 12
    return 3


def compressed_path(src: Path, hx: str, *, cache: Path | None, out_dir: Path) -> Path:
    """Where :func:`compress_blob` keeps ``src`` compressed (it is there when cached)."""
    return (cache if cache is not None else out_dir) / f"{hx}.{zstd_level(src.stat().st_size)}.zst"


def compress_blob(
    src: Path, hx: str, *, cache: Path | None, out_dir: Path, count: Count | None = None
) -> tuple[Path, str, int]:
    """``src`` (content with sha256 ``hx``) zstd-compressed; returns (path, stored sha256, size).

    Cached as ``<cache>/<hex>.<level>.zst``; the content is re-hashed while compressed, and
    counted in ``count`` as it is read (a cached blob is not read: not counted).
    """
    try:
        import zstandard
    except ImportError:  # pragma: no cover
        raise EnvironmentProblem("the Python package 'zstandard' is missing: pip install zstandard") from None
    size = src.stat().st_size
    level = zstd_level(size)
    dst = compressed_path(src, hx, cache=cache, out_dir=out_dir)
    where = dst.parent
    where.mkdir(parents=True, exist_ok=True)
    if not dst.is_file():
        cctx = zstandard.ZstdCompressor(level=level, write_checksum=False, write_content_size=True, threads=0)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, src.open("rb") as f:
                reader = da.VerifyingReader(f if count is None else CountingFile(f, count), hx, size,  # type: ignore[arg-type]
                                            f"blob sha256:{hx}")
                cctx.copy_stream(io.BufferedReader(reader, da.CHUNK), out, size=size)
            os.replace(tmp, dst)
        except da.ArchiveError as exc:
            raise EnvironmentProblem(f"{src}: {exc}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    with dst.open("rb") as f:
        stored_hx, stored_size = da.copy_hashing(f, None)
    return dst, stored_hx, stored_size


def write_bundle(
    out: Path,
    *,
    manifest: BundleManifest,
    key: Ed25519PrivateKey,
    sources: Mapping[str, Path],
    manifest_bytes: bytes | None = None,
) -> tuple[str, int]:
    """Sign ``manifest`` and write the bundle tar to ``out`` atomically; return (sha256, size).

    ``sources`` maps every member path of the manifest to the local file holding its stored
    bytes; each file is re-hashed while copied, so a file that changed since hashing aborts
    the build.
    ``manifest_bytes`` overrides the manifest bytes (tests only: to craft malformed bundles).
    """
    data = manifest_bytes if manifest_bytes is not None else manifest.to_bytes()
    sig = (base64.b64encode(key.sign(data)).decode() + "\n").encode()
    mtime = int(manifest.created.timestamp())
    with atomic_file(out, mode=0o600) as raw, tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(da.regular_tarinfo(MANIFEST_NAME, len(data), mtime), io.BytesIO(data))
        tar.addfile(da.regular_tarinfo(SIGNATURE_NAME, len(sig), mtime), io.BytesIO(sig))
        for f in manifest.files:
            src = sources[f.path]
            with src.open("rb") as fh:
                reader = io.BufferedReader(
                    da.VerifyingReader(fh, f.member_sha256, f.member_size, f.path), da.CHUNK
                )
                try:
                    tar.addfile(da.regular_tarinfo(f.path, f.member_size, mtime), reader)
                    reader.read(1)
                except (da.ArchiveError, tarfile.TarError, OSError) as exc:
                    raise InvalidInput(
                        f"{src}: changed while being bundled ({exc})"
                    ) from None
    with open(out, "rb") as fh:
        digest, size = da.copy_hashing(fh, None)
    return digest, size


# ------------------------------------------------------------------ the whole build


def build_bundle(
    ws: Workspace,
    loaded: LoadedEntry,
    *,
    version: str,
    key: Ed25519PrivateKey,
    output: Path | None = None,
    build: BuildMode = "missing",
    force: bool = False,
    created: dt.datetime | None = None,
    playbooks_dir: Path | None = None,
    progress: Progress | None = None,
    compression: CompressionMode = "zstd",
    source_commit: str | None = None,
    meter: Meter | None = None,
) -> BuiltBundle:
    """Pack ``loaded`` at release ``version`` into a signed bundle (default in ``ws.bundles_dir``).

    Images it builds take the release's recorded commit, else ``source_commit``, else the
    working tree (see :func:`spbe_share.imaging.app.build_app`). ``meter`` is told the bytes of
    the image exports and of the compression (of the blobs not compressed yet: a known total)."""
    from .keyformat import key_id_of

    say = progress or (lambda _m: None)
    entry = loaded.entry
    try:
        release = entry.release(version)
    except KeyError:
        known = ", ".join(r.version for r in entry.releases)
        raise NotFound(f"app {entry.id!r} has no release {version!r} (releases: {known})") from None
    if compression not in COMPRESSIONS:
        raise InvalidInput(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    out = output or ws.bundles_dir / bundle_filename(entry.id, version)
    if out.exists() and not force:
        from ..errors import Conflict

        raise Conflict(f"{out} already exists (use --force to replace it)")
    files = collect_files(
        loaded, playbooks_dir=ws.playbooks_dir if playbooks_dir is None else playbooks_dir
    )
    client = docker_client()
    refs = ensure_images(
        ws, loaded, version, build=build, client=client, progress=say, source_commit=source_commit
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".spbe-bundle-", dir=out.parent) as tmp:
        blob_dir = Path(tmp) / "blobs"
        images = []
        for comp, ref in refs:
            say(f"exporting {ref}")
            images.append(
                export_image(client, component=comp, ref=ref, blob_dir=blob_dir, cache=ws.build_cache_dir / "layers",
                             meter=meter)
            )
        hashed: dict[str, FileSpec] = {}
        sources: dict[str, Path] = {}
        digests = sorted({d for img in images for d in img.blob_digests})
        squeeze = None
        if compression == "zstd":
            say(f"compressing {len(digests)} blobs (zstd)")
            if meter is not None:
                todo = [blob_dir / d.split(":", 1)[1] for d in digests]
                zstd_cache = ws.build_cache_dir / "blobs-zstd"
                left = sum(p.stat().st_size for p in todo
                           if not compressed_path(p, p.name, cache=zstd_cache, out_dir=Path(tmp) / "zstd").is_file())
                squeeze = Count(meter, N_("compressing (zstd)"), left) if left else None
        for d in digests:
            hx = d.split(":", 1)[1]
            raw = blob_dir / hx
            size = raw.stat().st_size
            if compression == "zstd":
                packed, stored_hx, stored_size = compress_blob(
                    raw, hx, cache=ws.build_cache_dir / "blobs-zstd", out_dir=Path(tmp) / "zstd", count=squeeze
                )
                member = blob_path(d, "zstd")
                sources[member] = packed
                hashed[member] = (hx, size, stored_hx, stored_size)
            else:
                member = blob_path(d)
                sources[member] = raw
                hashed[member] = (hx, size)
        if squeeze is not None:
            squeeze.end()
        when = created or default_created(release.date)
        say(f"writing the SBOM of {len(images)} image(s)")
        files.update(write_sboms(ws, app=entry.id, version=version, images=images, blob_dir=blob_dir,
                                 out_dir=Path(tmp) / "sbom", created=when))  # fmt: skip
        for member, path in files.items():
            hashed[member] = hash_file(path)
            sources[member] = path
        manifest = make_manifest(
            app=entry.id,
            version=version,
            created=when,
            signer=key_id_of(key.public_key()),
            files=hashed,
            images=images,
        )
        say(f"writing {out}")
        digest, size = write_bundle(out, manifest=manifest, key=key, sources=sources)
    return BuiltBundle(path=out, manifest=manifest, sha256=digest, size=size)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(da.CHUNK):
            h.update(chunk)
    return h.hexdigest()
