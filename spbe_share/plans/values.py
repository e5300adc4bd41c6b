"""Per-Pemda values of an install: ``--set NAME=value`` and ``--values FILE``.

Values are checked against the entry's ``settings`` before anything touches a target:
an unknown name is an error naming it (and where it came from), a required setting
without a value is an error naming it. Precedence: the setting's default, then the
values file, then ``--set`` (last one wins).

Secrets are never values: :func:`secret_specs` lists the secrets a deployment needs
(name and length only); they are generated ON the target and never seen here.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..catalog.models import Entry
from ..errors import InvalidInput, ValidationFailed
from ..outside import quoted, terminal_text
from ..yamlio import load_yaml

Source = Literal["default", "file", "set", "current"]


@dataclass(frozen=True)
class Value:
    name: str
    value: str
    source: Source


@dataclass(frozen=True)
class ResolvedValues:
    """Every setting of the entry with its final value (settings are strings by model)."""

    values: tuple[Value, ...]

    def as_dict(self) -> dict[str, str]:
        return {v.name: v.value for v in self.values}


@dataclass(frozen=True)
class SecretSpec:
    """A secret to generate on the target: ``<root>/apps/<app>/secrets/<name>`` (0600)."""

    name: str
    length: int


def parse_set(items: Sequence[str], *, what: str = "--set") -> list[tuple[str, str]]:
    """``["a=1", "b=x=y"]`` -> ``[("a", "1"), ("b", "x=y")]``; a missing ``=`` is an error
    (``what``: where the items came from, for the message)."""
    out: list[tuple[str, str]] = []
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"{what} {quoted(item)}: expected NAME=value")
        out.append((name, value))
    return out


def read_values_file(path: Path) -> list[tuple[str, str, int]]:
    """A YAML mapping ``setting: value`` -> ``[(name, value, line)]``; scalars only."""
    doc = load_yaml(path)
    if doc.data is None:
        return []
    if not isinstance(doc.data, dict):
        raise ValidationFailed([f"{path}:{doc.line_of(())}: (file): must be a mapping of setting: value"])
    out: list[tuple[str, str, int]] = []
    problems: list[str] = []
    for key, value in doc.data.items():
        line = doc.line_of((str(key),))
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            problems.append(f"{path}:{line}: {key}: must be a string, number or boolean")
            continue
        out.append((str(key), value, line))
    if problems:
        raise ValidationFailed(problems)
    return out


def resolve_values(
    entry: Entry,
    *,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    base: Mapping[str, str] | None = None,
) -> ResolvedValues:
    """Merge defaults, ``base`` (the values the deployment has now: an upgrade keeps them), the
    values file and ``--set`` items; check them against ``entry.settings``. A ``base`` value of
    a setting the entry no longer has is dropped (the plan of an upgrade shows it)."""
    known = {s.name: s for s in entry.settings}
    chosen: dict[str, Value] = {
        s.name: Value(s.name, s.default, "default") for s in entry.settings if s.default is not None
    }
    for name, value in (base or {}).items():
        if name in known:
            chosen[name] = Value(name, value, "current")
    problems: list[str] = []
    if values_file is not None:
        for name, value, line in read_values_file(values_file):
            if name not in known:
                problems.append(f"{values_file}:{line}: {name}: unknown setting of {entry.id}{_known(known)}")
                continue
            chosen[name] = Value(name, value, "file")
    for name, value in parse_set(sets):
        if name not in known:
            problems.append(f"--set {name}: unknown setting of {entry.id}{_known(known)}")
            continue
        chosen[name] = Value(name, value, "set")
    for s in entry.settings:
        if s.required and (s.name not in chosen or not chosen[s.name].value.strip()):
            problems.append(f"setting {s.name} is required ({s.description}): pass --set {s.name}=...")
        elif s.name in chosen and chosen[s.name].source in ("file", "set"):
            why = s.value_problem(chosen[s.name].value)
            if why:
                problems.append(f"setting {s.name}: {quoted(chosen[s.name].value)} is not valid: {why}")
    if problems:
        raise ValidationFailed(problems, message=f"invalid values for {entry.id}")
    return ResolvedValues(tuple(chosen[s.name] for s in entry.settings if s.name in chosen))


def _known(known: Mapping[str, object]) -> str:
    return f" (known: {', '.join(sorted(known))})" if known else " (it has no settings)"


def secret_specs(entry: Entry) -> list[SecretSpec]:
    """Secrets used by any component, in declaration order."""
    used = {name for c in entry.components for name in c.secrets}
    return [SecretSpec(s.name, s.length) for s in entry.secrets if s.name in used]


def template_variables(
    values: ResolvedValues,
    *,
    app: str,
    version: str,
    target: str,
    pemda: str,
    kode_wilayah: str,
) -> dict[str, str]:
    """The variables config templates are rendered with (team runtime conventions)."""
    out = values.as_dict()
    out.update(
        spbe_app=app,
        spbe_version=version,
        spbe_target=target,
        spbe_pemda=pemda,
        spbe_kode_wilayah=kode_wilayah,
    )
    return out


def set_args(entry: Entry, values: Mapping[str, str] | None) -> list[str]:
    """``--set NAME=value`` arguments (shell-quoted, sorted) that give an install ``values``: each
    value that is not the entry's default (an install again asks for them: a required setting has
    none). For a command the operator is told to run; values from outside print on one line."""
    defaults = {s.name: s.default for s in entry.settings}
    out = []
    for name, value in sorted((values or {}).items()):
        if name in defaults and value == (defaults[name] or ""):
            continue
        out += ["--set", shlex.quote(terminal_text(f"{name}={value}", one_line=True))]
    return out


def secret_names(entry: Entry) -> list[str]:
    return [s.name for s in secret_specs(entry)]
