"""The operations core: every operation on a target has the same shape.

::

    plan (pure: what will change)  ->  checks (read-only)  ->  playbook under the target lock  ->  record + audit

An operation (install, upgrade, rollback, backup, restore, uninstall, provision, ...) is a small
module that calls these helpers in that order. Everything is explicit and keyword-only; there
are no globals: the :class:`OpContext` carries the workspace, who acts, when, how to talk to the
operator and the cancel token.

API
---
``operation(ctx, *, name, app, target) -> Operation`` (a context manager)
    Exactly one audit line for every outcome: ``ok`` (or ``op.result``), ``refused: <code>``
    (before the playbook started, or the lock was held), ``failed: <code>``, ``cancelled``,
    ``failed: internal`` (a bug). ``op.note(**details)`` adds audit details (never secrets).
    ``app=None``: an operation on the target itself (provisioning); its audit line has no app.
``new_lock(ctx, *, operation) -> LockOwner``
    Who will hold the target lock (with a random token: only its holder releases it).
``Attempt(path=..., record=...)``
    The record the target keeps of this attempt; written with ``result: cancelled`` when an
    interrupted run held the lock.
``run_locked(ctx, op, *, playbook, target, extravars, lock, attempt, break_lock=False, lock_file=None) -> RunResult``
    Runs ``playbooks/<playbook>`` (it takes the lock as its first task and releases it in
    ``always:``; the core adds ``spbe_lock_owner`` and ``spbe_break_lock`` to its variables).
    The lock is the app's (``<root>/locks/<app>.lock``) unless ``lock_file`` names another
    (provisioning's); ``attempt=None`` when the operation records no attempt.
    Interrupt-safe: SIGINT/SIGTERM stop the playbook's processes, ``cancel.yml`` then releases
    the lock if this operation still holds it (token compared) and writes the attempt as
    ``cancelled``, and :class:`~spbe_share.errors.Cancelled` (exit 12) is raised. A signal
    that lands while the playbook is being started is never lost: before it starts, nothing
    runs (exit 12); after, it is delivered as soon as the playbook's process exists. A failed run
    raises Locked (7), HostKeyMismatch (6), Unreachable (10) or RemoteFailed (8)
    (:func:`spbe_share.remote.outcome.raise_for_run`).

Around it: the context (:mod:`.context`: ``OpContext.create(ws, *, say, progress, now, today,
operator, cancel)``), the read-only checks (:mod:`.checks`: ``require_slug``, ``checked_target``,
``agreement_for``, ``read_state``; :mod:`.preflight`: ``preflight_ok``; :mod:`.bundles`:
``verified_bundle``, ``trusted_for_target``), and what a run means
(:mod:`spbe_share.remote.outcome`: ``raise_for_run``, ``data_without_secrets``, ``host_data``).
``interrupts(ctx.cancel)`` (:mod:`spbe_share.remote.interrupts`): SIGINT/SIGTERM cancel the
operation inside the block (the CLI wraps every command in it).

Example: a ``backup`` operation on the core::

    def backup(ctx: OpContext, *, app: str, target_name: str) -> BackupResult:
        with operation(ctx, name="backup", app=app, target=target_name) as op:
            require_slug(app, what="app")
            target = checked_target(ctx, target_name)                     # checks: read-only
            entry = get_entry(ctx.ws, app).entry
            op.note(agreement=agreement_for(ctx, target=target, entry=entry, scope="support"))
            lock = new_lock(ctx, operation=f"backup {app}")
            plan = backup_plan(entry, target=target, now=ctx.now)          # pure builder
            run = run_locked(
                ctx, op, playbook="backup.yml", target=target, extravars=plan.extravars, lock=lock,
                attempt=Attempt(path=plan.record_path, record=plan.record),
            )
            done = host_data(run, target=target.name, key="spbe_backup", model=BackupStats)
            op.note(backup=done.id, bytes=done.size)
            return BackupResult(id=done.id, ...)

The lock's lease: ``new_lock`` gives the lock ``lease_s`` (``$SPBE_SHARE_LEASE_S``, default
120 s); ``run_locked`` renews it while the playbook runs (:mod:`spbe_share.remote.lease`), so the lock of a dead
controller goes stale and names its holder. ``run_locked(..., check=False)`` returns a failed
run for the caller to read what the playbook published (``upgrade`` reads whether it rolled
back). Upgrade, rollback and their journal: :mod:`.upgrade`, :mod:`.rollback`, :mod:`.recover`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..errors import (
    Cancelled,
    Locked,
    RemoteFailed,
    SpbeError,
)
from ..plans.builders import lock_vars
from ..records import state
from ..records.state import LockOwner
from ..remote.outcome import host_data, raise_for_run

if TYPE_CHECKING:
    from ..remote.interrupts import CancelToken
    from ..remote.runner import RunResult
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .context import OpContext

CLEANUP_TIMEOUT_S = 180


# ---------------------------------------------------------------- one audit line per outcome


@dataclass
class Operation:
    """One running operation: what, on which app and target; its audit details."""

    ctx: OpContext
    name: str
    app: str | None  # None: an operation on the target itself (provisioning)
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    result: str = "ok"
    started: bool = False  # the playbook started: an error now is "failed", not "refused"
    refusal: str = "refused"
    # its own words for a cancellation (signal, where it stopped or None before the playbook,
    # what the cleanup did); default: "<name> of <app> on <target> stopped by ..."
    cancelled: Callable[[str, str | None, str], str] | None = None

    def note(self, **details: Any) -> None:
        """Add audit details (names, versions, digests, outcomes; never secrets)."""
        self.details.update(details)


@contextmanager
def operation(ctx: OpContext, *, name: str, app: str | None, target: str, refusal: str = "refused") -> Iterator[Operation]:
    """Run the body as operation ``name``; write exactly one audit line whatever happens."""
    ctx.ws.ensure()
    op = Operation(ctx=ctx, name=name, app=app, target=target, refusal=refusal)
    try:
        yield op
    except Cancelled as exc:
        _audit(op, "cancelled", reason=exc.message)
        raise
    except Locked as exc:
        _audit(op, "refused: locked", reason=exc.message)  # a held lock changed nothing
        raise
    except SpbeError as exc:
        verb = "failed" if op.started else op.refusal
        _audit(op, f"{verb}: {exc.exit_code.name.lower()}", reason=exc.message)
        raise
    except KeyboardInterrupt:
        _audit(op, "cancelled", reason="KeyboardInterrupt")
        raise
    except BaseException as exc:
        _audit(op, "failed: internal", reason=f"{type(exc).__name__}: {exc}"[:500])
        raise
    else:
        _audit(op, op.result)


def _audit(op: Operation, result: str, **extra: Any) -> None:
    from ..audit import record

    details = {**({"app": op.app} if op.app is not None else {}), **op.details, **extra}
    with op.ctx.cancel.deferred():
        record(op.ctx.ws, who=op.ctx.operator, what=op.name, where=op.target, result=result, **details)


# ---------------------------------------------------------------- the playbook under the lock


def new_lock(ctx: OpContext, *, operation: str) -> LockOwner:
    """The lock this operation will hold, with a lease of ``ctx.lease_s`` (renewed while it runs)."""
    return state.new_lock_owner(who=ctx.operator, operation=operation, now=ctx.now, lease_s=ctx.lease_s)


@dataclass(frozen=True)
class Attempt:
    """The target's record of this attempt: ``path`` on the target, ``record`` its JSON content."""

    path: str
    record: Mapping[str, Any]


