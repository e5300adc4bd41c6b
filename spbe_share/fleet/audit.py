"""``spbe-share audit`` over the fleet: read what every selected target runs (the fleet read of
``fleet status``), then match each release's SBOM and the donor's advisories
(:mod:`spbe_share.vuln.audit`). Read-only everywhere."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..remote.interrupts import CancelToken
    from ..targets.inventory import Target
    from ..vuln.audit import AuditReport
    from ..workspace import Workspace


def audit(ws: Workspace, *, targets: Sequence[Target], app: str | None = None, bundles: Sequence[Path] = (),
          timeout: int = 30, cancel: CancelToken | None = None, now: dt.datetime | None = None) -> AuditReport:  # fmt: skip
    """Read the targets (the fleet read), then audit every install (read-only everywhere)."""
    from ..vuln.audit import SbomFinder, audit_reads
    from ..vuln.db import open_db
    from .status import catalog_entries, read_targets

    when = now or dt.datetime.now(dt.UTC)
    entries = catalog_entries(ws)
    if app is not None and app not in entries:
        from ..errors import NotFound

        raise NotFound(f"no app {app!r} in the catalog (try: spbe-share catalog search)")
    finder = SbomFinder(ws, bundles)
    reads = read_targets(ws, targets, timeout=timeout, cancel=cancel)
    db = open_db(ws)
    try:
        return audit_reads(ws, reads, entries=entries, app=app, db=db, finder=finder, now=when)
    finally:
        if db is not None:
            db.close()


__all__ = ["audit"]
