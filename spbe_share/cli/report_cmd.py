"""``spbe-share report spbe``: evidence documents from what spbe-share knows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click


@click.group()
def report() -> None:
    """Evidence reports built from this workspace (agreements, catalog, release records, audit log)."""


@report.command("spbe")
@click.option("--pemda", "kode", required=True, metavar="KODE", help="The Pemda's kode wilayah (e.g. 96.71).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The Word file to write (.docx).")
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="Start of the period (default: a year ago).")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="End of the period (default: today).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def spbe(ws: Any, kode: str, out: Path, since: str | None, until: str | None, force: bool) -> None:
    """The SPBE evaluation evidence (bukti dukung, PermenPANRB 59/2020) of one Pemda about the shared
    apps it runs: each app with its classification and donor, the agreement, the release and the
    regulations it implements, verified backups in the period, the SOPs, incidents and changes.
    Reads this workspace only; contacts no target."""
    import re

    from ..catalog.models import KODE_WILAYAH
    from ..errors import Conflict, InvalidInput
    from ..reports.spbe import spbe_report, write_docx

    if not re.match(KODE_WILAYAH, kode):
        raise InvalidInput(f"--pemda {kode!r}: not a kode wilayah (e.g. 96.71)")
    if out.suffix.lower() != ".docx":
        raise InvalidInput(f"--out {out}: must end in .docx")
    if out.exists() and not force:
        raise Conflict(f"{out}: already exists (use --force to overwrite)")

    def day(value: str | None, option: str, default: dt.date) -> dt.date:
        if value is None:
            return default
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None

    today = dt.date.today()
    end = day(until, "--until", today)
    start = day(since, "--since", end - dt.timedelta(days=365))
    if start > end:
        raise InvalidInput(f"--since {start} is after --until {end}")
    ev = spbe_report(ws, kode=kode, since=start, until=end, today=today)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_docx(ev, out)
    click.echo(f"wrote {out}: {ev.pemda} ({ev.kode_wilayah}), {len(ev.apps)} app(s), {start} to {end}")
