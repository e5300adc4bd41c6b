"""Terminal output for the CLI: rich tables on a terminal, plain text in pipes, ``--json``.

rich is imported only when a table is drawn, to keep start-up fast. Everything printed here is
data from outside (:mod:`spbe_share.outside`): cells without control characters, escaped for rich;
JSON with those characters escaped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import i18n
from ..outside import json_text, markup_text, terminal_text
from .lang import raw_echo


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def emit_json(data: Any) -> None:
    # control characters in strings are escaped (never dropped: the data stays exact)
    raw_echo(json_text(data, indent=2, default=str))


def _cell(value: Any) -> str:
    """One tab-separated cell: tabs and line ends become spaces, other controls are dropped."""
    text = "" if value is None else str(value)
    return terminal_text(" ".join(text.replace("\t", " ").splitlines()), one_line=True)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """A rich table on a terminal; tab-separated lines otherwise (easy to grep and cut).

    On a terminal the column headers and the title are translated; in a pipe the output is for
    scripts (like ``--json``) and stays as it is. Rows are data and are never translated. Cells
    and title come from targets and donors: stripped of control characters and, for rich,
    escaped (``[bold]`` in a release record prints as written).
    """
    if not sys.stdout.isatty():
        if title:
            raw_echo(f"# {_cell(title)}")
        raw_echo("\t".join(columns))
        for row in rows:
            raw_echo("\t".join(_cell(v) for v in row))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=markup_text(i18n.translate(title)) if title else None)
    for c in columns:
        t.add_column(markup_text(i18n.gettext(c)))
    for row in rows:
        t.add_row(*(markup_text("" if v is None else v) for v in row))
    Console(emoji=False).print(t)


def info(message: str) -> None:
    raw_echo(i18n.translate(message), err=True)
