"""The target-side scripts as the controller sends them: ``python3 -c PROGRAM ARGS...``.

Code that runs ON a target has one home, ``playbooks/module_utils/`` (Python 3.11 standard
library only; its README says what lives there). Ansible modules import those files as
``ansible.module_utils.<name>``; a script run over SSH gets them from here: :func:`program` is
one self-contained source text holding the script and every ``module_utils`` file it imports
(found by reading its imports, transitively), each registered in ``sys.modules`` under its own
name before the script runs as ``__main__``. Nothing is installed on the target for it, so a
script always runs the code of the controller that sent it: the files of this installation's
``playbooks/`` (:func:`spbe_share.workspace.repo_root`, the folder the playbooks run from).

The module_utils files import each other as the Ansible modules need them and fall back to the
plain name elsewhere::

    try:
        from ansible.module_utils import spbe_lockfile as lockfile
    except ImportError:  # a script: python3 -c PROGRAM, or <root>/lib/
        import spbe_lockfile as lockfile

Pure apart from reading those files; argument lists only (the program is one argument);
:func:`program_argv` runs one on a target; :func:`ask` runs one with a JSON request on stdin
and reads its one JSON answer as untrusted (capped, bounded, validated by a strict model).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ..workspace import repo_root

if TYPE_CHECKING:
    from ..targets.inventory import Target
    from ..workspace import Workspace

M = TypeVar("M", bound=BaseModel)

HOME = Path("module_utils")  # under the playbooks folder
PREFIX = "spbe_"  # the project's own module_utils files (the rest is Ansible's)

LOADER = """\
import sys, types
def _spbe_module(name, source):
    module = types.ModuleType(name)
    module.__file__ = "<spbe-share: " + name + ".py>"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
"""


def home(playbooks: Path | None = None) -> Path:
    """``playbooks/module_utils`` (default: the playbooks of this installation)."""
    return (playbooks if playbooks is not None else repo_root() / "playbooks") / HOME


def source(name: str, playbooks: Path | None = None) -> str:
    """The source of ``module_utils/<name>.py``."""
    return (home(playbooks) / f"{name}.py").read_text(encoding="utf-8")


def imported(text: str) -> list[str]:
    """The project's module_utils names that ``text`` imports (``spbe_x`` or
    ``ansible.module_utils.spbe_x``, at any depth), in order of appearance."""
    out: list[str] = []
    for node in ast.walk(ast.parse(text)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ansible.module_utils":
                names = [a.name for a in node.names]
            else:
                names = [node.module]
        for n in names:
            n = n.removeprefix("ansible.module_utils.")
            if n.startswith(PREFIX) and "." not in n and n not in out:
                out.append(n)
    return out


def dependencies(name: str, playbooks: Path | None = None) -> list[str]:
    """Every module_utils file ``name`` needs, each after the ones it needs itself."""
    order: list[str] = []

    def visit(n: str, path: tuple[str, ...]) -> None:
        if n in order:
            return
        if n in path:
            raise RuntimeError(f"module_utils import each other in a circle: {' -> '.join((*path, n))}")
        for dep in imported(source(n, playbooks)):
            visit(dep, (*path, n))
        order.append(n)

    visit(name, ())
    return order[:-1]


def program(name: str, playbooks: Path | None = None) -> str:
    """``module_utils/<name>.py`` with what it imports, as one ``python3 -c`` program that runs
    it as ``__main__`` (its arguments follow the program: ``sys.argv[1:]``)."""
    parts = [LOADER]
    for dep in dependencies(name, playbooks):
        parts.append(f"_spbe_module({dep!r}, {source(dep, playbooks)!r})\n")
    parts.append(f"exec(compile({source(name, playbooks)!r}, {'<spbe-share: ' + name + '.py>'!r}, 'exec'),"
                 " {'__name__': '__main__'})\n")
    return "".join(parts)


def packed(text: str, name: str) -> str:
    """``text`` (a program) as a short ``python3 -c`` program that runs it: zlib-compressed,
    base64 (letters, digits, ``+/=``: nothing a shell or ssh's command line changes). The
    no-op check's program is 26 KB as source, 11 KB packed; the app's state read 49 KB and
    19 KB: on an 80 ms link, a command that fits in TCP's first window saves round trips.
    What runs is exactly :func:`program`'s text (``name`` is its file name in tracebacks)."""
    import base64
    import zlib

    blob = base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
    return (f"import base64,zlib;exec(compile(zlib.decompress(base64.b64decode('{blob}')).decode('utf-8'),"
            f"{'<spbe-share: ' + name + '>'!r},'exec'),{{'__name__':'__main__'}})")


@functools.lru_cache(maxsize=64)
def sent(name: str) -> str:
    """:func:`packed` :func:`program` ``name`` of this installation's playbooks: what goes over
    ssh, made once per process (reading the module_utils files' imports costs 0.1 s each time;
    a lease renews every few seconds)."""
    return packed(program(name), name)


def program_argv(ws: Workspace, target: Target, name: str) -> list[str]:
    """argv on the controller running :func:`program` ``name`` on ``target`` (:func:`packed`):
    over ssh (pinned host key), or directly for a ``local`` target."""
    from .ssh import ssh_argv

    command = [target.python or "python3", "-c", sent(name)]
    if target.connection == "local":
        return command
    return ssh_argv(ws, target, command)


def ask(ws: Workspace, target: Target, name: str, request: dict[str, Any], model: type[M], *, what: str,
        limit: int = 4 << 20, timeout: float = 600.0) -> M:
    """Run ``module_utils/<name>.py`` on ``target`` with ``request`` (JSON on stdin); its answer
    (stdout, at most ``limit`` bytes) validated as ``model``. An unreachable host is
    :class:`~spbe_share.errors.Unreachable`; any other failure :class:`~spbe_share.errors.RemoteFailed`
    naming ``what`` and the last line it printed."""
    import json

    from ..errors import RemoteFailed, Unreachable
    from ..outside import loads_model, run_capped, terminal_text

    try:
        proc = run_capped(program_argv(ws, target, name), limit=limit, timeout=timeout,
                          input=json.dumps(request).encode("utf-8"))
    except OSError as exc:
        raise RemoteFailed(f"{target.name}: {what} could not start ({type(exc).__name__})") from None
    if proc.timed_out:
        raise Unreachable(f"{target.name}: {what} did not finish within {timeout:.0f}s")
    if proc.too_big:
        raise RemoteFailed(f"{target.name}: {what}: the answer is larger than {limit} bytes; not read")
    if proc.returncode == 255 and target.connection == "ssh":
        from .ssh import classify_ssh_failure

        raise classify_ssh_failure(target, 255, proc.stderr_text)
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr_text.strip().splitlines() if ln.strip()][-1:] or ["no message"]
        raise RemoteFailed(f"{target.name}: {what} failed (exit {proc.returncode}):"
                           f" {terminal_text(last[0], one_line=True)[:300]}")
    return loads_model(proc.stdout, model, where=f"{target.name}: {what}", error=RemoteFailed)


__all__ = ["HOME", "LOADER", "ask", "dependencies", "home", "imported", "packed", "program", "program_argv", "sent", "source"]
