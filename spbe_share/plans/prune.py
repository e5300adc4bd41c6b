"""Which releases of an app ``spbe-share prune`` keeps on a target (pure).

Kept: the serving version and the newest other versions that served (``result: ok``), ``keep``
in all, newest first, so ``rollback`` (default: the release before the current one) still
finds what it brings back. Everything of the other versions but their release records goes (``playbooks/module_utils/spbe_prune.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records.state import ReleaseRecord

DEFAULT_KEEP = 3  # the serving release and two to roll back to (Kamal keeps 5 containers)
MAX_KEEP = 100
DEFAULT_GRACE_S = 24 * 3600  # blobs younger than a day stay: another app's ship may be under way
MAX_GRACE_S = 365 * 24 * 3600


@dataclass(frozen=True)
class PrunePlan:
    keep: list[str]  # newest first
    gone: list[str]  # the versions that served once and go, newest first


def prune_plan(records: list[tuple[str, ReleaseRecord]], current: ReleaseRecord, *, keep: int) -> PrunePlan:
    """``records``: the app's release records, oldest first."""
    if not 1 <= keep <= MAX_KEEP:
        raise ValueError(f"keep must be 1..{MAX_KEEP}, not {keep}")
    kept: list[str] = [current.version]
    served: list[str] = []
    for _name, r in reversed(records):
        if r.result == "ok" and r.version not in served:
            served.append(r.version)
    for version in served:
        if len(kept) >= keep:
            break
        if version not in kept:
            kept.append(version)
    return PrunePlan(keep=kept, gone=[v for v in served if v not in kept])


__all__ = ["DEFAULT_GRACE_S", "DEFAULT_KEEP", "MAX_GRACE_S", "MAX_KEEP", "PrunePlan", "prune_plan"]
