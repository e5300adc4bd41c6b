"""Bytes with rate and ETA on a terminal (rich): the renderer of :data:`spbe_share.meter.Meter`.

The core only counts (``meter(label, done, total)``); this draws. One rich progress line per
piece of work (ship, compression, an image export): bytes done of the total, the rate and the
time left (no ETA when the total is unknown). The line stays when the work ends, with its final
figures. Only on a terminal, never with ``--json``: in a pipe there is no meter at all, so the
output is byte for byte what it was.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import click

from .. import i18n
from ..meter import Meter
from ..outside import markup_text, terminal_text


class ByteDisplay:
    """Renders meter calls on ``stream`` (a terminal): one rich Progress per label, stopped at
    its end (``done == total``), at the next label, or by :meth:`close`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._progress: Any = None
        self._task: Any = None
        self._label: str | None = None
        self._ended: tuple[str, int] | None = None  # the work that just ended (its end may be said twice)

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if self._ended == (label, done):
            return
        if label != self._label or self._progress is None:
            self.close()
            self._start(label, total)
        self._progress.update(self._task, completed=done, total=total)
        if total is not None and done >= total:
            self.close()
            self._ended = (label, done)

    def _start(self, label: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        # the label names a target or an image: outside data, no controls, escaped for rich
        text = markup_text(terminal_text(i18n.translate(label), one_line=True))
        console = Console(file=self.stream, emoji=False, highlight=False)
        self._progress = Progress(
            TextColumn("  " + text.replace("{", "{{").replace("}", "}}")),
            BarColumn(bar_width=24),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("", total=total)
        self._label = label
        self._ended = None

    def close(self) -> None:
        """Stop the line on screen (kept with its last figures); safe to call twice."""
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None
        self._label = None


def byte_meter(*, as_json: bool = False, stream: TextIO | None = None) -> Meter | None:
    """A meter drawing on stderr when it is a terminal and the output is not ``--json``; else
    None (nothing is counted for display, nothing printed). Closed when the command ends."""
    out = stream if stream is not None else sys.stderr
    if as_json or not out.isatty():
        return None
    display = ByteDisplay(out)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(display.close)
    return display


__all__ = ["ByteDisplay", "byte_meter"]
