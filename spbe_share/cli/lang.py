"""The CLI in the operator's language: click's own strings, help texts, echoed messages.

Nothing in the ``*_cmd.py`` modules has to be written for translation:

- help texts (command help/short_help/epilog, option help and prompts) are translated by walking
  each command's tree when the command is loaded; the English original is kept, so switching
  back to English restores it (msgid = the English text);
- click's own strings ("Usage:", "Show this message and exit.", its error wording) go through
  our catalog: click calls ``gettext``/``ngettext`` by module-level names, which are pointed here;
- ``click.echo``/``click.confirm``/``click.prompt`` pass a text message through
  :func:`spbe_share.i18n.translate`, which matches the English message against the catalog's
  templates and keeps the data verbatim. :mod:`.output` writes JSON and table rows past it.

Everything echoed, translated or not, goes through :func:`spbe_share.outside.terminal_text`
first: messages carry data from targets and donors (release records, lock holders, catalog
text), and their control characters never reach the operator's terminal.
"""

from __future__ import annotations

import gettext as _stdgettext
import importlib
import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from .. import i18n
from ..outside import terminal_text

# click modules that call gettext (`from gettext import gettext as _`, `ngettext`)
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui", "utils")

_raw_echo = click.echo
_raw_confirm = click.confirm
_raw_prompt = click.prompt
_installed = False


def _safe(message: Any) -> Any:
    """Text as it may reach a terminal: no control character (escape sequences, OSC 52 clipboard
    writes, ``ESC[2J``) from a target's or a donor's data inside a message (bytes pass as they are)."""
    return terminal_text(message) if isinstance(message, str) else message


def raw_echo(message: Any = None, file: Any = None, nl: bool = True, err: bool = False, color: bool | None = None) -> None:
    """``click.echo`` without translation: data (JSON, table rows); control characters dropped."""
    _raw_echo(_safe(message), file=file, nl=nl, err=err, color=color)


def _echo(message: Any = None, file: Any = None, nl: bool = True, err: bool = False, color: bool | None = None) -> None:
    if isinstance(message, str):
        message = i18n.translate(message)
    _raw_echo(_safe(message), file=file, nl=nl, err=err, color=color)


def _confirm(text: str, *args: Any, **kwargs: Any) -> Any:
    return _raw_confirm(_safe(i18n.translate(text)), *args, **kwargs)


def _prompt(text: str, *args: Any, **kwargs: Any) -> Any:
    return _raw_prompt(_safe(i18n.translate(text)), *args, **kwargs)


def install_hooks() -> None:
    """Route click's gettext calls and the echo/confirm/prompt helpers through our catalog."""
    global _installed
    if _installed:
        return
    for name in CLICK_MODULES:
        mod = importlib.import_module(f"click.{name}")
        if getattr(mod, "_", None) is _stdgettext.gettext:
            mod._ = i18n.gettext  # type: ignore[attr-defined]
        if getattr(mod, "ngettext", None) is _stdgettext.ngettext:
            mod.ngettext = i18n.ngettext  # type: ignore[attr-defined]
    click.echo = _echo
    click.confirm = _confirm
    click.prompt = _prompt
    _installed = True


def lang_from_args(args: Sequence[str], commands: Sequence[str]) -> str | None:
    """The ``--lang`` value among the root group's own options (before the sub-command)."""
    it = iter(args)
    for arg in it:
        if arg == "--" or arg in commands:
            return None
        if arg == "--lang":
            return next(it, None)
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
        if arg == "--workspace":
            next(it, None)
    return None


# --- help texts ----------------------------------------------------------------------------

_TEXT_ATTRS = {
    click.Command: ("help", "short_help", "epilog"),
    click.Parameter: ("help", "prompt"),
}
_ORIGINALS = "_spbe_i18n_en"


def _texts(obj: Any) -> Iterator[str]:
    for cls, attrs in _TEXT_ATTRS.items():
        if isinstance(obj, cls):
            yield from attrs