def run_locked(
    ctx: OpContext,
    op: Operation,
    *,
    playbook: str,
    target: Target,
    extravars: Mapping[str, Any],
    lock: LockOwner,
    attempt: Attempt | None,
    break_lock: bool = False,
    check: bool = True,
    lock_file: str | None = None,
    hosts: Sequence[Target] = (),
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunResult:
    """Run ``playbook`` on ``target`` under the lock (``lock_file``, default the app's); renew its
    lease; clean up after an interrupt; raise on failure (with ``check=False`` a failed run is
    returned for the caller to read what the playbook published, and to call
    :func:`~spbe_share.remote.outcome.raise_for_run` itself).

    ``hosts``: a data center with several hosts, the play runs on these (``target``, its first
    host, among them: it holds the lock, renewed there) with ``host_vars`` each."""
    from ..audit import record
    from ..remote.lease import LeaseKeeper
    from ..remote.runner import run_playbook

    if lock_file is None:
        if op.app is None:
            raise RuntimeError(f"{op.name}: an operation without an app names its lock file")
        lock_file = state.lock_path(target.root, op.app)
    if not hosts and op.app is not None:  # a safety net: the operations refuse that earlier
        from .checks import refuse_spread

        refuse_spread(ctx, target, app=op.app, what=op.name)
    ctx.cancel.check()
    if break_lock:
        record(ctx.ws, who=ctx.operator, what="break-lock", where=target.name, result="requested",
               **({"app": op.app} if op.app is not None else {}), lock=lock_file)
    op.started = True
    keeper = LeaseKeeper(ws=ctx.ws, target=target, lock_path=lock_file, lock=lock)
    with ctx.cancel.deferred(), keeper:
        if ctx.cancel.requested:  # came since the check above: the playbook has not started
            if op.cancelled is not None:
                raise Cancelled(op.cancelled(ctx.cancel.signal_name, None, f"nothing on {target.name} changed"))
            raise Cancelled(f"{op.name} of {op.app} on {target.name} stopped by {ctx.cancel.signal_name} before its"
                            f" playbook started; nothing on {target.name} changed")
        # from here on a signal reaches the playbook whenever it lands (noted, then delivered
        # as soon as the playbook's process exists: interrupts.CancelToken.kill_now), and the
        # run ends as a cancelled attempt with the lock released
        run = run_playbook(
            ctx.ws,
            op=op.name,
            target=target.name,
            app=op.app,
            playbook=playbook,
            targets=list(hosts) or [target],
            extravars={**extravars, **lock_vars(lock, break_lock=break_lock)},
            progress=ctx.progress,
            now=ctx.now,
            cancel=ctx.cancel,
            host_vars=host_vars,
        )
        if run.cancelled and not run.ok:
            cleaned = release_after_cancel(
                ctx.ws, target=target, lock_file=lock_file, lock=lock, run=run, cancel=ctx.cancel, what=op.name,
                app=op.app, operator=ctx.operator, attempt=attempt,
            )
            where = run.last_task or "before its first task"
            op.note(stopped_at=where, cleanup=cleaned, run=str(run.run_dir))
            if op.cancelled is not None:
                raise Cancelled(op.cancelled(ctx.cancel.signal_name, where, cleaned))
            raise Cancelled(
                f"{op.name} of {op.app} on {target.name} stopped by {ctx.cancel.signal_name} during '{where}';"
                f" {cleaned}"
            )
    if run.cancelled:
        ctx.say(f"note: the interrupt came after {op.name} had finished on {target.name}")
    if keeper.lost:
        if op.app is not None:
            ctx.say(f"warning: the lock of {op.app} on {target.name} was broken by someone else while {op.name} ran")
        else:
            ctx.say(f"warning: the lock {lock_file} on {target.name} was broken by someone else while {op.name} ran")
        op.note(lock_lost=True)
    if check:
        raise_for_run(run, target.name, op.name, app=op.app)
    return run


class _CleanupStats(BaseModel):
    model_config = {"extra": "forbid"}
    released: bool
    recorded: bool


def release_after_cancel(
    ws: Workspace, *, target: Target, lock_file: str, lock: LockOwner, run: RunResult, cancel: CancelToken,
    what: str, app: str | None, operator: str, attempt: Attempt | None = None,
) -> str:
    """Run ``cancel.yml`` after an interrupted run: release the lock ``lock_file`` (only if
    ``lock`` still holds it), record ``attempt`` as cancelled when given. Returns what was done,
    in words (never raises: the caller raises :class:`Cancelled` with it)."""
    from ..remote.runner import run_playbook

    message = f"cancelled ({cancel.signal_name}) by {operator} during '{run.last_task or '-'}'"
    cleanup = run_playbook(
        ws,
        op=f"{what}-cancel",
        target=target.name,
        app=app,
        playbook="cancel.yml",
        targets=[target],
        extravars={
            "spbe_target": target.name,
            "spbe_lock_path": lock_file,
            "spbe_lock_owner": lock.model_dump(mode="json"),
            "spbe_attempt_path": attempt.path if attempt is not None else "",
            "spbe_attempt": dict(attempt.record) if attempt is not None else {},
            "spbe_cancel_message": message,
            "spbe_record_attempt": attempt is not None,
        },
        cancel=cancel,
        interruptible=False,
        timeout=CLEANUP_TIMEOUT_S,
    )
    try:
        if not cleanup.ok:
            raise RemoteFailed(cleanup.unreachable_message or cleanup.failed_message or cleanup.status)
        done = host_data(cleanup, target=target.name, key="spbe_cancel", model=_CleanupStats)
    except RemoteFailed as exc:
        return (
            f"could not clean up {target.name} ({exc.message}): the lock {lock_file} may still be held by"
            f" this operation (token {lock.token}); check, then rerun with --break-lock"
        )
    if not done.released:
        return "the lock was not held by this operation, so nothing on the target was changed by it"
    where = f", attempt recorded as cancelled in {attempt.path}" if done.recorded and attempt is not None else ""
    return f"{target.name} cleaned up: lock released{where}"


__all__ = ["Attempt", "Operation", "new_lock", "operation", "release_after_cancel", "run_locked"]
