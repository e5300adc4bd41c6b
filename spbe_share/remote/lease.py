"""The lock's lease: renewed from the controller while an operation runs, so a dead one expires.

The lock file ``<root>/locks/<app>.lock`` (:class:`~spbe_share.records.state.LockOwner`) names its holder and its
``lease_s``; its modification time, on the TARGET's clock, is the last renewal. While a locked
playbook runs, :class:`LeaseKeeper` (a thread of the controller) touches the file every
``lease_s / 4`` seconds over the same pinned-host-key SSH as everything else (one short
``ssh target python3 -c PROGRAM renew <lock> <token>``, the lock protocol of
``playbooks/module_utils/spbe_lockfile.py``; for the built-in ``local`` target the same
command without ssh). The renewal opens the file, checks that it still holds this operation's
token and touches that same open file (``futimens``), so it never renews someone else's lock
and never brings back a lock that was released.

If the controller dies (SIGKILL, a power cut, a laptop closed) or its connection is cut, the
renewals stop and the lease runs out after ``lease_s``: ``spbe_lock`` then reports the lock as
stale, with its holder, instead of "locked" forever; ``spbe-share unlock`` breaks it (audited),
and ``upgrade``/``rollback`` take over a stale lock whose token their journal names, to finish
or undo that operation. Comparing the file's age with the target's own clock means the
controller's and the target's clocks need not agree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..outside import run_capped, terminal_text
from .scripts import sent

if TYPE_CHECKING:
    from ..records.state import LockOwner
    from ..targets.inventory import Target
    from ..workspace import Workspace

MAX_ANSWER = 4096  # bytes of the renewal's answer (one word) and of its stderr kept


def renew_command(python: str, lock_path: str, token: str) -> list[str]:
    """The command (run on the target) that renews the lease of ``token``'s lock: the lock
    protocol's ``renew`` (``playbooks/module_utils/spbe_lockfile.py``, sent with the command);
    it prints ``ok``, ``gone`` or ``other``."""
    return [python, "-c", sent("spbe_lockfile"), "renew", lock_path, token]


def renew_argv(ws: Workspace, target: Target, lock_path: str, token: str) -> list[str]:
    """argv on the controller: over ssh (pinned host key) or, for ``local``, directly."""
    from .ssh import ssh_argv

    command = renew_command(target.python or "python3", lock_path, token)
    if target.connection == "local":
        return command
    return ssh_argv(ws, target, command)


def renew_every(lease_s: int) -> float:
    """Seconds between renewals: four chances before the lease runs out."""
    return max(1.0, lease_s / 4)


@dataclass
class LeaseKeeper:
    """Renews ``lock``'s lease on ``target`` in a thread, inside ``with``."""

    ws: Workspace
    target: Target
    lock_path: str
    lock: LockOwner
    renewals: int = 0
    failures: list[str] = field(default_factory=list)
    lost: bool = False  # the lock file holds another operation's token (ours was broken)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        if self.lock.lease_s:
            self._thread = threading.Thread(target=self._run, name="spbe-lease", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        assert self.lock.lease_s
        every = renew_every(self.lock.lease_s)
        argv = renew_argv(self.ws, self.target, self.lock_path, self.lock.token)
        while not self._stop.wait(every):
            self.renew_once(argv, timeout=every)

    def renew_once(self, argv: Sequence[str], *, timeout: float) -> str:
        try:
            proc = run_capped(argv, limit=MAX_ANSWER, timeout=max(5.0, timeout), stderr_limit=MAX_ANSWER)
        except OSError as exc:
            self.failures.append(f"{time.strftime('%H:%M:%S')} {type(exc).__name__}")
            return "error"
        if proc.timed_out or proc.too_big:
            self.failures.append(f"{time.strftime('%H:%M:%S')} {'TimeoutExpired' if proc.timed_out else 'too long'}")
            return "error"
        answer = proc.stdout.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or answer not in ("ok", "gone", "other"):
            self.failures.append(f"{time.strftime('%H:%M:%S')} exit {proc.returncode}: "
                                 f"{terminal_text(proc.stderr_text.strip(), one_line=True)[-200:]}")
            return "error"
        if answer == "ok":
            self.renewals += 1
        elif answer == "other":
            self.lost = True
        # "gone": not taken yet, or already released by the playbook: nothing to renew
        return answer


__all__ = ["LeaseKeeper", "renew_argv", "renew_command", "renew_every"]
