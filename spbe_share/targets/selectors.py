"""Target selectors: which targets a ``--target`` value means (pure, no I/O).

A selector is one or more items separated by commas; the result is the union of the items,
minus the items written with a leading ``!``, sorted by target name::

    kota-sorong                 one target (the built-in ``local`` too)
    papua                       a group of the inventory (``target add --group papua``)
    prov_96                     the province group every target is in (from its kode wilayah)
    kode:96.*                   targets whose kode wilayah matches (``*`` and ``?`` wildcards)
    all                         every target of the inventory (not the built-in ``local``)
    group:NAME, target:NAME     say which one is meant when a name is both
    papua,kode:51.*,!kota-sorong    union, then exclusion

A selector that selects nothing is an error (:class:`~spbe_share.errors.NotFound`): an
operation "on every Pemda of group papu" must not quietly do nothing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import InvalidInput, NotFound

ALL = "all"
PROVINCE_PREFIX = "prov_"
# Ansible group names: letters, digits and '_' (a '-' is deprecated there). Lowercase here.
GROUP_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
RESERVED_GROUPS = frozenset({"all", "ungrouped", "spbe_targets"})
_GROUP = re.compile(GROUP_NAME)
_KODE_GLOB = re.compile(r"^[0-9.*?]{1,20}$")


class Selectable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kode_wilayah(self) -> str: ...

    @property
    def groups(self) -> tuple[str, ...]: ...


def province_group(kode_wilayah: str) -> str:
    """``prov_96`` for kode wilayah ``96.71`` (the first two digits are the province)."""
    return PROVINCE_PREFIX + kode_wilayah[:2]


def check_group_name(name: str, *, option: str = "--group") -> str:
    """A group a person may put targets in: an Ansible group name, not reserved or derived."""
    if not _GROUP.match(name):
        raise InvalidInput(
            f"{option}: {name!r} is not a group name (lowercase letters, digits and '_', e.g. papua_barat)"
        )
    if name in RESERVED_GROUPS or name.startswith(PROVINCE_PREFIX) or name.startswith("spbe_"):
        raise InvalidInput(
            f"{option}: {name!r} is reserved (all, ungrouped, spbe_*, and prov_NN, the province groups"
            " every target is in already)"
        )
    return name


def groups_of(t: Selectable) -> tuple[str, ...]:
    """The target's own groups plus its province group, sorted."""
    return tuple(sorted({*t.groups, province_group(t.kode_wilayah)}))


def all_groups(targets: Iterable[Selectable]) -> dict[str, list[str]]:
    """group -> sorted target names, province groups included."""
    out: dict[str, set[str]] = {}
    for t in targets:
        for g in groups_of(t):
            out.setdefault(g, set()).add(t.name)
    return {g: sorted(names) for g, names in sorted(out.items())}


@dataclass(frozen=True)
class Selection:
    """What a selector resolved to: target names (sorted), and whether it named one target."""

    names: tuple[str, ...]
    single: bool  # the selector was one plain target name: run as before, no fleet summary


def _item(item: str, targets: Sequence[Selectable], groups: dict[str, list[str]], *, local: bool) -> set[str]:
    names = {t.name for t in targets}
    if item == ALL:
        return {t.name for t in targets if t.name != "local"}
    if item.startswith("kode:"):
        pattern = item[5:]
        if not _KODE_GLOB.match(pattern):
            raise InvalidInput(f"--target {item}: expected kode:<kode wilayah pattern>, e.g. kode:96.* or kode:96.71")
        return {t.name for t in targets if fnmatch.fnmatchcase(t.kode_wilayah, pattern)}
    if item.startswith("group:"):
        group = item[6:]
        if group not in groups:
            raise NotFound(f"--target {item}: no target is in group {group!r}{_known_groups(groups)}")
        return set(groups[group])
    if item.startswith("target:"):
        name = item[7:]
        if name in names or (name == "local" and local):
            return {name}
        raise NotFound(f"--target {item}: unknown target {name!r}")
    is_target = item in names or (item == "local" and local)
    is_group = item in groups
    if is_target and is_group:
        raise InvalidInput(f"--target {item}: is both a target and a group; write target:{item} or group:{item}")
    if is_target:
        return {item}
    if is_group:
        return set(groups[item])
    known = ", ".join(sorted(names)) or "none yet; see `spbe-share target add`"
    raise NotFound(f"--target {item}: no target or group of that name (targets: {known}){_known_groups(groups)}")


def _known_groups(groups: dict[str, list[str]]) -> str:
    return f"; groups: {', '.join(groups)}" if groups else ""


def select(selector: str, targets: Sequence[Selectable], *, local: bool = True) -> Selection:
    """Resolve ``selector`` against ``targets`` (the inventory); ``local`` names the built-in target.

    Raises :class:`InvalidInput` for a malformed selector, :class:`NotFound` when an item names
    nothing known or the whole selection is empty.
    """
    items = [p.strip() for p in (selector or "").split(",")]
    if not selector or not selector.strip() or any(not p for p in items):
        raise InvalidInput(f"--target {selector!r}: empty item (write e.g. papua,kode:51.*,!kota-sorong)")
    groups = all_groups(targets)
    chosen: set[str] = set()
    excluded: set[str] = set()
    positive = 0
    for item in items:
        if item.startswith("!"):
            excluded |= _item(item[1:].strip(), targets, groups, local=local)
        else:
            positive += 1
            chosen |= _item(item, targets, groups, local=local)
    if not positive:
        raise InvalidInput(f"--target {selector!r}: only exclusions; start with all, a group or a target")
    names = tuple(sorted(chosen - excluded))
    if not names:
        raise NotFound(f"--target {selector!r} selects no target")
    plain = len(items) == 1 and not items[0].startswith(("kode:", "group:", "!")) and items[0] != ALL
    single = plain and len(names) == 1 and names[0] == items[0].removeprefix("target:")
    return Selection(names=names, single=single)


__all__ = [
    "ALL",
    "GROUP_NAME",
    "PROVINCE_PREFIX",
    "Selection",
    "all_groups",
    "check_group_name",
    "groups_of",
    "province_group",
    "select",
]
