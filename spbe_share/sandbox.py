"""Templates from outside render here, and only here: jinja2's sandbox, bounded, in a child process.

Config templates come in bundles and MoU/PKS templates from donors' repositories: code from
outside the operator's machine. Both render through this one renderer (:func:`render_files`,
:func:`render_text`, :func:`render_docx`):

* jinja2's ``ImmutableSandboxedEnvironment`` with a strict undefined: attributes starting with
  ``_`` (``__class__``, ``__globals__``, ...), the internals of functions, frames and generators,
  ``str.format``/``format_map`` tricks that reach them, and methods that change a list or dict
  are refused; ``*`` and ``**`` refuse results too large for a text file;
* templates are read without following symlinks (:func:`spbe_share.outside.open_inside`), so an
  ``{% include %}`` cannot reach the operator's files;
* **limits** (:class:`Limits`), over everything one operation renders (an install's config files,
  a PKS draft): the output is counted while the templates stream; every ``{% for %}`` iteration
  counts against a budget of loop steps and ``range()`` gives at most :data:`MAX_RANGE` items;
  the renderer is a child process whose address space is capped (``RLIMIT_AS``), so a filter or a
  method that builds a huge string (``center``, ``replace``, ``indent``, ``ljust``, ...) fails
  there, not in the operator's process; and the child is killed after a wall-clock deadline.

One child renders every template of one operation: its start-up (about 0.1 s) is paid once per
install, upgrade or draft, not per template. Values are data: a value holding ``{{ }}`` is text
in the output, never rendered again.

Failures are one line naming the template (and its line when known):
:class:`~spbe_share.errors.VerificationFailed` (exit 6) when the sandbox refuses something or a
limit is reached; :class:`~spbe_share.errors.InvalidInput` (exit 2) for a template's own mistakes
(syntax, an undefined name); :class:`~spbe_share.errors.NotFound` for a missing template.
"""

from __future__ import annotations

