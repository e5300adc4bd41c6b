"""Maintain the Indonesian catalog: extract every msgid, update the ``.po``, compile the ``.mo``.

    python3 -m spbe_share.i18n_catalog update   # new msgids into the .po (untranslated), .mo rebuilt
    python3 -m spbe_share.i18n_catalog todo     # what still needs a translation, with where it is used
    python3 -m spbe_share.i18n_catalog compile  # .po -> .mo only
    python3 -m spbe_share.i18n_catalog check    # exit 1 when a msgid lacks a translation (as the test)
    python3 -m spbe_share.i18n_catalog todo --json > todo.json   # {msgid: where}, to translate in bulk
    python3 -m spbe_share.i18n_catalog apply tr.json  # {msgid: msgstr} into the .po (fields checked)
    python3 -m spbe_share.i18n_catalog gaps     # messages shown from a variable: not catalogued

(``scripts/i18n`` runs this.) Developer tooling on Babel; the CLI itself reads only the ``.mo``
through the standard library's gettext (:mod:`spbe_share.i18n`).

Where msgids come from:

- spbe_share's Python sources, by :func:`extract_templates` (a Babel extraction method): the
  message argument of every error class of :mod:`spbe_share.errors` and ``ValueError`` (pydantic
  validators), ``click.echo``/``info``/``click.confirm``/``click.prompt``/click exceptions,
  ``table`` headers, ``problems.append(...)``, ``Problem(line, field, message)``, and ``_``/``N_``.
  An f-string becomes a template: each replacement field is written as its source text
  (``f"no app {app!r}"`` -> ``no app {app!r}``); the translation must keep those fields and may
  reorder or drop them.
- the click command tree (help texts, with the command path as an extracted comment);
- click's own gettext calls (its modules that the CLI routes through the catalog).
"""

from __future__ import annotations

import ast
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from . import i18n
from .cli import COMMANDS, cli
from .cli.lang import (  # the CLI's help texts; the click modules it routes
    CLICK_MODULES,
    cli_messages,
)

PACKAGE = Path(__file__).parent
PO_FILE = i18n.LOCALE_DIR / "id" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
MO_FILE = PO_FILE.with_suffix(".mo")
EXCLUDE_DIRS = ("data", "locale")
EXCLUDE_FILES = ("i18n_catalog.py",)  # this tool: it speaks to developers

ECHO_CALLS = {
    "click.echo", "echo", "info", "output.info", "click.confirm", "click.prompt", "confirm", "prompt",
    "click.UsageError", "click.BadParameter", "click.ClickException", "UsageError", "BadParameter",
    "ClickException", "_", "N_", "i18n.N_", "i18n.gettext", "gettext",
    "say", "ctx.say", "self.say", "progress", "_t", "i18n.translate",  # notes for the operator, shown by the CLI's info()
}



def click_messages() -> Iterator[tuple[Any, str, int, list[str]]]:
    """The gettext messages of click's modules that the CLI routes through the catalog
    (read from click's source files; click itself stays the CLI's)."""
    import importlib.util

    from babel.messages.extract import extract_from_file

    spec = importlib.util.find_spec("click")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    for mod in CLICK_MODULES:
        for lineno, message, comments, _ctx in extract_from_file(
            "python", str(root / f"{mod}.py"), keywords={"_": None, "ngettext": (1, 2)}
        ):
            yield message, f"click/{mod}.py", lineno, list(comments)

