"""Turn the image ``docker build`` made into a reproducible one.

``docker build`` runs the component's Dockerfile (system packages, dependencies, app code,
in that order) with the engine's layer cache. Its layers record when and where each step
ran, so this module rewrites every layer above the ``FROM`` image deterministically
(:mod:`.layers`), writes the config itself (:mod:`.assemble`: labels and the release
version live only there) and loads the result under the release's tag.

Normalized layers are cached in ``<cache>/layers`` keyed by the raw layers they come from,
so a rebuild that hits the engine's build cache does no layer work at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from . import assemble, layers

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Finalized:
    image_id: str
    diff_ids: list[str]
    from_layers: int  # how many leading layers come from the FROM image, kept as they are


def root_ancestor(client: Any, image: str) -> dict[str, Any]:
    """The oldest ancestor of ``image`` (the FROM image of a classic ``docker build``)."""
    from docker.errors import ImageNotFound

    info: dict[str, Any] = client.api.inspect_image(image)
    for _ in range(10_000):
        parent = info.get("Parent")
        if not parent:
            break
        try:
            info = client.api.inspect_image(parent)
        except ImageNotFound:
            break
    return info


def from_prefix(raw_layers: list[str], ancestor_layers: list[str]) -> int:
    n = len(ancestor_layers)
    return n if raw_layers[:n] == ancestor_layers else 0


def cache_key(raw_layers: Iterable[str]) -> str:
    text = "\n".join([f"rules {layers.RULES_VERSION}", *raw_layers])
    return hashlib.sha256(text.encode()).hexdigest()


def _cached(cache: Path, key: str) -> list[str] | None:
    path = cache / "normalized" / f"{key}.json"
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(out, list) or not all(
        isinstance(h, str) and (cache / "sha256" / h).is_file() for h in out
    ):
        return None
    return out


def normalized_layers(
    client: Any, raw_image: str, raw_layers: list[str], start: int, cache: Path, say: Progress
) -> list[str]:
    """Hex digests of the normalized layers for ``raw_layers[start:]`` (cached)."""
    above = raw_layers[start:]
    if not above:
        return []
    key = cache_key(above)
    hit = _cached(cache, key)
    if hit is not None:
        say(f"normalized layers from cache ({len(hit)})")
        return hit
    blob_dir = cache / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".raw-", dir=cache) as tmp:
        say(f"reading {len(above)} built layer(s) from the engine")
        _doc, saved = assemble.save_layers(client, raw_image, Path(tmp))
        if saved != raw_layers:
            raise layers.LayerError(f"docker save {raw_image} gave other layers than docker inspect")
        paths = [Path(tmp) / d.split(":", 1)[1] for d in above]
        say("rewriting them deterministically")
        out = [hx for hx, _size in layers.normalize_layers(paths, blob_dir)]
        for d in raw_layers[:start]:  # the FROM image's layers, kept as they are: bundles use them
            hx = d.split(":", 1)[1]
            if not (blob_dir / hx).exists():
                (Path(tmp) / hx).replace(blob_dir / hx)
    atomic_write_text(cache / "normalized" / f"{key}.json", json.dumps(out) + "\n", mode=0o644)
    return out


def finalize(
    client: Any,
    *,
    raw_image: str,
    ref: str,
    cache: Path,
    labels: Mapping[str, str],
    env: Mapping[str, str],
    created: str,
    others: Iterable[str] = (),
    progress: Progress | None = None,
) -> Finalized:
    """Load the reproducible version of ``raw_image`` as ``ref``.

    ``others``: images likely to share layers with the result (e.g. other versions of the
    component), so that ``docker load`` is not given layers the engine already holds.
    """
    say = progress or (lambda _m: None)
    raw = client.api.inspect_image(raw_image)
    raw_layers = list((raw.get("RootFS") or {}).get("Layers") or [])
    ancestor = root_ancestor(client, raw_image)
    start = from_prefix(raw_layers, list((ancestor.get("RootFS") or {}).get("Layers") or []))
    new = normalized_layers(client, raw_image, raw_layers, start, cache, say)
    diff_ids = raw_layers[:start] + [f"sha256:{h}" for h in new]
    history = [f"spbe-share: from {ancestor['Id']} layer {i + 1}" for i in range(start)]
    history += [f"spbe-share: built layer {i + 1} of {len(new)} (normalized)" for i in range(len(new))]
    config = assemble.image_config(
        runtime=assemble.runtime_config(raw.get("Config")),
        diff_ids=diff_ids,
        history=history,
        created=created,
        labels=labels,
        env=env,
        architecture=raw.get("Architecture") or None,
        os_name=raw.get("Os") or "linux",
    )
    chains = assemble.layer_chains(client, [raw_image, *others])
    present = assemble.present_prefix(diff_ids, chains)
    with tempfile.TemporaryDirectory(prefix=".load-", dir=cache) as tmp:
        blob_dir = Path(tmp)
        for hx in new:
            # hard links (same file system): no copy of the layer bytes
            try:
                (blob_dir / hx).hardlink_to(cache / "sha256" / hx)
            except OSError:
                shutil.copyfile(cache / "sha256" / hx, blob_dir / hx)
        image_id = assemble.load_image(
            client, config=config, diff_ids=diff_ids, blob_dir=blob_dir, ref=ref, present=present,
            tmp_dir=Path(tmp),
        )  # fmt: skip
    # keep the config next to the layers: bundles read images from here without docker save
    (cache / "sha256" / image_id.split(":", 1)[1]).write_bytes(config)
    return Finalized(image_id=image_id, diff_ids=diff_ids, from_layers=start)


__all__ = ["Finalized", "cache_key", "finalize", "from_prefix", "root_ancestor"]
