"""Pure builders of an upgrade's plan: the path between two releases, what it crosses, the diff.

Data in, data out; unit tests compare their output by equality. :mod:`spbe_share.ops.upgrade` calls them
after reading the target and verifying the bundle.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog.models import Entry, Release, semver_key
from ..errors import InvalidInput


def releases_between(entry: Entry, *, from_version: str, to_version: str) -> list[Release]:
    """The releases after ``from_version`` up to ``to_version`` (included), oldest first."""
    lo, hi = semver_key(from_version), semver_key(to_version)
    return sorted((r for r in entry.releases if lo < semver_key(r.version) <= hi), key=lambda r: semver_key(r.version))


def migrating_between(entry: Entry, *, older: str, newer: str) -> list[str]:
    """Versions after ``older`` up to ``newer`` whose release migrates data (oldest first)."""
    return [r.version for r in releases_between(entry, from_version=older, to_version=newer) if r.migrates_data]


def downgrade_refusal(entry: Entry, *, app: str, target: str, current: str, wanted: str) -> str | None:
    """Why going from ``current`` to the older ``wanted`` is refused, or None (pure).

    Going back across a release that migrated data would start the older code on data it does not
    know: only ``rollback`` (which restores the backup taken before that upgrade) may do that.
    """
    if semver_key(wanted) >= semver_key(current):
        return None
    crossed = migrating_between(entry, older=wanted, newer=current)
    if not crossed:
        return None
    return (
        f"{app} {current} on {target} runs on data migrated by {', '.join(crossed)}; {wanted} cannot start on it."
        f" To go back, use `spbe-share rollback {app} --target {target}` (it restores the data of the backup"
        " taken before that upgrade, and says what the restore discards)"
    )


def older_refusals(entry: Entry, *, app: str, target: str, version: str) -> dict[str, str]:
    """For ``install`` of ``version``: serving version -> why installing ``version`` over it is
    refused (every newer release of the entry whose data ``version`` cannot run on). The target
    checks its ``current.json`` against it before anything changes (``spbe_app_state`` refuse)."""
    out = {}
    for r in entry.releases:
        why = downgrade_refusal(entry, app=app, target=target, current=r.version, wanted=version)
        if why:
            out[r.version] = why
    return out


def upgrade_path(entry: Entry, *, from_version: str, to_version: str) -> list[str]:
    """The chain of versions from ``from_version`` to ``to_version``, each step allowed by its
    release's ``upgrades_from`` (the oldest version it upgrades from), e.g. ``["1.0.0", "1.1.0"]``.

    A step goes from the current version to the newest release it may go to; a chain of more than
    one step is returned as such (the caller refuses it and names the steps). InvalidInput when
    no chain exists (a release between whose ``upgrades_from`` is newer than what can be reached).
    """
    between = releases_between(entry, from_version=from_version, to_version=to_version)
    if not between or between[-1].version != to_version:
        raise InvalidInput(f"{entry.id} has no release {to_version} newer than {from_version}")
    path = [from_version]
    here = from_version
    while here != to_version:
        ahead = releases_between(entry, from_version=here, to_version=to_version)
        reachable = [r for r in ahead if r.upgrades_from is None or semver_key(r.upgrades_from) <= semver_key(here)]
        if not reachable:
            first = ahead[0]
            raise InvalidInput(
                f"{entry.id} {first.version} upgrades only from {first.upgrades_from} or newer, and no release"
                f" between {here} and it can be reached: no upgrade path from {from_version} to {to_version}"
            )
        here = reachable[-1].version
        path.append(here)
    return path


@dataclass(frozen=True)
class ConfigChange:
    """One rendered config file that differs (``diff``: unified diff lines; values, never secrets)."""

    component: str
    file: str
    change: str  # added | removed | changed
    diff: list[str]


def config_changes(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[ConfigChange]:
    """Rendered config files of the old and new release compared (``{component, file, content}``)."""

    def index(items: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
        return {(str(c["component"]), str(c["file"])): str(c["content"]) for c in items}

    a, b = index(old), index(new)
    out = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key), b.get(key)
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        diff = list(difflib.unified_diff(
            (before or "").splitlines(), (after or "").splitlines(),
            fromfile=f"old/{key[0]}/{key[1]}", tofile=f"new/{key[0]}/{key[1]}", lineterm="", n=1,
        ))
        out.append(ConfigChange(component=key[0], file=key[1], change=change, diff=diff))
    return out


def values_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """``NAME: old -> new`` lines (settings are values, never secrets)."""
    out = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            out.append(f"{name}: {old.get(name, '(unset)')!r} -> {new.get(name, '(unset)')!r}")
    return out


def blobs_to_ship(sizes: Mapping[str, int], present: set[str]) -> dict[str, int]:
    """The blobs of the new bundle the target lacks, with their sizes."""
    return {h: n for h, n in sorted(sizes.items()) if h not in present}


__all__ = [
    "ConfigChange",
    "blobs_to_ship",
    "config_changes",
    "downgrade_refusal",
    "migrating_between",
    "older_refusals",
    "releases_between",
    "upgrade_path",
    "values_changes",
]
