"""``spbe-share fleet upgrade``: one app to a new release over many targets, canary first, then
batches in parallel, within a failure budget, resumable (the engine is :mod:`.rollout`).

The per-target step is :func:`run_one`: ONE call to the single-target operation, through the
operations core, with all of its checks (host key, agreement, bundle signature and trust,
preflight, lock) and its audit line. Which operation that is, is one line in :func:`run_one`.
Each target runs in its own thread with its own :class:`~spbe_share.deploy.interrupts.CancelToken`;
:class:`CancelFanout` (the main thread's signal handler) forwards SIGINT/SIGTERM to every
token in flight, so each target cleans up as a single operation would, and no new batch starts.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..deploy.interrupts import CancelToken
from ..errors import Conflict, InvalidInput
from .rollout import (
    ItemState,
    Rollout,
    RolloutState,
    StepOutcome,
    load_state,
    new_state,
    save_state,
)

if TYPE_CHECKING:
    from ..deploy.core import OpContext
    from ..workspace import Workspace
    from .plan import PlanFile, PlanItem
    from .rollout import Event, Step


# ---------------------------------------------------------------- the per-target step (the adapter)


def run_one(ctx: OpContext, item: ItemState, *, bundle: Path | None) -> StepOutcome:
    """Bring ``item.target`` to ``item.app`` ``item.to_version``; raise SpbeError when it failed."""
    # The single-target operation: the data-safe `upgrade` (install's checks, backup + verify,
    # health gate, automatic rollback -> RolledBack, exit 13) through the operations core.
    from ..deploy.upgrade import upgrade

    _plan, result = upgrade(ctx, app=item.app, target_name=item.target, to=item.to_version, bundle=bundle)
    return outcome_of(result, item)


def outcome_of(result: Any, item: ItemState) -> StepOutcome:
    """What the rollout records from the operation's result (an install's or an upgrade's)."""
    version = getattr(result, "version", None) or item.to_version
    word = getattr(result, "result", None)
    if not isinstance(word, str) or not word:
        changed = bool(getattr(result, "changed", True) or getattr(result, "new_release", False))
        word = f"upgraded to {version}" if changed else f"already at {version}"
    return StepOutcome(version=version, result=word[:200], from_version=getattr(result, "from_version", None))


class CancelFanout:
    """The main thread's SIGINT/SIGTERM handler during a rollout: every step's token gets it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: set[CancelToken] = set()
        self.signals: list[int] = []
        self.on_signal: Callable[[], None] = lambda: None

    def token(self) -> CancelToken:
        t = CancelToken()
        with self.lock:
            for s in self.signals:
                t.forward(s)
            self.tokens.add(t)
        return t

    def release(self, t: CancelToken) -> None:
        with self.lock:
            self.tokens.discard(t)

    def handle(self, signum: int, frame: FrameType | None = None) -> None:
        with self.lock:
            self.signals.append(signum)
            tokens = list(self.tokens)
        self.on_signal()
        for t in tokens:
            t.forward(signum)


def make_step(
    ws: Workspace,
    fanout: CancelFanout,
    *,
    bundles: dict[str, Path] | None = None,
    say: Callable[[str], None] | None = None,
    operator: str | None = None,
) -> Step:
    """The rollout's step: a fresh :class:`OpContext` per target (own token, own timestamp)."""
    from ..deploy.core import OpContext

    def step(item: ItemState) -> StepOutcome:
        token = fanout.token()
        try:
            ctx = OpContext.create(ws, say=(lambda m: say(f"{item.target}: {m}")) if say else None,
                                   operator=operator, cancel=token)  # fmt: skip
            return run_one(ctx, item, bundle=(bundles or {}).get(item.app))
        finally:
            fanout.release(token)

    return step


# ---------------------------------------------------------------- what is rolled out


def items_of(plan_items: Sequence[PlanItem], *, with_blocked: bool) -> list[ItemState]:
    """Rollout items from plan items: ``upgrade`` ones; with ``with_blocked`` also ``blocked`` and
    ``unreachable`` ones (no plan was reviewed: the step's own checks decide, and count as failures)."""
    run = {"upgrade", "blocked", "unreachable"} if with_blocked else {"upgrade"}
    return [
        ItemState(target=i.target, app=i.app, to_version=i.to_version, from_version=i.from_version)
        for i in plan_items
        if i.action in run
    ]


def args_key(*, app: str | None, to: str | None, regulation: str | None, selector: str) -> str:
    """The key of a rollout given by arguments (the same command with --resume finds its state)."""
    return "args-" + hashlib.sha256(repr((app, to, regulation, selector)).encode()).hexdigest()[:16]


def plan_key(plan: PlanFile) -> str:
    return "plan-" + plan.digest()


def state_path(ws: Workspace, key: str) -> Path:
    return ws.home / "fleet" / f"upgrade-{key}.state.json"


def start_or_resume(
    path: Path,
    *,
    key: str,
    items: Callable[[], list[ItemState]],
    canary: str | None,
    batch_size: int,
    max_failures: int,
    resume: bool,
) -> RolloutState:
    """The state to run: resumed from ``path``, or new (``items()`` is called only then).

    A stopped rollout is never started over silently: without ``resume`` it is a Conflict."""
    if resume:
        st = load_state(path)
        if st.key != key:
            raise InvalidInput(f"{path}: holds rollout {st.key}, not {key}")
        st.runs += 1
        st.batch_size, st.max_failures = batch_size, max_failures
        if canary is not None and canary != st.canary:
            raise InvalidInput(f"--canary {canary}: this rollout's canary is {st.canary}; resume keeps it")
        return st
    if path.exists():
        old = load_state(path)
        if not old.finished:
            raise Conflict(
                f"a rollout of this stopped before it finished ({old.stopped or 'interrupted'}); "
                f"continue it with --resume, or delete {path} to start over"
            )
    todo = items()
    if not todo:
        raise InvalidInput("nothing to upgrade: no selected target runs an older release")
    st = new_state(todo, key=key, canary=canary, batch_size=batch_size, max_failures=max_failures)
    save_state(path, st)
    return st


def run_rollout(state: RolloutState, *, path: Path, step: Step, fanout: CancelFanout, event: Event | None = None,
                retry_failed: bool = False) -> RolloutState:  # fmt: skip
    """Run (the caller holds ``interrupts(fanout)`` in the main thread)."""
    rollout = Rollout(state, path=path, step=step, event=event, retry_failed=retry_failed)

    def stop() -> None:
        rollout.cancel_requested = True

    fanout.on_signal = stop
    return rollout.run()


__all__ = [
    "CancelFanout",
    "args_key",
    "items_of",
    "make_step",
    "outcome_of",
    "plan_key",
    "run_one",
    "run_rollout",
    "start_or_resume",
    "state_path",
]
