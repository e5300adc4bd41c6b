"""Outside data is never a path, a template or a terminal control.

Values, catalog entries, donor repositories, bundles, target answers and backup manifests are
*data*: they come from people and machines this one does not control. Every reader of such data
goes through this module, so the next surface cannot forget a rule:

* **names** become paths only through :func:`child_path`: a validated single name (no ``/``, no
  ``..``, no absolute path, no control character), joined to its folder and checked to stay
  inside it; :func:`inside` checks a path that was written by someone else (e.g. a fetch);
  a folder that outside data is written into is made by :func:`fresh_dir` (what was there is
  removed, never followed) and checked after with :func:`tree_escapes` (no link, nothing
  special). A target's backup manifest is checked this way on the controller before any byte
  is fetched (:mod:`spbe_share.records.fetch`);
* **donor files** are read with :func:`read_inside` or :func:`open_inside`: every component
  opened with ``O_NOFOLLOW`` below a folder descriptor, so a symlink in a donor repository or
  bundle is an error, never a way to the operator's own files; :func:`link_problem` reports it
  (naming the linked component) for ``catalog validate``/``lint``, which refuse every file an
  entry names when a link is on its way (docs, SOPs, logo, manifests, config templates, build
  contexts); documents, logos, images and MoU/config templates are all read this way;
* **archives** from outside (an OSV export) are read member by member with caps on each
  member, the total and the count (:func:`zip_members`); their names never become paths;
* **answers** of other programs are read as a stream with a cap (:func:`run_capped`; a reader
  with its own event loop caps the same way, e.g. the fleet read), and JSON is parsed with
  bounded nesting, in linear time and without tracebacks (:func:`loads_json`); a JSON or YAML
  reader never lets a ``RecursionError`` out;
* **text** reaches a terminal only through :func:`terminal_text` (C0/C1 controls, DEL and the
  Unicode line/paragraph separators dropped) or :func:`markup_text` (the same, escaped for rich);
  JSON through :func:`json_text` (those characters escaped, nothing lost); a value quoted in a
  one-line message goes through :func:`quoted` (escaped, cut). The CLI applies them where it
  prints (:mod:`spbe_share.cli.lang`, :mod:`spbe_share.cli.output`): every message, table and
  JSON document, whatever command produced it.

Templates from donors and bundles (config files, MoU/PKS drafts) render only in
:mod:`spbe_share.sandbox`: jinja2's sandbox in a child process, read without following symlinks,
with limits on output, loop steps, memory and time.

Nothing here prints or exits; failures are :class:`~spbe_share.errors.SpbeError` subclasses the
caller chooses (``error=``), so each surface keeps its documented exit code.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat as _stat
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from .errors import InvalidInput, SpbeError

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

MAX_DEPTH = 64  # nesting allowed in JSON from outside (records, answers, manifests are < 12 deep)
MAX_NAME = 255  # bytes in one path component

# C0 controls (but tab and newline), DEL, C1 controls, and the Unicode line and paragraph
# separators (some terminals and ``str.splitlines`` treat them as line ends).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Whole escape sequences go first, so what is left reads as the text around them: CSI
# (``ESC [ ... final``) and OSC/DCS/APC/PM strings (``ESC ] ... BEL`` or ``ESC \\``). Each part
# is a plain character class: linear in the text.
_SEQUENCES = re.compile("\x1b\\[[0-?]*[ -/]*[@-~]|\x1b[\\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x9b[0-?]*[ -/]*[@-~]")


# ---------------------------------------------------------------- names and paths


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be one path component, or None when it can."""
    if not isinstance(name, str):
        return "not a text"
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name:
        return "a name, not a path (no '/')"
    if _CONTROLS_ONE_LINE.search(name):
        return "control character in name"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME:
        return f"longer than {MAX_NAME} bytes"
    return None


def relpath_problem(rel: object) -> str | None:
    """Why ``rel`` cannot be a relative path below a folder (``a/b.txt``), or None."""
    if not isinstance(rel, str):
        return "not a text"
    if rel.startswith("/") or rel.startswith("\\"):
        return "an absolute path"
    parts = rel.split("/")
    for part in parts:
        problem = name_problem(part)
        if problem:
            return f"{rel!r}: {problem}"
    return None


def child_path(folder: Path, rel: str, *, what: str = "name", error: type[SpbeError] = InvalidInput) -> Path:
    """``folder / rel`` for a validated relative path, checked to stay inside ``folder``.

    ``rel`` may have several components (``docs/guide.md``); each is a validated name. Raises
    ``error`` with one line naming ``what`` and the problem."""
    problem = relpath_problem(rel)
    if problem:
        raise error(f"{what}: {problem}")
    path = folder / PurePosixPath(rel)
    if not inside(folder, path, follow=False):
        raise error(f"{what}: {rel!r} leaves {folder}")
    return path