def _error_names() -> set[str]:
    from . import errors

    names = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.SpbeError)}
    return names | {"ValueError"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def template(node: ast.AST | None) -> str | None:
    """The msgid of a str / f-string / concatenation of them, or None (not a literal message)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if isinstance(node, ast.JoinedStr):
        out = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                out.append(str(v.value).replace("{", "{{").replace("}", "}}"))
            elif isinstance(v, ast.FormattedValue):
                src = ast.unparse(v.value)
                if "{" in src or "}" in src:
                    return None
                conv = "" if v.conversion == -1 else "!" + chr(v.conversion)
                spec = ""
                if v.format_spec is not None:
                    inner = template(v.format_spec)
                    if inner is None or "{" in inner:
                        return None
                    spec = ":" + inner
                out.append("{" + src + conv + spec + "}")
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        # f"image {x!r}: " + why(t): a part that is not a literal is one more field
        left, right = template(node.left), template(node.right)
        if left is None and right is None:
            return None
        for side, part in (("left", left), ("right", right)):
            if part is None:
                src = ast.unparse(getattr(node, side))
                if "{" in src or "}" in src:
                    return None
        return (left if left is not None else "{" + ast.unparse(node.left) + "}") + (
            right if right is not None else "{" + ast.unparse(node.right) + "}"
        )
    if isinstance(node, ast.IfExp):  # "a" if c else "b": both are messages
        return None
    return None


def _messages(node: ast.Call, errors: set[str]) -> Iterator[ast.AST]:
    name = _dotted(node.func)
    last = name.rsplit(".", 1)[-1]
    if last in errors or name in ECHO_CALLS:
        if node.args:
            first = node.args[0]
            if isinstance(first, ast.IfExp):
                yield from (first.body, first.orelse)
            elif isinstance(first, ast.List | ast.Tuple):  # ValidationFailed([problem, ...])
                yield from first.elts
            else:
                yield first
        for kw in node.keywords:
            if kw.arg in ("message", "text"):
                yield kw.value
    elif last == "table" and node.args and isinstance(node.args[0], ast.List | ast.Tuple):
        yield from node.args[0].elts
        for kw in node.keywords:
            if kw.arg == "title":
                yield kw.value
    elif last == "append" and _dotted(node.func).split(".")[-2:-1] in (["problems"], ["errors"]):
        if node.args:
            yield node.args[0]
    elif last == "Problem" and len(node.args) >= 3:
        yield node.args[2]
    elif last == "_problem" and len(node.args) >= 4:  # yamlio._problem(path, line, loc, message)
        yield node.args[3]
    elif last == "_kv" and node.args and isinstance(node.args[0], ast.List) and not any(
        kw.arg == "labels" for kw in node.keywords
    ):  # cli catalog show: _kv([("Label", value), ...])
        yield from (e.elts[0] for e in node.args[0].elts if isinstance(e, ast.Tuple) and e.elts)
    elif last == "Finding" and len(node.args) >= 4:  # lint.Finding(check, file, line, message)
        yield node.args[3]
    elif name.endswith("ctx.at") and len(node.args) >= 3:  # lint: ctx.at(check, loc, message)
        yield node.args[2]
    elif name == "f" and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant):
        yield node.args[-1]  # lint's local helper f("check-id", [line,] message)


def extract_templates(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method for spbe_share's sources (see the module docstring)."""
    tree = ast.parse(fileobj.read())
    errors = _error_names()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        raw = _dotted(node.func).rsplit(".", 1)[-1] == "T_"
        for arg in [node.args[0]] if raw and node.args else _messages(node, errors):
            msg = arg.value if raw and isinstance(arg, ast.Constant) and isinstance(arg.value, str) else template(arg)
            if msg and i18n.has_words(msg):
                yield getattr(arg, "lineno", node.lineno), "", msg, []


def _code_messages() -> Iterator[tuple[Any, str, int, list[str]]]:
    method = f"{__name__}:extract_templates"

    def callback(filename: str, method: str, options: dict[str, Any]) -> None:
        return None

    for filename, lineno, message, comments, _ctx in extract_from_dir(
        str(PACKAGE),
        method_map=[("**.py", method)],
        callback=callback,
        directory_filter=lambda d: Path(d).name not in EXCLUDE_DIRS and not Path(d).name.startswith((".", "__")),
    ):
        if filename not in EXCLUDE_FILES:
            yield message, f"spbe_share/{filename}", lineno, comments


def collect() -> Catalog:
    """Every msgid the CLI can show, with where it comes from."""
    cat = Catalog(locale="id", domain=i18n.DOMAIN, project="spbe-share", fuzzy=False)
    for source in (_code_messages(), cli_messages(cli, COMMANDS), click_messages()):
        for message, filename, lineno, comments in source:
            if isinstance(message, tuple):
                message = tuple(m for m in message if m)
            if not message:
                continue
            existing = cat.get(message)
            locs = [(filename, lineno)]
            if existing is not None:
                existing.locations.extend(locs)
                existing.auto_comments.extend(c for c in comments if c not in existing.auto_comments)
            else:
                cat.add(message, locations=locs, auto_comments=comments)
    return cat


def read_catalog(path: Path = PO_FILE) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale="id", domain=i18n.DOMAIN)


