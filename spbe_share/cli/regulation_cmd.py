"""``spbe-share regulation list | show``: regulations named by catalog releases."""

from __future__ import annotations

from typing import Any

import click

from .output import emit_json, json_option, table


def _index(ws: Any) -> list[Any]:
    from ..catalog.loader import open_catalog
    from ..fleet.regulations import regulation_index

    return regulation_index(le.entry for le in open_catalog(ws).entries)


@click.group()
def regulation() -> None:
    """Regulations named by catalog releases, and the releases that implement them."""


@regulation.command("list")
@json_option
@click.pass_obj
def list_(ws: Any, as_json: bool) -> None:
    """Every regulation named in the catalogs, with the apps and releases implementing it."""
    index = _index(ws)
    if as_json:
        emit_json([r.as_dict() for r in index])
        return
    table(
        ["regulation", "apps (first release)", "uri"],
        [
            (r.name, ", ".join(f"{a} {r.first_release(a)}" for a in r.apps), r.uri)
            for r in index
        ],
    )


@regulation.command("show")
@click.argument("text")
@json_option
@click.pass_obj
def show(ws: Any, text: str, as_json: bool) -> None:
    """Show the regulation(s) TEXT names: a URI, a citation (Permendagri 83/2022) or part of a name."""
    from ..errors import NotFound
    from ..fleet.regulations import find

    hits = find(_index(ws), text)
    if not hits:
        raise NotFound(f"no release in the catalog names a regulation matching {text!r} (see `spbe-share regulation list`)")
    if as_json:
        emit_json([r.as_dict() for r in hits])
        return
    for n, r in enumerate(hits):
        if n:
            click.echo("")
        click.echo(f"regulation: {r.name}")
        click.echo(f"uri: {r.uri}")
        if r.citation:
            click.echo(f"citation: {r.citation}")
        for other in sorted(set(r.names) - {r.name}):
            click.echo(f"also named: {other}")
        for app in r.apps:
            releases = [i.version for i in r.implementations if i.app == app]
            click.echo(f"  {app}: first in {r.first_release(app)} (releases {', '.join(releases)})")