def inside(folder: Path, path: Path, *, follow: bool = True) -> bool:
    """Whether ``path`` stays inside ``folder``. With ``follow`` symlinks are resolved first (for
    what already exists on disk); without, only the spelling is judged."""
    if follow:
        base, target = folder.resolve(), path.resolve()
    else:
        base, target = Path(os.path.normpath(folder.absolute())), Path(os.path.normpath(path.absolute()))
    return target == base or base in target.parents


def fresh_dir(path: Path, *, mode: int = 0o700) -> Path:
    """``path`` as a new empty folder that outside data will be written into: whatever was
    there (a folder left by an interrupted run, a file, a symlink to elsewhere) is removed
    first, never followed. Its parent must be this machine's own folder."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        pass
    else:
        if _stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)  # removes links inside, never follows them
        else:
            path.unlink()
    path.mkdir(mode=mode)
    os.chmod(path, mode)
    return path


def tree_escapes(folder: Path) -> list[str]:
    """Every entry below ``folder`` (which must exist) that is a symlink or not a regular file
    or folder, as a relative path: what a fetched or unpacked tree must not hold."""
    bad: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for n in [*dirnames, *filenames]:
            p = Path(dirpath) / n
            st = p.lstat()
            if _stat.S_ISLNK(st.st_mode) or not (_stat.S_ISREG(st.st_mode) or _stat.S_ISDIR(st.st_mode)):
                bad.append(str(p.relative_to(folder)))
    return sorted(bad)


# ---------------------------------------------------------------- donor files


MISSING = "no such file"
LINK = "a symlink: donor files must be regular files inside the repository"


class DonorFileError(ValueError):
    """A donor file that may not be read; ``str()`` is the one-line reason (no path)."""


def _refusal(dir_fd: int, part: str, before: tuple[str, ...], last: bool, folder: bool, exc: OSError) -> str:
    """Why opening ``part`` below ``dir_fd`` failed, in words (which component is a link)."""
    where = "/".join([*before, part])
    try:
        st = os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return MISSING
    except OSError:
        return exc.strerror or str(exc)
    if _stat.S_ISLNK(st.st_mode):
        return LINK if last else f"{where} is {LINK}"
    if not _stat.S_ISDIR(st.st_mode) and (folder or not last):
        return "not a folder" if last else f"{where} is not a folder"
    if exc.errno in (errno.ELOOP, errno.EMLINK):  # pragma: no cover - raced into a link
        return LINK
    return exc.strerror or str(exc)


def _open_nofollow(root: Path, rel: str, *, folder: bool = False) -> int:
    """An fd of ``root/rel``, every component below ``root`` opened without following links;
    a regular file (a folder with ``folder``). Raises :class:`DonorFileError`."""
    problem = relpath_problem(rel)
    if problem:
        raise DonorFileError(problem)
    parts = PurePosixPath(rel).parts
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise DonorFileError(MISSING if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)) from None
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            # O_NONBLOCK: opening a FIFO planted by a donor must not wait for a writer
            kind = os.O_DIRECTORY if not last or folder else os.O_NONBLOCK
            try:
                nfd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | kind, dir_fd=fd)
            except OSError as exc:
                raise DonorFileError(_refusal(fd, part, parts[:i], last, folder, exc)) from None
            os.close(fd)
            fd = nfd
        mode = os.fstat(fd).st_mode
        if folder and not _stat.S_ISDIR(mode):
            raise DonorFileError("not a folder")
        if not folder and not _stat.S_ISREG(mode):
            raise DonorFileError("not a regular file")
        return fd
    except BaseException:
        os.close(fd)
        raise


def link_problem(root: Path, rel: str, *, folder: bool = False) -> str | None:
    """Why ``root/rel`` may not be read as a donor file (a symlink on the way, not a regular
    file, missing (:data:`MISSING`), leaving ``root``), or None when it may. ``folder``: the
    same for a folder the donor names (a build context)."""
    try:
        fd = _open_nofollow(root, rel, folder=folder)
    except DonorFileError as exc:
        return str(exc)
    os.close(fd)
    return None


def open_inside(root: Path, rel: str) -> BinaryIO:
    """The donor file ``root/rel`` opened for reading, no symlink anywhere below ``root``, a
    regular file. Raises :class:`DonorFileError` (one-line reason) when it may not be read."""
    return os.fdopen(_open_nofollow(root, rel), "rb")


def read_inside(root: Path, rel: str, *, limit: int, what: str | None = None,
                error: type[SpbeError] = InvalidInput) -> bytes:  # fmt: skip
    """The bytes of the donor file ``root/rel``: no symlink anywhere below ``root``, a regular
    file, at most ``limit`` bytes. Raises ``error`` naming the file and the problem."""
    shown = what or str(root / rel)
    try:
        f = open_inside(root, rel)
    except DonorFileError as exc:
        raise error(f"{shown}: {exc}") from None
    with f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{shown}: larger than {limit} bytes")
    return data


# ---------------------------------------------------------------- answers and JSON


def depth_within(data: Any, depth: int = MAX_DEPTH) -> bool:
    """Whether the parsed value ``data`` nests at most ``depth`` lists/objects (iterative)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            if level > depth:
                return False
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            if level > depth:
                return False
            stack.extend((v, level + 1) for v in value)
    return True


