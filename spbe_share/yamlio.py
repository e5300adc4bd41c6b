"""YAML in and out, keeping the line of every field so errors can say ``file:line: field``.

Every file format of spbe-share is read through :func:`load_yaml` and checked by a
pydantic model through :func:`validate_model`; problems come back as one line each:
``path/to/file.yaml:12: components[0].ports[1].container: Input should be a valid integer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import InvalidInput, ValidationFailed

try:  # libyaml is much faster; fall back to pure Python
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class LoadedYaml:
    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Iterable[str | int]) -> int:
        """Line of the deepest part of ``loc`` that exists in the file (1 if none)."""
        parts = tuple(loc)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), 1)


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(file)"


def _problem(path: Path | str, line: int, loc: Iterable[str | int], message: str) -> str:
    return f"{path}:{line}: {format_loc(loc)}: {message}"


def _build(node: yaml.Node, loader: Any, loc: Loc, lines: dict[Loc, int], path: Path) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise InvalidInput(
                    _problem(path, key_node.start_mark.line + 1, loc, "mapping keys must be scalars")
                )
            if key in result:
                raise InvalidInput(
                    _problem(path, key_node.start_mark.line + 1, (*loc, str(key)), "duplicate key")
                )
            child_loc = (*loc, str(key) if not isinstance(key, str) else key)
            result[key] = _build(value_node, loader, child_loc, lines, path)
            lines[child_loc] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loader, (*loc, i), lines, path) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, path: Path) -> LoadedYaml:
    """Parse YAML text; syntax errors become :class:`InvalidInput` naming file and line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        data = None if node is None else _build(node, loader, (), lines, path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise InvalidInput(f"{path}:{line}: (yaml): {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}:1: (yaml): {exc}") from None
    finally:
        loader.dispose()
    return LoadedYaml(path=path, data=data, lines=lines)


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable file becomes one-line :class:`InvalidInput`."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None


def load_yaml(path: Path) -> LoadedYaml:
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}:1: (file): not valid UTF-8 ({exc.reason})") from None
    return parse_yaml(text, path)


def pydantic_problems(exc: ValidationError, doc: LoadedYaml, *, display: str | None = None) -> list[str]:
    """Turn a pydantic error into ``file:line: field.path: message`` lines."""
    shown = display or str(doc.path)
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required field is missing"
        out.append(_problem(shown, doc.line_of(loc), loc, msg))
    return out


def validate_model(model: type[M], doc: LoadedYaml, *, display: str | None = None) -> M:
    """Validate ``doc.data`` against ``model``; raise :class:`ValidationFailed` with every problem."""
    try:
        return model.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise ValidationFailed(pydantic_problems(exc, doc, display=display)) from None


def load_model(model: type[M], path: Path) -> M:
    return validate_model(model, load_yaml(path))


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
