"""Render a bundle's config templates (``components[].config[]``) in jinja2's sandbox.

Templates come from a bundle, that is from outside the operator's machine, so they render in
an ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: attributes starting with ``_``
(``__class__``, ``__globals__``, ``__init__``, ...), the internals of functions, frames and
generators, ``str.format``/``format_map`` tricks that reach them, and methods that change a
list or dict are refused. On top of the sandbox, ``*`` and ``**`` refuse results too large for
a config file (jinja2 bounds ``range`` itself). A refused template stops the operation with
one line naming the template file and line, :class:`~spbe_share.errors.VerificationFailed`
(exit 6: the bundle is refused), before anything reaches the target. Values are plain data:
a value holding ``{{ }}`` is text in the output, never rendered again.
"""

from __future__ import annotations

import operator
import traceback
from pathlib import Path
from typing import Any

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.environment import Template
from jinja2.loaders import FileSystemLoader
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..catalog.models import Entry
from ..errors import InvalidInput, NotFound, VerificationFailed
from .builders import config_file_name

MAX_ITEMS = 1_000_000  # the largest string/list a `*` in a template may build
MAX_EXPONENT = 64


class SandboxUndefined(StrictUndefined):
    """StrictUndefined that keeps a sandbox refusal a refusal when used further
    (``x | attr('__init__') | attr('__globals__')`` is a SecurityError, not "undefined")."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return super().__getattr__(name)


class ConfigSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox, with ``*`` and ``**`` bounded."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"the exponent {right} is too large for a config template")
            return operator.pow(left, right)
        if operator_name == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_ITEMS:
                    raise SecurityError(f"a repetition of {len(seq) * n} items is too large for a config template")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


def sandbox(template_root: Path) -> ConfigSandbox:
    return ConfigSandbox(
        loader=FileSystemLoader(str(template_root)),
        undefined=SandboxUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def template_line(exc: BaseException, template: Template) -> int:
    """The template line an error came from (jinja2 rewrites tracebacks to template lines)."""
    line = getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    found = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == template.filename and frame.lineno:
            found = frame.lineno
    return found


def render_template(env: ConfigSandbox, name: str, variables: dict[str, str], *, where: str) -> str:
    """Render template ``name``; every failure is one line naming ``name`` and its line."""
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        raise NotFound(f"{name}: template not found in the bundle") from None
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{name}:{exc.lineno}: template error: {exc.message}") from None
    try:
        return template.render(**variables)
    except SecurityError as exc:
        raise VerificationFailed(
            f"{name}:{template_line(exc, template)}: refused by the template sandbox: {exc} ({where});"
            " nothing was run"
        ) from None
    except UndefinedError as exc:
        raise InvalidInput(f"{name}:{template_line(exc, template)}: {exc.message} ({where})") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{name}:{template_line(exc, template)}: template error: {exc} ({where})") from None


def render_configs(entry: Entry, *, template_root: Path, variables: dict[str, str]) -> list[dict[str, Any]]:
    """Render every ``components[].config[]`` template (sandboxed, StrictUndefined)."""
    env = sandbox(template_root)
    out = []
    for c in entry.components:
        for i, cf in enumerate(c.config):
            content = render_template(env, cf.template, variables, where=f"components {c.name} config {cf.path}")
            out.append({"component": c.name, "file": config_file_name(i, cf.path), "content": content})
    return out


__all__ = ["ConfigSandbox", "render_configs", "render_template", "sandbox"]