class OutsideJSONError(ValueError):
    """JSON from outside that is not one bounded document (message: one line, no data)."""


def loads_json(raw: bytes | str, *, depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for data from outside: linear in the size, never a RecursionError, at most
    ``depth`` levels. Raises :class:`OutsideJSONError` (a ValueError) with a one-line reason."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise OutsideJSONError("not UTF-8") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise OutsideJSONError(f"nested deeper than {depth} levels") from None
    except ValueError as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise OutsideJSONError(f"not JSON ({msg})") from None
    if not depth_within(data, depth):
        raise OutsideJSONError(f"nested deeper than {depth} levels")
    return data


def loads_model(raw: bytes | str, model: type[M], *, where: str, error: type[SpbeError]) -> M:
    """Bounded JSON from outside (:func:`loads_json`) validated as the strict pydantic ``model``;
    anything else raises ``error`` with one line: ``<where>: <field.path>: <problem>``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(loads_json(raw))
    except OutsideJSONError as exc:
        raise error(f"{where}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise error(f"{where}: {loc}: {first['msg']}") from None


def zip_members(path: Path, *, suffix: str, member_limit: int, total_limit: int, count_limit: int,
                error: type[SpbeError] = InvalidInput) -> Iterator[tuple[str, bytes]]:  # fmt: skip
    """(name, bytes) of every regular member of the zip ``path`` whose name ends with ``suffix``,
    read one at a time and never past the caps (each member, their total, their number): the
    sizes a zip claims are not trusted. Names are data, never paths: nothing is extracted."""
    import zipfile

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise error(f"{path}: not a readable zip file ({exc})") from None
    total = 0
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and i.filename.endswith(suffix)]
        if len(infos) > count_limit:
            raise error(f"{path}: {len(infos)} members, at most {count_limit}")
        for info in infos:
            shown = quoted(info.filename)
            if info.file_size > member_limit:
                raise error(f"{path}: {shown}: {info.file_size} bytes, at most {member_limit}")
            try:
                with zf.open(info) as f:
                    data = f.read(member_limit + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
                raise error(f"{path}: {shown}: cannot be read ({exc})") from None
            if len(data) > member_limit:
                raise error(f"{path}: {shown}: larger than {member_limit} bytes")
            total += len(data)
            if total > total_limit:
                raise error(f"{path}: more than {total_limit} bytes unpacked")
            yield info.filename, data


@dataclass
class Capped:
    """What a program run by :func:`run_capped` did. ``stdout`` is complete unless ``too_big``
    (then the program was killed at once); ``stderr`` keeps its last ``stderr_limit`` bytes."""

    returncode: int | None  # None: killed (too big or timed out)
    stdout: bytes
    stderr: bytes
    too_big: bool = False
    timed_out: bool = False

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


def _pump_tail(stream: Any, limit: int, out: list[bytes]) -> None:
    kept = b""
    while chunk := stream.read(1 << 16):
        kept = (kept + chunk)[-limit:]
    out.append(kept)


def run_capped(argv: Sequence[str], *, limit: int, timeout: float, input: bytes | None = None,
               stderr_limit: int = 64 << 10, env: dict[str, str] | None = None) -> Capped:  # fmt: skip
    """Run ``argv`` (a list, never a shell) and read its stdout as a stream of at most ``limit``
    bytes: one byte more kills it at once, so a hostile answer costs at most ``limit`` bytes
    here. Killed after ``timeout`` seconds. Raises OSError when it cannot start."""
    proc = subprocess.Popen(  # noqa: S603 - an argv list from the caller's pure builder
        list(argv), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - PIPE given
    err: list[bytes] = []
    err_thread = threading.Thread(target=_pump_tail, args=(proc.stderr, stderr_limit, err), daemon=True)
    err_thread.start()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    if input is not None:
        assert proc.stdin is not None  # noqa: S101 - PIPE given

        def feed() -> None:
            try:
                proc.stdin.write(input)  # type: ignore[union-attr]
                proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, ValueError, OSError):
                pass

        threading.Thread(target=feed, daemon=True).start()
    chunks: list[bytes] = []
    size = 0
    too_big = False
    try:
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            size += len(chunk)
            if size > limit:
                too_big = True
                proc.kill()
                break
            chunks.append(chunk)
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:  # pragma: no cover - interrupted while reading
            proc.kill()
            proc.wait()
        proc.stdout.close()
    err_thread.join(5)
    killed = too_big or timed_out.is_set()
    return Capped(returncode=None if killed else rc, stdout=b"".join(chunks), stderr=err[0] if err else b"",
                  too_big=too_big, timed_out=timed_out.is_set())  # fmt: skip


class LineStream:
    """Run ``argv`` (a list, never a shell) and read its stdout line by line as it comes: each
    line cut at ``line_limit`` bytes (the rest of a longer line is read and dropped), the program
    killed once ``total_limit`` bytes came (``too_big``) or after ``timeout`` seconds
    (``timed_out``). For an answer that may never end (``logs --follow``): memory stays bounded
    by ``line_limit``. Use as a context manager; leaving it kills the program if still running.
    Raises OSError when it cannot start."""

    def __init__(self, argv: Sequence[str], *, line_limit: int, total_limit: int | None = None,
                 timeout: float | None = None, input: bytes | None = None, stderr_limit: int = 64 << 10,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.line_limit, self.total_limit = line_limit, total_limit
        self.too_big = False
        self.timed_out = threading.Event()
        self.returncode: int | None = None
        self._eof = False
        self._err: list[bytes] = []
        self._proc = subprocess.Popen(  # noqa: S603 - an argv list from the caller's pure builder
            list(argv), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        proc = self._proc
        assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - PIPE given
        self._err_thread = threading.Thread(target=_pump_tail, args=(proc.stderr, stderr_limit, self._err),
                                            daemon=True)
        self._err_thread.start()
        self._timer: threading.Timer | None = None
        if timeout is not None:
            def expire() -> None:
                self.timed_out.set()
                proc.kill()

            self._timer = threading.Timer(timeout, expire)
            self._timer.daemon = True
            self._timer.start()
        if input is not None:
            try:
                proc.stdin.write(input)  # type: ignore[union-attr]
                proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError):
                pass

    def __enter__(self) -> LineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        out = self._proc.stdout
        assert out is not None  # noqa: S101 - PIPE given
        size = 0
        while line := out.readline(self.line_limit + 1):
            size += len(line)
            if len(line) > self.line_limit:
                line = line[: self.line_limit]
                while (rest := out.readline(1 << 16)) and not rest.endswith(b"\n"):
                    size += len(rest)
                size += len(rest)
            if self.total_limit is not None and size > self.total_limit:
                self.too_big = True
                self._proc.kill()
                return
            yield line.rstrip(b"\r\n")
        self._eof = True

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._eof and self._proc.poll() is None:
            self._proc.kill()  # stopped early (a cap, an interrupt, the reader left): not waited for
        rc = self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._err_thread.join(5)
        self.returncode = None if (self.too_big or self.timed_out.is_set()) else rc

    @property
    def stderr_text(self) -> str:
        return (self._err[0] if self._err else b"").decode("utf-8", "replace")


# ---------------------------------------------------------------- text for a terminal


def quoted(value: object, *, limit: int = 100) -> str:
    """A value from outside, quoted for a one-line message: ``repr`` (controls, escape
    sequences and line separators appear escaped, never raw) of at most ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


def terminal_text(text: object, *, one_line: bool = False) -> str:
    """``text`` safe to print: no C0/C1 control (escape sequences, OSC 52 clipboard writes,
    ``ESC[2J``), no DEL, no U+2028/U+2029; tab and newline stay unless ``one_line``."""
    s = _SEQUENCES.sub("", "" if text is None else str(text))
    return (_CONTROLS_ONE_LINE if one_line else _CONTROLS).sub("", s)


_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029]")  # what json.dumps(ensure_ascii=False) leaves raw


def json_text(data: Any, **options: Any) -> str:
    """``json.dumps(data, ensure_ascii=False, **options)`` safe for a terminal and lossless: the
    controls JSON leaves raw (DEL, C1, U+2028/U+2029) are written as ``\\uXXXX`` escapes."""
    text = json.dumps(data, ensure_ascii=False, **options)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def markup_text(text: object, *, one_line: bool = False) -> str:
    """:func:`terminal_text`, escaped for rich markup (``[bold]`` prints as written)."""
    from rich.markup import escape

    return escape(terminal_text(text, one_line=one_line))


__all__ = [
    "LINK", "MAX_DEPTH", "MISSING", "Capped", "DonorFileError", "LineStream", "OutsideJSONError", "child_path", "depth_within",
    "fresh_dir", "inside", "json_text", "link_problem", "loads_json", "markup_text", "name_problem", "open_inside",
    "quoted", "read_inside", "relpath_problem", "run_capped", "terminal_text", "tree_escapes",
]
