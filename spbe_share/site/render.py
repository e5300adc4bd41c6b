"""A donor's Markdown document -> safe HTML for the web catalog (markdown-it-py, raw HTML off).

Links and images are data and are checked: a relative link to another document of the
entry becomes a link to its page; a link or image to a publishable file inside the entry
folder is kept and the file is published (:attr:`Rendered.assets`); anything else that is
relative (missing, outside the entry, unknown file type) is rendered as plain text, never
as a link. Remote images become links (the site loads nothing from elsewhere). Unsafe
schemes (``javascript:``, ``data:`` ...) never become links (markdown-it refuses them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.token import Token

from ..catalog import mdocs
from ..catalog.assets import asset_problem


@dataclass
class Rendered:
    title: str | None  # the document's first level-1 heading, taken out of the body
    html: str
    assets: set[str] = field(default_factory=set)  # relpaths (entry folder) to publish
    toc: list[tuple[str, str]] = field(default_factory=list)  # (id, text) of level-2 headings


def _publishable(entry_dir: Path, t: mdocs.Target, *, image: bool) -> bool:
    if t.kind != "file":
        return False
    suffix = Path(t.relpath).suffix.lower()
    allowed = mdocs.IMAGE_SUFFIXES if image else mdocs.FILE_SUFFIXES
    return suffix in allowed and asset_problem(entry_dir, t.relpath) is None


def render_doc(doc: mdocs.Doc, *, entry_dir: Path, docs_by_path: dict[str, mdocs.DocRef],
               asset_prefix: str, table_label: str) -> Rendered:  # fmt: skip
    """HTML of ``doc`` for a page in the entry's folder of the site.

    ``asset_prefix`` is the relative URL from the page to the entry's published files
    (``""`` for the Indonesian pages, ``"../../../apps/<app>/"`` for the English ones).
    """
    md = mdocs.parser()
    tokens = md.parse(doc.text)
    title = None
    if len(tokens) >= 3 and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        title = mdocs.plain_text(tokens[1])
        tokens = tokens[3:]
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = max(0, 2 - min(levels)) if levels else 0
    texts = [mdocs.plain_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]
    ids = iter(mdocs.heading_ids(texts))
    out = Rendered(title=title, html="")
    for i, t in enumerate(tokens):
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{min(6, int(t.tag[1]) + shift)}"
            if t.type == "heading_open":
                hid = next(ids)
                t.attrSet("id", hid)
                if t.tag == "h2":
                    out.toc.append((hid, mdocs.plain_text(tokens[i + 1])))
        elif t.type == "inline" and t.children:
            t.children = _inline(t.children, doc, entry_dir, docs_by_path, asset_prefix, out.assets)
    rules = md.renderer.rules  # type: ignore[attr-defined]
    rules["table_open"] = lambda *a: (
        f'<div class="table-wrap" role="region" tabindex="0" aria-label="{table_label}"><table>\n'
    )
    rules["table_close"] = lambda *a: "</table></div>\n"
    rules["fence"] = _code
    rules["code_block"] = _code
    out.html = md.renderer.render(tokens, md.options, {})
    return out


def _code(tokens: list[Token], idx: int, options: object, env: object) -> str:
    from markdown_it.common.utils import escapeHtml

    return f'<pre tabindex="0"><code>{escapeHtml(tokens[idx].content)}</code></pre>\n'


def _inline(children: list[Token], doc: mdocs.Doc, entry_dir: Path, docs_by_path: dict[str, mdocs.DocRef],
            asset_prefix: str, assets: set[str]) -> list[Token]:  # fmt: skip
    out: list[Token] = []
    stack: list[Token] = []  # open links, to close the same way
    for c in children:
        if c.type == "link_open":
            href = str(c.attrGet("href") or "")
            t = mdocs.resolve(href, doc_relpath=doc.ref.relpath, entry_dir=entry_dir, docs_by_path=docs_by_path)
            frag = f"#{t.fragment}" if t.fragment else ""
            if t.kind == "doc":
                c.attrSet("href", docs_by_path[t.relpath].slug + ".html" + frag)
            elif t.kind == "file" and _publishable(entry_dir, t, image=False):
                assets.add(t.relpath)
                c.attrSet("href", asset_prefix + t.relpath)
            elif t.kind in ("external", "anchor"):
                pass
            else:
                c.tag = "span"
                c.attrs = {"class": "tautan-rusak"}
            stack.append(c)
            out.append(c)
        elif c.type == "link_close":
            opener = stack.pop() if stack else None
            if opener is not None and opener.tag == "span":
                c.tag = "span"
            out.append(c)
        elif c.type == "image":
            out.extend(_image(c, doc, entry_dir, docs_by_path, asset_prefix, assets))
        else:
            out.append(c)
    return out


def _image(c: Token, doc: mdocs.Doc, entry_dir: Path, docs_by_path: dict[str, mdocs.DocRef],
           asset_prefix: str, assets: set[str]) -> list[Token]:  # fmt: skip
    src = str(c.attrGet("src") or "")
    alt = c.content
    t = mdocs.resolve(src, doc_relpath=doc.ref.relpath, entry_dir=entry_dir, docs_by_path=docs_by_path)
    if _publishable(entry_dir, t, image=True):
        assets.add(t.relpath)
        c.attrSet("src", asset_prefix + t.relpath)
        c.attrSet("loading", "lazy")
        return [c]
    text = Token("text", "", 0)
    text.content = f"[{alt or src}]"
    if t.kind == "external":  # a remote image: a link to it, nothing loaded from elsewhere
        link = Token("link_open", "a", 1)
        link.attrSet("href", src)
        close = Token("link_close", "a", -1)
        return [link, text, close]
    return [text]
