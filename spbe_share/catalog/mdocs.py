"""The Markdown documents of a catalog entry (install guide, user manual, SOPs), read as data.

Donors write these files; they reach the web catalog of every adopter, so they are data:
parsed by markdown-it-py (CommonMark + tables) with raw HTML *off*, never executed, and read
without following symlinks (:mod:`spbe_share.outside`): a donor's link to the operator's own
files is an error, never content of the web catalog. This module knows the documents an entry
names, parses them once, and resolves the links and images they contain against the entry's
folder. The linter (:mod:`spbe_share.lint`) and the site builder (:mod:`spbe_share.site`) both
read documents through it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..outside import LINK, MISSING, DonorFileError, link_problem, open_inside

if TYPE_CHECKING:
    from .loader import LoadedEntry

MAX_DOC_BYTES = 2 * 1024 * 1024  # a bigger "document" is not a document: read no more

#: Files that a document may link to or show, copied into the web catalog as they are.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
FILE_SUFFIXES = IMAGE_SUFFIXES | {".pdf", ".txt", ".csv", ".odt", ".ods", ".docx", ".xlsx"}

SOP_TITLES = {
    "hak_akses": ("SOP Hak Akses", "Access rights SOP"),
    "backup": ("SOP Backup dan Pemulihan", "Backup and restore SOP"),
    "eskalasi": ("SOP Eskalasi", "Escalation SOP"),
    "manajemen_perubahan": ("SOP Manajemen Perubahan", "Change management SOP"),
    "risiko_keamanan": ("SOP Risiko Keamanan", "Security risk SOP"),
}


@dataclass(frozen=True)
class DocRef:
    """One document an entry names: its key, page slug, titles and path inside the entry."""

    key: str  # install, user_manual, sop.hak_akses, ...
    slug: str  # page name on the site: instalasi, manual-pengguna, sop-hak-akses, ...
    title_id: str
    title_en: str
    relpath: str  # relative to the entry folder
    field: tuple[str, ...]  # where spbe-app.yaml names it

    @property
    def is_sop(self) -> bool:
        return self.key.startswith("sop.")


def doc_refs(le: LoadedEntry) -> list[DocRef]:
    """The entry's documents, in reading order: install guide, user manual, the SOPs."""
    d = le.entry.docs
    out = [
        DocRef("install", "instalasi", "Panduan Instalasi", "Installation guide", d.install,
               ("docs", "install")),
        DocRef("user_manual", "manual-pengguna", "Manual Pengguna", "User manual", d.user_manual,
               ("docs", "user_manual")),
    ]  # fmt: skip
    for key, rel in d.sop.model_dump().items():
        title_id, title_en = SOP_TITLES[key]
        out.append(DocRef(f"sop.{key}", "sop-" + key.replace("_", "-"), title_id, title_en, rel,
                          ("docs", "sop", key)))  # fmt: skip
    return out


