"""``spbe-share app``: build an app's images from its sources (donor side)."""

from __future__ import annotations

import click

from ..workspace import Workspace
from .output import emit_json, info, json_option, table


@click.group("app")
def app() -> None:
    """Build and inspect an app's container images (Docker engine on this machine)."""


@app.command("build")
@click.argument("app_id", metavar="APP")
@click.option("--version", "version", default=None, help="Release to build (default: the newest).")
@click.option("--no-cache", is_flag=True, help="Rebuild every layer instead of reusing the build cache.")
@click.option("-q", "--quiet", is_flag=True, help="Do not show the docker build output.")
@json_option
@click.pass_obj
def build(ws: Workspace, app_id: str, version: str | None, no_cache: bool, quiet: bool, as_json: bool) -> None:
    """Build the images of APP at a release, tagged <image>:<version>.

    The Debian base image is built first if it is missing. Python dependencies are built
    as wheels on this machine (cached in the workspace), so rebuilds need no network.
    """
    from ..catalog.loader import get_entry
    from ..imaging.app import build_app
    from ..imaging.base import ensure_base_image

    loaded = get_entry(ws, app_id)
    ws.ensure()
    progress = (lambda _line: None) if quiet else info
    ensure_base_image(progress=info)
    built = build_app(ws, loaded, version, progress=progress, nocache=no_cache)
    if as_json:
        emit_json([{"component": b.component, "ref": b.ref, "image_id": b.image_id} for b in built])
        return
    table(["component", "image", "id"], [(b.component, b.ref, b.image_id) for b in built])


@app.command("images")
@click.argument("app_id", metavar="APP")
@json_option
@click.pass_obj
def images(ws: Workspace, app_id: str, as_json: bool) -> None:
    """List the images of APP present in the local Docker engine, with their labels."""
    from ..catalog.loader import get_entry
    from ..imaging.app import LABEL_APP, OCI, local_app_images

    loaded = get_entry(ws, app_id)
    found = local_app_images(loaded.entry)
    if as_json:
        emit_json(
            [
                {
                    "component": i.component,
                    "ref": i.ref,
                    "image_id": i.image_id,
                    "created": i.created,
                    "size": i.size,
                    "labels": i.labels,
                }
                for i in found
            ]
        )
        return
    if not found:
        info(f"no images of {loaded.entry.id} here; build them with: spbe-share app build {loaded.entry.id}")
        return
    table(
        ["component", "image", "id", "revision", "app", "size MB"],
        [
            (
                i.component,
                i.ref,
                i.image_id.removeprefix("sha256:")[:12],
                i.labels.get(f"{OCI}.revision", "")[:12],
                i.labels.get(LABEL_APP, ""),
                f"{i.size / 1e6:.0f}",
            )
            for i in found
        ],
    )


@app.command("base-image")
@click.option("--mirror", default=None, help="Debian mirror URI (default: from this machine's apt sources).")
@click.option("--force", is_flag=True, help="Rebuild even if the image exists.")
@click.option("--tag", default=None, help="Image tag to build (default: spbe-share/base:bookworm).")
def base_image(mirror: str | None, force: bool, tag: str | None) -> None:
    """Build the Debian base image (debootstrap minbase + python3) if it is missing."""
    from ..imaging.base import BASE_IMAGE, ensure_base_image

    image_id = ensure_base_image(mirror=mirror, force=force, tag=tag or BASE_IMAGE, progress=info)
    click.echo(f"{tag or BASE_IMAGE} {image_id}")