import base64
import json
import operator
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from jinja2 import (
    BaseLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2 import nodes as jnodes
from jinja2.environment import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .errors import EnvironmentProblem, InvalidInput, NotFound, VerificationFailed
from .outside import (
    MISSING,
    DonorFileError,
    OutsideJSONError,
    loads_json,
    open_inside,
    run_capped,
)


@dataclass(frozen=True)
class Limits:
    """What one render job (all the templates of one operation) may spend."""

    output: int = 8 << 20  # characters produced, all templates together
    steps: int = 1_000_000  # {% for %} iterations, all loops together
    memory: int = 512 << 20  # address space of the renderer process (bytes)
    seconds: float = 30.0  # wall clock of the whole job


LIMITS = Limits()
MAX_RANGE = 100_000  # items of one range() (jinja2's own bound)
MAX_ITEMS = 1_000_000  # the largest string/list a `*` may build
MAX_EXPONENT = 64
MAX_TEMPLATE_BYTES = 10 << 20  # one template file read by the renderer
_STEPS = "_spbe_loop_steps"  # the filter every {% for %} iterable goes through


class RenderLimit(Exception):  # noqa: N818 - a limit, not a bug
    """A template went over one of the :class:`Limits`."""


# ---------------------------------------------------------------- the bounded sandbox (child side)


class SandboxUndefined(StrictUndefined):
    """StrictUndefined that keeps a sandbox refusal a refusal when used further
    (``x | attr('__init__') | attr('__globals__')`` is a SecurityError, not "undefined")."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return super().__getattr__(name)


class BoundedTemplate(Template):
    """A template whose output is counted while it streams (against the job's output limit)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        env = self.environment
        assert isinstance(env, BoundedSandbox)  # noqa: S101 - only made by BoundedSandbox
        parts: list[str] = []
        for chunk in self.generate(*args, **kwargs):
            env.spend_output(len(chunk))
            parts.append(chunk)
        return "".join(parts)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with ``*``/``**``, ``range``, loop steps and output bounded."""

    intercepted_binops = frozenset(["*", "**"])
    template_class = BoundedTemplate

    def __init__(self, limits: Limits, **options: Any) -> None:
        super().__init__(undefined=SandboxUndefined, **options)
        self.limits = limits
        self.steps = 0
        self.output = 0
        self.globals["range"] = self._range
        self.filters[_STEPS] = self._loop_steps

    def spend_output(self, n: int) -> None:
        self.output += n
        if self.output > self.limits.output:
            raise RenderLimit(f"output larger than {_size(self.limits.output)}")

    def _loop_steps(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.steps += 1
            if self.steps > self.limits.steps:
                raise RenderLimit(f"more than {self.limits.steps} loop steps")
            yield item

    def _range(self, *args: int) -> range:
        r = range(*args)
        try:
            n = len(r)
        except OverflowError:
            n = MAX_RANGE + 1
        if n > MAX_RANGE:
            raise RenderLimit(f"range() of more than {MAX_RANGE} items")
        return r

    def _parse(self, source: str, name: str | None, filename: str | None) -> jnodes.Template:
        # every {% for %} iterates through the step counter
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(jnodes.For):
            counted = jnodes.Filter(loop.iter, _STEPS, [], [], None, None, lineno=loop.iter.lineno)
            counted.set_environment(self)
            loop.iter = counted
        return tree

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"the exponent {right} is too large for a template")
            return operator.pow(left, right)
        if operator_name == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_ITEMS:
                    raise SecurityError(f"a repetition of {len(seq) * n} items is too large for a template")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


class NoFollowLoader(BaseLoader):
    """Templates (and what they include) below ``root``, never through a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        try:
            with open_inside(self.root, template) as f:
                data = f.read(MAX_TEMPLATE_BYTES + 1)
        except DonorFileError as exc:
            if str(exc) == MISSING:
                raise TemplateNotFound(template) from None
            raise SecurityError(f"{template}: {exc}") from None
        if len(data) > MAX_TEMPLATE_BYTES:
            raise RenderLimit(f"{template}: larger than {_size(MAX_TEMPLATE_BYTES)}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{template}: not UTF-8 text (byte {exc.start})") from None
        return text, template, lambda: True


class _Failed(Exception):  # noqa: N818 - carried to the parent as data
    def __init__(self, code: str, index: int, detail: str, line: int | None = None) -> None:
        super().__init__(detail)
        self.answer = {"code": code, "index": index, "detail": " ".join(detail.split())[:2000], "line": line}


def _line(exc: BaseException, filename: str | None) -> int | None:
    """The template line an error came from (jinja2 rewrites tracebacks to template lines)."""
    line = getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == (filename or "<template>") and frame.lineno:
            found = frame.lineno
    return found


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def _classify(exc: BaseException, index: int, line: int | None, limits: Limits) -> _Failed:
    if isinstance(exc, RenderLimit):
        return _Failed("limit", index, str(exc), line)
    if isinstance(exc, MemoryError):
        return _Failed("limit", index, f"needs more than {_size(limits.memory)} of memory", line)
    if isinstance(exc, SecurityError):
        return _Failed("refused", index, str(exc), line)
    if isinstance(exc, UndefinedError):
        return _Failed("undefined", index, exc.message or str(exc), line)
    if isinstance(exc, TemplateSyntaxError):
        return _Failed("syntax", index, exc.message or str(exc), exc.lineno)
    return _Failed("error", index, str(exc), line)


_TEMPLATE_ERRORS = (RenderLimit, MemoryError, SecurityError, TemplateError, ArithmeticError, LookupError,
                    TypeError, ValueError, RecursionError)  # fmt: skip


def _functions(env: BoundedSandbox, functions: Mapping[str, str]) -> None:
    """Globals that fill a fixed text: ``hukum('x')`` -> ``«[... x]»`` (the text is ours, not a template)."""
    def filler(text: str) -> Any:
        return lambda what: text.replace("{}", str(what))

    for name, text in functions.items():
        env.globals[name] = filler(text)


def _render_files(job: dict[str, Any], limits: Limits) -> list[str]:
    env = BoundedSandbox(limits, loader=NoFollowLoader(Path(job["root"])), keep_trailing_newline=True)
    out = []
    for i, name in enumerate(job["names"]):
        try:
            template = env.get_template(name)
        except TemplateNotFound:
            raise _Failed("not_found", i, name) from None
        except _TEMPLATE_ERRORS as exc:
            raise _classify(exc, i, getattr(exc, "lineno", None), limits) from None
        try:
            out.append(template.render(**job["context"]))
        except _TEMPLATE_ERRORS as exc:
            raise _classify(exc, i, _line(exc, template.filename), limits) from None
    return out


def _render_text(job: dict[str, Any], limits: Limits) -> list[str]:
    env = BoundedSandbox(limits, keep_trailing_newline=True, trim_blocks=True)
    _functions(env, job["functions"])
    template: Template | None = None
    try:
        template = env.from_string(job["source"])
        return [template.render(**job["context"])]
    except _TEMPLATE_ERRORS as exc:
        line = getattr(exc, "lineno", None) if template is None else _line(exc, template.filename)
        raise _classify(exc, 0, line, limits) from None


def _render_docx(job: dict[str, Any], limits: Limits) -> list[str]:
    import io
    import zipfile

    from docx.opc.exceptions import OpcError
    from docxtpl import DocxTemplate
    from lxml.etree import LxmlError

    env = BoundedSandbox(limits, keep_trailing_newline=True, trim_blocks=True)
    _functions(env, job["functions"])
    try:
        tpl = DocxTemplate(io.BytesIO(base64.b64decode(job["docx"])))
        tpl.render(job["context"], jinja_env=env, autoescape=True)
        buf = io.BytesIO()
        tpl.save(buf)
    except (RenderLimit, MemoryError, SecurityError, TemplateError) as exc:
        raise _classify(exc, 0, None, limits) from None
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, OpcError, LxmlError) as exc:  # not a .docx
        raise _Failed("unusable", 0, f"{exc.__class__.__name__}: {exc}") from None
    data = buf.getvalue()
    if len(data) > limits.output:
        raise _Failed("limit", 0, f"output larger than {_size(limits.output)}")
    return [base64.b64encode(data).decode("ascii")]


_KINDS = {"files": _render_files, "text": _render_text, "docx": _render_docx}


def child() -> None:
    """The renderer process: a job (JSON) on stdin, ``{"outputs": [...]}`` or ``{"error": {...}}``
    on stdout. Its own limits are set before it reads anything a template controls."""
    import resource

    job = json.loads(sys.stdin.buffer.read())
    limits = Limits(**job["limits"])
    for kind, value in ((resource.RLIMIT_AS, limits.memory), (resource.RLIMIT_CPU, int(limits.seconds) + 2)):
        _soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))
    try:
        answer: dict[str, Any] = {"outputs": _KINDS[job["kind"]](job, limits)}
    except _Failed as failed:
        answer = {"error": failed.answer}
    except MemoryError:  # outside any template (reading the job, encoding the answer)
        answer = {"error": _Failed("limit", 0, f"needs more than {_size(limits.memory)} of memory").answer}
    # ASCII JSON: whatever the locale's encoding, and lone surrogates survive the trip
    sys.stdout.buffer.write(json.dumps(answer).encode("ascii"))
    sys.stdout.flush()


