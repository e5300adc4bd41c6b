"""Render a bundle's config templates (``components[].config[]``) on the controller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..catalog.models import Entry
from ..errors import InvalidInput, NotFound
from .builders import config_file_name


def render_configs(entry: Entry, *, template_root: Path, variables: dict[str, str]) -> list[dict[str, Any]]:
    """Render every ``components[].config[]`` template with jinja2 (StrictUndefined)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - config files, not HTML
    )
    out = []
    for c in entry.components:
        for i, cf in enumerate(c.config):
            try:
                content = env.get_template(cf.template).render(**variables)
            except jinja2.TemplateNotFound:
                raise NotFound(f"{cf.template}: template not found in the bundle") from None
            except jinja2.UndefinedError as exc:
                raise InvalidInput(f"{cf.template}: {exc.message} (components {c.name} config {cf.path})") from None
            except jinja2.TemplateError as exc:
                line = getattr(exc, "lineno", None)
                raise InvalidInput(f"{cf.template}:{line or 1}: template error: {exc}") from None
            out.append({"component": c.name, "file": config_file_name(i, cf.path), "content": content})
    return out


__all__ = ["render_configs"]