def parser(*, lint: bool = False) -> MarkdownIt:
    """CommonMark + tables + strikethrough, raw HTML off.

    ``lint=True``: raw HTML is *parsed* (so the linter can report it) and every link
    destination is kept (so it can report unsafe ones); never used to render.
    """
    md = MarkdownIt("commonmark", {"html": lint, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    if lint:
        md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


@dataclass(frozen=True)
class Target:
    """Where a relative link or image of a document points."""

    kind: str  # "doc" (another document of the entry), "file" (a file to publish), "missing",
    #            "outside" (leaves the entry folder), "link" (a symlink on its way), "external"
    #            (has a scheme), "anchor", "unsafe"
    relpath: str = ""  # inside the entry folder (doc/file/missing/link)
    fragment: str = ""
    scheme: str = ""
    why: str = ""  # link: the refusal


SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def resolve(href: str, *, doc_relpath: str, entry_dir: Path, docs_by_path: dict[str, DocRef]) -> Target:
    """Classify ``href`` found in the document ``doc_relpath`` (relative to ``entry_dir``)."""
    href = href.strip()
    parts = urlsplit(href)
    if parts.scheme:
        scheme = parts.scheme.lower()
        return Target("external" if scheme in SAFE_SCHEMES else "unsafe", scheme=scheme)
    if href.startswith("//") or parts.netloc:
        return Target("unsafe", scheme="//")
    if not parts.path:
        return Target("anchor", fragment=parts.fragment)
    raw = unquote(parts.path)
    if raw.startswith("/") or "\\" in raw or "\x00" in raw:
        return Target("outside", relpath=raw)
    base = PurePosixPath(doc_relpath).parent
    stack: list[str] = []
    for p in (base / raw).parts:
        if p in ("", "."):
            continue
        if p == "..":
            if not stack:
                return Target("outside", relpath=raw)
            stack.pop()
            continue
        stack.append(p)
    rel = "/".join(stack)
    if rel in docs_by_path:
        return Target("doc", relpath=rel, fragment=parts.fragment)
    if not rel:
        return Target("missing", relpath=rel)
    problem = link_problem(entry_dir, rel)
    if problem is not None and LINK in problem:  # a symlink, wherever it leads: never followed
        return Target("link", relpath=rel, why=problem)
    if problem is not None:
        return Target("missing", relpath=rel)
    return Target("file", relpath=rel, fragment=parts.fragment)


@dataclass
class Doc:
    """A parsed document: its text, tokens (raw HTML not rendered) and what it links to."""

    ref: DocRef
    path: Path
    text: str
    tokens: list[Token]
    error: str | None = None  # unreadable (missing, not UTF-8, too big)
    headings: list[tuple[int, str, int]] = field(default_factory=list)  # (level, text, line)


def read_doc(le: LoadedEntry, ref: DocRef, md: MarkdownIt | None = None, *, parse: bool = True) -> Doc:
    """Read (and unless ``parse=False``, parse) one document; problems land in ``Doc.error``."""
    path = le.entry_dir / ref.relpath
    try:
        with open_inside(le.entry_dir, ref.relpath) as f:  # never through a symlink
            raw = f.read(MAX_DOC_BYTES + 1)
        if len(raw) > MAX_DOC_BYTES:
            return Doc(ref, path, "", [], error=f"larger than {MAX_DOC_BYTES} bytes")
        text = raw.decode("utf-8")
    except DonorFileError as exc:
        return Doc(ref, path, "", [], error="file not found" if str(exc) == MISSING else str(exc))
    except UnicodeDecodeError as exc:
        return Doc(ref, path, "", [], error=f"not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        return Doc(ref, path, "", [], error=exc.strerror or str(exc))
    tokens = (md or parser()).parse(text) if parse else []
    doc = Doc(ref, path, text, tokens)
    doc.headings = headings(tokens)
    return doc


def headings(tokens: list[Token]) -> list[tuple[int, str, int]]:
    out = []
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            inline = tokens[i + 1]
            out.append((int(t.tag[1]), plain_text(inline), (t.map[0] + 1) if t.map else 1))
    return out


def plain_text(inline: Token) -> str:
    parts = []
    for c in inline.children or []:
        if c.type in ("text", "code_inline"):
            parts.append(c.content)
        elif c.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif c.type == "image":
            parts.append(c.content)
    return "".join(parts).strip()


@dataclass(frozen=True)
class LinkUse:
    kind: str  # "link" or "image"
    href: str
    text: str  # link text or image alt
    line: int


def links(tokens: list[Token]) -> list[LinkUse]:
    """Every link and image of the document with its line (1-based)."""
    out: list[LinkUse] = []
    for t in tokens:
        if t.type != "inline" or not t.children:
            continue
        line = (t.map[0] + 1) if t.map else 1
        children = t.children
        for j, c in enumerate(children):
            if c.type in ("softbreak", "hardbreak"):
                line += 1
            elif c.type == "link_open":
                text = []
                for k in children[j + 1 :]:
                    if k.type == "link_close":
                        break
                    text.append(k.content)
                out.append(LinkUse("link", str(c.attrGet("href") or ""), "".join(text), line))
            elif c.type == "image":
                out.append(LinkUse("image", str(c.attrGet("src") or ""), c.content, line))
    return out


_WORD = re.compile(r"\w+", re.UNICODE)


def word_count(tokens: list[Token]) -> int:
    """Words of prose and tables (code blocks not counted)."""
    n = 0
    for t in tokens:
        if t.type == "inline":
            n += len(_WORD.findall(plain_text(t)))
    return n


def slugify(text: str) -> str:
    """An anchor id from heading text: ASCII letters, digits and '-'."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s or "bagian"


def heading_ids(texts: list[str]) -> list[str]:
    """Unique anchor ids for headings, in order ("langkah", "langkah-2", ...)."""
    seen: dict[str, int] = {}
    out = []
    for t in texts:
        base = slugify(t)
        n = seen.get(base, 0) + 1
        seen[base] = n
        out.append(base if n == 1 else f"{base}-{n}")
    return out
