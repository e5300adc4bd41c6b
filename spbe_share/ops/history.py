"""``spbe-share history`` and ``spbe-share unlock``: read from the target, validated as untrusted.

History: every attempt the target recorded (``releases/*.json``: install, upgrade, rollback;
result, cause, who, when, from which host, bundle digest, backup id), the last journal (an
unfinished one says where it stopped) and the lock (holder, lease, stale). A record that does
not validate is shown as unreadable, never used.

Unlock: breaks the lock only when its lease ran out (its holder is gone) or with ``force``;
removes exactly the lock that was reported (its token), and the audit log records it with the
reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput, Locked, NotFound
from ..records import state
from ..records.appstate import AppState
from ..remote.outcome import raise_for_run
from .checks import checked_target, read_state, require_slug
from .context import OpContext
from .core import operation


def history_rows(st: AppState) -> list[dict[str, Any]]:
    """One row per attempt, oldest first (pure)."""
    rows: list[dict[str, Any]] = []
    for name, r in st.releases:
        rows.append({
            "attempt": name, "when": r.when, "operation": r.operation or "install",
            "from": r.from_version or (r.previous.version if r.previous else None), "version": r.version,
            "result": r.result, "cause": r.message, "who": r.who, "host": r.host, "bundle_digest": r.bundle_digest,
            "backup": r.backup, "migrates_data": r.migrates_data,
        })
    for u in st.unreadable:
        rows.append({"attempt": u.name, "when": None, "operation": None, "from": None, "version": None,
                     "result": "unreadable", "cause": u.why, "who": None, "host": None, "bundle_digest": None,
                     "backup": None, "migrates_data": None})
    return rows


@dataclass
class History:
    app: str
    target: str
    rows: list[dict[str, Any]]
    current: str | None
    journal: dict[str, Any] | None
    journal_problem: str | None
    lock: str | None
    lock_stale: bool

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "current": self.current, "attempts": self.rows,
                "journal": self.journal, "journal_problem": self.journal_problem, "lock": self.lock,
                "lock_stale": self.lock_stale}


def history(ctx: OpContext, *, app: str, target_name: str) -> History:
    require_slug(app, what="app")
    target = checked_target(ctx, target_name)
    st = read_state(ctx, target=target, app=app)
    j = st.journal
    journal = None
    if j is not None:
        journal = {"id": j.id, "operation": j.operation, "from": j.from_.version, "to": j.to.version, "state": j.state,
                   "cause": j.cause, "steps": j.step_names, "backup": j.backup, "who": j.who, "host": j.host,
                   "started": j.started, "downtime_s": j.downtime_s()}
    return History(
        app=app, target=target.name, rows=history_rows(st), current=st.current.version if st.current else None,
        journal=journal, journal_problem=st.journal_problem,
        lock=st.lock.describe() if st.lock else st.lock_problem, lock_stale=bool(st.lock and st.lock.stale),
    )


def unlock(ctx: OpContext, *, app: str, target_name: str, reason: str, force: bool = False) -> str:
    """Break the lock of ``app`` on the target (stale, or ``force``); returns what was broken."""
    from ..remote.runner import run_playbook

    reason = reason.strip()
    if not reason:
        raise InvalidInput("--reason: say why the lock is broken (it goes to the audit log)")
    with operation(ctx, name="unlock", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name)
        st = read_state(ctx, target=target, app=app)
        op.note(reason=reason[:500])
        if st.lock is None:
            if st.lock_problem:
                raise InvalidInput(f"{st.lock_problem}: remove {state.lock_path(target.root, app)} by hand")
            raise NotFound(f"{app} on {target.name} is not locked")
        holder = st.lock.holder
        op.note(holder=holder.model_dump(mode="json"), stale=st.lock.stale)
        if not st.lock.stale and not force:
            raise Locked(f"{target.name}: {app} is locked by {st.lock.describe()}",
                         details=["its lease is still being renewed: the operation is alive; --force breaks it anyway"])
        op.started = True
        run = run_playbook(
            ctx.ws, op="unlock", target=target.name, app=app, playbook="cancel.yml", targets=[target],
            extravars={"spbe_target": target.name, "spbe_lock_path": state.lock_path(target.root, app),
                       "spbe_lock_owner": holder.model_dump(mode="json"), "spbe_attempt_path": "",
                       "spbe_attempt": {}, "spbe_cancel_message": "", "spbe_record_attempt": False},
            cancel=ctx.cancel, interruptible=False,
        )
        raise_for_run(run, target.name, "unlock", app=app)
        released = bool(run.stats.get(target.name, {}).get("spbe_cancel", {}).get("released"))
        if not released:
            raise Locked(f"{target.name}: the lock of {app} changed hands while unlocking; nothing was broken")
        op.result = "ok: lock broken"
        return st.lock.describe()


__all__ = ["History", "history", "history_rows", "unlock"]
