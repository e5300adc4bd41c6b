"""Runs ON THE TARGET (standard library only, Python 3.11): give back the disk of an app's old
releases (``spbe-share prune``; the module ``spbe_prune``), under the app's lock.

The controller says which versions to keep (the serving one and the newest others that served,
so a rollback still finds them). For every other version of the app (read from the names of
its files, ``<stamp>-<version>`` and ``<version>``):

1. ``deploys/<stamp>-<version>.json`` goes: that release can no longer be brought back
   (its record in ``releases/`` stays, so history still shows it);
2. ``bundles/<version>/`` and ``bundles/<version>.tar.zst`` go;
3. each image those deploy specs and bundle manifests name (a release that never served, an
   upgrade that failed, has a bundle and no deploy spec) goes from the engine, unless a deploy
   spec that stays
   (of any app on the target) names it, or a container (any, running or not) was made from
   it: ``docker image rm`` with its tags, never ``--force``;
4. then the blob store keeps what is still named (every deploy spec and bundle manifest of
   every app on the target, every image the engine still holds: its id and layers, the files
   tars that stay, ``lib/dockerarchive.py``); a blob named by none of them and older than
   ``grace_s`` goes (younger ones may belong to a ship still under way: the blob stream comes
   before its playbook and its lock). Only ``<hex>`` and ``<hex>.zst`` files are touched.

Nothing is followed through a symbolic link: a link where a folder was is removed as a link.
``check``: says what would go, removes nothing. Answers what went (or would), and the bytes:
an image's size counts the layers it shares with images that stay (docker's ``Size``), so
``bytes`` is an upper bound; ``disk_freed`` is measured (the free space of the filesystems of
``<root>`` and of Docker's root folder, before and after; other writers meanwhile blur it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence

try:  # as an Ansible module_utils, or imported from beside it (tests, scripts)
    from ansible.module_utils.spbe_dockerrun import run as docker_run
except ImportError:  # pragma: no cover
    from spbe_dockerrun import run as docker_run  # type: ignore[no-redef]

VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
DEPLOY = re.compile(r"^(\d{8}T\d{6}Z)-([0-9A-Za-z][0-9A-Za-z.+-]{0,63})\.json$")
BLOB = re.compile(r"^([0-9a-f]{64})(?:\.zst)?$")
DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
TAR = ".tar.zst"
MAX_JSON = 8 << 20
DEFAULT_GRACE_S = 24 * 3600  # the controller says (spbe_share.plans.prune)

Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


class PruneError(Exception):
    """What the module fails with."""


def _size(path: str) -> int:
    """Bytes under ``path`` (not following links)."""
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path):
        return st.st_size
    total = 0
    for dirpath, dirs, files in os.walk(path):
        for n in dirs + files:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
            except OSError:
                pass
    return total


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _names(path: str) -> tuple[set[str], set[str]]:
    """(the image ids a deploy spec or bundle manifest names: its ``images[].config``; every
    ``sha256:<hex>`` its text holds, so a damaged file still keeps what it names), one read."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_JSON).decode("utf-8", "replace")
    except OSError:
        return set(), set()
    images = set()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("images"), list):
        for img in doc["images"]:
            if isinstance(img, dict) and IMAGE_ID.match(str(img.get("config", ""))):
                images.add(str(img["config"]))
    return images, set(DIGEST.findall(text))


def _sha256(path: str) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def old_files(app_dir: str, keep: set[str]) -> tuple[list[str], list[str]]:
    """(deploy spec files, bundle files and folders) of the versions not in ``keep``."""
    deploys = []
    for name in _listdir(os.path.join(app_dir, "deploys")):
        m = DEPLOY.match(name)
        if m and m.group(2) not in keep:
            deploys.append(os.path.join(app_dir, "deploys", name))
    bundles = []
    for name in _listdir(os.path.join(app_dir, "bundles")):
        version = name[:-len(TAR)] if name.endswith(TAR) else name
        if VERSION.match(version) and version not in keep:
            bundles.append(os.path.join(app_dir, "bundles", name))
    return deploys, bundles


def engine_images(runner: Runner) -> dict[str, dict]:
    """Every image in the engine: id -> {tags, layers, size}."""
    p = runner(["docker", "image", "ls", "--quiet", "--no-trunc"], 120)
    if p.returncode != 0:
        raise PruneError(f"docker image ls: {(p.stderr or p.stdout).strip()[:300]}")
    ids = sorted({i.strip() for i in p.stdout.split() if IMAGE_ID.match(i.strip())})
    out: dict[str, dict] = {}
    if not ids:
        return out
    p = runner(["docker", "image", "inspect", "--", *ids], 120)
    if p.returncode != 0:  # an image removed meanwhile: one by one
        infos = []
        for i in ids:
            q = runner(["docker", "image", "inspect", "--", i], 60)
            if q.returncode == 0:
                infos += json.loads(q.stdout)
    else:
        infos = json.loads(p.stdout)
    for info in infos:
        out[str(info.get("Id"))] = {"tags": [str(t) for t in info.get("RepoTags") or []],
                                    "layers": [str(x) for x in (info.get("RootFS") or {}).get("Layers") or []],
                                    "size": int(info.get("Size") or 0)}
    return out


