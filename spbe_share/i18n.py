"""The language the CLI speaks: Bahasa Indonesia (``id``) or English (``en``).

English is the source language: every msgid is the English text as written in the code.
Translations come from the gettext catalog ``locale/id/LC_MESSAGES/spbe_share.mo`` (compiled
from the ``.po`` next to it by ``scripts/i18n``). This module is stdlib-only and never imports
click; the CLI hooks live in :mod:`spbe_share.cli.i18n`.

Messages that carry data (``f"no app {app!r} in the catalog"``) are catalogued as *templates*:
the f-string with each replacement field written as its source text (``no app {app!r} in the
catalog``). :func:`translate` matches a rendered English message against the templates, takes
the data out of it verbatim and puts it into the translated template, so raise sites keep their
f-strings and the data (paths, lines, fields, names) is never translated.
"""

from __future__ import annotations

import gettext as _gettext
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

DOMAIN = "spbe_share"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "id")
DEFAULT = "en"
# POSIX precedence: the first of these that is set and non-empty decides.
LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG")


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a message for extraction without translating it here (it is translated on output)."""
    return message


def T_(template: str) -> str:  # noqa: N802
    """Declare a message template written elsewhere as an f-string (``{fields}`` as in the code)."""
    return template


def normalise(value: str) -> str:
    """``id``/``id_ID``/``id_ID.UTF-8``/``id_ID@euro`` -> ``id``; anything else -> ``en``."""
    tag = value.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_").lower()
    return "id" if tag == "id" or tag.startswith("id_") else "en"


def choose_language(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``--lang`` first, then ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` (first non-empty wins)."""
    if option:
        return normalise(option)
    env = os.environ if environ is None else environ
    for var in LOCALE_VARS:
        value = env.get(var, "")
        if value:
            return normalise(value)
    return DEFAULT


@cache
def _translations(lang: str) -> _gettext.NullTranslations:
    if lang == "en":
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[lang], fallback=True)


_active = DEFAULT


def activate(lang: str) -> None:
    global _active
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    _active = lang


def active() -> str:
    return _active


def gettext(message: str) -> str:
    if _active == "en":
        return message
    return _translations(_active).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    if _active == "en":
        return singular if n == 1 else plural
    return _translations(_active).ngettext(singular, plural, n)


_ = gettext

# --- templates -----------------------------------------------------------------------------

_FIELD = re.compile(r"\{\{|\}\}|\{[^{}]*\}")


def fields(template: str) -> list[str]:
    """The replacement fields of a template, in order (``{{``/``}}`` are literal braces)."""
    return [m for m in _FIELD.findall(template) if m not in ("{{", "}}")]


def literal(template: str) -> str:
    """The template's text without its replacement fields."""
    return _FIELD.sub(lambda m: m[0][0] if m[0] in ("{{", "}}") else "\0", template)


def has_words(template: str) -> bool:
    """Worth translating: some letters outside the replacement fields."""
    return any(c.isalpha() for c in literal(template))


@dataclass(frozen=True)
class Template:
    msgid: str
    regex: re.Pattern[str]
    names: tuple[str, ...]  # field text of group f0, f1, ...


def compile_template(msgid: str) -> Template:
    pattern: list[str] = []
    names: list[str] = []
    seen: dict[str, str] = {}
    pos = 0
    for m in _FIELD.finditer(msgid):
        pattern.append(re.escape(msgid[pos : m.start()]))
        pos = m.end()
        if m[0] in ("{{", "}}"):
            pattern.append(re.escape(m[0][0]))
        elif m[0] in seen:
            pattern.append(f"(?P={seen[m[0]]})")
        else:
            group = f"f{len(names)}"
            seen[m[0]] = group
            names.append(m[0])
            pattern.append(f"(?P<{group}>.*?)")
    pattern.append(re.escape(msgid[pos:]))
    return Template(msgid, re.compile("".join(pattern), re.DOTALL), tuple(names))


