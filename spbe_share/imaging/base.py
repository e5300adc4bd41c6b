"""The Debian base image, reproducible: debootstrap, trimmed, normalized, loaded.

``spbe-share/base:bookworm`` is built from the machine's own apt mirror (no registry):

1. ``debootstrap --variant=minbase --include=python3 bookworm`` into a temporary root;
2. caches, docs, man pages and locales removed (:func:`spbe_share.imaging.base.trim_rootfs`), and
   the files debootstrap copies from the build host (``etc/hostname``, ``etc/resolv.conf``,
   ``etc/hosts``) removed: the engine provides them in every container;
3. Python's byte code rebuilt inside the root with ``PYTHONHASHSEED=0`` as hash-based
   ``.pyc`` files, whose bytes depend only on the source;
4. the tree written as one deterministic layer (:mod:`.layers`), the config written by
   spbe-share (:mod:`.assemble`), and both ``docker load``\\ ed.

Two builds from the same mirror state give the same layer and the same image id. What
depends on the mirror: the package versions it serves when debootstrap runs (a mirror that
moved to a new point release gives a new base layer, and so new app layers above it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem
from . import assemble, layers

BASE_IMAGE = "spbe-share/base:bookworm"
BASE_SUITE = "bookworm"
# Bump when the recipe changes: an existing base image with another recipe is rebuilt.
BASE_RECIPE = "2"
LABEL_RECIPE = "id.go.spbe.base-recipe"
OCI = "org.opencontainers.image"
HOST_FILES = ("etc/hostname", "etc/resolv.conf", "etc/hosts")
BASE_ENV = ["LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

Progress = Callable[[str], None]


def python_dirs(rootfs: Path) -> list[str]:
    """Folders (as seen inside the root) whose Python byte code is rebuilt."""
    found = sorted(p.name for p in (rootfs / "usr" / "lib").glob("python3.*") if p.is_dir())
    out = [f"/usr/lib/{name}" for name in found]
    if (rootfs / "usr/lib/python3/dist-packages").is_dir():
        out.append("/usr/lib/python3/dist-packages")
    return out


def compileall_argv(rootfs: Path, folders: list[str]) -> list[str]:
    """Rebuild byte code inside ``rootfs`` as hash-based .pyc (run with PYTHONHASHSEED=0)."""
    return [
        "chroot", str(rootfs), "/usr/bin/python3", "-m", "compileall", "-q", "-f",
        "--invalidation-mode", "checked-hash", *folders,
    ]  # fmt: skip


def base_labels(suite: str = BASE_SUITE) -> dict[str, str]:
    return {
        f"{OCI}.title": "spbe-share-base",
        f"{OCI}.base.name": f"debian:{suite}",
        f"{OCI}.description": f"Debian {suite} minbase with python3",
        LABEL_RECIPE: BASE_RECIPE,
    }


def base_config(diff_id: str, *, suite: str = BASE_SUITE) -> bytes:
    """The base image's config (pure)."""
    return assemble.image_config(
        runtime={"Env": BASE_ENV, "Cmd": ["/bin/bash"]},
        labels=base_labels(suite),
        diff_ids=[diff_id],
        history=[f"spbe-share base: debootstrap --variant=minbase --include=python3 {suite}"],
        created=assemble.rfc3339(layers.FIXED_MTIME),
    )


def strip_host_files(rootfs: Path) -> list[str]:
    removed = []
    for rel in HOST_FILES:
        path = rootfs / rel
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(rel)
    return removed


def rebuild_bytecode(rootfs: Path) -> None:
    folders = python_dirs(rootfs)
    if not folders:
        return
    for pyc in rootfs.glob("usr/lib/python3*/**/*.pyc"):
        pyc.unlink()
    env = {**os.environ, "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": str(layers.FIXED_MTIME)}
    proc = subprocess.run(  # noqa: S603 - argv list
        compileall_argv(rootfs, folders), capture_output=True, text=True, check=False, env=env
    )
    if proc.returncode != 0:
        from .engine import BuildFailed

        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise BuildFailed(f"compiling the base image's Python byte code failed: {last[-1] if last else proc.returncode}")


