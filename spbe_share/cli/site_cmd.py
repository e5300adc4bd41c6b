"""``spbe-share site``: the static web catalog (build, serve)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .output import info

if TYPE_CHECKING:
    from ..workspace import Workspace

DEFAULT_OUTPUT = Path("site")


@click.group()
def site() -> None:
    """Build the static web catalog (Bahasa Indonesia and English) and preview it."""


def _build(ws: Workspace, output: Path, fleet: Path | None) -> None:
    from ..catalog.loader import duplicate_warnings, open_catalog
    from ..fleet.models import load_fleet_status
    from ..site.build import build_site

    fleet_status = load_fleet_status(fleet) if fleet is not None else None
    cat = open_catalog(ws)
    for line in duplicate_warnings(cat.duplicates()):
        info(f"warning: {line}")
    invalid = len({p.split(":", 1)[0] for p in cat.problems})
    if invalid:
        info(f"warning: {invalid} catalog entries are invalid and left out; run: spbe-share catalog validate")
    agreements = []
    if fleet_status is not None:
        from ..agreements import load_agreements

        agreements = load_agreements(ws)
    result = build_site(cat.entries, output, fleet=fleet_status, invalid=invalid, agreements=agreements)
    click.echo(f"built {result.output}: {result.apps} apps, {result.pages} pages, {result.files} files")


@site.command()
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUTPUT,
              show_default=True, help="Folder to write the site to (replaced whole).")
@click.option("--fleet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A `fleet status --json` file: adds the fleet page.")
@click.pass_obj
def build(ws: Workspace, output: Path, fleet: Path | None) -> None:
    """Build the web catalog: static files any web server can host."""
    _build(ws, output, fleet)


@site.command()
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUTPUT,
              show_default=True, help="Folder of the site to serve.")
@click.option("--fleet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A `fleet status --json` file: adds the fleet page.")
@click.option("--no-build", is_flag=True, help="Serve the folder as it is, without building first.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.pass_obj
def serve(ws: Workspace, output: Path, fleet: Path | None, no_build: bool, host: str, port: int) -> None:
    """Build the site (unless --no-build) and preview it at http://127.0.0.1:8000/."""
    from ..site.serve import make_server

    if not no_build:
        _build(ws, output, fleet)
    server = make_server(output, host=host, port=port)
    click.echo(f"serving {output} at http://{host}:{server.server_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