def _retranslate(obj: Any) -> None:
    originals: dict[str, Any] | None = getattr(obj, _ORIGINALS, None)
    if originals is None:
        originals = {a: getattr(obj, a, None) for a in _texts(obj)}
        setattr(obj, _ORIGINALS, originals)
    for attr, english in originals.items():
        if isinstance(english, str) and english:
            setattr(obj, attr, i18n.gettext(english))


def translate_command(cmd: click.Command, *, recurse: bool = True) -> None:
    """Put ``cmd``'s help texts (and its loaded sub-commands') in the active language."""
    for obj, _where in walk(cmd, recurse=recurse):
        _retranslate(obj)
        if isinstance(obj, click.Command) and hasattr(obj, "_help_option"):
            obj._help_option = None  # click caches --help with its text: made again, translated


def walk(cmd: click.Command, path: str = "", *, recurse: bool = True) -> Iterator[tuple[Any, str]]:
    """``cmd``, its parameters and (for eagerly built groups) its sub-commands, with a path."""
    here = f"{path} {cmd.name}".strip() if path or cmd.name else ""
    yield cmd, here
    for p in cmd.params:
        yield p, f"{here} {p.opts[0] if p.opts else p.name}"
    if recurse and isinstance(cmd, click.Group) and cmd.commands:
        for sub in cmd.commands.values():
            yield from walk(sub, here)


def _source(cmd: click.Command) -> tuple[str, int]:
    """Where ``cmd``'s function is written (``spbe_share/cli/x_cmd.py``, line)."""
    fn = inspect.unwrap(cmd.callback) if cmd.callback else None
    code = getattr(fn, "__code__", None)
    if code is None:
        return "spbe_share/cli/__init__.py", 0
    path = Path(code.co_filename)
    parts = path.parts
    rel = "/".join(parts[len(parts) - 1 - parts[::-1].index("spbe_share") :]) if "spbe_share" in parts else path.name
    return rel, code.co_firstlineno


def help_texts(root: click.Group, command_specs: dict[str, tuple[str, str, str]]) -> Iterator[tuple[str, str, str, int]]:
    """Every English help text of the CLI: (text, command path, source file, line)."""

    def english(obj: Any) -> Iterator[tuple[str, str]]:
        originals = getattr(obj, _ORIGINALS, None) or {a: getattr(obj, a, None) for a in _texts(obj)}
        for attr, text in originals.items():
            if isinstance(text, str) and text and i18n.has_words(text):
                yield attr, text

    def walk_texts(cmd: click.Command, prefix: str, recurse: bool) -> Iterator[tuple[str, str, str, int]]:
        for obj, where in walk(cmd, prefix, recurse=recurse):
            owner = obj if isinstance(obj, click.Command) else None
            for attr, text in english(obj):
                file, line = _source(owner or _owner[id(obj)])
                yield text, f"spbe-share {where} ({attr})".replace("  ", " "), file, line
            if owner is not None:
                for p in owner.params:
                    _owner[id(p)] = owner

    _owner: dict[int, click.Command] = {}
    ctx = click.Context(root)
    for text, where, file, line in walk_texts(root, "", False):
        yield text, where.replace(f"spbe-share {root.name}", "spbe-share", 1), file, line
    for name, spec in sorted(command_specs.items()):
        yield spec[2], f"spbe-share {name} (short help in COMMANDS)", "spbe_share/cli/__init__.py", 0
        cmd = root.get_command(ctx, name)
        if cmd is not None:
            yield from walk_texts(cmd, "", True)


# ---------------------------------------------------------------- for the developer's catalog tool


def cli_messages(root: click.Group, command_specs: dict[str, tuple[str, str, str]]) -> Iterator[tuple[str, str, int, list[str]]]:
    """(help text, file, line, [command path]) of every command and option of the CLI ``root``."""
    for text, where, filename, lineno in help_texts(root, command_specs):
        yield text, filename, lineno, [where]
