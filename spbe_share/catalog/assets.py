"""Files a catalog entry publishes on the web catalog (logo, images in docs): safety checks.

An SVG file is a document that can carry scripts. A donor's SVG is published only when it
has no active content (scripts, event handlers, foreign objects, links to anything but its
own fragments or embedded raster images), so opening it from the site runs nothing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..outside import DonorFileError, open_inside

MAX_ASSET_BYTES = 5 * 1024 * 1024
_FORBIDDEN = {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def load_asset(root: Path, rel: str) -> tuple[bytes | None, str | None]:
    """The bytes of the file ``root/rel`` to publish, or why it must not be published (never
    through a symlink: a donor's link to the operator's files is not published)."""
    try:
        with open_inside(root, rel) as f:
            data = f.read(MAX_ASSET_BYTES + 1)
    except DonorFileError as exc:
        return None, str(exc)
    if len(data) > MAX_ASSET_BYTES:
        return None, f"larger than {MAX_ASSET_BYTES // (1024 * 1024)} MB"
    problem = _svg_problem(data) if rel.lower().endswith(".svg") else None
    return (None, problem) if problem else (data, None)


def asset_problem(root: Path, rel: str) -> str | None:
    """Why ``root/rel`` must not be published (None: it may be)."""
    return load_asset(root, rel)[1]


def _svg_problem(data: bytes) -> str | None:
    if b"<!ENTITY" in data or b"<!DOCTYPE" in data.upper():
        return "SVG declares a DOCTYPE/entities"
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"not well-formed SVG ({exc})"
    if _local(root.tag) != "svg":
        return "not an SVG document"
    for el in root.iter():
        tag = _local(str(el.tag))
        if tag in _FORBIDDEN:
            return f"SVG contains <{tag}>"
        for name, value in el.attrib.items():
            attr = _local(name)
            if attr.startswith("on"):
                return f"SVG has an event handler attribute {attr!r}"
            if attr == "href" and not (value.startswith("#") or _DATA_IMAGE.match(value)):
                return f"SVG links to {value[:60]!r}"
            if "javascript:" in value.lower() or "url(http" in value.lower().replace(" ", ""):
                return f"SVG attribute {attr!r} refers outside the file"
        if tag == "style" and el.text and re.search(r"@import|url\(\s*['\"]?(?!#)", el.text):
            return "SVG style loads outside resources"
    return None