def mo_bytes(cat: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, cat, use_fuzzy=False)
    return buf.getvalue()


def mo_messages(data: bytes) -> dict[Any, str]:
    """The translations a .mo holds, without its header (which names the Babel version)."""
    import gettext

    trans = gettext.GNUTranslations(io.BytesIO(data))
    return {k: v for k, v in trans._catalog.items() if k != ""}  # type: ignore[attr-defined]


def mo_is_current() -> bool:
    """The committed .mo holds exactly what compiling the .po gives."""
    return MO_FILE.exists() and mo_messages(MO_FILE.read_bytes()) == mo_messages(mo_bytes(read_catalog()))


def _write(cat: Catalog) -> None:
    buf = io.BytesIO()
    write_po(buf, cat, width=100, ignore_obsolete=True, sort_output=False)
    PO_FILE.parent.mkdir(parents=True, exist_ok=True)
    PO_FILE.write_bytes(buf.getvalue())
    MO_FILE.write_bytes(mo_bytes(read_catalog()))


def update() -> Catalog:
    """Merge the extracted msgids into the .po (translations kept, gone ones dropped)."""
    template_cat = collect()
    if PO_FILE.exists():
        cat = read_catalog()
        created = cat.creation_date
        cat.update(template_cat, no_fuzzy_matching=True, update_header_comment=False)
        cat.creation_date = created
    else:
        cat = Catalog(locale="id", domain=i18n.DOMAIN, project="spbe-share", fuzzy=False)
        cat.update(template_cat, no_fuzzy_matching=True)
    _header(cat)
    _write(cat)
    return cat


HEADER = """\
# Bahasa Indonesia for the spbe-share CLI. msgid = the English text in the code; a msgid with
# {fields} is an f-string template: keep its fields (they are data, shown verbatim), reorder or
# drop them as the sentence needs. Update with `scripts/i18n update`, list gaps with `scripts/i18n todo`.
#"""


def _header(cat: Catalog) -> None:
    from . import __version__

    cat.header_comment = HEADER
    cat.project, cat.version = "spbe-share", __version__
    cat.msgid_bugs_address = cat.last_translator = ""
    cat.language_team = "spbe-share"
    cat.revision_date = cat.creation_date


def _placeholders(text: str) -> set[str]:
    import re

    return set(i18n.fields(text)) | set(re.findall(r"%\([^)]*\)[a-z]|%[a-z]", text))


def problems(extracted: Catalog | None = None, po: Catalog | None = None) -> list[str]:
    """One line per msgid without a usable Indonesian translation, naming where it is used."""
    extracted = extracted if extracted is not None else collect()
    po = po if po is not None else read_catalog()
    out = []
    for msg in extracted:
        if not msg.id:
            continue
        where = ", ".join(f"{f}:{n}" if n else f for f, n in msg.locations[:3])
        where += "".join(f" [{c}]" for c in msg.auto_comments[:1])
        tr = po.get(msg.id)
        strings: list[str] = []
        if tr is not None and tr.string:
            strings = [tr.string] if isinstance(tr.string, str) else list(tr.string)
        ids = [msg.id] if isinstance(msg.id, str) else list(msg.id)
        if tr is None or tr.fuzzy or not strings or not all(strings):
            out.append(f"no Indonesian translation: {ids[0]!r} (from {where})")
            continue
        allowed = set().union(*(_placeholders(i) for i in ids))
        for s in strings:
            extra = _placeholders(s) - allowed
            if extra:
                out.append(f"translation uses unknown fields {sorted(extra)}: {ids[0]!r} (from {where})")
    return out


