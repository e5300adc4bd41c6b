"""Reading many targets without Ansible: one SSH round trip per target, all at once.

``fleet status``, ``plan`` and ``fleet upgrade`` read the targets through
:func:`read_direct`: for each target, the pinned-host-key ssh argv
(:func:`spbe_share.remote.ssh.ssh_argv`; the built-in ``local`` target runs the command without
ssh) runs ``python3 -c <playbooks/library/spbe_status.py> --spbe-share-status ROOT`` there:
the SAME reading the ``spbe_status`` module does in ``playbooks/status.yml`` (one source, two
entry points), with none of Ansible's per-host controller work (fork, templating, AnsiballZ).

``forks`` ssh processes run at once (asyncio subprocesses in this one thread), each bounded by
``timeout`` seconds from its start (then killed: "no answer within Ns") and by
:data:`MAX_ANSWER` bytes of answer. What comes back is untrusted: :func:`answer_read` turns the
raw outcome into a :class:`~.status.TargetRead` (exit 255 of ssh: unreachable, with ssh's own
words; a host key that is not the pinned one: the same row text as the Ansible path), and the
JSON is parsed by :func:`spbe_share.outside.loads_json` (linear, bounded nesting) and goes
through :func:`~.status.parse_read` (pydantic, bounded).

A SIGINT/SIGTERM noted by the operation's :class:`~spbe_share.remote.interrupts.CancelToken`
kills every ssh child and raises :class:`~spbe_share.errors.Cancelled`. The run folder
(``runs/<stamp>-fleet-status-fleet``) keeps the request and each target's answer, as a playbook
run's folder would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..outside import OutsideJSONError, loads_json

if TYPE_CHECKING:
    from ..remote.interrupts import CancelToken
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .reads import TargetRead

SCRIPT = Path("library") / "spbe_status.py"  # under the workspace's playbooks folder
SCRIPT_FLAG = "--spbe-share-status"  # the module's plain-script entry point
MAX_ANSWER = 8 << 20  # bytes of stdout kept from one target (20000 blob names + records fit easily)
MAX_STDERR = 64 << 10  # the tail of stderr kept
POLL_S = 0.1  # how often a noted signal is looked for
_SSH_FAILED = 255


def script_source(ws: Workspace) -> str:
    """The module's source, run as a script on the target."""
    return (ws.playbooks_dir / SCRIPT).read_text(encoding="utf-8")


def status_argv(ws: Workspace, target: Target, source: str, *, blobs: bool = False,
                first_login: Sequence[str] = ()) -> list[str]:
    """argv on the controller reading ``target``'s status (pure): ssh with the pinned host key,
    or for the ``local`` target, its python directly. ``first_login``: ``APP:SECRET:PATH`` items
    (:func:`spbe_share.records.firstlogin.items_for`)."""
    extra = (["--blobs"] if blobs else []) + [a for item in first_login for a in ("--first-login", item)]
    if target.connection == "local":
        return [target.python or sys.executable, "-c", source, SCRIPT_FLAG, target.root, *extra]
    from ..remote.ssh import ssh_argv

    return ssh_argv(ws, target, [target.python or "python3", "-c", source, SCRIPT_FLAG, target.root, *extra])


@dataclass
class RawAnswer:
    """What one target's process did (nothing of it validated yet)."""

    rc: int | None  # None: killed (timeout, oversized answer) or never started
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    too_big: bool = False
    start_error: str | None = None
    seconds: float = 0.0


def _lines(stderr: bytes) -> list[str]:
    text = stderr[-MAX_STDERR:].decode("utf-8", "replace")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("@")]


