"""``spbe-share fleet upgrade``: one app to a new release over many targets, canary first, then
batches in parallel, within a failure budget, resumable (the engine is :mod:`.rollout`).

The per-target step is :func:`run_one`: ONE call to the single-target operation, through the
operations core, with all of its checks (host key, agreement, bundle signature and trust,
preflight, lock) and its audit line. Which operation that is, is one line in :func:`run_one`.
Each target runs in its own thread with its own :class:`~spbe_share.remote.interrupts.CancelToken`;
:class:`CancelFanout` (the main thread's signal handler) forwards SIGINT/SIGTERM to every
token in flight, so each target cleans up as a single operation would, and no new batch starts.

The goal bundle of each app and release is chosen and checked ONCE, before the rollout starts
(:func:`rollout_bundles`): the one given with ``--bundle``, else the one the plan was made
with (verified again; gone or changed is refused), else the workspace's cached one, else one
built and signed here. Every target's trust check is run against it then, reading nothing from
the targets: a bundle that some target would refuse (a bundle built here for an adopter's data
center, a signer not trusted for the catalog's donor) stops the fleet before it starts, with one
error naming the bundle and those targets, instead of one failure per target after shipping.
Each step then gets that bundle and checks that it is still the same one (its digest).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, InvalidInput, NotFound, VerificationFailed
from ..remote.interrupts import CancelToken
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
    from ..catalog.models import Entry
    from ..ops.bundles import VerifiedBundle
    from ..ops.context import OpContext
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .plan import PlanFile, PlanItem
    from .rollout import Event, Step


# ---------------------------------------------------------------- the per-target step (the adapter)


def run_one(ctx: OpContext, item: ItemState, *, bundle: RolloutBundle | None) -> StepOutcome:
    """Bring ``item.target`` to ``item.app`` ``item.to_version``; raise SpbeError when it failed."""
    # The single-target operation: the data-safe `upgrade` (install's checks, backup + verify,
    # health gate, automatic rollback -> RolledBack, exit 13) through the operations core.
    from ..ops.upgrade import upgrade

    _plan, result = upgrade(ctx, app=item.app, target_name=item.target, to=item.to_version,
                            bundle=bundle.path if bundle else None, bundle_digest=bundle.digest if bundle else None)
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
    bundles: dict[tuple[str, str], RolloutBundle] | None = None,
    say: Callable[[str], None] | None = None,
    operator: str | None = None,
) -> Step:
    """The rollout's step: a fresh :class:`OpContext` per target (own token, own timestamp);
    ``bundles``: (app, release) -> the goal bundle chosen by :func:`rollout_bundles`."""
    from ..ops.context import OpContext

    def step(item: ItemState) -> StepOutcome:
        token = fanout.token()
        try:
            ctx = OpContext.create(ws, say=(lambda m: say(f"{item.target}: {m}")) if say else None,
                                   operator=operator, cancel=token)  # fmt: skip
            return run_one(ctx, item, bundle=(bundles or {}).get((item.app, item.to_version)))
        finally:
            fanout.release(token)

    return step


# ---------------------------------------------------------------- the goal bundles, chosen and checked once


@dataclass(frozen=True)
class RolloutBundle:
    """The goal bundle of one app and release, as every step of the rollout gets it."""

    app: str
    version: str
    path: Path | None  # given to each step as its bundle; None: the workspace's cached one, or built here
    digest: str | None  # each step's bundle must be this one; None: built here by the first step
    origin: str  # what it is, for people

    def describe(self) -> str:
        return f"{self.app} {self.version}: {self.origin}" + (f" ({self.digest})" if self.digest else "")


def rollout_bundles(
    ws: Workspace,
    items: Sequence[ItemState],
    *,
    given: Sequence[Path] = (),
    plan: PlanFile | None = None,
    plan_path: Path | None = None,
) -> dict[tuple[str, str], RolloutBundle]:
    """The goal bundle of every (app, release) of ``items``, chosen and checked before the
    rollout starts: ``given`` (``--bundle``; it must be the plan's when the plan recorded one),
    else the plan's (verified again; :class:`NotFound` when gone, :class:`VerificationFailed`
    when changed), else the workspace's cached one, else none (built and signed here).

    Then each item's target is checked as its step would check it (the catalog's donor, the
    signer trusted for it; a bundle built here only for the local sandbox or the donor's own
    data center), reading nothing from the targets. Any refusal stops everything here, once:
    :class:`InvalidInput` asking for ``--bundle`` when no donor bundle was given or planned,
    :class:`VerificationFailed` when the bundle itself is refused.
    """
    from ..bundle.pack import bundle_filename
    from ..bundle.trust import decide_install_trust
    from ..catalog.loader import get_entry
    from ..ops.bundles import signing_key_id
    from ..outside import terminal_text
    from ..targets.inventory import get_target
    from .plan import verified_goal_bundle

    goals = sorted({(i.app, i.to_version) for i in items})
    chosen: dict[tuple[str, str], VerifiedBundle] = {}
    for path in given:
        one = verified_goal_bundle(ws, path)
        if (one.app, one.version) not in goals:
            todo = ", ".join(f"{a} {v}" for a, v in goals)
            raise InvalidInput(f"--bundle {path} holds {one.app} {one.version}; this rollout goes to {todo}")
        if (one.app, one.version) in chosen:
            raise InvalidInput(f"--bundle {path}: a bundle of {one.app} {one.version} was given already"
                               f" ({chosen[(one.app, one.version)].path})")  # fmt: skip
        chosen[(one.app, one.version)] = one
    plan_name = str(plan_path or "the plan")
    targets: dict[str, Target | None] = {}
    for name in sorted({i.target for i in items}):
        try:
            targets[name] = get_target(ws, name)
        except NotFound:
            targets[name] = None  # an unknown target fails in its own step
    out: dict[tuple[str, str], RolloutBundle] = {}
    for app, version in goals:
        recorded = plan.goal_bundle(app, version) if plan is not None else None
        vb: VerifiedBundle | None = chosen.get((app, version))
        built_here = False
        if vb is not None:
            if recorded is not None and vb.digest != recorded.digest:
                raise VerificationFailed(
                    f"--bundle {vb.path} is {app} {version} with digest {vb.digest}, but {plan_name} was made with"
                    f" {recorded.digest} ({terminal_text(recorded.path, one_line=True)}): not the bundle the plan"
                    " was reviewed with"
                )
            rb = RolloutBundle(app, version, vb.path, vb.digest, f"--bundle {vb.path}")
        elif recorded is not None:
            path = Path(recorded.path or "")
            if not recorded.path or not path.is_file():
                raise NotFound(
                    f"{plan_name} was made with the goal bundle {terminal_text(recorded.path, one_line=True)} of"
                    f" {app} {version}, which is gone: give it with --bundle FILE (digest {recorded.digest})"
                )
            vb = verified_goal_bundle(ws, path)
            if vb.digest != recorded.digest:
                raise VerificationFailed(
                    f"{path} changed since {plan_name} was made with it: {app} {version} digest {vb.digest}, the"
                    f" plan's {recorded.digest}; give the plan's bundle with --bundle FILE, or make the plan again"
                )
            rb = RolloutBundle(app, version, path, vb.digest, f"the plan's bundle {path}")
        else:
            built_here = True
            cached = ws.bundles_dir / bundle_filename(app, version)
            if cached.is_file():
                vb = verified_goal_bundle(ws, cached)
                rb = RolloutBundle(app, version, None, vb.digest, f"the cached bundle {cached}")
            else:
                rb = RolloutBundle(app, version, None, None, "a bundle built from the catalog and signed here")
        catalog = get_entry(ws, app).entry
        signer = vb.manifest.signer if vb is not None else signing_key_id(ws)
        refused: list[tuple[str, str]] = []
        for item in items:
            target = targets[item.target]
            if (item.app, item.to_version) != (app, version) or target is None:
                continue
            if vb is None:
                why = self_signed_refused(ws, target=target, catalog=catalog, signer=signer)
            else:
                try:
                    decide_install_trust(ws, target=target, entry=vb.entry, catalog=catalog, signer=vb.manifest.signer,
                                         agreement=None, built_here=built_here)  # fmt: skip
                    why = None
                except VerificationFailed as exc:
                    why = exc.message
            if why:
                refused.append((item.target, why))
        if refused:
            names = ", ".join(t for t, _ in refused[:10]) + (", ..." if len(refused) > 10 else "")
            if built_here:  # (the single-target refusal would name an option fleet upgrade does not have)
                made = f"{plan_name} was made without one" if plan is not None else "none was given"
                raise InvalidInput(
                    f"fleet upgrade needs the donor's signed bundle of {app} {version} ({made}): {len(refused)}"
                    f" target(s) would refuse {rb.origin} ({names}). Give it with --bundle FILE; nothing was started"
                )
            raise VerificationFailed(
                f"{len(refused)} target(s) would refuse the goal bundle of {app} {version}, {rb.origin} ({names});"
                " nothing was started",
                details=[f"{refused[0][0]}: {refused[0][1]}"],
            )
        out[(app, version)] = rb
    return out


def self_signed_refused(ws: Workspace, *, target: Target, catalog: Entry, signer: str | None) -> str | None:
    """Why a bundle built here from the catalog and signed with ``signer`` (None: a key that would
    be created now, trusted for no donor) would be refused on ``target``; None when accepted.
    The fleet checks this once for every target before it starts."""
    from ..bundle.trust import decide_install_trust, self_signed_refusal

    if signer is None:
        return None if target.connection == "local" else self_signed_refusal(catalog, signer="new", target=target)
    try:
        decide_install_trust(ws, target=target, entry=catalog, catalog=catalog, signer=signer, agreement=None,
                             built_here=True)  # fmt: skip
    except VerificationFailed as exc:
        return exc.message
    return None


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


def args_key(*, app: str | None, to: str | None, regulation: str | None, selector: str,
             advisory: str | None = None) -> str:  # fmt: skip
    """The key of a rollout given by arguments (the same command with --resume finds its state)."""
    what = (app, to, regulation, selector) if advisory is None else (app, to, regulation, selector, advisory)
    return "args-" + hashlib.sha256(repr(what).encode()).hexdigest()[:16]


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
    prepare: Callable[[list[ItemState]], None] | None = None,
) -> RolloutState:
    """The state to run: resumed from ``path``, or new (``items()`` is called only then).

    ``prepare(todo)`` sees the items that may run (a resumed rollout's not done yet) before the
    state is written: what it raises (e.g. :func:`rollout_bundles`) leaves no state behind.
    A stopped rollout is never started over silently: without ``resume`` it is a Conflict."""
    if resume:
        st = load_state(path)
        if st.key != key:
            raise InvalidInput(f"{path}: holds rollout {st.key}, not {key}")
        if canary is not None and canary != st.canary:
            raise InvalidInput(f"--canary {canary}: this rollout's canary is {st.canary}; resume keeps it")
        if prepare is not None:
            prepare([i for i in st.items if i.status not in ("done", "skipped")])
        st.runs += 1
        st.batch_size, st.max_failures = batch_size, max_failures
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
    if prepare is not None:
        prepare(todo)
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
    "RolloutBundle",
    "args_key",
    "items_of",
    "make_step",
    "outcome_of",
    "plan_key",
    "rollout_bundles",
    "run_one",
    "run_rollout",
    "start_or_resume",
    "state_path",
]