def untranslated() -> dict[str, str]:
    """msgid -> where it is used, for each msgid the .po does not translate (plural: singular)."""
    po = read_catalog()
    out = {}
    for msg in collect():
        if not msg.id:
            continue
        tr = po.get(msg.id)
        strings = [] if tr is None or not tr.string else [tr.string] if isinstance(tr.string, str) else list(tr.string)
        if tr is None or tr.fuzzy or not strings or not all(strings):
            key = msg.id if isinstance(msg.id, str) else msg.id[0]
            out[key] = ", ".join(f"{f}:{n}" if n else f for f, n in msg.locations[:3])
    return out


def apply(translations: dict[str, str]) -> list[str]:
    """Put ``{msgid: msgstr}`` into the .po (a plural msgid by its singular); the .mo is rebuilt.

    Refuses (and reports) a msgid the .po lacks or a translation that uses fields its msgid has not.
    """
    po = read_catalog()
    by_singular = {m.id[0]: m for m in po if isinstance(m.id, tuple)}
    errors = []
    for msgid, msgstr in translations.items():
        m = po.get(msgid) or by_singular.get(msgid)
        if m is None:
            errors.append(f"not in the .po (run scripts/i18n update first): {msgid!r}")
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        extra = _placeholders(msgstr) - set().union(*(_placeholders(i) for i in ids))
        if extra:
            errors.append(f"translation uses unknown fields {sorted(extra)}: {msgid!r}")
            continue
        m.string = msgstr if isinstance(m.id, str) else tuple(msgstr for _ in ids)
        m.flags.discard("fuzzy")
    _write(po)
    return errors


TRANSLATING = {"_", "_t", "N_", "gettext", "i18n.gettext", "i18n.translate", "i18n.N_"}


def gaps() -> list[str]:
    """Calls that show a message the extractor cannot catalogue (not a literal or f-string)."""
    errors = _error_names()
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.split("/")[0] in EXCLUDE_DIRS or rel in EXCLUDE_FILES or rel in ("i18n.py", "cli/lang.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if name.rsplit(".", 1)[-1] not in errors and name not in ECHO_CALLS:
                continue
            if name in TRANSLATING:
                continue
            for arg in _messages(node, errors):
                called = _dotted(arg.func) if isinstance(arg, ast.Call) else ""
                if template(arg) is None and called not in TRANSLATING and called != "_problem":
                    out.append(f"spbe_share/{rel}:{node.lineno}: {name}({ast.unparse(arg)[:80]})")
    return out


def main(argv: list[str]) -> int:
    import json

    cmd = argv[0] if argv else "check"
    if cmd == "update":
        update()
        todo = problems()
        print(f"{PO_FILE}: updated; {len(todo)} msgid(s) to translate (run: scripts/i18n todo)")
        return 0
    if cmd == "compile":
        MO_FILE.write_bytes(mo_bytes(read_catalog()))
        print(f"{MO_FILE}: compiled")
        return 0
    if cmd == "todo" and argv[1:] == ["--json"]:
        print(json.dumps(untranslated(), ensure_ascii=False, indent=1))
        return 0
    if cmd == "apply" and len(argv) == 2:
        errs = apply(json.loads(Path(argv[1]).read_text(encoding="utf-8")))
        for line in errs:
            print(line)
        print(f"{PO_FILE}: {len(untranslated())} msgid(s) left to translate")
        return 1 if errs else 0
    if cmd == "gaps":
        for line in gaps():
            print(line)
        return 0
    if cmd in ("check", "todo"):
        todo = problems()
        for line in todo:
            print(line)
        stale = not mo_is_current()
        if stale:
            print(f"{MO_FILE} is not compiled from {PO_FILE.name}: run scripts/i18n compile")
        return 1 if (todo or stale) and cmd == "check" else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
