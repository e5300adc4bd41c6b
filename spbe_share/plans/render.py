"""Render a bundle's config templates (``components[].config[]``) in the bounded sandbox.

Templates come from a bundle, that is from outside the operator's machine: they render only
through :mod:`spbe_share.sandbox` (jinja2's immutable sandbox, strict undefined, limits on output,
loop steps, memory and time, in one child process for all the templates of an operation, read
without following symlinks). A refused template or one over a limit stops the operation with one
line naming the template file and line, :class:`~spbe_share.errors.VerificationFailed` (exit 6:
the bundle is refused), before anything reaches the target. Values are plain data: a value
holding ``{{ }}`` is text in the output, never rendered again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalog.models import Entry
from ..sandbox import render_files
from .containers import config_file_name


def render_configs(entry: Entry, *, template_root: Path, variables: dict[str, str]) -> list[dict[str, Any]]:
    """Render every ``components[].config[]`` template (bounded sandbox, strict undefined)."""
    items = [(c.name, i, cf) for c in entry.components for i, cf in enumerate(c.config)]
    contents = render_files(
        template_root, [cf.template for _c, _i, cf in items], variables,
        wheres=[f"components {c} config {cf.path}" for c, _i, cf in items],
    )
    return [{"component": c, "file": config_file_name(i, cf.path), "content": content}
            for (c, i, cf), content in zip(items, contents, strict=True)]  # fmt: skip


__all__ = ["render_configs"]
