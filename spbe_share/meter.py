"""Bytes of long work (ship, compression, image export), reported to whoever shows them.

The core reports; it never draws. A :data:`Meter` is a plain callable ``meter(label, done,
total)``: ``label`` names the work (an English message, translated where it is shown), ``done``
the bytes so far, ``total`` the bytes expected (``None`` when unknown: no ETA then). The work
ends with a call where ``done == total`` (for an unknown total the producer sends its final
count as the total). The CLI renders it (rich, on a terminal only); in a pipe or with
``--json`` there is no meter and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import IO

Meter = Callable[[str, int, "int | None"], None]


class Count:
    """A running count of one piece of work, reported to ``meter`` (which may be None)."""

    def __init__(self, meter: Meter | None, label: str, total: int | None) -> None:
        self.meter = meter
        self.label = label
        self.total = total
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n
        if self.meter is not None:
            self.meter(self.label, self.done, self.total)

    def end(self) -> None:
        """The work is over (also when it did less than the total: cached parts skipped)."""
        if self.meter is not None:
            self.meter(self.label, self.done, self.done)


class CountingFile:
    """``read`` of a binary file, counted."""

    def __init__(self, f: IO[bytes], count: Count) -> None:
        self._f = f
        self._count = count

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self._count.add(len(data))
        return data


def counted(chunks: Iterable[bytes], count: Count) -> Iterator[bytes]:
    """The chunks of a stream, counted as they pass."""
    for chunk in chunks:
        count.add(len(chunk))
        yield chunk


__all__ = ["Count", "CountingFile", "Meter", "counted"]
