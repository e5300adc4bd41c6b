"""Terminal output for the CLI: rich tables on a terminal, plain text in pipes, ``--json``.

rich is imported only when a table is drawn, to keep start-up fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import i18n
from .lang import raw_echo


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def emit_json(data: Any) -> None:
    raw_echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """A rich table on a terminal; tab-separated lines otherwise (easy to grep and cut).

    On a terminal the column headers and the title are translated; in a pipe the output is for
    scripts (like ``--json``) and stays as it is. Rows are data and are never translated.
    """
    if not sys.stdout.isatty():
        if title:
            raw_echo(f"# {title}")
        raw_echo("\t".join(columns))
        for row in rows:
            raw_echo("\t".join("" if v is None else str(v) for v in row))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=i18n.translate(title) if title else None)
    for c in columns:
        t.add_column(i18n.gettext(c))
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    Console().print(t)


def info(message: str) -> None:
    raw_echo(i18n.translate(message), err=True)
