"""The operations core with real ansible-playbook runs on the built-in ``local`` target.

A test repository root holds a slow playbook (takes the real lock, then sleeps) next to the
real ``cancel.yml`` and ``library/``; an operation written on the core runs it. No Docker, no
SSH: what is tested is the core (audit, lock, cleanup after SIGINT/SIGTERM, processes).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spbe_share.errors import Cancelled, ExitCode, Locked, RemoteFailed
from spbe_share.ops import checks, context, core
from spbe_share.records import state
from spbe_share.remote.interrupts import interrupts, processes_with
from spbe_share.targets.inventory import get_target
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

SLOW = """---
- name: A slow operation under the lock (test)
  hosts: "{{ spbe_target }}"
  gather_facts: false
  tasks:
    - name: "Lock: take the lock"
      spbe_lock:
        path: "{{ spbe_root }}/locks/{{ spbe_app }}.lock"
        owner: "{{ spbe_lock_owner }}"
        force: "{{ spbe_break_lock | bool }}"
    - name: Work under the lock
      block:
        - name: "Work: say it started"
          ansible.builtin.copy:
            content: "started\\n"
            dest: "{{ spbe_root }}/started"
            mode: "0644"
        - name: "Work: sleep"
          ansible.builtin.command:
            argv: [sleep, "{{ spbe_sleep }}"]
          changed_when: false
        - name: "Work: publish"
          ansible.builtin.set_stats:
            per_host: true
            data:
              spbe_slow: {done: true, marker: "{{ spbe_sleep }}"}
      always:
        - name: "Lock: release the lock"
          spbe_lock:
            path: "{{ spbe_root }}/locks/{{ spbe_app }}.lock"
            owner: "{{ spbe_lock_owner }}"
            state: absent
