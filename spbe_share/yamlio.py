"""YAML in and out, keeping the line of every field so errors can say ``file:line: field``.

Every file format of spbe-share is read through :func:`load_yaml` and checked by a
pydantic model through :func:`validate_model`; problems come back as one line each:
``path/to/file.yaml:12: components[0].ports[1].container: Input should be a valid integer``.

Files come from outside (catalog sources, values files, agreements someone sent), so reading
is bounded: aliases (``*name``) are refused (an alias bomb of a few hundred bytes expands to
gigabytes; a self-referencing alias recurses forever), files are at most
:data:`MAX_YAML_BYTES`, nesting at most :data:`MAX_DEPTH` levels and :data:`MAX_NODES` nodes.
The node tree is composed here from libyaml's events (not by PyYAML's composer), so a refused
file costs no more than reading it. Every refusal is :class:`InvalidInput` naming file and line.
"""

from __future__ import annotations

import json
import re
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

MAX_YAML_BYTES = 2 << 20  # 2 MiB: an entry is a few KB, an inventory of every Pemda < 1 MiB
MAX_DEPTH = 32  # nesting levels of mappings and sequences
MAX_NODES = 100_000  # scalars, mappings and sequences in one file
# a scalar that a tag or the resolver turns into a Python value can fail in these ways
# (bad date, int past Python's digit limit, !!bool of a non-boolean, ...)
_CONSTRUCT_ERRORS = (ValueError, TypeError, KeyError, OverflowError, IndexError)

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


_PLAIN_KEY = re.compile(r"[\w.@/+-]{1,200}", re.ASCII)


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = part if _PLAIN_KEY.fullmatch(part) else json.dumps(part)  # a key from the file: quoted, escaped
            out += f".{part}" if out else part
    return out or "(file)"


def one_line(text: str) -> str:
    """``text`` on one line (messages may quote values that hold line breaks)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or str(text).strip()


def _problem(path: Path | str, line: int, loc: Iterable[str | int], message: str) -> str:
    return f"{path}:{line}: {format_loc(loc)}: {one_line(message)}"


def _construct(loader: Any, node: yaml.Node, path: Path, loc: Loc) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except _CONSTRUCT_ERRORS as exc:
        kind = str(node.tag).replace("tag:yaml.org,2002:", "!!")
        raise InvalidInput(
            _problem(path, node.start_mark.line + 1, loc, f"cannot read this value as {kind} ({exc})")
        ) from None


def _build(node: yaml.Node, loader: Any, loc: Loc, lines: dict[Loc, int], path: Path) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, path, loc)
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
    return _construct(loader, node, path, loc)


class _Composer:
    """Build the node tree from parser events: no aliases, bounded depth and node count."""

    def __init__(self, loader: Any, path: Path) -> None:
        self.loader = loader
        self.path = path
        self.nodes = 0

    def _refuse(self, event: Any, message: str) -> InvalidInput:
        return InvalidInput(f"{self.path}:{event.start_mark.line + 1}: (yaml): {message}")

    def document(self) -> yaml.Node | None:
        get, check = self.loader.get_event, self.loader.check_event
        get()  # StreamStart
        if check(yaml.StreamEndEvent):
            return None
        get()  # DocumentStart
        node = self.node(0)
        get()  # DocumentEnd
        if not check(yaml.StreamEndEvent):
            raise self._refuse(self.loader.peek_event(), "expected one YAML document, found another")
        return node

    def _tag(self, kind: type[yaml.Node], event: Any, value: Any) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, value, event.implicit)
        return str(tag)

    def node(self, depth: int) -> yaml.Node:
        event: Any = self.loader.get_event()
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._refuse(event, f"too many values (more than {MAX_NODES})")
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(
                event, f"aliases are not allowed (*{event.anchor}): write the value out in full"
            )
        if isinstance(event, yaml.ScalarEvent):
            start: Any = event.start_mark  # a yaml.error.Mark, or the C loader's Mark
            end_mark: Any = event.end_mark
            return yaml.ScalarNode(
                self._tag(yaml.ScalarNode, event, event.value), event.value, start, end_mark, style=event.style,
            )  # fmt: skip
        if depth >= MAX_DEPTH:
            raise self._refuse(event, f"nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            is_seq = isinstance(event, yaml.SequenceStartEvent)
            kind: Any = yaml.SequenceNode if is_seq else yaml.MappingNode
            end = yaml.SequenceEndEvent if is_seq else yaml.MappingEndEvent
            node = kind(self._tag(kind, event, None), [], event.start_mark, None, flow_style=event.flow_style)
            while not self.loader.check_event(end):
                item = self.node(depth + 1)
                node.value.append(item if is_seq else (item, self.node(depth + 1)))
            node.end_mark = self.loader.get_event().end_mark
            return node
        raise self._refuse(event, f"unexpected {type(event).__name__}")  # pragma: no cover


def compose_yaml(text: str, path: Path) -> yaml.Node | None:
    """The node tree of ``text`` (bounded, no aliases); errors are :class:`InvalidInput`."""
    node: yaml.Node | None = _parse(text, path, build=False)
    return node


def _yaml_error(exc: yaml.MarkedYAMLError, path: Path) -> str:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    return f"{path}:{line}: (yaml): {one_line(exc.problem or str(exc))}"


def _check_size(size: int, path: Path) -> None:
    if size > MAX_YAML_BYTES:
        raise InvalidInput(f"{path}:1: (file): too large ({size} bytes, at most {MAX_YAML_BYTES})")


def parse_yaml(text: str, path: Path) -> LoadedYaml:
    """Parse YAML text; syntax errors become :class:`InvalidInput` naming file and line.

    Bounded (see the module docstring): aliases, excessive size, depth or node count are refused.
    """
    doc: LoadedYaml = _parse(text, path, build=True)
    return doc


def _parse(text: str, path: Path, *, build: bool) -> Any:
    _check_size(len(text.encode("utf-8", "surrogatepass")), path)
    loader = _Loader(text)
    try:
        node = _Composer(loader, path).document()
        if not build:
            return node
        lines: dict[Loc, int] = {}
        data = None if node is None else _build(node, loader, (), lines, path)
        return LoadedYaml(path=path, data=data, lines=lines)
    except yaml.MarkedYAMLError as exc:
        raise InvalidInput(_yaml_error(exc, path)) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}:1: (yaml): {one_line(str(exc))}") from None
    except RecursionError:  # the composer bounds depth; this is a second fence, never a traceback
        raise InvalidInput(f"{path}:1: (yaml): nested too deeply (more than {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable file becomes one-line :class:`InvalidInput`."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None


def read_bounded(path: Path, limit: int = MAX_YAML_BYTES) -> bytes:
    """Like :func:`read_bytes`, refusing files larger than ``limit`` without reading them whole."""
    try:
        with path.open("rb") as f:
            raw = f.read(limit + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > limit:
        raise InvalidInput(f"{path}:1: (file): too large (more than {limit} bytes)")
    return raw


def load_yaml(path: Path) -> LoadedYaml:
    raw = read_bounded(path)
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
