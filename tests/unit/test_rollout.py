"""Rollout logic (canary, batches, failure budget, interrupts, resume) on a fake per-target step."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from spbe_share.errors import Cancelled, InvalidInput, RemoteFailed
from spbe_share.fleet.rollout import (
    ItemState,
    Rollout,
    StepOutcome,
    batches,
    load_state,
    new_state,
    summary,
)

NAMES = [f"t{i:02d}" for i in range(10)]


class FakeStep:
    """Upgrades a target unless it is in ``fail``; records order and concurrency."""

    def __init__(self, fail: set[str] = frozenset(), delay: float = 0.02) -> None:  # type: ignore[assignment]
        self.fail = set(fail)
        self.delay = delay
        self.calls: list[str] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, item: ItemState) -> StepOutcome:
        with self.lock:
            self.calls.append(item.target)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay)
            if item.target in self.fail:
                raise RemoteFailed(f"{item.target}: health check failed; rolled back to 1.0.0, serving")
            return StepOutcome(version=item.to_version, result="upgraded", from_version="1.0.0")
        finally:
            with self.lock:
                self.active -= 1


def items(names: list[str] = NAMES) -> list[ItemState]:
    return [ItemState(target=n, app="pengaduan", to_version="1.1.0") for n in names]


def run(tmp_path: Path, step: FakeStep, *, canary: str | None = None, batch_size: int = 3, max_failures: int = 0,
        names: list[str] = NAMES):  # noqa: ANN202
    state = new_state(items(names), key="k", canary=canary, batch_size=batch_size, max_failures=max_failures)
    path = tmp_path / "plan.state.json"
    return Rollout(state, path=path, step=step).run(), path


def test_batches() -> None:
    assert batches(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert batches([], 3) == []


def test_all_good(tmp_path: Path) -> None:
    step = FakeStep(delay=0.05)
    state, path = run(tmp_path, step, canary="t05", batch_size=4)
    assert state.finished and state.stopped is None
    assert step.calls[0] == "t05"  # the canary first, alone
    assert sorted(step.calls) == NAMES
    assert step.max_active == 4  # batches run in parallel, never more than batch_size
    assert {i.status for i in state.items} == {"done"}
    canary = next(i for i in state.items if i.target == "t05")
    assert canary.phase == "canary" and canary.batch is None
    assert [i.batch for i in state.items if i.target != "t05"] == [1, 1, 1, 1, 2, 2, 2, 2, 3]
    assert load_state(path) == state  # the state file says the same
    assert summary(state)["done"] == 10


def test_a_failed_canary_stops_the_rollout(tmp_path: Path) -> None:
    step = FakeStep(fail={"t03"})
    state, _ = run(tmp_path, step, canary="t03", max_failures=5)
    assert step.calls == ["t03"]
    assert "canary t03 failed" in (state.stopped or "")
    c = next(i for i in state.items if i.target == "t03")
    assert c.status == "failed" and c.exit_code == 8 and "rolled back" in (c.error or "")
    assert all(i.status == "pending" for i in state.items if i.target != "t03")
    assert not state.finished


def test_failure_budget_stops_new_batches(tmp_path: Path) -> None:
    # batch 1 = t00 t01 t02 (t01 fails: 1 <= 1 allowed), batch 2 = t03 t04 t05 (t04 fails: 2 > 1)
    step = FakeStep(fail={"t01", "t04"})
    state, _ = run(tmp_path, step, batch_size=3, max_failures=1)
    assert sorted(step.calls) == ["t00", "t01", "t02", "t03", "t04", "t05"]  # batch 2 finished whole
    assert "2 failure(s) in this run, more than --max-failures 1" in (state.stopped or "")
    by = {i.target: i.status for i in state.items}
    assert [n for n, s in by.items() if s == "failed"] == ["t01", "t04"]
    assert [n for n, s in by.items() if s == "pending"] == ["t06", "t07", "t08", "t09"]


def test_zero_budget_and_exactly_at_budget(tmp_path: Path) -> None:
    state, _ = run(tmp_path / "a", FakeStep(fail={"t00"}), batch_size=5, max_failures=0)
    assert state.stopped and sum(i.status == "pending" for i in state.items) == 5
    state, _ = run(tmp_path / "b", FakeStep(fail={"t00", "t07"}), batch_size=5, max_failures=2)
    assert state.stopped is None and not state.finished  # all ran; two failed, within the budget
    assert sum(i.status == "done" for i in state.items) == 8


def test_resume_skips_done_and_reruns_the_rest(tmp_path: Path) -> None:
    step = FakeStep(fail={"t04"})
    state, path = run(tmp_path, step, canary="t00", batch_size=4, max_failures=0)
    assert state.stopped and sum(i.status == "done" for i in state.items) == 4  # canary + t01 t02 t03
    # the CLI was killed while t05 ran: it is "running" in the state file
    st = load_state(path)
    next(i for i in st.items if i.target == "t05").status = "running"
    step2 = FakeStep()
    resumed = Rollout(st, path=path, step=step2).run()
    assert sorted(step2.calls) == ["t05", "t06", "t07", "t08", "t09"]  # not the canary, not t04 (failed)
    assert resumed.stopped is None and not resumed.finished  # t04 still failed
    step3 = FakeStep()
    again = Rollout(load_state(path), path=path, step=step3, retry_failed=True).run()
    assert step3.calls == ["t04"] and again.finished
    t04 = next(i for i in again.items if i.target == "t04")
    assert t04.attempts == 2 and t04.error is None


def test_interrupt_reaches_the_batch_and_stops(tmp_path: Path) -> None:
    state = new_state(items(), key="k", canary=None, batch_size=3, max_failures=9)
    path = tmp_path / "s.json"
    ro: Rollout

    def step(item: ItemState) -> StepOutcome:
        if item.target == "t01":
            ro.cancel_requested = True
            raise Cancelled("stopped by SIGINT during 'Health: wait'; t01 cleaned up")
        return StepOutcome(version="1.1.0", result="upgraded")

    ro = Rollout(state, path=path, step=step)
    out = ro.run()
    assert out.stopped and "interrupted" in out.stopped
    by = {i.target: i.status for i in out.items}
    assert by["t01"] == "cancelled" and by["t00"] == by["t02"] == "done" and by["t03"] == "pending"
    resumed = Rollout(load_state(path), path=path, step=FakeStep()).run()
    assert resumed.finished  # the cancelled target runs again on resume


def test_a_bug_in_one_step_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    def step(item: ItemState) -> StepOutcome:
        if item.target == "t02":
            raise KeyError("boom")
        return StepOutcome(version="1.1.0", result="upgraded")

    state, _ = run(tmp_path, step, batch_size=5, max_failures=3)  # type: ignore[arg-type]
    t02 = next(i for i in state.items if i.target == "t02")
    assert t02.status == "failed" and "internal error: KeyError" in (t02.error or "") and t02.exit_code == 1


def test_bad_rollouts(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="twice"):
        new_state(items(["a", "a"]), key="k", canary=None, batch_size=1, max_failures=0)
    with pytest.raises(InvalidInput, match="--canary zz"):
        new_state(items(["a"]), key="k", canary="zz", batch_size=1, max_failures=0)
    with pytest.raises(InvalidInput, match="no state to resume"):
        load_state(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"schema_version": 2}')
    with pytest.raises(InvalidInput, match="not a rollout state file"):
        load_state(tmp_path / "bad.json")


def test_resume_after_a_failed_canary_stops_again_until_it_is_retried(tmp_path: Path) -> None:
    state, path = run(tmp_path, FakeStep(fail={"t03"}), canary="t03", max_failures=5)
    again = FakeStep()
    state = Rollout(load_state(path), path=path, step=again).run()
    assert again.calls == [] and "retry-failed" in (state.stopped or "")  # no batch behind a failed canary
    fixed = FakeStep()
    state = Rollout(load_state(path), path=path, step=fixed, retry_failed=True).run()
    assert fixed.calls[0] == "t03" and sorted(fixed.calls) == NAMES and state.finished


def test_a_failure_keeps_its_details(tmp_path: Path) -> None:
    from spbe_share.errors import PreflightFailed

    def step(item: ItemState) -> StepOutcome:
        raise PreflightFailed(f"{item.target} does not meet the requirements", details=["  port 8091: in use"])

    state = Rollout(new_state(items(["a"]), key="k", canary=None, batch_size=1, max_failures=0),
                    path=tmp_path / "s.json", step=step).run()  # fmt: skip
    assert state.items[0].error == "a does not meet the requirements; port 8091: in use"
    assert state.items[0].exit_code == 5
