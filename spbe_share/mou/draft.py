"""``spbe-share mou draft``: fill the PKS template (Word via docxtpl, or Markdown).

Templates: ``--template FILE``, else ``templates/mou/<app>.<ext>`` or ``templates/mou/pks.<ext>``
in the catalog repository the entry comes from (a donor replaces them there), else the same
names in the built-in catalog (``ws.templates_dir``). ``<ext>`` is ``docx`` or ``md.j2``.

Templates run in jinja2's sandbox (a donor's template is code from outside) and the values
are data: docxtpl escapes them for Word XML; no value is ever compiled as a template.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ..errors import Conflict, InvalidInput, NotFound
from .context import placeholder
from .docxzip import normalize_docx

if TYPE_CHECKING:
    from ..catalog.loader import LoadedEntry
    from ..workspace import Workspace

EXT = {"docx": "docx", "md": "md.j2"}
MAX_TEMPLATE_BYTES = 10 * 1024 * 1024


def find_template(ws: Workspace, le: LoadedEntry, fmt: str, explicit: Path | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise InvalidInput(f"--template: {explicit}: no such file")
        return explicit
    ext = EXT[fmt]
    for base in dict.fromkeys([le.repo_root / "templates" / "mou", ws.templates_dir / "mou"]):
        for name in (f"{le.id}.{ext}", f"pks.{ext}"):
            if (base / name).is_file():
                return base / name
    raise NotFound(f"no PKS template templates/mou/pks.{ext} in {le.repo_root} or {ws.root}")


def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    env.globals["hukum"] = placeholder
    return env


def render_markdown(template: Path, context: dict[str, Any]) -> bytes:
    text = _read(template).decode("utf-8", errors="strict")
    try:
        return _env().from_string(text).render(**context).encode("utf-8")
    except TemplateError as exc:
        raise InvalidInput(f"{template}: template error: {exc}") from None


def render_docx(template: Path, context: dict[str, Any]) -> bytes:
    import io
    import zipfile

    from docx.opc.exceptions import OpcError
    from docxtpl import DocxTemplate
    from lxml.etree import LxmlError

    _read(template)  # size bound
    try:
        tpl = DocxTemplate(str(template))
        env = _env()
        tpl.render({**context, "hukum": placeholder}, jinja_env=env, autoescape=True)
    except TemplateError as exc:
        raise InvalidInput(f"{template}: template error: {exc}") from None
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, OpcError, LxmlError) as exc:  # not a .docx
        raise InvalidInput(f"{template}: not a usable .docx template ({exc.__class__.__name__}: {exc})") from None
    buf = io.BytesIO()
    tpl.save(buf)
    return normalize_docx(buf.getvalue())


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise InvalidInput(f"{path}: template larger than {MAX_TEMPLATE_BYTES // (1024 * 1024)} MB")
    return data


def write_new(path: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``path`` atomically; refuse to replace a file unless ``force``."""
    if path.exists() and not force:
        raise Conflict(f"--output: {path} already exists (use --force to replace it)")
    if path.is_dir():
        raise InvalidInput(f"--output: {path} is a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
