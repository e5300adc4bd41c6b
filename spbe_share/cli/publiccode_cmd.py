"""``spbe-share publiccode validate`` and ``catalog export-publiccode`` / ``import-publiccode``.

Thin wrappers over :mod:`spbe_share.catalog.publiccode`, imported inside the commands so
``spbe-share --help`` stays fast. ``export_publiccode`` and ``import_publiccode`` are plain
commands that :mod:`.catalog_cmd` attaches to the ``catalog`` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .output import emit_json, json_option

if TYPE_CHECKING:
    from ..workspace import Workspace


def write_new_file(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` atomically; an existing file is a Conflict unless ``force``."""
    from ..errors import Conflict, InvalidInput
    from ..files import atomic_write_text

    if path.exists() and not force:
        raise Conflict(f"{path}: already exists (use --force to overwrite)")
    if path.is_dir():
        raise InvalidInput(f"{path}: is a folder, not a file")
    atomic_write_text(path, text, mode=0o644)


@click.group()
def publiccode() -> None:
    """Validate publiccode.yml files offline (standard versions 0.x).

    The checks are the reference parser's (italia/publiccode-parser-go) that need no
    network: schema, types, vocabularies, lengths, URLs' form, dates, e-mails, BCP 47 tags,
    ISO 3166 countries, SPDX licenses, files next to the publiccode.yml. URL reachability,
    oEmbed videos, remote logos and Italy's iPA codes are not checked.
    """


@publiccode.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-warnings", is_flag=True, help="Do not print deprecation warnings.")
@json_option
def validate_cmd(files: tuple[Path, ...], no_warnings: bool, as_json: bool) -> None:
    """Validate each FILE; print every problem as FILE:LINE: FIELD: MESSAGE.

    Exit 0 when every file is valid (warnings allowed), 2 when any is not.
    """
    from ..catalog.publiccode import validate_publiccode
    from ..errors import ValidationFailed

    reports = [validate_publiccode(f) for f in files]
    bad = [r for r in reports if not r.ok]
    if as_json:
        emit_json(
            [
                {
                    "file": str(r.path),
                    "valid": r.ok,
                    "version": r.version,
                    "errors": [{"line": p.line, "field": p.field, "message": p.message} for p in r.errors],
                    "warnings": [] if no_warnings else
                    [{"line": p.line, "field": p.field, "message": p.message} for p in r.warnings],
                }
                for r in reports
            ]
        )
    else:
        for r in reports:
            if not no_warnings:
                for p in r.warnings:
                    click.echo(p.format(str(r.path)))
            if r.ok:
                n = len(r.warnings)
                extra = f", {n} warning{'s' if n != 1 else ''}" if n else ""
                click.echo(f"{r.path}: OK (publiccode.yml {r.version}{extra})")
    if bad:
        problems = [line for r in bad for line in r.lines(warnings=False)]
        raise ValidationFailed(problems, message=f"{len(bad)} of {len(reports)} publiccode.yml file(s) invalid")


@click.command("export-publiccode")
@click.argument("app")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output). The logo path is made relative to its folder.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--fleet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A `fleet status --json` file naming who runs the app (default: the release records this"
              " workspace last saw on its targets).")
@click.pass_obj
def export_publiccode(ws: Workspace, app: str, output: Path | None, force: bool, fleet: Path | None) -> None:
    """Export catalog entry APP as a publiccode.yml (standard 0.4), validated offline. usedBy
    names the Pemda that use it: running it in the fleet, or under an agreement in force today."""
    import datetime as dt

    from ..agreements import load_agreements
    from ..catalog.loader import get_entry
    from ..catalog.publiccode import export_publiccode as export
    from ..reports.reuse import pemda_using, running_from_cache, running_from_fleet, used_by_names
    from ..targets.inventory import list_targets

    loaded = get_entry(ws, app)
    if fleet is not None:
        from ..fleet.models import load_fleet_status

        running = running_from_fleet(load_fleet_status(fleet).rows)
    else:
        running = running_from_cache(ws, list_targets(ws, include_local=False))
    uses = pemda_using(loaded.entry.id, running=running, agreements=load_agreements(ws), today=dt.date.today())
    used_by = used_by_names(uses)
    if output is None:
        click.echo(export(loaded, used_by=used_by), nl=False)
        return
    text = export(loaded, base_dir=output.resolve().parent, used_by=used_by)
    write_new_file(output, text, force=force)
    click.echo(f"wrote {output}", err=True)


@click.command("import-publiccode")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the draft spbe-app.yaml here (default: standard output).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def import_publiccode(file: Path, output: Path | None, force: bool) -> None:
    """Draft a spbe-app.yaml from publiccode.yml FILE (validated first; TODOs mark the rest)."""
    from ..catalog.publiccode import draft_from_publiccode
    from ..errors import Conflict

    if output is not None and output.exists() and not force:
        raise Conflict(f"{output}: already exists (use --force to overwrite)")
    text = draft_from_publiccode(file)
    if output is None:
        click.echo(text, nl=False)
        return
    write_new_file(output, text, force=force)
    click.echo(f"wrote draft {output}: complete every TODO, then run `spbe-share catalog validate`", err=True)