def image_users(runner: Runner, image: str) -> list[str]:
    """The containers (any state) made from ``image``."""
    p = runner(["docker", "ps", "--all", "--no-trunc", "--filter", f"ancestor={image}", "--format", "{{.Names}}"], 60)
    if p.returncode != 0:
        raise PruneError(f"docker ps: {(p.stderr or p.stdout).strip()[:300]}")
    return [n for n in p.stdout.split() if n]


def named_elsewhere(root: str, gone: Iterable[str]) -> tuple[set[str], set[str]]:
    """(image ids the deploy specs that stay name, every digest the deploy specs and bundle
    manifests that stay name, with the files tars that stay and dockerarchive.py): all apps."""
    gone = set(gone)
    images: set[str] = set()
    digests: set[str] = set()
    apps = os.path.join(root, "apps")
    for app in _listdir(apps):
        for name in _listdir(os.path.join(apps, app, "deploys")):
            path = os.path.join(apps, app, "deploys", name)
            if path in gone or not name.endswith(".json"):
                continue
            named, text = _names(path)
            images |= named
            digests |= text
        bundles = os.path.join(apps, app, "bundles")
        for name in _listdir(bundles):
            path = os.path.join(bundles, name)
            if path in gone:
                continue
            if name.endswith(TAR):
                h = _sha256(path)
                if h:
                    digests.add(h)
            elif os.path.isdir(path) and not os.path.islink(path):
                digests |= _names(os.path.join(path, "spbe-bundle.json"))[1]
    tool = _sha256(os.path.join(root, "lib", "dockerarchive.py"))
    if tool:
        digests.add(tool)
    return images, digests


def free_bytes(runner: Runner, root: str) -> int:
    """Free bytes of the filesystems holding ``root`` and Docker's root folder (each once)."""
    paths = [root]
    p = runner(["docker", "info", "--format", "{{.DockerRootDir}}"], 60)
    if p.returncode == 0 and p.stdout.strip().startswith("/"):
        paths.append(p.stdout.strip())
    seen, total = set(), 0
    for path in paths:
        try:
            dev = os.stat(path).st_dev
            if dev not in seen:
                seen.add(dev)
                total += shutil.disk_usage(path).free
        except OSError:
            continue
    return total


def prune(request: dict, runner: Runner = docker_run, now: float | None = None) -> dict:
    """Remove what ``keep`` does not cover (see the module's docstring); what went, or would."""
    root, app_dir = str(request["root"]), str(request["app_dir"])
    keep = {str(v) for v in request.get("keep") or []}
    if not keep or not all(VERSION.match(v) for v in keep):
        raise PruneError(f"keep: versions to keep are required (got {sorted(keep)!r})")
    check = bool(request.get("check"))
    grace_s = float(request.get("grace_s", DEFAULT_GRACE_S))
    now = time.time() if now is None else now

    free_before = None if check else free_bytes(runner, root)
    deploys, bundles = old_files(app_dir, keep)
    candidates: set[str] = set()
    for path in deploys:
        candidates |= _names(path)[0]
    for path in bundles:
        if os.path.isdir(path) and not os.path.islink(path):
            candidates |= _names(os.path.join(path, "spbe-bundle.json"))[0]
    stay_images, stay_digests = named_elsewhere(root, deploys + bundles)
    engine = engine_images(runner)

    removed_images, kept_images = [], []
    freed_images = 0
    for image in sorted(candidates):
        if image not in engine:
            continue
        if image in stay_images:
            kept_images.append({"id": image, "why": "a release that stays uses it"})
            continue
        users = image_users(runner, image)
        if users:
            kept_images.append({"id": image, "why": "used by " + ", ".join(users[:5])})
            continue
        info = engine[image]
        if not check:
            p = runner(["docker", "image", "rm", "--", *(info["tags"] or [image])], 300)
            if p.returncode != 0:
                kept_images.append({"id": image, "why": (p.stderr or p.stdout).strip()[:300]})
                continue
        removed_images.append({"id": image, "tags": info["tags"], "bytes": info["size"]})
        freed_images += info["size"]

    files_bytes = 0
    for path in deploys + bundles:
        files_bytes += _size(path)
        if not check:
            _remove(path)

    # what the engine still holds names its blobs (a removed image's are free now)
    gone_images = {i["id"] for i in removed_images}
    for image, info in engine.items():
        if image in gone_images:
            continue
        stay_digests.add(image.split(":", 1)[1])
        stay_digests |= {x.split(":", 1)[1] for x in info["layers"] if x.startswith("sha256:")}
    blobs_dir = os.path.join(root, "blobs", "sha256")
    blobs, blob_bytes, young = 0, 0, 0
    for name in _listdir(blobs_dir):
        m = BLOB.match(name)
        if not m or m.group(1) in stay_digests:
            continue
        path = os.path.join(blobs_dir, name)
        st = os.lstat(path)
        if now - st.st_mtime < grace_s:
            young += 1
            continue
        blobs += 1
        blob_bytes += st.st_size
        if not check:
            os.unlink(path)
    rel = [os.path.relpath(p, app_dir) for p in deploys + bundles]
    freed = None if free_before is None else max(0, free_bytes(runner, root) - free_before)
    return {"check": check, "keep": sorted(keep), "files": rel, "files_bytes": files_bytes,
            "images": removed_images, "images_kept": kept_images, "images_bytes": freed_images,
            "blobs": blobs, "blobs_bytes": blob_bytes, "blobs_young": young,
            "bytes": files_bytes + freed_images + blob_bytes, "disk_freed": freed}
