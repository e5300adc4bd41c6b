"""Image configs written by spbe-share, and loading images made of our own layers.

The image id is the SHA-256 of the config bytes, so the config must be deterministic too:
:func:`image_config` keeps only what describes how the image runs (command, environment,
user, ports, volumes, working dir, labels, health check), drops what records the build
(container ids, host names, docker version, build times) and fixes ``created``.
Labels and the release version live here, in the config, never in a build step: they
never invalidate a layer.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import platform
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, SpbeError
from . import dockerarchive as da

KEEP_CONFIG_KEYS = (
    "Cmd",
    "Entrypoint",
    "Env",
    "ExposedPorts",
    "Healthcheck",
    "Labels",
    "OnBuild",
    "Shell",
    "StopSignal",
    "User",
    "Volumes",
    "WorkingDir",
)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}


class LoadFailed(SpbeError):
    """``docker load`` of an image spbe-share assembled failed."""


def host_architecture() -> str:
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine)


def rfc3339(when: dt.date | dt.datetime | int) -> str:
    if isinstance(when, int):
        when = dt.datetime.fromtimestamp(when, tz=dt.UTC)
    elif not isinstance(when, dt.datetime):
        when = dt.datetime(when.year, when.month, when.day, tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_env(env: Sequence[str], extra: Mapping[str, str]) -> list[str]:
    """``env`` (``K=V`` strings) with ``extra`` set: replaced in place, else appended sorted."""
    out = list(env)
    for key in sorted(extra):
        item = f"{key}={extra[key]}"
        for i, old in enumerate(out):
            if old.split("=", 1)[0] == key:
                out[i] = item
                break
        else:
            out.append(item)
    return out


def runtime_config(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keys of a docker ``config`` section that describe how the image runs."""
    raw = raw or {}
    return {k: raw[k] for k in KEEP_CONFIG_KEYS if raw.get(k) not in (None, "", [], {})}


def image_config(
    *,
    runtime: Mapping[str, Any],
    diff_ids: Sequence[str],
    history: Sequence[str],
    created: str,
    labels: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    architecture: str | None = None,
    os_name: str = "linux",
) -> bytes:
    """The config document's bytes (sorted keys, compact JSON). Pure."""
    if len(history) != len(diff_ids):
        raise ValueError("one history line per layer")
    cfg = dict(runtime)
    if labels:
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **labels}
    if env:
        cfg["Env"] = merge_env(cfg.get("Env") or [], env)
    doc = {
        "architecture": architecture or host_architecture(),
        "os": os_name,
        "created": created,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "created_by": h} for h in history],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------ the engine


def layer_chains(client: Any, refs: Iterable[str]) -> set[tuple[str, ...]]:
    """Every layer-chain prefix of the images ``refs`` (missing ones are skipped)."""
    from docker.errors import ImageNotFound

    chains: set[tuple[str, ...]] = set()
    for ref in refs:
        try:
            layers = tuple(client.api.inspect_image(ref).get("RootFS", {}).get("Layers") or ())
        except ImageNotFound:
            continue
        for i in range(1, len(layers) + 1):
            chains.add(layers[:i])
    return chains


def present_prefix(diff_ids: Sequence[str], chains: set[tuple[str, ...]]) -> int:
    """How many leading layers of ``diff_ids`` the engine already holds."""
    n = 0
    for i in range(1, len(diff_ids) + 1):
        if tuple(diff_ids[:i]) in chains:
            n = i
    return n


def load_image(
    client: Any,
    *,
    config: bytes,
    diff_ids: Sequence[str],
    blob_dir: Path,
    ref: str,
    present: int = 0,
    tmp_dir: Path | None = None,
) -> str:
    """Load the image (``config`` + layers in ``blob_dir``) and tag it ``ref``; returns its id.

    The first ``present`` layers are already in the engine and are not written into the
    archive (``docker load`` only opens the layers it lacks). If the engine already holds
    the image, it is only tagged.
    """
    from docker.errors import APIError, ImageNotFound

    image_id = "sha256:" + da.sha256_hex(config)
    repository, _, tag = ref.rpartition(":")
    try:
        client.api.inspect_image(image_id)
        client.api.tag(image_id, repository, tag)
        return image_id
    except ImageNotFound:
        pass
    (blob_dir / image_id.split(":", 1)[1]).write_bytes(config)
    fd, tmp = tempfile.mkstemp(prefix=".spbe-load-", suffix=".tar", dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            da.write_docker_archive(
                out, blob_dir=blob_dir, config=image_id, layers=list(diff_ids),
                repo_tags=[ref], skip_layers=present,
            )  # fmt: skip
        with open(tmp, "rb") as f:
            for chunk in client.api.load_image(f):
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise LoadFailed(f"docker load of {ref} failed: {chunk['error']}")
    except APIError as exc:
        raise LoadFailed(f"docker load of {ref} failed: {exc.explanation or exc}") from None
    except da.ArchiveError as exc:
        raise LoadFailed(f"cannot assemble {ref}: {exc}") from None
    finally:
        os.unlink(tmp)
    try:
        got = client.api.inspect_image(ref)["Id"]
    except ImageNotFound:
        raise LoadFailed(f"docker load of {ref} gave no image") from None
    if got != image_id:
        raise LoadFailed(f"after docker load, {ref} is {got}, expected {image_id}")
    return image_id


def save_layers(client: Any, image: str, blob_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """``docker save`` ``image`` into ``blob_dir/<hex>``; returns (config document, diff ids)."""
    chunks = client.api.get_image(image, chunk_size=da.CHUNK)
    stream = io.BufferedReader(da.IterStream(chunks), da.CHUNK)
    try:
        saved = da.split_docker_save(stream, blob_dir)
    except (da.ArchiveError, tarfile.TarError) as exc:
        raise EnvironmentProblem(f"docker save {image}: {exc}") from None
    if len(saved) != 1:
        raise EnvironmentProblem(f"docker save {image}: expected one image, got {len(saved)}")
    img = saved[0]
    doc = json.loads((blob_dir / img.config.split(":", 1)[1]).read_bytes())
    return doc, list(img.layers)


__all__ = [
    "LoadFailed",
    "host_architecture",
    "image_config",
    "layer_chains",
    "load_image",
    "merge_env",
    "present_prefix",
    "rfc3339",
    "runtime_config",
    "save_layers",
]