def answer_read(target: Target, raw: RawAnswer, *, timeout: int) -> TargetRead:
    """The validated read of one target from its raw outcome (pure; never raises)."""
    from ..remote.runner import HOST_KEY_PATTERNS
    from .reads import TargetRead, parse_read

    def down(why: str) -> TargetRead:
        return TargetRead(target, reachable=False, error=why[:500])

    if raw.start_error is not None:
        return down(raw.start_error)
    if raw.timed_out:
        return down(f"no answer within {timeout}s")
    lines = _lines(raw.stderr)
    last = lines[-1] if lines else ""
    if raw.too_big:
        return TargetRead(target, reachable=True, error=f"invalid status from the target: more than {MAX_ANSWER} bytes")
    if raw.rc == _SSH_FAILED and target.connection == "ssh":
        text = " ".join(lines)
        if any(p.lower() in text.lower() for p in HOST_KEY_PATTERNS):
            offered = re.search(r"SHA256:[A-Za-z0-9+/]{43}", text)
            why = last + (f" offered key {offered.group(0)}" if offered else "")
            return down(f"host key does not match the pinned one; not read ({why[:300]})")
        return down(last or f"ssh failed (exit {raw.rc})")
    if raw.rc != 0:
        return down(f"the status read failed on the target (exit {raw.rc}): {last or 'no message'}")
    try:
        data = loads_json(raw.stdout)  # linear, bounded nesting (a status is < 10 levels deep)
    except OutsideJSONError:
        return TargetRead(target, reachable=True, error="invalid status from the target: not one JSON document")
    return parse_read(target, data)


# ---------------------------------------------------------------- running the processes


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """(up to ``limit`` bytes, whether there was more)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(1 << 16):
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


async def _read_tail(stream: asyncio.StreamReader, limit: int) -> bytes:
    kept = b""
    while chunk := await stream.read(1 << 16):
        kept = (kept + chunk)[-limit:]
    return kept


async def _exchange(proc: asyncio.subprocess.Process) -> RawAnswer:
    assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 - PIPE given
    err_task = asyncio.ensure_future(_read_tail(proc.stderr, MAX_STDERR))
    try:
        out, too_big = await _read_capped(proc.stdout, MAX_ANSWER)
        if too_big:
            proc.kill()
            # read the rest to its end (discarded): a pipe left unread stays open (its transport
            # paused on a full buffer), and the process's wait() then never returned (1 run in ~20)
            while await proc.stdout.read(1 << 16):
                pass
        err = await err_task
        rc = await proc.wait()
    finally:
        if not err_task.done():
            err_task.cancel()
            await asyncio.gather(err_task, return_exceptions=True)
    return RawAnswer(rc=None if too_big else rc, stdout=out, stderr=err, too_big=too_big)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Kill ``proc`` if it still runs, wait for it, and read its pipes to their end (so the
    transport closes with the loop still open; bounded: a grandchild could hold them)."""
    if proc.returncode is None:
        proc.kill()
    await proc.wait()

    async def drain(stream: asyncio.StreamReader | None) -> None:
        while stream is not None and await stream.read(1 << 16):
            pass

    try:
        await asyncio.wait_for(asyncio.gather(drain(proc.stdout), drain(proc.stderr)), 5)
    except TimeoutError:
        pass


async def _run_one(argv: list[str], *, timeout: float, gate: asyncio.Semaphore) -> RawAnswer:
    async with gate:
        t0 = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            return RawAnswer(rc=None, start_error=f"cannot run {argv[0]}: {exc.strerror or exc}")
        try:
            raw = await asyncio.wait_for(_exchange(proc), timeout)
        except TimeoutError:
            raw = RawAnswer(rc=None, timed_out=True)
        finally:
            await _reap(proc)  # also when cancelled: no ssh child outlives the read
        raw.seconds = time.monotonic() - t0
        return raw


async def _run_all(argvs: Sequence[list[str]], *, forks: int, timeout: float,
                   cancel: CancelToken | None) -> list[RawAnswer]:  # fmt: skip
    gate = asyncio.Semaphore(max(1, forks))
    tasks = [asyncio.ensure_future(_run_one(a, timeout=timeout, gate=gate)) for a in argvs]
    pending = set(tasks)
    try:
        while pending:
            _, pending = await asyncio.wait(pending, timeout=POLL_S)
            if cancel is not None and cancel.requested:
                break
    finally:
        for t in pending:
            t.cancel()  # each kills its ssh child on the way out
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    if cancel is not None and cancel.requested:
        from ..errors import Cancelled

        raise Cancelled("fleet status stopped; it changes nothing")
    return [t.result() for t in tasks]


