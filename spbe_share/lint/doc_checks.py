"""Checks of the entry's Markdown documents: stubs, sections, roles, links and images."""

from __future__ import annotations

import re

from ..catalog import mdocs
from ..catalog.assets import asset_problem
from .context import LintContext
from .findings import Finding

STUB_WORDS = 80
#: install guide sections: (name shown, words a heading may use), matched in this order
INSTALL_SECTIONS = (
    ("pemulihan/rollback", ("pemulihan", "rollback", "pengembalian", "kembali ke versi")),
    ("verifikasi", ("verifikasi", "pemeriksaan", "pengujian", "uji", "cek")),
    ("persyaratan", ("persyaratan", "prasyarat", "kebutuhan")),
    ("langkah instalasi", ("langkah", "instalasi", "pemasangan")),
)
ROLE_LINE = re.compile(r"^\s*(?:[-+]\s+)?(penanggung\s+jawab|pelaksana)\s*:\s*(\w.*)$", re.I | re.M)
PLACEHOLDER = re.compile(r"\b(TODO|TBD|FIXME|XXX)\b|lorem ipsum", re.I)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def install_sections_missing(headings: list[tuple[int, str, int]]) -> list[str]:
    found: set[str] = set()
    for _level, text, _line in headings[1:] if headings and headings[0][0] == 1 else headings:
        low = text.lower()
        for name, keys in INSTALL_SECTIONS:
            if any((" " in k and k in low) or k in _words(low) for k in keys):
                found.add(name)
                break
    order = ("persyaratan", "langkah instalasi", "verifikasi", "pemulihan/rollback")
    return [n for n in order if n not in found]


def check_docs(ctx: LintContext) -> list[Finding]:
    out: list[Finding] = []
    by_path = {d.ref.relpath: d.ref for d in ctx.docs}
    ids = {d.ref.relpath: set(mdocs.heading_ids([h[1] for h in d.headings])) for d in ctx.docs}
    for d in ctx.docs:
        if d.error:
            out.append(Finding("doc-unreadable", d.path, 1, f"{d.ref.relpath}: {d.error}"))
            continue
        out += _structure(d)
        out += _links(ctx, d, by_path, ids)
    return out


def _structure(d: mdocs.Doc) -> list[Finding]:
    out: list[Finding] = []
    f = lambda check, line, msg: out.append(Finding(check, d.path, line, msg))  # noqa: E731
    words = mdocs.word_count(d.tokens)
    if words < STUB_WORDS:
        f("doc-stub", 1, f"{d.ref.relpath} has {words} words of text; a real document has at least {STUB_WORDS}")
    if not d.headings or d.headings[0][0] != 1 or d.headings[0][2] != _first_block_line(d):
        f("doc-no-title", 1, f"{d.ref.relpath} does not start with a level-1 heading (# Judul)")
    prev = 0
    for level, text, line in d.headings:
        if prev and level > prev + 1:
            f("heading-skip", line, f"heading {text[:50]!r} is level {level} after level {prev}")
        prev = level
    for t in d.tokens:
        if t.type == "inline":
            m = PLACEHOLDER.search(mdocs.plain_text(t))
            if m:
                f("doc-placeholder", (t.map[0] + 1) if t.map else 1, f"unfinished marker {m.group(0)!r}")
        if t.type == "html_block":
            f("raw-html", (t.map[0] + 1) if t.map else 1, "raw HTML block; the web catalog shows it as text")
        if t.type == "inline" and any(c.type == "html_inline" for c in t.children or []):
            f("raw-html", (t.map[0] + 1) if t.map else 1, "raw inline HTML; the web catalog shows it as text")
    if d.ref.key == "install":
        for name in install_sections_missing(d.headings):
            f("install-missing-section", 1, f"{d.ref.relpath} has no section on {name} (a heading naming it)")
    if d.ref.is_sop:
        if not ROLE_LINE.search(re.sub(r"[*_]", "", d.text)):
            f("sop-no-role", 1, f"{d.ref.relpath} names no responsible role "
                                "(a line 'Penanggung jawab: ...' or 'Pelaksana: ...')")  # fmt: skip
        if not any(t.type == "ordered_list_open" for t in d.tokens):
            f("sop-no-steps", 1, f"{d.ref.relpath} has no numbered steps (1. 2. 3.)")
    return out


def _first_block_line(d: mdocs.Doc) -> int:
    for t in d.tokens:
        if t.map:
            return t.map[0] + 1
    return 1


def _links(ctx: LintContext, d: mdocs.Doc, by_path: dict[str, mdocs.DocRef],
           ids: dict[str, set[str]]) -> list[Finding]:  # fmt: skip
    out: list[Finding] = []
    entry_dir = ctx.le.entry_dir
    for use in mdocs.links(d.tokens):
        f = lambda check, msg, use=use: out.append(Finding(check, d.path, use.line, msg))  # noqa: E731
        t = mdocs.resolve(use.href, doc_relpath=d.ref.relpath, entry_dir=entry_dir, docs_by_path=by_path)
        shown = use.href[:80]
        if t.kind == "unsafe":
            f("link-unsafe", f"{use.kind} to {shown!r}: scheme {t.scheme!r} is not allowed")
            continue
        if use.kind == "image":
            if not use.text.strip():
                f("image-no-alt", f"image {shown!r} has no alt text (![what it shows](...))")
            if t.kind == "external":
                f("image-remote", f"image {shown!r} is on another site; ship it in the entry folder")
            elif t.kind in ("missing", "outside", "link", "anchor", "doc"):
                f("image-missing", f"image {shown!r}: " + _why(t))
            elif t.kind == "file":
                ctx.files_read.append(entry_dir / t.relpath)
                suffix = "." + t.relpath.rsplit(".", 1)[-1].lower() if "." in t.relpath else ""
                why = asset_problem(entry_dir, t.relpath) if suffix in mdocs.IMAGE_SUFFIXES else "not an image file"
                if why:
                    f("image-missing", f"image {shown!r} cannot be published: {why}")
            continue
        if t.kind == "external":
            if t.scheme == "http":
                f("link-insecure", f"link {shown!r} is http; use https where the site offers it")
        elif t.kind in ("missing", "outside", "link"):
            f("link-broken", f"link {shown!r}: " + _why(t))
        elif t.kind == "file":
            ctx.files_read.append(entry_dir / t.relpath)
            suffix = "." + t.relpath.rsplit(".", 1)[-1].lower() if "." in t.relpath else ""
            if suffix not in mdocs.FILE_SUFFIXES:
                f("link-broken", f"link {shown!r}: the web catalog does not publish {suffix or 'such'} files")
            elif (why := asset_problem(entry_dir, t.relpath)) is not None:
                f("link-broken", f"link {shown!r}: cannot be published: {why}")
        elif t.kind in ("doc", "anchor") and t.fragment:
            target = t.relpath if t.kind == "doc" else d.ref.relpath
            if t.fragment not in ids.get(target, set()):
                f("link-broken", f"link {shown!r}: no heading with anchor #{t.fragment} in {target}")
    return out


def _why(t: mdocs.Target) -> str:
    if t.kind == "outside":
        return f"{t.relpath} is outside the entry folder"
    if t.kind == "missing":
        return f"{t.relpath} does not exist"
    if t.kind == "link":
        return f"{t.relpath}: {t.why}"
    if t.kind == "doc":
        return f"{t.relpath} is a document, not an image"
    return "no file named"
