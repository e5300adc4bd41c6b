"""``--target SELECTOR`` for every command: one target, a group, ``kode:96.*`` or ``all``.

:func:`selected_targets` resolves a selector against the inventory (:mod:`spbe_share.targets.selectors`).
:func:`per_target` runs a one-target operation on each selected target in turn: one plain
target name behaves exactly as before (its own output, its own error and exit code); a
selection of several prints one line per target and, when some failed, ends with the exit
code of the first failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import Cancelled, PartlyFailed, SpbeError

T = TypeVar("T")


def selected_targets(ws: Any, selector: str | None, *, group: str | None = None, default: str = "all") -> list[Any]:
    """The targets ``selector`` (and ``group``, when given: both must hold) names, sorted."""
    from ..targets.inventory import list_targets
    from ..targets.selectors import select

    targets = list_targets(ws, include_local=True)
    names = set(select(selector or default, targets).names)
    if group is not None:
        names &= set(select(group, targets).names)
        if not names:
            from ..errors import NotFound

            raise NotFound(f"no target is both in --target {selector or default} and --group {group}")
    return [t for t in targets if t.name in names]


def per_target(ws: Any, selector: str, run: Callable[[str], T], *, what: str) -> list[tuple[str, T | SpbeError]]:
    """Run ``run(target_name)`` for each target ``selector`` names (see the module docstring)."""
    from ..targets.inventory import list_targets
    from ..targets.selectors import select

    selection = select(selector, list_targets(ws, include_local=True))
    if selection.single:
        return [(selection.names[0], run(selection.names[0]))]
    click.echo(f"{what} on {len(selection.names)} targets: {', '.join(selection.names)}", err=True)
    results: list[tuple[str, T | SpbeError]] = []
    for name in selection.names:
        try:
            results.append((name, run(name)))
            click.echo(f"{name}: ok", err=True)
        except Cancelled:
            raise
        except SpbeError as exc:
            results.append((name, exc))
            click.echo(f"{name}: failed (exit {int(exc.exit_code)}): {exc.message}", err=True)
    failed = [(n, r) for n, r in results if isinstance(r, SpbeError)]
    if failed:
        first = failed[0][1]
        assert isinstance(first, SpbeError)
        raise PartlyFailed(
            f"{what}: {len(failed)} of {len(results)} targets failed ({', '.join(n for n, _ in failed)})",
            first=first,
            details=[f"  {n}: {r.message}" for n, r in failed if isinstance(r, SpbeError)],
        )
    return results
