"""Rolling an operation out over many targets: canary, batches, a failure budget, resume.

This module knows nothing of upgrades: :func:`rollout` runs a per-target ``step`` (for
``fleet upgrade`` it is the data-safe ``upgrade`` of one target, with its own backup, health
gate and automatic rollback) over the items of a plan::

    canary (alone)  ->  batch 1 (up to batch_size targets at once)  ->  batch 2  ->  ...

- A failed canary stops the rollout: no batch starts.
- After each batch, when the failures of this run exceed ``max_failures``, no new batch starts
  (the batch in flight always finishes: a target is never abandoned mid-upgrade).
- An interrupt (SIGINT/SIGTERM) reaches every target in flight (each cleans up as a single
  upgrade would), and no new target starts.
- The state file (JSON, rewritten atomically after every change) says what happened to each
  target. ``resume=True`` continues from it: targets already ``done`` are skipped, targets that
  were ``running`` when the CLI died, ``cancelled`` or never started are run; ``failed`` ones
  only with ``retry_failed``. The failure budget counts the failures of this run. A canary
  that is not done stops every run (a resumed one too) before any batch.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.models import SEMVER, SLUG
from ..errors import Cancelled, InvalidInput, SpbeError
from ..files import atomic_write_text
from ..outside import loads_json

Status = Literal["pending", "running", "done", "failed", "cancelled", "skipped"]
Phase = Literal["canary", "batch"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemState(_Strict):
    """What happened to one target."""

    target: str = Field(pattern=SLUG)
    app: str = Field(pattern=SLUG)
    to_version: str = Field(pattern=SEMVER)
    status: Status = "pending"
    phase: Phase | None = None
    batch: int | None = None
    from_version: str | None = None
    version: str | None = None  # what serves after the step, as the step reported it
    result: str | None = None  # the step's own word: "upgraded", "already at 1.1.0", "rolled back", ...
    error: str | None = None
    exit_code: int | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    seconds: float | None = None
    attempts: int = 0


class RolloutState(_Strict):
    """The state file next to a plan (``<plan>.state.json``)."""

    schema_version: Literal[1] = 1
    key: str = Field(min_length=1, description="what is rolled out (plan digest or app/version/selector)")
    operation: str = "upgrade"
    canary: str | None = None
    batch_size: int = Field(ge=1)
    max_failures: int = Field(ge=0)
    started: dt.datetime
    updated: dt.datetime
    finished: bool = False
    stopped: str | None = None  # why the last run stopped early
    runs: int = 1
    items: list[ItemState]


@dataclass(frozen=True)
class StepOutcome:
    """What a step reports for one target (it raises :class:`SpbeError` when it failed)."""

    version: str | None
    result: str
    from_version: str | None = None


Step = Callable[[ItemState], StepOutcome]
Event = Callable[[str, ItemState | None], None]


def _told(exc: SpbeError) -> str:
    """The error as the operator would read it: the message and its detail lines."""
    return "; ".join([exc.message, *(d.strip() for d in exc.details if d.strip())])[:1000]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_state(path: Path) -> RolloutState:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no state to resume from (it is written by the first run)") from None
    try:
        return RolloutState.model_validate(loads_json(raw))
    except (ValueError, ValidationError) as exc:  # OutsideJSONError is a ValueError: no RecursionError
        raise InvalidInput(f"{path}: not a rollout state file: {str(exc).splitlines()[0][:200]}") from None


def save_state(path: Path, state: RolloutState) -> None:
    atomic_write_text(path, state.model_dump_json(indent=2) + "\n", mode=0o600)


def new_state(
    items: Sequence[ItemState], *, key: str, canary: str | None, batch_size: int, max_failures: int,
    operation: str = "upgrade",
) -> RolloutState:
    names = [i.target for i in items]
    if len(set(names)) != len(names):
        raise InvalidInput("a target appears twice in the rollout; one operation per target at a time")
    if canary is not None and canary not in names:
        raise InvalidInput(f"--canary {canary}: not one of the targets of this rollout ({', '.join(names)})")
    now = _now()
    return RolloutState(key=key, operation=operation, canary=canary, batch_size=batch_size,
                        max_failures=max_failures, started=now, updated=now,
                        items=[i.model_copy() for i in items])  # fmt: skip


def batches(names: Sequence[str], size: int) -> list[list[str]]:
    return [list(names[i : i + size]) for i in range(0, len(names), size)]


class Rollout:
    """One run of a rollout over a state (thread-safe bookkeeping, atomic state file)."""

    def __init__(self, state: RolloutState, *, path: Path, step: Step, event: Event | None = None,
                 retry_failed: bool = False) -> None:  # fmt: skip
        self.state = state
        self.path = path
        self.step = step
        self.event = event or (lambda _kind, _item: None)
        self.retry_failed = retry_failed
        self.lock = threading.Lock()
        self.failures = 0
        self.cancel_requested = False
        self.by_target = {i.target: i for i in state.items}

    # -- bookkeeping
    def _save(self) -> None:
        self.state.updated = _now()
        save_state(self.path, self.state)

    def _to_run(self, item: ItemState) -> bool:
        if item.status in ("done", "skipped"):
            return False
        if item.status == "failed":
            return self.retry_failed
        return True  # pending, running (the CLI died), cancelled

    def _run_one(self, item: ItemState, phase: Phase, batch: int | None) -> None:
        with self.lock:
            item.status, item.phase, item.batch = "running", phase, batch
            item.started, item.finished, item.seconds = _now(), None, None
            item.error = item.exit_code = item.result = None
            item.attempts += 1
            self._save()
        self.event("start", item)
        t0 = time.monotonic()
        try:
            out = self.step(item)
        except Cancelled as exc:
            self._finish(item, "cancelled", t0, error=_told(exc), code=int(exc.exit_code))
        except SpbeError as exc:
            self._finish(item, "failed", t0, error=_told(exc), code=int(exc.exit_code))
        except Exception as exc:  # a bug in one target's step must not strand the others
            self._finish(item, "failed", t0, error=f"internal error: {type(exc).__name__}: {exc}"[:500], code=1)
        else:
            with self.lock:
                item.version, item.result = out.version, out.result
                if out.from_version:
                    item.from_version = out.from_version
            self._finish(item, "done", t0)

    def _finish(self, item: ItemState, status: Status, t0: float, *, error: str | None = None,
                code: int | None = None) -> None:  # fmt: skip
        with self.lock:
            item.status, item.error, item.exit_code = status, error, code
            item.finished, item.seconds = _now(), round(time.monotonic() - t0, 2)
            if status == "failed":
                self.failures += 1
            self._save()
        self.event(status, item)

    def _run_batch(self, names: list[str], phase: Phase, batch: int | None) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(names)), thread_name_prefix="rollout") as pool:
            futures = [pool.submit(self._run_one, self.by_target[n], phase, batch) for n in names]
            pending: set[Future[None]] = set(futures)
            while pending:  # short waits: the main thread stays free to take a signal
                _done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for f in futures:
                f.result()

    # -- the run
    def run(self) -> RolloutState:
        st = self.state
        st.stopped = None
        canary = self.by_target.get(st.canary) if st.canary else None
        if canary is not None and self._to_run(canary):
            self.event("canary", canary)
            self._run_batch([canary.target], "canary", None)
        if canary is not None and canary.status not in ("done", "skipped"):
            # also on resume: a canary that failed before stops the rollout until it is done
            return self._stop(f"the canary {canary.target} {canary.status}: no batch started"
                              + ("" if self._to_run(canary) else " (--resume --retry-failed runs it again)"))
        rest = [i.target for i in st.items if i is not canary and self._to_run(i)]
        for n, names in enumerate(batches(rest, st.batch_size), 1):
            if self.cancel_requested:
                return self._stop("interrupted: no new batch started")
            self.event("batch", None)
            self._run_batch(names, "batch", n)
            if any(self.by_target[x].status == "cancelled" for x in names):
                return self._stop("interrupted: no new batch started")
            if self.failures > st.max_failures:
                return self._stop(
                    f"{self.failures} failure(s) in this run, more than --max-failures {st.max_failures}:"
                    " no new batch started"
                )
        with self.lock:
            left = [i for i in st.items if i.status in ("pending", "running", "cancelled")]
            st.finished = not left and not any(i.status == "failed" for i in st.items)
            self._save()
        return st

    def _stop(self, why: str) -> RolloutState:
        with self.lock:
            self.state.stopped = why
            self.state.finished = False
            self._save()
        self.event("stopped", None)
        return self.state


def summary(state: RolloutState) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for i in state.items:
        counts[i.status] = counts.get(i.status, 0) + 1
    return {"targets": len(state.items), **dict(sorted(counts.items())), "stopped": state.stopped,
            "finished": state.finished}  # fmt: skip


__all__ = [
    "ItemState",
    "Rollout",
    "RolloutState",
    "StepOutcome",
    "batches",
    "load_state",
    "new_state",
    "save_state",
    "summary",
]