# ---------------------------------------------------------------- the operator's side


def _run(job: dict[str, Any], *, names: Sequence[str], wheres: Sequence[str | None], missing: str) -> list[str]:
    limits = LIMITS
    job["limits"] = asdict(limits)
    argv = [sys.executable or "python3", "-P", "-c", "from spbe_share.sandbox import child; child()"]
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    try:
        # ASCII JSON both ways (a value may hold lone surrogates from argv): a character takes at
        # most 12 bytes (a surrogate pair); the child counts the characters itself
        res = run_capped(argv, limit=12 * limits.output + (1 << 20), timeout=limits.seconds,
                         input=json.dumps(job).encode("ascii"))  # fmt: skip
    except OSError as exc:
        raise EnvironmentProblem(f"cannot start the template renderer {argv[0]}: {exc.strerror or exc}") from None
    if res.timed_out:
        raise VerificationFailed(f"{shown}: over the template limits: rendering took longer than "
                                 f"{limits.seconds:g} s; nothing was run")  # fmt: skip
    if res.too_big:
        raise VerificationFailed(f"{shown}: over the template limits: output larger than {_size(limits.output)};"
                                 " nothing was run")  # fmt: skip
    try:
        answer = loads_json(res.stdout)
        if not isinstance(answer, dict):
            raise OutsideJSONError("not an answer")
    except OutsideJSONError:
        last = (res.stderr_text.strip().splitlines() or [f"exit status {res.returncode}"])[-1][:300]
        raise VerificationFailed(f"{shown}: the template renderer stopped ({last}); nothing was run") from None
    if "error" in answer:
        _raise(answer["error"], names=names, wheres=wheres, missing=missing)
    outputs = answer.get("outputs")
    if not isinstance(outputs, list) or len(outputs) != len(names) or not all(isinstance(o, str) for o in outputs):
        raise VerificationFailed(f"{shown}: the template renderer gave no usable answer; nothing was run")
    return outputs


