"""``spbe-share mou draft``: fill the PKS template (Word via docxtpl, or Markdown).

Templates: ``--template FILE``, else ``templates/mou/<app>.<ext>`` or ``templates/mou/pks.<ext>``
in the catalog repository the entry comes from (a donor replaces them there), else the same
names in the built-in catalog (``ws.templates_dir``). ``<ext>`` is ``docx`` or ``md.j2``.

A donor's template is code from outside, and the draft goes back to the donor: it is read
without following symlinks (a link to the operator's files is an error, never a draft) and
renders only in the bounded sandbox of :mod:`spbe_share.sandbox` (limits on output, loop steps,
memory and time; a .docx template is also refused when its members unpack to more than
:data:`MAX_DOCX_UNPACKED`). The values are data: docxtpl escapes them for Word XML; no value is
ever compiled as a template.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import sandbox
from ..errors import Conflict, InvalidInput, NotFound
from ..files import atomic_write_bytes
from ..outside import MISSING, link_problem, read_inside
from .context import PLACEHOLDER
from .docxzip import normalize_docx

if TYPE_CHECKING:
    from ..catalog.loader import LoadedEntry
    from ..workspace import Workspace

EXT = {"docx": "docx", "md": "md.j2"}
MAX_TEMPLATE_BYTES = 10 * 1024 * 1024
MAX_DOCX_UNPACKED = 32 * 1024 * 1024  # all members of a .docx template together, unpacked
MAX_DOCX_MEMBERS = 1000
FUNCTIONS = {"hukum": PLACEHOLDER}  # hukum('x'): the marked gap legal staff fill in


@dataclass(frozen=True)
class TemplateFile:
    """A PKS template: ``rel`` below ``root`` (a catalog repository: read without following
    symlinks), or the operator's own ``--template`` file (``root`` None)."""

    path: Path
    root: Path | None = None
    rel: str = ""

    def __str__(self) -> str:
        return str(self.path)

    def read(self) -> bytes:
        if self.root is not None:
            return read_inside(self.root, self.rel, limit=MAX_TEMPLATE_BYTES, what=str(self.path))
        return _read(self.path)


def find_template(ws: Workspace, le: LoadedEntry, fmt: str, explicit: Path | None = None) -> TemplateFile:
    if explicit is not None:
        if not explicit.is_file():
            raise InvalidInput(f"--template: {explicit}: no such file")
        return TemplateFile(explicit)
    ext = EXT[fmt]
    for root in dict.fromkeys([le.repo_root, ws.root]):
        for name in (f"{le.id}.{ext}", f"pks.{ext}"):
            rel = f"templates/mou/{name}"
            problem = link_problem(root, rel)
            if problem is None:
                return TemplateFile(root / rel, root, rel)
            if problem != MISSING:  # a symlink (or a folder): never read, never skipped silently
                raise InvalidInput(f"{root / rel}: {problem}")
    raise NotFound(f"no PKS template templates/mou/pks.{ext} in {le.repo_root} or {ws.root}")


def render_markdown(template: TemplateFile, context: dict[str, Any]) -> bytes:
    try:
        text = template.read().decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{template}: not UTF-8 text (byte {exc.start})") from None
    return sandbox.render_text(text, name=str(template), context=context, functions=FUNCTIONS).encode("utf-8")


def render_docx(template: TemplateFile, context: dict[str, Any]) -> bytes:
    data = template.read()
    _check_docx(data, template)
    return normalize_docx(sandbox.render_docx(data, name=str(template), context=context, functions=FUNCTIONS))


def _check_docx(data: bytes, template: TemplateFile) -> None:
    """A .docx is a zip: its size on disk says little; refuse one that unpacks to too much."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidInput(f"{template}: not a usable .docx template ({exc.__class__.__name__}: {exc})") from None
    if len(infos) > MAX_DOCX_MEMBERS:
        raise InvalidInput(f"{template}: not a usable .docx template (more than {MAX_DOCX_MEMBERS} members)")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_DOCX_UNPACKED:
        raise InvalidInput(f"{template}: unpacks to {unpacked} bytes, more than {MAX_DOCX_UNPACKED} "
                           "(a PKS template is text and a few images)")  # fmt: skip


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
    atomic_write_bytes(path, data, mode=0o644)
