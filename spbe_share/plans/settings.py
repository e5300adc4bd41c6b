"""What ``spbe-share config set`` changes (pure): the settings asked for, checked against the
entry of the serving release, and the config files they change.

Refused before anything reaches the target, each with one line naming the setting: a name the
entry does not declare, a value the setting does not allow (``Setting.value_problem``), a
setting marked ``immutable`` (fixed at install), and an empty value of a required setting.
Asking for the value a setting already has is not an error: it changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog.models import Entry
from ..errors import InvalidInput, ValidationFailed
from ..outside import quoted
from .values import ResolvedValues, parse_set, resolve_values


@dataclass(frozen=True)
class SettingsChange:
    """The values after the change (every setting), and what changed: name -> (old, new)."""

    values: ResolvedValues
    changed: dict[str, tuple[str, str]]


def settings_change(entry: Entry, *, current: Mapping[str, str], sets: Sequence[str]) -> SettingsChange:
    """Check ``sets`` (``NAME=VALUE``) against ``entry.settings`` and the deployment's
    ``current`` values; raise InvalidInput (one problem) or ValidationFailed (several)."""
    known = {s.name: s for s in entry.settings}
    now = {s.name: current.get(s.name, s.default or "") for s in entry.settings}
    wanted: dict[str, str] = {}
    problems: list[str] = []
    for name, value in parse_set(sets, what="config set"):
        setting = known.get(name)
        if setting is None:
            problems.append(f"{name}: not a setting of {entry.id} (its settings: {', '.join(sorted(known)) or 'none'})")
            continue
        why = setting.value_problem(value)
        if why:
            problems.append(f"{name}: {quoted(value)} is not valid: {why}")
        elif setting.required and not value.strip():
            problems.append(f"{name}: is required ({setting.description}), it cannot be empty")
        elif setting.immutable and value != now[name]:
            problems.append(f"{name}: cannot change after install (the entry marks it immutable: {setting.description});"
                            f" it stays {quoted(now[name])}")
        else:
            wanted[name] = value
    if len(problems) == 1:
        raise InvalidInput(f"{problems[0]}; nothing changed")
    if problems:
        raise ValidationFailed(problems, message=f"{len(problems)} problems in the settings asked for; nothing changed")
    values = resolve_values(entry, base=current, sets=[f"{k}={v}" for k, v in wanted.items()])
    after = values.as_dict()
    changed = {n: (now[n], after[n]) for n in wanted if after[n] != now[n]}
    return SettingsChange(values=values, changed=changed)


def changed_configs(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[str]:
    """The components whose rendered config files differ between ``old`` and ``new``
    (``[{component, file, content}]``), in the order of ``new``."""
    before = {(c["component"], c["file"]): c["content"] for c in old}
    after = {(c["component"], c["file"]): c["content"] for c in new}
    out: list[str] = []
    for c in new:
        key = (c["component"], c["file"])
        if before.get(key) != c["content"] and c["component"] not in out:
            out.append(c["component"])
    for (component, _file) in before:
        if (component, _file) not in after and component not in out:
            out.append(component)
    return out


__all__ = ["SettingsChange", "changed_configs", "settings_change"]