def run_argvs(argvs: Sequence[list[str]], *, forks: int, timeout: float,
              cancel: CancelToken | None = None) -> list[RawAnswer]:  # fmt: skip
    """Run every argv, ``forks`` at once, each killed after ``timeout`` s; a signal noted by
    ``cancel`` kills them all and raises :class:`~spbe_share.errors.Cancelled`."""
    if cancel is None:
        return _run_loop(lambda: _run_all(argvs, forks=forks, timeout=timeout, cancel=None))
    cancel.check()
    with cancel.deferred():  # a signal is only noted; the loop sees it within POLL_S
        return _run_loop(lambda: _run_all(argvs, forks=forks, timeout=timeout, cancel=cancel))


def _run_loop(coroutine: Callable[[], Coroutine[Any, Any, list[RawAnswer]]]) -> list[RawAnswer]:
    """``asyncio.run`` of the coroutine, in a thread of its own when this thread already runs an
    event loop (a caller's own asyncio, or a library such as Playwright's sync API): asyncio
    refuses to nest loops."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spbe-fleet-read") as pool:
        return pool.submit(lambda: asyncio.run(coroutine())).result()


# ---------------------------------------------------------------- the read and its record


def _request(run_dir: Path, targets: Sequence[Target], argvs: Sequence[list[str]], source: str, *, timeout: int,
             forks: int, blobs: bool) -> None:  # fmt: skip
    """``request.json``: what was run where (the script by name and digest, not 50 copies)."""
    quoted = shlex.quote(source)

    def shown(a: str) -> str:
        return "<script>" if a == source else a.replace(quoted, "<script>")

    (run_dir / "request.json").write_text(json.dumps({
        "script": str(Path("playbooks") / SCRIPT), "script_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "timeout": timeout, "forks": forks, "blobs": blobs,
        "targets": {t.name: [shown(a) for a in argv] for t, argv in zip(targets, argvs, strict=True)},
    }, indent=1))  # fmt: skip


def _answers(run_dir: Path, targets: Sequence[Target], raws: Sequence[RawAnswer], reads: dict[str, TargetRead]) -> None:
    """``answers/<target>.json`` and ``.stderr`` as received, ``result.json`` what became of each."""
    answers = run_dir / "answers"
    answers.mkdir()
    summary: dict[str, Any] = {}
    for t, raw in zip(targets, raws, strict=True):
        if raw.stdout:
            (answers / f"{t.name}.json").write_bytes(raw.stdout)
        if raw.stderr:
            (answers / f"{t.name}.stderr").write_bytes(raw.stderr)
        read = reads[t.name]
        summary[t.name] = {"rc": raw.rc, "seconds": round(raw.seconds, 3), "timed_out": raw.timed_out,
                           "reachable": read.reachable, "error": read.error}  # fmt: skip
    (run_dir / "result.json").write_text(json.dumps(summary, indent=1, sort_keys=True))


def read_direct(ws: Workspace, targets: Sequence[Target], *, timeout: int, forks: int, blobs: bool = False,
                cancel: CancelToken | None = None, now: dt.datetime | None = None,
                first_login: Sequence[str] = ()) -> dict[str, TargetRead]:  # fmt: skip
    """Read every target over its own SSH connection, ``forks`` at once (see the module)."""
    from ..remote.runner import run_dir_name

    source = script_source(ws)
    argvs = [status_argv(ws, t, source, blobs=blobs, first_login=first_login) for t in targets]
    run_dir = ws.runs_dir / run_dir_name("fleet-status", "fleet", None, now or dt.datetime.now(dt.UTC))
    run_dir.mkdir(parents=True, mode=0o700)
    _request(run_dir, targets, argvs, source, timeout=timeout, forks=forks, blobs=blobs)
    raws = run_argvs(argvs, forks=forks, timeout=timeout, cancel=cancel)
    reads = {t.name: answer_read(t, raw, timeout=timeout) for t, raw in zip(targets, raws, strict=True)}
    _answers(run_dir, targets, raws, reads)
    return reads


__all__ = ["MAX_ANSWER", "RawAnswer", "answer_read", "read_direct", "run_argvs", "script_source", "status_argv"]