"""


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    repo = tmp_path / "repo"
    (repo / "playbooks").mkdir(parents=True)
    shutil.copytree(REPO / "playbooks" / "library", repo / "playbooks" / "library")
    shutil.copytree(REPO / "playbooks" / "module_utils", repo / "playbooks" / "module_utils")  # what they import
    shutil.copy(REPO / "playbooks" / "cancel.yml", repo / "playbooks" / "cancel.yml")
    (repo / "playbooks" / "slow.yml").write_text(SLOW)
    root = tmp_path / "target-root"
    monkeypatch.setenv("SPBE_SHARE_LOCAL_ROOT", str(root))
    ws = Workspace.from_options(tmp_path / "ws", root=repo)
    yield {"ws": ws, "root": root}


def _op(ctx: context.OpContext, *, sleep: str, lock: state.LockOwner | None = None) -> dict[str, Any]:
    """A minimal operation on the core: checks, then the slow playbook under the lock."""
    with core.operation(ctx, name="slow", app="demo", target="local") as op:
        target = checks.checked_target(ctx, "local")
        lock = lock or core.new_lock(ctx, operation="slow demo")
        attempt = core.Attempt(
            path=state.attempt_path(target.root, "demo", stamp=state.stamp(ctx.now), version="1.0.0"),
            record={"app": "demo", "version": "1.0.0", "result": "ok"},
        )
        run = core.run_locked(
            ctx, op, playbook="slow.yml", target=target,
            extravars={"spbe_target": "local", "spbe_root": target.root, "spbe_app": "demo", "spbe_sleep": sleep},
            lock=lock, attempt=attempt,
        )
        from pydantic import BaseModel

        class Slow(BaseModel):
            done: bool
            marker: str

        data = core.host_data(run, target="local", key="spbe_slow", model=Slow)
        op.note(marker=data.marker)
        return {"run": run, "data": data}


def _audit(ws: Workspace) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ws.audit_log.read_text().splitlines()]


def _signal_when(path: Path, sig: int, *, running: str | None = None, delay: float = 0.3,
                 timeout: float = 60) -> threading.Thread:  # fmt: skip
    """Send ``sig`` to this process once ``path`` exists and, if given, a process whose command
    line holds ``running`` runs (the task is under way, not only about to start), plus ``delay``."""

    def fire() -> None:
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        while running is not None and not processes_with(running) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        os.kill(os.getpid(), sig)

    t = threading.Thread(target=fire, daemon=True)
    t.start()
    return t


def test_ok_run_is_audited_once_and_releases_the_lock(setup: dict[str, Any]) -> None:
    ws, root = setup["ws"], setup["root"]
    ctx = context.OpContext.create(ws)
    got = _op(ctx, sleep="0")
    assert got["data"].done is True
    assert not (root / "locks" / "demo.lock").exists()
    lines = _audit(ws)
    assert [(a["what"], a["result"]) for a in lines] == [("slow", "ok")]
    assert lines[0]["details"]["marker"] == "0"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_playbook_stops_it_and_cleans_the_target(setup: dict[str, Any], sig: int) -> None:
    ws, root = setup["ws"], setup["root"]
    marker = f"{4000 + sig}.{os.getpid()}"  # a unique sleep argument: find the process by it
    ctx = context.OpContext.create(ws)
    _signal_when(root / "started", sig, running=f"sleep {marker}")  # under load 0.3 s after "started" was too soon
    t0 = time.monotonic()
    with pytest.raises(Cancelled) as err:
        _op(ctx, sleep=marker)
    elapsed = time.monotonic() - t0
    assert err.value.exit_code == ExitCode.CANCELLED == 12
    assert f"stopped by {signal.Signals(sig).name} during 'Work: sleep'" in err.value.message
    assert "lock released" in err.value.message and "attempt recorded as cancelled" in err.value.message
    assert elapsed < 60, "the playbook ran on after the signal"
    # the target: lock free, the attempt recorded as cancelled
    assert not (root / "locks" / "demo.lock").exists()
    records = list((root / "apps" / "demo" / "releases").glob("*.json"))
    assert len(records) == 1
    rec = json.loads(records[0].read_text())
    assert rec["result"] == "cancelled" and "Work: sleep" in rec["message"]
    # nothing left running: no ansible-playbook of this workspace, no sleep of this test
    time.sleep(0.5)
    assert processes_with(str(ws.runs_dir)) == []
    assert processes_with(f"sleep {marker}") == []
    # one audit line, saying cancelled
    lines = _audit(ws)
    assert [(a["what"], a["result"]) for a in lines] == [("slow", "cancelled")]
    assert lines[0]["details"]["stopped_at"] == "Work: sleep"


def test_cleanup_leaves_another_operations_lock_alone(setup: dict[str, Any]) -> None:
    ws, root = setup["ws"], setup["root"]
    ctx = context.OpContext.create(ws)
    ours = core.new_lock(ctx, operation="slow demo")
    other = ours.model_copy(update={"who": "budi@laptop-lain", "token": "someone-else"})
    lock = root / "locks" / "demo.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps(other.model_dump()))
    with pytest.raises(Locked, match="budi@laptop-lain"):
        _op(ctx, sleep="0", lock=ours)
    assert json.loads(lock.read_text())["token"] == "someone-else"
    assert [a["result"] for a in _audit(ws)] == ["refused: locked"]


def test_signal_during_checks_cancels_before_anything_changed(setup: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ws, root = setup["ws"], setup["root"]
    ctx = context.OpContext.create(ws)
    real = checks.checked_target

    def slow_check(c: context.OpContext, name: str) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the checks run
        time.sleep(0.2)
        return real(c, name)

    monkeypatch.setattr(checks, "checked_target", slow_check)
    with interrupts(ctx.cancel), pytest.raises(Cancelled, match="before anything changed"):
        _op(ctx, sleep="0")
    assert not root.exists() or not any(root.rglob("*"))
    assert [a["result"] for a in _audit(ws)] == ["cancelled"]


def test_invalid_data_from_the_target_is_refused(setup: dict[str, Any]) -> None:
    ws = setup["ws"]
    ctx = context.OpContext.create(ws)
    with pytest.raises(RemoteFailed, match="invalid spbe_slow data: marker"):
        with core.operation(ctx, name="slow", app="demo", target="local") as op:
            target = get_target(ws, "local")
            run = core.run_locked(
                ctx, op, playbook="slow.yml", target=target,
                extravars={"spbe_target": "local", "spbe_root": target.root, "spbe_app": "demo", "spbe_sleep": "0"},
                lock=core.new_lock(ctx, operation="x"), attempt=core.Attempt(path="/nonexistent", record={}),
            )
            run.stats["local"]["spbe_slow"]["marker"] = ["not", "a", "string"]
            from pydantic import BaseModel

            class Slow(BaseModel):
                model_config = {"extra": "forbid"}
                done: bool
                marker: str

            core.host_data(run, target="local", key="spbe_slow", model=Slow)
    assert [a["result"] for a in _audit(ws)] == ["failed: remote_failed"]


@pytest.mark.parametrize("where", ["before-the-playbook", "preparing-the-run", "before-its-process"])
def test_a_signal_on_the_way_into_the_playbook_is_never_lost(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                             where: str) -> None:
    """Issue 17 finding 11: a real SIGINT lands after run_locked's check, before the playbook
    runs: while the lease keeper starts (signals deferred), while run_playbook writes the run
    folder (before it watches), or once it watches but before ansible-playbook exists. It was
    noted and then lost: the playbook ran to its end. Now it ends as a cancelled attempt (exit
    12), the lock free, well before the playbook's 45 s of work would have ended."""
    import ansible_runner

    from spbe_share.remote import lease, runner
    from spbe_share.remote.interrupts import CancelToken

    ws, root = setup["ws"], setup["root"]
    ctx = context.OpContext.create(ws, cancel=CancelToken(grace_s=600))  # no hard kill: only the SIGINT can stop it
    sent: list[str] = []

    def once(real: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not sent:  # the first run only (not the cleanup's)
                sent.append(where)
                os.kill(os.getpid(), signal.SIGINT)
            return real(*args, **kwargs)

        return wrapped

    if where == "before-the-playbook":
        monkeypatch.setattr(lease.LeaseKeeper, "__enter__", once(lease.LeaseKeeper.__enter__))
    elif where == "preparing-the-run":
        monkeypatch.setattr(runner, "ansible_env", once(runner.ansible_env))
    else:
        monkeypatch.setattr(ansible_runner, "run", once(ansible_runner.run))
    marker = f"45.{os.getpid()}{len(where)}"  # the playbook's sleep, found by its argument
    t0 = time.monotonic()
    with interrupts(ctx.cancel), pytest.raises(Cancelled) as err:
        _op(ctx, sleep=marker)
    assert sent == [where]
    assert err.value.exit_code == ExitCode.CANCELLED
    assert time.monotonic() - t0 < 45, "the playbook ran on after the signal"
    assert not (root / "locks" / "demo.lock").exists()
    if where == "before-the-playbook":
        assert "before its playbook started" in err.value.message and not (root / "started").exists()
    elif "lock released" in err.value.message:  # stopped once it held the lock: the attempt says so
        records = list((root / "apps" / "demo" / "releases").glob("*.json"))
        assert [json.loads(r.read_text())["result"] for r in records] == ["cancelled"]
    time.sleep(0.5)
    assert processes_with(str(ws.runs_dir)) == [] and processes_with(f"sleep {marker}") == []
    assert [(a["what"], a["result"]) for a in _audit(ws)] == [("slow", "cancelled")]


def test_an_operation_on_the_server_holds_its_own_lock_with_its_lease_renewed(
        setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: provisioning runs on the core with its own lock file (no app): run_locked takes
    ``lock_file``, renews that lock's lease while the playbook runs (its hand-made lock never was)
    and the audit line has no app."""
    ws, root = setup["ws"], setup["root"]
    monkeypatch.setenv("SPBE_SHARE_LEASE_S", "10")  # renewed every 2.5 s
    (ws.root / "playbooks" / "server.yml").write_text(
        SLOW.replace("{{ spbe_root }}/locks/{{ spbe_app }}.lock", "{{ spbe_lock_path }}"))
    lock_file = root / "locks" / "_provision.lock"
    seen: set[float] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                seen.add(lock_file.stat().st_mtime)
            except FileNotFoundError:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    ctx = context.OpContext.create(ws)
    try:
        with core.operation(ctx, name="provision", app=None, target="local") as op:
            target = checks.checked_target(ctx, "local")
            run = core.run_locked(
                ctx, op, playbook="server.yml", target=target, lock=core.new_lock(ctx, operation="provision local"),
                extravars={"spbe_target": "local", "spbe_root": target.root, "spbe_app": "server", "spbe_sleep": "7",
                           "spbe_lock_path": str(lock_file)},
                attempt=None, lock_file=str(lock_file),
            )
    finally:
        done.set()
        watcher.join()
    assert run.ok and not lock_file.exists()
    assert len(seen) >= 2, "the lease of the lock was never renewed"
    (line,) = _audit(ws)
    assert (line["what"], line["where"], line["result"]) == ("provision", "local", "ok") and "app" not in line.get("details", {})