def image_recipe(client: Any, tag: str) -> str | None:
    from docker.errors import ImageNotFound

    try:
        labels = (client.api.inspect_image(tag).get("Config") or {}).get("Labels") or {}
    except ImageNotFound:
        return None
    return str(labels.get(LABEL_RECIPE, ""))


def ensure_base_image(
    *,
    mirror: str | None = None,
    force: bool = False,
    tag: str = BASE_IMAGE,
    progress: Progress | None = None,
    tmp_dir: Path | None = None,
) -> str:
    """Make sure the base image ``tag`` exists with this recipe; build it if not. Returns its id."""
    from .apt import host_debian_mirror
    from .engine import docker_client, run_tool

    say = progress or (lambda _m: None)
    client = docker_client()
    recipe = image_recipe(client, tag)
    if not force and recipe == BASE_RECIPE:
        return str(client.api.inspect_image(tag)["Id"])
    if recipe is not None and not force:
        say(f"{tag} was made by an older recipe ({recipe or 'none'}): rebuilding it reproducibly")
    if os.geteuid() != 0:
        raise EnvironmentProblem("building the base image runs debootstrap, which needs root")
    debootstrap = _find_debootstrap()
    mirror = (mirror or host_debian_mirror()).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="spbe-base-", dir=tmp_dir) as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"debootstrap {BASE_SUITE} from {mirror} (a few minutes)")
        argv = debootstrap_argv(rootfs, mirror)
        argv[0] = debootstrap
        run_tool(argv, what="debootstrap")
        removed = trim_rootfs(rootfs) + strip_host_files(rootfs)
        say(f"trimmed {len(removed)} cache/doc/locale/host entries; rebuilding Python byte code")
        rebuild_bytecode(rootfs)
        blob_dir = Path(tmp) / "blobs"
        hx, size = layers.write_layer_blob(layers.normalize(layers.members_of_tree(rootfs)), blob_dir)
        say(f"base layer sha256:{hx[:12]} ({size / 1e6:.0f} MB); docker load as {tag}")
        diff_id = f"sha256:{hx}"
        return assemble.load_image(
            client, config=base_config(diff_id), diff_ids=[diff_id], blob_dir=blob_dir, ref=tag,
            tmp_dir=Path(tmp),
        )  # fmt: skip


__all__ = ["BASE_IMAGE", "BASE_RECIPE", "base_config", "compileall_argv", "ensure_base_image"]


def debootstrap_argv(target: Path, mirror: str, *, suite: str = BASE_SUITE) -> list[str]:
    return ["debootstrap", "--variant=minbase", "--include=python3", suite, str(target), mirror]


# Removed from the debootstrap tree: downloaded packages, apt lists, docs, man pages, locales.
_TRIM_GLOBS = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/archives/partial/*",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "var/log/*.log",
    "var/log/apt/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/lintian/*",
    "usr/share/locale/*",
)


_KEEP = {"usr/share/locale/locale.alias", "var/lib/apt/lists/partial"}


_DPKG_NODOC = """\
# spbe-share: keep images small (no docs, man pages or translations)
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""


_APT_CLEAN = """\
// spbe-share: do not keep downloaded packages in image layers
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
"""


def trim_rootfs(rootfs: Path) -> list[str]:
    """Delete caches, docs, man pages and locales from a debootstrap tree; returns what went."""
    removed: list[str] = []
    for pattern in _TRIM_GLOBS:
        for path in sorted(rootfs.glob(pattern)):
            rel = path.relative_to(rootfs).as_posix()
            if rel in _KEEP:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(rel)
    (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/01-spbe-nodoc").write_text(_DPKG_NODOC, encoding="utf-8")
    (rootfs / "etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/apt/apt.conf.d/01-spbe-clean").write_text(_APT_CLEAN, encoding="utf-8")
    return removed


def _find_debootstrap() -> str:
    found = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise EnvironmentProblem(
            "debootstrap is not installed (needed to build the base image): apt-get install debootstrap"
        )
    return found
