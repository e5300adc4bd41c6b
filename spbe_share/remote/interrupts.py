"""SIGINT/SIGTERM end an operation cleanly: the playbook stops, then the core cleans the target up.

Why this is needed: ansible-runner starts ``ansible-playbook`` in a new session (pexpect, a pty),
and each of Ansible's worker processes calls ``setsid()``. A Ctrl-C on the terminal reaches
neither, and ansible-runner's own cancel (SIGKILL to the playbook's process group) leaves the
workers running the task they hold (a loop of copies, a health wait) with nobody to release
the lock. So:

- :func:`interrupts` installs a handler for SIGINT and SIGTERM (main thread only) that calls
  :meth:`CancelToken.handle`; the CLI wraps every operation in it, and the runner installs it
  for the time a playbook runs.
- Outside a playbook (the read-only checks) a signal raises :class:`~spbe_share.errors.Cancelled`
  at once: nothing was changed yet.
- While a playbook runs (:meth:`CancelToken.watching`) the first signal sends SIGINT to the
  ``ansible-playbook`` process, which forwards it to its workers; each kills its own process
  group (ssh included) and the playbook stops. If it is still alive ``grace_s`` later, or at
  a second signal, ansible-runner kills its process group (``cancel_callback``) and the token
  kills the worker groups it saw (SIGKILL).
- Inside :meth:`CancelToken.deferred` a signal is only noted (cleanup runs, audit writes);
  whoever deferred checks :attr:`CancelToken.requested` afterwards.
- A signal is never lost on the way into a playbook: one noted while the playbook is being
  prepared, or before its process exists, stays *undelivered* until ansible-runner's next
  ``cancel_callback`` (:meth:`CancelToken.kill_now`, every few seconds) finds the playbook
  and interrupts it then; ``ops/core.run_locked`` looks at every signal since its own check,
  so such a run ends as a cancelled attempt with the lock released (exit 12).

Processes are found through ``/proc`` (the controller is Linux): the playbook is the child of
this process whose command line holds the run folder.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from ..errors import Cancelled

GRACE_S = 10.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """``(ppid, pgid)`` of ``pid`` from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    try:
        return [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return []


def processes_with(marker: str) -> list[int]:
    """Every process whose command line holds ``marker`` (tests use it to find leftovers)."""
    return [pid for pid in _pids() if marker in _cmdline(pid)]


def playbook_pids(marker: str) -> list[int]:
    """Children of this process whose command line holds ``marker`` (the run folder)."""
    me = os.getpid()
    out = []
    for pid in _pids():
        st = _proc_stat(pid)
        if st and st[0] == me and marker in _cmdline(pid):
            out.append(pid)
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for p in _pids():
        st = _proc_stat(p)
        if st:
            children.setdefault(st[0], []).append(p)
    out: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _send(pid: int, sig: int, *, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class CancelToken:
    """Whether the operator asked to stop, and the machinery that stops a running playbook."""

    def __init__(self, *, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.signals: list[int] = []
        self._first_at: float | None = None
        self._defer = 0
        self._marker: str | None = None
        self._interruptible = True
        self._workers: set[int] = set()
        self._undelivered = False  # a signal came that no playbook has been sent yet

    # -- state
    @property
    def requested(self) -> bool:
        return bool(self.signals)

    @property
    def undelivered(self) -> bool:
        """A signal came that no playbook has been sent yet (the next one of this token gets it)."""
        return self._undelivered

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signals[0]).name if self.signals else "no signal"

    def check(self) -> None:
        """Raise :class:`Cancelled` if a signal came (call it between steps)."""
        if self.requested:
            raise Cancelled(f"stopped by {self.signal_name} before anything changed on the target")

    # -- the signal handler
    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        self.signals.append(signum)
        if self._first_at is None:
            self._first_at = time.monotonic()
        if self._marker is not None:
            if self._interruptible:
                self._deliver(self._marker)
            return
        if self._defer:
            self._undelivered = True  # the next playbook of this token gets it (kill_now)
            return
        raise Cancelled(f"stopped by {self.signal_name} before anything changed on the target")

    def forward(self, signum: int) -> None:
        """A signal caught by another handler (the main thread of a run over many targets, each
        target's operation in its own thread with its own token): noted, its playbook
        interrupted if one runs; never raises (the thread notices at its next :meth:`check`)."""
        self.signals.append(signum)
        if self._first_at is None:
            self._first_at = time.monotonic()
        marker = self._marker
        if marker is not None and self._interruptible:
            self._deliver(marker)
        else:
            self._undelivered = True

    def _deliver(self, marker: str) -> None:
        """Interrupt the playbook now, or, when its process does not exist yet, at the next
        :meth:`kill_now` (a signal is never lost between the checks and the playbook)."""
        if self._interrupt_playbook(marker):
            self._undelivered = False
        else:
            self._undelivered = True

    def _interrupt_playbook(self, marker: str) -> bool:
        """Signal the playbook's processes; False when none runs (yet)."""
        hard = len(self.signals) > 1
        pids = playbook_pids(marker)
        for pid in pids:
            self._workers.update(p for p in descendants(pid) if marker in _cmdline(p))
            _send(pid, signal.SIGKILL if hard else signal.SIGINT)
        if hard:
            self._kill_workers(marker)
        return bool(pids)

    def _kill_workers(self, marker: str) -> None:
        for pid in sorted(self._workers):
            if marker in _cmdline(pid):  # still one of ours (pids are not reused that fast, but check)
                _send(pid, signal.SIGKILL, group=True)
        self._workers.clear()

    def kill_now(self) -> bool:
        """ansible-runner's ``cancel_callback``: True = kill the playbook's process group now."""
        if not self.requested or self._marker is None or not self._interruptible or self._first_at is None:
            return False
        if self._undelivered:  # noted before the playbook's process existed: interrupt it now
            if not self._interrupt_playbook(self._marker):
                return False
            self._undelivered = False
            self._first_at = time.monotonic()  # its grace starts now
            return False
        hard = len(self.signals) > 1 or time.monotonic() - self._first_at > self.grace_s
        if hard:
            for pid in playbook_pids(self._marker):
                self._workers.update(p for p in descendants(pid) if self._marker in _cmdline(p))
        return hard

    # -- scopes
    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals are only noted inside (the caller looks at :attr:`requested` afterwards)."""
        self._defer += 1
        try:
            yield
        finally:
            self._defer -= 1

    @contextmanager
    def watching(self, marker: str, *, interruptible: bool = True) -> Iterator[None]:
        """A playbook whose command line holds ``marker`` runs inside; signals stop it.

        ``interruptible=False`` (cleanup runs): signals are noted, the playbook runs on.
        Leftover workers of an interrupted playbook are killed when the block ends.
        """
        self._marker, self._interruptible = marker, interruptible
        try:
            with interrupts(self):
                yield
        finally:
            self._marker = None
            if self._workers:
                self._kill_workers(marker)


class SignalHandler(Protocol):
    def handle(self, signum: int, frame: FrameType | None = None) -> None: ...


H = TypeVar("H", bound=SignalHandler)


@contextmanager
def interrupts(token: H) -> Iterator[H]:
    """SIGINT and SIGTERM go to ``token.handle`` inside the block (main thread only); ``token``
    is a :class:`CancelToken`, or anything with its ``handle`` (a fan-out to many tokens)."""
    if threading.current_thread() is not threading.main_thread():
        yield token
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, token.handle)
    try:
        yield token
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


__all__ = ["GRACE_S", "CancelToken", "descendants", "interrupts", "playbook_pids", "processes_with"]
