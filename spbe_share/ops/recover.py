"""Finish an upgrade or rollback whose controller died, by undoing it (``playbooks/recover.yml``).

``upgrade`` and ``rollback`` read the target's journal first. When it holds an unfinished
operation (``state: running``):

* its lock is still renewed (lease alive): another controller is running it: Locked (exit 7),
  naming the holder and when the lease expires;
* otherwise (lease run out, or no lock): :func:`spbe_share.records.journal.resume_plan` says what is left to do,
  and this module does it under a lock that takes over the dead one (its token is in the
  journal): ``abandon`` (nothing had stopped) closes the journal; ``restart-old`` starts the
  release that served before; ``undo`` (the new release may have changed the data) restores the
  backup taken before anything stopped, then starts the release that served before. The dead
  attempt is recorded as ``interrupted`` with what was done, and the command stops with
  :class:`~spbe_share.errors.RolledBack` (exit 13): the operator sees it and runs it again.

An upgrade that had already started its new release is undone rather than finished: whatever
the new release did since is not known, and "the old version serving with its data" is the
one outcome that is always safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Locked, RemoteFailed, RolledBack
from ..records import state
from ..records.journal import resume_plan
from .context import OpContext
from .core import Attempt, Operation, new_lock, run_locked

if TYPE_CHECKING:
    from ..plans.placement import HostPart
    from ..records.appstate import AppState
    from ..records.deployspec import DeploySpec
    from ..targets.inventory import Target


def recover_if_needed(ctx: OpContext, op: Operation, *, target: Target, st: AppState, command: str,
                      dry_run: bool = False) -> None:
    """Undo the unfinished operation ``st.journal`` names, if any (see the module docstring).
    Returns only when there was nothing to undo (``st`` still holds); an undo ends in
    :class:`RolledBack` (exit 13)."""
    j = st.journal
    if st.journal_problem:
        raise RemoteFailed(st.journal_problem, details=["the journal says how far the last upgrade got; look at it"
                                                        " (and at `spbe-share history`) before going on"])
    if j is None or j.state != "running":
        return
    if st.lock is not None and not st.lock.stale and st.lock.holder.token != j.lock_token:
        raise Locked(f"{target.name}: {st.app} is locked by {st.lock.describe()}")
    if st.lock is not None and not st.lock.stale:
        raise Locked(
            f"{target.name}: {j.operation} {j.from_.version} -> {j.to.version} of {st.app} is still running"
            f" ({st.lock.describe()})",
            details=["if its controller is dead, the lease runs out by itself; run the command again then"],
        )
    plan = resume_plan(j, command="upgrade" if command == "upgrade" else "rollback")
    action = "undo" if plan.action == "finish" else plan.action
    if dry_run:
        raise RemoteFailed(f"{target.name}: {plan.why}", details=["run the command without --dry-run to recover it"])
    ctx.say(f"recovering an interrupted {j.operation} of {st.app} on {target.name}: {plan.why}")
    back = st.deploy(j.from_.deploy, what=f"{st.app} {j.from_.version}")
    current = st.current
    if current is None:
        raise RemoteFailed(f"{target.name}: {st.app} has no current release record; recover it by hand")
    cause = f"interrupted (the controller died or its connection was cut): {plan.why}"
    attempt = current.model_copy(update={
        "version": j.to.version, "bundle_digest": j.to.bundle_digest, "who": j.who, "when": j.started,
        "result": "interrupted", "message": cause[:2000], "operation": j.operation, "host": j.host,
        "backup": j.backup, "from_version": j.from_.version, "deploy": None, "migrates_data": j.migrates_data,
    })
    attempt_path = f"{state.app_dir(target.root, st.app)}/releases/{j.attempt}.json"
    lock = new_lock(ctx, operation=f"recover {j.operation} {st.app} {j.from_.version} -> {j.to.version}")
    extravars = {
        "spbe_target": target.name, "spbe_root": target.root, "spbe_app": st.app,
        "spbe_lock_takeover": j.lock_token, "spbe_journal_id": j.id, "spbe_action": action,
        "spbe_back": back.playbook_vars(), "spbe_back_version": back.version,
        "spbe_back_current": back.playbook_vars()["spbe_containers"],
        "spbe_back_restore": (plan.restore or "") if action == "undo" else "",
        "spbe_attempt_path": attempt_path, "spbe_attempt": attempt.model_dump(mode="json"), "spbe_cause": cause,
    }
    parts, host_vars = _spread(ctx, target, app=st.app, deploy=j.from_.deploy or "", lock_host_spec=back)
    if host_vars is not None:  # several hosts: each brings its part back
        for hv in host_vars.values():
            hv.update(spbe_back_digest=current.bundle_digest, spbe_back_values=dict(current.values))
        extravars = {k: v for k, v in extravars.items() if k not in RECOVER_HOST_KEYS}
        extravars["spbe_play_hosts"] = list(host_vars)
    op.note(recovered=j.id, action=action)
    run_locked(ctx, op, playbook="recover.yml", target=target, extravars=extravars, lock=lock,
               attempt=Attempt(path=attempt_path, record=attempt.model_dump(mode="json")),
               hosts=[p.host for p in parts or ()], host_vars=host_vars)
    done = {"abandon": "nothing had stopped: the journal is closed",
            "restart-old": f"{j.from_.version} was started again (its data was untouched)",
            "undo": f"{j.from_.version} serves again with the data of backup {plan.restore}"}[action]
    raise RolledBack(
        f"{target.name}: the interrupted {j.operation} {j.from_.version} -> {j.to.version} of {st.app} (started"
        f" {j.started} by {j.who} on {j.host}) was undone: {done}",
        details=["it is recorded as interrupted (`spbe-share history`); run the command again to retry"],
    )


# recover.yml's variables that differ per host of a data center (host vars)
RECOVER_HOST_KEYS = ("spbe_root", "spbe_back", "spbe_back_current", "spbe_start_first", "spbe_record_here",
                     "spbe_back_digest", "spbe_back_values")


def _spread(ctx: OpContext, target: Target, *, app: str, deploy: str, lock_host_spec: DeploySpec,
            ) -> tuple[list[HostPart] | None, dict[str, dict[str, Any]] | None]:
    """An app across the hosts of ``target``: its parts and each host's variables to bring the
    release ``deploy`` back (each host's own deploy spec of it, read as untrusted)."""
    from .checks import read_part_states, spread_parts

    parts = spread_parts(ctx, target, app=app)
    if parts is None:
        return None, None
    others = [p.host for p in parts if not p.lock_host]
    states = read_part_states(ctx, target=target, hosts=others, app=app, deploys=[deploy])
    out: dict[str, dict[str, Any]] = {}
    for p in parts:
        spec = lock_host_spec if p.lock_host else states[p.host.name].deploy(deploy, what=f"{app} on {p.host.name}")
        v = spec.playbook_vars()
        out[p.host.name] = {"spbe_root": p.host.root, "spbe_back": v, "spbe_back_current": v["spbe_containers"],
                            "spbe_start_first": list(p.first), "spbe_record_here": p.lock_host}
    return parts, out


__all__ = ["recover_if_needed"]