def _raise(err: dict[str, Any], *, names: Sequence[str], wheres: Sequence[str | None], missing: str) -> NoReturn:
    index = err.get("index")
    i = index if isinstance(index, int) and 0 <= index < len(names) else 0
    name, where = names[i], wheres[i]
    line, detail, code = err.get("line"), str(err.get("detail", "")), err.get("code")
    at = f"{name}:{line}" if isinstance(line, int) else name
    suffix = f" ({where})" if where else ""
    if code == "refused":
        raise VerificationFailed(f"{at}: refused by the template sandbox: {detail}{suffix}; nothing was run")
    if code == "limit":
        raise VerificationFailed(f"{at}: over the template limits: {detail}{suffix}; nothing was run")
    if code == "not_found":
        raise NotFound(f"{name}: template not found in {missing}")
    if code == "undefined":
        raise InvalidInput(f"{at}: {detail}{suffix}")
    if code == "unusable":
        raise InvalidInput(f"{name}: not a usable .docx template ({detail})")
    raise InvalidInput(f"{at}: template error: {detail}{suffix}")


def render_files(root: Path, names: Sequence[str], context: Mapping[str, Any], *,
                 wheres: Sequence[str | None] | None = None, missing: str = "the bundle") -> list[str]:  # fmt: skip
    """Render the templates ``names`` (relative paths below ``root``, which may include each
    other) with ``context``, in one bounded child; ``wheres`` says what each one is for."""
    if not names:
        return []
    job = {"kind": "files", "root": str(root), "names": list(names), "context": dict(context)}
    return _run(job, names=names, wheres=list(wheres or [None] * len(names)), missing=missing)


def render_text(source: str, *, name: str, context: Mapping[str, Any],
                functions: Mapping[str, str] | None = None) -> str:  # fmt: skip
    """Render one template given as text (``name`` is what messages call it). ``functions``:
    globals ``f(x)`` that return their text with ``{}`` replaced by ``x``."""
    job = {"kind": "text", "source": source, "context": dict(context), "functions": dict(functions or {})}
    return _run(job, names=[name], wheres=[None], missing=name)[0]


def render_docx(data: bytes, *, name: str, context: Mapping[str, Any],
                functions: Mapping[str, str] | None = None) -> bytes:  # fmt: skip
    """Render a Word template (docxtpl) given as bytes; its tags run in the same bounded sandbox."""
    job = {"kind": "docx", "docx": base64.b64encode(data).decode("ascii"), "context": dict(context),
           "functions": dict(functions or {})}  # fmt: skip
    out = _run(job, names=[name], wheres=[None], missing=name)[0]
    try:
        return base64.b64decode(out, validate=True)
    except ValueError:
        raise VerificationFailed(f"{name}: the template renderer gave no usable answer; nothing was run") from None


__all__ = ["LIMITS", "Limits", "RenderLimit", "render_docx", "render_files", "render_text"]
