"""spbe-share's TLS reverse proxy image: nginx from Debian packages, built like every image.

``spbe-share/proxy:<PROXY_RECIPE>`` is ``spbe_share/data/proxy/Dockerfile`` built on the base
image (:mod:`.base`, debootstrap from this machine's apt mirror) with the engine's layer cache,
then its layer rewritten deterministically and its config written by spbe-share
(:mod:`.finalize`), as :mod:`.app` does for an app's components. Nothing is pulled.

The image belongs to no app's signed bundle: it is spbe-share's own, shipped to a target beside
an app when that app gets a domain (``install --domain``), as content-addressed blobs (its base
layer is the apps' own, already there).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .engine import Progress, docker_client

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

PROXY_RECIPE = "1"  # bump when the Dockerfile changes
PROXY_IMAGE = f"spbe-share/proxy:{PROXY_RECIPE}"
PROXY_CREATED = "1980-01-01T00:00:00Z"
DOCKERFILE = Path(__file__).resolve().parents[1] / "data" / "proxy" / "Dockerfile"


def ensure_proxy_image(ws: Workspace, *, progress: Progress | None = None) -> str:
    """The proxy image's ref, built when the engine lacks it (on the base image, built too
    when missing)."""
    from docker.errors import ImageNotFound

    from .app import _docker_build
    from .base import ensure_base_image
    from .finalize import finalize

    say = progress or (lambda _m: None)
    client = docker_client()
    try:
        client.images.get(PROXY_IMAGE)
        return PROXY_IMAGE
    except ImageNotFound:
        pass
    ensure_base_image(progress=say)
    say(f"building {PROXY_IMAGE} (nginx from Debian packages)")
    with tempfile.TemporaryDirectory(prefix="spbe-build-proxy-") as tmp:
        context = Path(tmp)
        shutil.copyfile(DOCKERFILE, context / "Dockerfile")
        raw = _docker_build(client, context=context, dockerfile="Dockerfile", tag=None, buildargs={},
                            nocache=False, say=say)  # fmt: skip
    finalize(
        client, raw_image=raw, ref=PROXY_IMAGE, cache=ws.build_cache_dir / "layers",
        labels={"org.opencontainers.image.title": "spbe-share proxy (nginx)",
                "id.go.spbe.proxy-recipe": PROXY_RECIPE},
        env={}, created=PROXY_CREATED, progress=say,
    )  # fmt: skip
    return PROXY_IMAGE


__all__ = ["PROXY_IMAGE", "PROXY_RECIPE", "ensure_proxy_image"]
