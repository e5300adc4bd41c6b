"""``spbe-share rollback``: bring an earlier release back (its deploy spec), with its data when a
release being undone migrated data.

Which release: the one that served before the current one (``--to VERSION``: the newest
successful attempt of that version). Which data: when a release after it up to the current one
migrated data, the backup taken before the first such upgrade (it holds the earlier release's
data; ``ReleaseRecord.backup``); otherwise the data stays as it is. Before anything stops, a
backup of the data as it is now is taken, verified and kept, and the plan says what the restore
discards (the changes since that upgrade). Nothing is discarded silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidInput, NotFound, RemoteFailed
from ..plans.proxy import PROXY_DIR, proxy_container_name
from ..plans.switch import Route, SwitchStats, route, switch_plan, switched_component
from ..records import state
from ..records.appstate import AppState
from ..records.deployspec import DeploySpec
from ..records.journal import Journal, new_journal_id
from ..records.state import HealthSpec, InstallStats, LockOwner, ReleaseRecord
from ..remote.outcome import host_data
from .checks import checked_target, read_part_states, read_state, require_slug, spread_parts
from .context import OpContext
from .core import Attempt, new_lock, operation, run_locked
from .recover import recover_if_needed
from .upgrade import backup_id_for, switch_stats

if TYPE_CHECKING:
    from ..plans.placement import HostPart
    from ..targets.inventory import Target


@dataclass(frozen=True)
class Choice:
    """What a rollback brings back (pure result of :func:`choose`)."""

    name: str  # releases/<name>.json of the attempt that made it serve
    record: ReleaseRecord
    restore: str | None  # backup id to restore, or None: the data stays
    undone: list[ReleaseRecord]  # the attempts undone, oldest first
    since: str | None  # when the data the restore discards started to differ (the upgrade)


def choose(records: list[tuple[str, ReleaseRecord]], current: ReleaseRecord, *, to: str | None) -> Choice:
    """The release to bring back and the backup to restore (pure; records oldest first).

    Only attempts that made their release serve count (``result: ok``). The current one is the
    newest of them whose deploy spec is current's; the target is the newest before it with another
    version (``to``: that version). When an undone attempt migrated data, its ``backup`` (taken
    before it, holding the data of the release that served then) must exist: the first such one
    is restored.
    """
    ok = [(n, r) for n, r in records if r.result == "ok"]
    here = next((i for i in range(len(ok) - 1, -1, -1) if ok[i][1].deploy == current.deploy), None)
    if here is None:
        raise NotFound(f"the record of the serving release {current.version} ({current.deploy}) is not on the target")
    earlier = [(i, n, r) for i, (n, r) in enumerate(ok[:here]) if r.version != current.version]
    if to is not None:
        earlier = [e for e in earlier if e[2].version == to]
    if not earlier:
        what = f"release {to}" if to else "earlier release"
        raise NotFound(f"no {what} of {current.app} served on {current.target} before {current.version}"
                       " (see `spbe-share history`)")
    i, name, record = earlier[-1]
    undone = [r for _, r in ok[i + 1:here + 1]]
    migrating = [r for r in undone if r.migrates_data]
    restore = None
    since = None
    if migrating:
        first = migrating[0]
        if first.from_version != record.version or not first.backup:
            raise RemoteFailed(
                f"{first.version} migrated the data of {first.from_version or 'an unknown release'}, and no backup of"
                f" {record.version}'s data taken before it is recorded: rolling back to {record.version} would start it"
                " on data it does not know; restore a backup of that version (`spbe-share restore`) instead"
            )
        restore, since = first.backup, first.when
    return Choice(name=name, record=record, restore=restore, undone=undone, since=since)


@dataclass
class RollbackPlan:
    target: Target
    app_state: AppState
    current: ReleaseRecord
    current_spec: DeploySpec
    choice: Choice
    back_spec: DeploySpec
    record: ReleaseRecord
    lock: LockOwner
    journal: Journal
    backup_id: str
    extravars: dict[str, Any]
    attempt: Attempt
    route: Route = Route(False, "stop, start")
    parts: list[HostPart] | None = None  # several hosts: each one's part (None: one host)
    host_vars: dict[str, dict[str, Any]] | None = None  # several hosts: each one's variables

    @property
    def playbook(self) -> str:
        return "switch.yml" if self.route.zero_downtime else "rollback.yml"

    def discards(self) -> str:
        c = self.choice
        if c.restore is None:
            return "nothing: no release being undone migrated data, so the data stays as it is"
        return (f"every change to the data since {c.since} (the upgrade to {c.undone[0].version}): the data of backup"
                f" {c.restore} is restored. Those changes are kept in the backup taken first ({self.backup_id})")

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.current.app, "target": self.target.name, "from": self.current.version,
            "to": self.choice.record.version, "undone": [r.version for r in self.choice.undone],
            "restore": self.choice.restore, "safety_backup": None if self.route.zero_downtime else self.backup_id,
            "discards": self.discards(), "route": self.route.as_dict(),
        }


class RollbackStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current: dict[str, Any]
    safety_backup: str


def plan_rollback(ctx: OpContext, *, app: str, target_name: str, app_state: AppState,
                  to: str | None = None) -> RollbackPlan:
    """Every check of a rollback; reads only. ``app_state``: what the target keeps about ``app``,
    read by the caller in this operation (:func:`rollback`: before its recovery check)."""
    target = checked_target(ctx, target_name, compare_key=False)  # the caller's read_state compared it
    parts = spread_parts(ctx, target, app=app)  # several hosts: each brings its part back
    st = app_state
    if st.current is None:
        raise NotFound(f"{app} is not installed on {target.name}")
    if st.journal is not None and st.journal.state == "running":
        raise RemoteFailed(f"{target.name}: an unfinished {st.journal.operation} of {app} must be finished first"
                           f" (started {st.journal.started} by {st.journal.who})")
    current = st.current
    current_spec = st.deploy(current.deploy, what=f"{app} {current.version}")
    choice = choose(st.releases, current, to=to)
    back_spec = st.deploy(choice.record.deploy, what=f"{app} {choice.record.version}")
    specs = None
    if parts is not None:
        specs = part_specs(ctx, target=target, parts=parts, app=app, st=st, deploys=[current.deploy or "",
                                                                              choice.record.deploy or ""],
                           restore=choice.restore)  # fmt: skip
    else:
        if choice.restore is not None and st.backup(choice.restore) is None:
            raise RemoteFailed(f"{target.name}: backup {choice.restore} (the data of {choice.record.version}) is not"
                               " on the target any more: rolling back would start it on data it does not know")
    lock = new_lock(ctx, operation=f"rollback {app} {current.version} -> {choice.record.version}")
    backup_id = backup_id_for(ctx, lock.token, "pre-rollback")
    attempt_name = state.deploy_name(stamp=state.stamp(ctx.now), version=choice.record.version)
    record = choice.record.model_copy(update={
        "who": ctx.operator, "when": state.iso(ctx.now), "result": "ok", "message": None, "operation": "rollback",
        "host": state.controller_host(), "backup": backup_id, "migrates_data": choice.restore is not None,
        "from_version": current.version,
        "previous": state.PreviousRelease(version=current.version, when=current.when,
                                          bundle_digest=current.bundle_digest),
    })
    journal = Journal.model_validate({
        "id": new_journal_id(ctx.now, lock.token), "operation": "rollback", "app": app, "target": target.name,
        "who": ctx.operator, "host": state.controller_host(), "pid": os.getpid(), "started": state.iso(ctx.now),
        "lock_token": lock.token,
        "from": {"version": current.version, "bundle_digest": current.bundle_digest, "deploy": current.deploy},
        "to": {"version": back_spec.version, "bundle_digest": back_spec.bundle_digest, "deploy": choice.record.deploy},
        "attempt": attempt_name, "backup": backup_id, "restore": choice.restore,
        "migrates_data": choice.restore is not None,
    })
    way = rollback_route(current, current_spec=current_spec, back_spec=back_spec, choice=choice)
    if specs is not None:  # across hosts: the safe path (stop, restore where the data is, start the database first)
        way = Route(False, "stop, start (across hosts)")
    if way.zero_downtime:  # no backup: no data changes; the switch records its own deploy spec
        journal = journal.model_copy(update={"backup": None, "to": journal.to.model_copy(update={"deploy": attempt_name})})
        record, extravars = switch_back_vars(ctx, target=target, app=app, record=record, journal=journal,
                                             current_spec=current_spec, back_spec=back_spec, attempt_name=attempt_name)
        return RollbackPlan(
            target=target, app_state=st, current=current, current_spec=current_spec, choice=choice,
            back_spec=back_spec, record=record, lock=lock, journal=journal, backup_id=backup_id, extravars=extravars,
            attempt=Attempt(path=state.attempt_path(target.root, app, stamp=state.stamp(ctx.now),
                                                    version=back_spec.version),
                            record=record.model_dump(mode="json")),
            route=way,
        )
    extravars = {
        "spbe_target": target.name, "spbe_root": target.root, "spbe_app": app, "spbe_stamp": state.stamp(ctx.now),
        "spbe_current": current_spec.playbook_vars(), "spbe_current_version": current.version,
        "spbe_current_digest": current.bundle_digest, "spbe_current_running": True,
        "spbe_back": back_spec.playbook_vars(), "spbe_back_version": back_spec.version,
        "spbe_restore_backup": choice.restore or "", "spbe_backup_id": backup_id, "spbe_backup_who": ctx.operator,
        "spbe_record": record.model_dump(mode="json"), "spbe_journal": journal.as_data(),
    }
    host_vars = None
    if parts is not None and specs is not None:
        host_vars = {}
        for part in parts:
            cur, back = specs[part.host.name]
            host_vars[part.host.name] = {
                "spbe_root": part.host.root, "spbe_current": cur.playbook_vars(), "spbe_back": back.playbook_vars(),
                "spbe_start_first": list(part.first), "spbe_record_here": part.lock_host,
            }
        extravars = {k: v for k, v in extravars.items() if k not in ROLLBACK_HOST_KEYS}
        extravars["spbe_play_hosts"] = list(host_vars)
    return RollbackPlan(
        target=target, app_state=st, current=current, current_spec=current_spec, choice=choice, back_spec=back_spec,
        record=record, lock=lock, journal=journal, backup_id=backup_id, extravars=extravars,
        attempt=Attempt(path=state.attempt_path(target.root, app, stamp=state.stamp(ctx.now),
                                                version=back_spec.version),
                        record=record.model_dump(mode="json")),
        parts=parts, host_vars=host_vars,
    )


# rollback.yml's variables that differ per host of a data center (host vars)
ROLLBACK_HOST_KEYS = ("spbe_root", "spbe_current", "spbe_back", "spbe_start_first", "spbe_record_here")


def part_specs(ctx: OpContext, *, target: Target, parts: list[HostPart], app: str, st: AppState,
               deploys: list[str], restore: str | None) -> dict[str, tuple[DeploySpec, DeploySpec]]:
    """Each host's deploy specs of ``deploys`` (the serving release's, the one brought back), by
    inventory host name; the lock host's from ``st``, the others read from them as untrusted.
    A host whose part holds data must still hold ``restore`` (the backup brought back)."""
    others = [p.host for p in parts if not p.lock_host]
    states = {target.name: st, **read_part_states(ctx, target=target, hosts=others, app=app, deploys=deploys)}
    out = {}
    for p in parts:
        here = states[p.host.name]
        now, back = (here.deploy(d, what=f"{app} on {p.host.name}") for d in deploys)
        if restore is not None and (back.backup.databases or back.backup.volumes) and here.backup(restore) is None:
            raise RemoteFailed(f"{p.host.name}: backup {restore} (the data of {back.version}) is not on that host any"
                               " more: rolling back would start it on data it does not know")
        out[p.host.name] = (now, back)
    return out


def rollback_route(current: ReleaseRecord, *, current_spec: DeploySpec, back_spec: DeploySpec, choice: Choice) -> Route:
    """A rollback of code-only upgrades behind the proxy is a switch back (:mod:`spbe_share.plans.switch`)."""
    web, port, volumes = switched_component(current_spec, back_spec)
    return route(
        migrating=[r.version for r in choice.undone if r.migrates_data], domain=current.domain, web=web,
        web_volumes=volumes, web_health=port is not None, serving=current_spec,
        containers=[c.model_dump(mode="json") for c in back_spec.containers],
        configs=[c.model_dump(mode="json") for c in back_spec.configs],
        images=[i.model_dump(mode="json") for i in back_spec.images],
    )


def switch_back_vars(
    ctx: OpContext, *, target: Target, app: str, record: ReleaseRecord, journal: Journal, current_spec: DeploySpec,
    back_spec: DeploySpec, attempt_name: str,
) -> tuple[ReleaseRecord, dict[str, Any]]:
    """The record and the variables of ``switch.yml`` for a switch back to ``back_spec``: its web
    container starts beside the serving one; the others run as they are. No backup: no data changes."""
    web, port, _ = switched_component(current_spec, back_spec)
    assert port is not None  # rollback_route checked it
    containers, images, checks, switch = switch_plan(
        web=web, port=port, stamp=state.stamp(ctx.now), serving=current_spec,
        containers=[c.model_dump(mode="json") for c in back_spec.containers],
        health=[h.model_dump(mode="json") for h in back_spec.health],
        images=[i.model_dump(mode="json") for i in back_spec.images], proxy_container=proxy_container_name(target.name, app), proxy_dir=f"{state.app_dir(target.root, app)}/{PROXY_DIR}",
    )
    # the network keeps its labels (see ops.upgrade: a relabelled network is recreated)
    spec = DeploySpec.model_validate({**back_spec.model_dump(mode="json"), "containers": containers, "images": images,
                                      "health": checks, "labels": dict(current_spec.labels)})
    record = record.model_copy(update={"deploy": attempt_name, "backup": None,
                                       "health": [HealthSpec.model_validate(h) for h in checks],
                                       "images": {i["component"]: i["config"] for i in images}})
    return record, {
        "spbe_target": target.name, "spbe_root": target.root, "spbe_app": app, "spbe_stamp": state.stamp(ctx.now),
        "spbe_version": back_spec.version, "spbe_to": {**back_spec.playbook_vars(), "spbe_images": images,
                                                         "spbe_labels": dict(current_spec.labels)},
        "spbe_from_configs": [c.model_dump(mode="json") for c in current_spec.configs],
        "spbe_switch": switch, "spbe_ship": False, "spbe_release": record.model_dump(mode="json"),
        "spbe_deploy_name": attempt_name, "spbe_deploy_spec": spec.model_dump(mode="json"),
        "spbe_journal": journal.as_data(), "spbe_outcome_key": "spbe_switch",
    }


@dataclass
class RollbackResult:
    app: str
    target: str
    from_version: str
    to_version: str
    restored: str | None
    safety_backup: str
    seconds: float
    run_dir: Path
    switch: SwitchStats | None = None  # a switch back: how the proxy's old workers drained

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "from": self.from_version, "to": self.to_version,
                "restored": self.restored, "safety_backup": self.safety_backup, "seconds": round(self.seconds, 2),
                "run_dir": str(self.run_dir), "switch": self.switch.model_dump() if self.switch else None}


def rollback(ctx: OpContext, *, app: str, target_name: str, to: str | None = None, break_lock: bool = False,
             confirm: Any = None, dry_run: bool = False) -> tuple[RollbackPlan, RollbackResult | None]:
    """Plan, (``confirm(plan)`` -> False stops here), then roll back. Audited."""
    with operation(ctx, name="rollback", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name, compare_key=False)  # read_state's ssh compares it (exit 6)
        st = read_state(ctx, target=target, app=app)
        recover_if_needed(ctx, op, target=target, st=st, command="rollback", dry_run=dry_run)  # raises once it recovered
        plan = plan_rollback(ctx, app=app, target_name=target_name, to=to, app_state=st)  # one read, as upgrade
        op.note(**{"from": plan.current.version, "to": plan.choice.record.version, "restore": plan.choice.restore,
                   "safety_backup": plan.backup_id, "route": plan.route.name})
        if confirm is not None and not confirm(plan):
            op.result = "ok: planned only"
            return plan, None
        if plan.choice.record.version == plan.current.version:
            raise InvalidInput("nothing to roll back")
        run = run_locked(ctx, op, playbook=plan.playbook, target=plan.target, extravars=plan.extravars,
                         lock=plan.lock, attempt=plan.attempt, break_lock=break_lock,
                         hosts=[p.host for p in plan.parts or ()], host_vars=plan.host_vars)
        if plan.route.zero_downtime:
            switched = host_data(run, target=plan.target.name, key="spbe_install", model=InstallStats)
            done = RollbackStats(current=switched.current, safety_backup="")
        else:
            done = host_data(run, target=plan.target.name, key="spbe_rollback", model=RollbackStats)
        record = state.validated_record(done.current, app=app, target=plan.target.name,
                                        version=plan.choice.record.version, source=plan.target.name)
        state.save_cached(ctx.ws, target=plan.target.name, app=app, record=record)
        op.note(run=str(run.run_dir))
        return plan, RollbackResult(app=app, target=plan.target.name, from_version=plan.current.version,
                                    to_version=record.version, restored=plan.choice.restore,
                                    safety_backup=done.safety_backup, seconds=run.seconds, run_dir=run.run_dir,
                                    switch=switch_stats(run, target=plan.target.name) if plan.route.zero_downtime
                                    else None)


__all__ = ["Choice", "RollbackPlan", "RollbackResult", "choose", "plan_rollback", "rollback", "rollback_route",
           "switch_back_vars"]
