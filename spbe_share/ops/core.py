"""The operations core: every operation on a target has the same shape.

::

    plan (pure: what will change)  ->  checks (read-only)  ->  playbook under the target lock  ->  record + audit

An operation (install, upgrade, rollback, backup, restore, uninstall, provision, ...) is a small
module that calls these helpers in that order. Everything is explicit and keyword-only; there
are no globals: the :class:`OpContext` carries the workspace, who acts, when, how to talk to the
operator and the cancel token.

API
---
``OpContext.create(ws, *, say=None, progress=None, now=None, today=None, operator=None, cancel=None)``
    ``ctx.ws``, ``ctx.operator``, ``ctx.now`` (one timestamp for the whole operation: lock,
    record, file names), ``ctx.today``, ``ctx.say(str)`` (notes for the operator),
    ``ctx.progress`` (playbook events), ``ctx.cancel`` (:class:`~.interrupts.CancelToken`).
``interrupts(ctx.cancel)``
    SIGINT/SIGTERM cancel the operation inside the block (the CLI wraps every command in it).
``operation(ctx, *, name, app, target) -> Operation`` (a context manager)
    Exactly one audit line for every outcome: ``ok`` (or ``op.result``), ``refused: <code>``
    (before the playbook started, or the lock was held), ``failed: <code>``, ``cancelled``,
    ``failed: internal`` (a bug). ``op.note(**details)`` adds audit details (never secrets).
``require_slug(value, *, what) -> str``
    A name that becomes a path component or a container name must be a slug.
``checked_target(ctx, name) -> Target``
    The target, its host key compared with the pinned one (exit 6 when it changed).
``agreement_for(ctx, *, target, entry, scope) -> str``
    The MoU/PKS number covering (app, adopter, today, scope), or why none is needed
    (``local`` sandbox, ``sharing.mou_required: false``). Scope: install, support, ...
``verified_bundle(ctx, *, app, version, bundle) -> VerifiedBundle`` (from :mod:`.bundles`)
    Located, verified against the trusted keys, extracted; ``.entry`` is the entry inside.
    ``app`` may be ``SOURCE/APP``; ``.app`` is then the app id (use it for locks and records).
``trusted_for_target(ctx, vb, *, target, agreement, allow_self_signed=False) -> TrustDecision``
    (from :mod:`.bundles`) The signer is trusted for the donor the bundle's entry names, and that
    donor is the agreement's donor; a bundle built here only for the local sandbox, the donor's
    own data center, or with the loud option. Call it after :func:`agreement_for` with the entry
    inside the bundle; ``op.note(trust=decision.describe())`` puts it in the audit line.
``preflight_ok(ctx, *, target, entry) -> PreflightReport``
    Facts read from the target and evaluated; raises PreflightFailed (exit 5).
``new_lock(ctx, *, operation) -> LockOwner``
    Who will hold the target lock (with a random token: only its holder releases it).
``Attempt(path=..., record=...)``
    The record the target keeps of this attempt; written with ``result: cancelled`` when an
    interrupted run held the lock.
``run_locked(ctx, op, *, playbook, target, extravars, lock, attempt, break_lock=False) -> RunResult``
    Runs ``playbooks/<playbook>`` (it takes the lock as its first task and releases it in
    ``always:``; the core adds ``spbe_lock_owner`` and ``spbe_break_lock`` to its variables).
    Interrupt-safe: SIGINT/SIGTERM stop the playbook's processes, ``cancel.yml`` then releases
    the lock if this operation still holds it (token compared) and writes the attempt as
    ``cancelled``, and :class:`~spbe_share.errors.Cancelled` (exit 12) is raised. A signal
    that lands while the playbook is being started is never lost: before it starts, nothing
    runs (exit 12); after, it is delivered as soon as the playbook's process exists. A failed run
    raises Locked (7), HostKeyMismatch (6), Unreachable (10) or RemoteFailed (8).
``data_without_secrets(run, target) -> Conflict``
    ``raise_for_run`` raises it when ``tasks/data_secrets.yml`` refused: the app's data exists
    on the target but its secrets do not (a wiped root). Any playbook that imports
    ``tasks/configure.yml`` (install, upgrade) gets the check (variables: ``opvars.data_check_vars``).
``host_data(run, *, target, key, model) -> model``
    What the playbook published with ``set_stats`` under ``key``, validated by a strict model
    before anything on the controller uses it (the target is not trusted).

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
120 s); ``run_locked`` renews it while the playbook runs (:mod:`.lease`), so the lock of a dead
controller goes stale and names its holder. ``run_locked(..., check=False)`` returns a failed
run for the caller to read what the playbook published (``upgrade`` reads whether it rolled
back). Upgrade, rollback and their journal: :mod:`.upgrade`, :mod:`.rollback`, :mod:`.recover`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
from ..remote.interrupts import CancelToken, interrupts
from ..remote.outcome import host_data, raise_for_run
from .bundles import VerifiedBundle, trusted_for_target, verified_bundle

if TYPE_CHECKING:
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
    app: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    result: str = "ok"
    started: bool = False  # the playbook started: an error now is "failed", not "refused"
    refusal: str = "refused"

    def note(self, **details: Any) -> None:
        """Add audit details (names, versions, digests, outcomes; never secrets)."""
        self.details.update(details)


@contextmanager
def operation(ctx: OpContext, *, name: str, app: str, target: str, refusal: str = "refused") -> Iterator[Operation]:
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

    details = {"app": op.app, **op.details, **extra}
    with op.ctx.cancel.deferred():
        record(op.ctx.ws, who=op.ctx.operator, what=op.name, where=op.target, result=result, **details)


# ---------------------------------------------------------------- checks (read-only)


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
    attempt: Attempt,
    break_lock: bool = False,
    check: bool = True,
) -> RunResult:
    """Run ``playbook`` on ``target`` under the lock; clean up after an interrupt; raise on failure
    (with ``check=False`` a failed run is returned for the caller to read what the playbook
    published, and to call :func:`raise_for_run` itself)."""
    from ..audit import record
    from ..remote.runner import run_playbook

    ctx.cancel.check()
    if break_lock:
        record(ctx.ws, who=ctx.operator, what="break-lock", where=target.name, result="requested",
               app=op.app, lock=state.lock_path(target.root, op.app))
    op.started = True
    from ..remote.lease import LeaseKeeper

    keeper = LeaseKeeper(ws=ctx.ws, target=target, lock_path=state.lock_path(target.root, op.app), lock=lock)
    with ctx.cancel.deferred(), keeper:
        if ctx.cancel.requested:  # came since the check above: the playbook has not started
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
            targets=[target],
            extravars={**extravars, **lock_vars(lock, break_lock=break_lock)},
            progress=ctx.progress,
            now=ctx.now,
            cancel=ctx.cancel,
        )
        if run.cancelled and not run.ok:
            cleaned = _clean_up(ctx, op, target=target, lock=lock, attempt=attempt, run=run)
            where = run.last_task or "before its first task"
            op.note(stopped_at=where, cleanup=cleaned, run=str(run.run_dir))
            raise Cancelled(
                f"{op.name} of {op.app} on {target.name} stopped by {ctx.cancel.signal_name} during '{where}';"
                f" {cleaned}"
            )
    if run.cancelled:
        ctx.say(f"note: the interrupt came after {op.name} had finished on {target.name}")
    if keeper.lost:
        ctx.say(f"warning: the lock of {op.app} on {target.name} was broken by someone else while {op.name} ran")
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


def _clean_up(ctx: OpContext, op: Operation, *, target: Target, lock: LockOwner, attempt: Attempt,
              run: RunResult) -> str:
    """Release our lock (only if we hold it), record the attempt as cancelled."""
    return release_after_cancel(
        ctx.ws, target=target, lock_file=state.lock_path(target.root, op.app), lock=lock, run=run,
        cancel=ctx.cancel, what=op.name, app=op.app, operator=ctx.operator, attempt=attempt,
    )


__all__ = [
    "Attempt",
    "OpContext",
    "Operation",
    "VerifiedBundle",
    "host_data",
    "interrupts",
    "new_lock",
    "operation",
    "raise_for_run",
    "run_locked",
    "trusted_for_target",
    "verified_bundle",
]