def fill(translated: str, values: Mapping[str, str]) -> str:
    """Put the captured data into the translated template; unknown fields stay as written."""
    return _FIELD.sub(
        lambda m: m[0][0] if m[0] in ("{{", "}}") else values.get(m[0], m[0]), translated
    )


@lru_cache(maxsize=4)
def _templates(lang: str) -> tuple[tuple[str, str], ...]:
    """(anchor, msgid) of the catalog's templates, the most specific (longest literal) first."""
    catalog = getattr(_translations(lang), "_catalog", {})
    out = []
    for k, v in catalog.items():
        if isinstance(k, str) and k and v and fields(k):
            lit = literal(k)
            pieces = [p for p in lit.split("\0") if p]
            if any(c.isalpha() for c in lit):
                out.append((len(lit), max(pieces, key=len), k))
    return tuple((anchor, msgid) for _w, anchor, msgid in sorted(out, key=lambda t: -t[0]))


_compiled = lru_cache(maxsize=None)(lambda msgid: compile_template(msgid))


def _match(message: str, lang: str) -> str | None:
    trans = _translations(lang)
    catalog = getattr(trans, "_catalog", {})
    exact = catalog.get(message)
    if exact:
        return str(exact)
    for anchor, msgid in _templates(lang):
        if anchor not in message:  # cheap: most templates never get compiled
            continue
        t = _compiled(msgid)
        m = t.regex.fullmatch(message)
        if m:
            values = {name: m[f"f{i}"] for i, name in enumerate(t.names)}
            return fill(str(catalog[msgid]), values)
    return None


_VALUE_ERROR = "Value error, "
_TRAILING_REF = re.compile(r" \[[^\[\]]*\]$")


def translate(message: str) -> str:
    """A rendered English message in the active language; data stays verbatim.

    Tries the whole message, then (for ``file:line: field: message`` lines) each tail after
    ``": "``, keeping the head as it is. A message no template matches is returned unchanged.
    """
    if _active == "en" or not message:
        return message
    if "\n" in message:
        return "\n".join(translate(line) for line in message.split("\n"))
    found = _match(message, _active)
    if found is not None:
        return found
    start = 0
    while True:
        i = message.find(": ", start)
        if i < 0:
            return message
        head, tail = message[: i + 2], message[i + 2 :]
        if tail.startswith(_VALUE_ERROR):  # pydantic's prefix on a validator's ValueError
            head, tail = head + _VALUE_ERROR, tail[len(_VALUE_ERROR) :]
        found = _match(tail, _active)
        if found is None:  # "message [docs/lint.md#check]": the bracketed reference kept
            ref = _TRAILING_REF.search(tail)
            if ref and (found := _match(tail[: ref.start()], _active)) is not None:
                found += tail[ref.start() :]
        if found is not None:
            return head + found
        start = i + 2


# Messages built in modules that do not pass them straight to an error, echo or N_ call.
_EXTRA = (
    N_("unknown key"),
    N_("required field is missing"),
    N_("error"),
    N_("cancelled"),
    N_("aborted"),
    N_("interrupted"),
    N_("Commands"),
    T_("{n} problem{'s' if n != 1 else ''} found"),  # errors.ValidationFailed
    # pydantic's most frequent messages in `file:line: field: message` lines (yamlio)
    N_("Input should be a valid string"),
    N_("Input should be a valid integer"),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be a valid number"),
    N_("Input should be a valid boolean"),
    N_("Input should be a valid list"),
    N_("Input should be a valid dictionary"),
    N_("Input should be a valid date"),
    N_("Input should be a valid URL"),
    T_("Input should be {expected}"),
    T_("String should match pattern '{pattern}'"),
    T_("String should have at least {min_length} character{s}"),
    T_("String should have at most {max_length} character{s}"),
    T_("List should have at least {min_length} item{s} after validation, not {actual_length}"),
    T_("Input should be greater than {gt}"),
    T_("Input should be greater than or equal to {ge}"),
    T_("Input should be less than or equal to {le}"),
)
