"""Which Pemda use an app: the evidence of reuse behind publiccode.yml's ``usedBy`` and the web
catalog's "dipakai oleh N Pemda".

A Pemda uses an app when a data center of it runs a release of the app (the fleet: a ``fleet
status`` file, else the release records this workspace last saw on each target) or when an
agreement (MoU/PKS) for the app with it as adopter is in force on the day asked about. Pemda
are told apart by kode wilayah. Pure: the caller reads the fleet and the agreements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..agreements import Agreement
    from ..targets.inventory import Target
    from ..workspace import Workspace


@dataclass(frozen=True)
class Running:
    """One install seen in the fleet: a target of a Pemda runs ``version`` of ``app``."""

    app: str
    pemda: str
    kode_wilayah: str
    version: str
    target: str


@dataclass
class PemdaUse:
    kode_wilayah: str
    pemda: str
    versions: set[str] = field(default_factory=set)  # what its data centers run
    agreements: set[str] = field(default_factory=set)  # agreements in force


def pemda_using(app: str, *, running: Iterable[Running], agreements: Sequence[Agreement], today: dt.date) -> list[PemdaUse]:
    """The Pemda using ``app``, by kode wilayah (pure)."""
    out: dict[str, PemdaUse] = {}
    for r in running:
        if r.app == app:
            out.setdefault(r.kode_wilayah, PemdaUse(r.kode_wilayah, r.pemda)).versions.add(r.version)
    for a in agreements:
        if app in a.apps and a.state_on(today) == "active":
            use = out.setdefault(a.adopter.kode_wilayah, PemdaUse(a.adopter.kode_wilayah, a.adopter.pemda))
            use.agreements.add(a.number)
    return [out[k] for k in sorted(out)]


def running_from_fleet(rows: Iterable[object]) -> list[Running]:
    """Installs of a ``fleet status`` file's rows (rows without a version run nothing known)."""
    out = []
    for r in rows:
        version = getattr(r, "version", None)
        if version:
            out.append(Running(app=r.app, pemda=r.pemda, kode_wilayah=r.kode_wilayah, version=version,  # type: ignore[attr-defined]
                               target=r.target))  # type: ignore[attr-defined]  # fmt: skip
    return out


def running_from_cache(ws: Workspace, targets: Sequence[Target]) -> list[Running]:
    """Installs as this workspace last saw them on each target (no target is contacted)."""
    from ..records.state import load_cached

    out = []
    for t in targets:
        for rec in load_cached(ws, t.name):
            out.append(Running(app=rec.app, pemda=t.pemda, kode_wilayah=t.kode_wilayah, version=rec.version,
                               target=t.name))  # fmt: skip
    return out


def used_by_names(uses: Sequence[PemdaUse]) -> list[str]:
    """publiccode.yml ``usedBy``: the Pemda names, sorted, each once."""
    return sorted({u.pemda for u in uses}, key=lambda n: (n.lower(), n))


__all__ = ["PemdaUse", "Running", "pemda_using", "running_from_cache", "running_from_fleet", "used_by_names"]
