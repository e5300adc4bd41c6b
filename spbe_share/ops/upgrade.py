"""``spbe-share upgrade``: replace the serving release by a newer one; whatever fails, the old
one ends up serving with its data.

Plan and checks (nothing changes on the target before they all passed):

1. target resolved, host key compared with the pinned one;
2. the app's state read from the target in one SSH round trip (``module_utils/spbe_appstate.py``,
   the reading of ``app_state.yml``: current record, deploy specs, the
   journal, the lock, blobs present), validated as untrusted data; an unfinished upgrade or
   rollback is finished or undone first (:mod:`.recover`). On a target of one host whose
   bundle is here already (given, or built before), the same connection reads preflight's facts
   too (``module_utils/spbe_statefacts.py``; preflight's request depends on the bundle's entry
   only): step 5 evaluates them without a connection of its own (:func:`read_state_for_upgrade`);
3. the new bundle located and verified; its signer trusted for the agreement's donor; the
   agreement covering the app today (scope ``install``);
4. the path: the releases between, their changelogs and regulations, whether data migrates,
   ``upgrades_from`` (one step, or a refusal naming the steps); an older version across a data
   migration is refused (``rollback`` does that);
5. values (the deployment's current ones, then ``--values``, then ``--set``), config rendered,
   the diff against the serving release's config; preflight of the new release.

Then: the blobs the target lacks are shipped (old release serving), and ``playbooks/upgrade.yml``
runs under the lock: load, backup + verify, stop old, start new, health, record; any failure
after the old release stopped is undone there (see the playbook). A rolled-back upgrade raises
:class:`~spbe_share.errors.RolledBack` (exit 13).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from ..catalog.models import Release
from ..errors import InvalidInput, NotFound, RemoteFailed, RolledBack, SpbeError
from ..plans.builders import deploy_vars, install_vars, release_record
from ..plans.imageuser import component_users
from ..plans.placement import HostPart, behind_proxy, part_health, part_urls, placement
from ..plans.proxy import PROXY_DIR, proxy_container_name, web_component
from ..plans.render import render_configs
from ..plans.switch import Route, SwitchStats, route, switch_plan
from ..plans.upgradeplan import (
    ConfigChange,
    blobs_to_ship,
    config_changes,
    downgrade_refusal,
    releases_between,
    upgrade_path,
    values_changes,
)
from ..plans.values import ResolvedValues, resolve_values, template_variables
from ..records import state
from ..records.appstate import AppState
from ..records.deployspec import DeploySpec
from ..records.journal import Journal, new_journal_id
from ..records.state import HealthSpec, InstallStats, LockOwner, ReleaseRecord
from ..remote.outcome import host_data, raise_for_run
from .bundles import (
    VerifiedBundle,
    catalog_entry,
    files_tar,
    installed_donor,
    trusted_for_target,
    verified_bundle,
)
from .checks import (
    agreement_for,
    checked_target,
    read_part_states,
    read_state,
    read_state_and_facts,
    require_slug,
)
from .context import OpContext
from .core import Attempt, Operation, new_lock, operation, run_locked
from .install import HOST_KEYS, part_vars, phase_seconds, share_part_secrets, ship_parts
from .preflight import TargetFacts, facts_request, preflight_ok
from .recover import recover_if_needed
from .tls import app_target

if TYPE_CHECKING:
    from ..remote.runner import RunResult
    from ..targets.inventory import Target


@dataclass
class UpgradePlan:
    """Everything decided before anything changes on the target."""

    target: Target
    bundle: VerifiedBundle
    app_state: AppState
    current: ReleaseRecord
    old: DeploySpec
    releases: list[Release]
    path: list[str]
    values: ResolvedValues
    configs: list[ConfigChange]
    release: ReleaseRecord
    extravars: dict[str, Any]
    lock: LockOwner
    agreement: str
    attempt: Attempt
    backup_id: str
    journal: Journal
    missing: dict[str, int]
    trust: str = ""
    route: Route = field(default_factory=lambda: Route(False, "stop, start"))
    parts: list[HostPart] | None = None  # several hosts: each one's part (None: one host)
    host_vars: dict[str, dict[str, Any]] | None = None  # several hosts: each one's variables

    @property
    def playbook(self) -> str:
        return "switch.yml" if self.route.zero_downtime else "upgrade.yml"

    @property
    def app(self) -> str:
        return self.bundle.app

    @property
    def from_version(self) -> str:
        return self.current.version

    @property
    def to_version(self) -> str:
        return self.bundle.version

    @property
    def migrates_data(self) -> bool:
        return any(r.migrates_data for r in self.releases)

    def as_dict(self) -> dict[str, Any]:
        """The plan as printed (``--json``): no secrets (config files hold values; secrets are files)."""
        return {
            "app": self.app,
            "target": self.target.name,
            "from": self.from_version,
            "to": self.to_version,
            "path": self.path,
            "releases": [
                {
                    "version": r.version,
                    "date": r.date.isoformat(),
                    "changelog": list(r.changelog),
                    "regulations": [{"name": g.name, "uri": str(g.uri)} for g in r.regulations],
                    "migrates_data": r.migrates_data,
                    "upgrades_from": r.upgrades_from,
                }
                for r in self.releases
            ],
            "migrates_data": self.migrates_data,
            "bundle": str(self.bundle.path),
            "bundle_digest": self.bundle.digest,
            "signer": self.bundle.manifest.signer,
            "agreement": self.agreement,
            "blobs_to_ship": len(self.missing),
            "bytes_to_ship": sum(self.missing.values()),
            "bytes_total": sum(self.bundle.blob_sizes().values()),
            "values": values_changes(self.current.values, self.values.as_dict()),
            "config": [{"component": c.component, "file": c.file, "change": c.change, "diff": c.diff}
                       for c in self.configs],
            "route": self.route.as_dict(),
            "backup": None if self.route.zero_downtime else self.backup_id,
            "expected_downtime": ("none: the old release serves until the new one is healthy, then the proxy switches"
                                  if self.route.zero_downtime else downtime_estimate(self.old)),
        }


def downtime_estimate(old: DeploySpec) -> str:
    """What the operator should expect (the health checks' budget bounds it)."""
    budget = max((h.retries * h.delay for h in old.health), default=0)
    return f"from stopping {old.version} until the new release is healthy: usually under a minute, at most ~{budget} s" \
        " of health checks (then it is rolled back automatically)"


@dataclass
class UpgradeResult:
    app: str
    target: str
    from_version: str
    to_version: str
    outcome: Literal["upgraded", "rolled_back"]
    backup: str
    blobs_sent: int
    bytes_sent: int
    bytes_missing: int
    downtime_s: float
    seconds: float
    run_dir: Path
    urls: list[str] = field(default_factory=list)
    cause: str | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    switch: SwitchStats | None = None  # the zero-downtime path: how the proxy's old workers drained

    def as_dict(self) -> dict[str, Any]:
        return {
            "switch": self.switch.model_dump() if self.switch else None,
            "app": self.app, "target": self.target, "from": self.from_version, "to": self.to_version,
            "outcome": self.outcome, "backup": self.backup, "blobs_sent": self.blobs_sent,
            "bytes_sent": self.bytes_sent, "bytes_missing": self.bytes_missing,
            "downtime_s": round(self.downtime_s, 2), "seconds": round(self.seconds, 2), "run_dir": str(self.run_dir),
            "urls": self.urls, "cause": self.cause,
            "phase_seconds": {k: round(v, 2) for k, v in self.phase_seconds.items()},
        }


class UpgradeStats(BaseModel):
    """What ``upgrade.yml`` publishes on failure (``set_stats`` key ``spbe_upgrade``); untrusted."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["rolled_back", "undo_failed", "failed"]
    cause: str
    backup: str


def backup_id_for(ctx: OpContext, token: str, why: str = "pre-upgrade") -> str:
    return f"{state.stamp(ctx.now)}-{why}-{token[:6]}"


def plan_upgrade(
    ctx: OpContext,
    *,
    app: str,
    target_name: str,
    to: str | None = None,
    bundle: Path | None = None,
    bundle_digest: str | None = None,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    allow_self_signed: bool = False,
    run_preflight: bool = True,
    app_state: AppState | None = None,
    verified: VerifiedBundle | None = None,
    preflight_read: tuple[dict[str, Any], TargetFacts] | None = None,
) -> UpgradePlan:
    """Every check of an upgrade; touches the target only to read. ``bundle_digest``: the
    bundle must be exactly this one (a fleet's rollout checked it once before it started).
    ``verified``: that bundle, verified already (:func:`early_bundle`); ``preflight_read``: the
    target's facts read with ``app_state`` (see :func:`upgrade`), evaluated where preflight runs."""
    from ..imaging import dockerarchive

    require_slug(app, what="app")
    target = checked_target(ctx, target_name, compare_key=False)  # read_state's ssh compares it (exit 6)
    st = app_state or read_state(ctx, target=target, app=app)
    if st.current is None or st.current.result != "ok":
        raise NotFound(f"{app} is not installed on {target.name}: use `spbe-share install {app} --target {target.name}`")
    if st.journal is not None and st.journal.state == "running":
        raise RemoteFailed(
            f"{target.name}: an unfinished {st.journal.operation} of {app} ({st.journal.from_.version} ->"
            f" {st.journal.to.version}, started {st.journal.started} by {st.journal.who}) must be finished first",
            details=["spbe-share recovers it before anything else: run the command again once its lock is free"],
        )
    current = st.current
    old = st.deploy(current.deploy, what=f"{app} {current.version}")
    vb = verified or verified_bundle(ctx, app=app, version=to, bundle=bundle, digest=bundle_digest)
    ctx.cancel.check()
    entry = vb.entry
    # the donor and the agreement's terms are the catalog's; the bundle and the installed release must agree
    catalog = catalog_entry(ctx, app)
    agreement = agreement_for(ctx, target=target, entry=catalog, scope="install")
    trust = trusted_for_target(ctx, vb, target=target, catalog=catalog, agreement=agreement,
                               allow_self_signed=allow_self_signed, installed=installed_donor(ctx, current))  # fmt: skip
    if vb.version == current.version:
        raise InvalidInput(f"{app} {current.version} already serves on {target.name}: nothing to upgrade"
                           " (`spbe-share install` changes its settings)")
    refusal = downgrade_refusal(entry, app=app, target=target.name, current=current.version, wanted=vb.version)
    if refusal:
        raise InvalidInput(refusal)
    from ..catalog.models import semver_key

    if semver_key(vb.version) < semver_key(current.version):
        path, releases = [current.version, vb.version], []
    else:
        path = upgrade_path(entry, from_version=current.version, to_version=vb.version)
        if len(path) > 2:
            raise InvalidInput(
                f"{app} {vb.version} does not upgrade from {current.version} directly: upgrade step by step,"
                f" {' -> '.join(path)} (`spbe-share upgrade {app} --target {target.name} --to {path[1]}` first)"
            )
        releases = releases_between(entry, from_version=current.version, to_version=vb.version)
    values = resolve_values(entry, sets=sets, values_file=values_file, base=current.values)
    variables = template_variables(
        values, app=entry.id, version=vb.version, target=target.name, pemda=target.pemda,
        kode_wilayah=target.kode_wilayah,
    )
    configs = render_configs(entry, template_root=vb.dir, variables=variables)
    users = component_users(entry, vb.manifest, blob_dir=vb.blob_dir)
    parts = placement(entry, target)  # several hosts: each one's part (None: one host)
    if run_preflight:
        preflight_ok(ctx, target=target, entry=entry, across_hosts=parts is not None, read=preflight_read)
    lock = new_lock(ctx, operation=f"upgrade {entry.id} {current.version} -> {vb.version}")
    backup_id = backup_id_for(ctx, lock.token)
    deploy = state.deploy_name(stamp=state.stamp(ctx.now), version=vb.version)
    # a domain stays: the app's ports stay on loopback behind the TLS proxy (which keeps running)
    inner = app_target(target, current.domain)
    release = release_record(
        target=inner, entry=entry, manifest=vb.manifest, digest=vb.digest, values=values, who=ctx.operator,
        now=ctx.now,
    ).model_copy(update={
        "operation": "upgrade", "host": state.controller_host(), "backup": backup_id, "deploy": deploy,
        "migrates_data": any(r.migrates_data for r in releases), "from_version": current.version,
        **({"domain": current.domain, "urls": [f"https://{current.domain}/"]} if current.domain else {}),
    })
    new = install_vars(
        target=inner, entry=entry, manifest=vb.manifest, release=release, bundle_dir=vb.dir,
        files_tar=files_tar(vb.dir), configs=configs, users=users, now=ctx.now,
        dockerarchive=Path(dockerarchive.__file__),
    )
    way = upgrade_route(entry, releases=releases, domain=current.domain, old=old, new=new)
    if parts is not None:  # across hosts: the safe path (stop the web, migrate, start the database first)
        way = Route(False, "stop, start (across hosts)")
        if current.domain:  # installed behind the TLS proxy: the web's ports stay on loopback there
            parts = behind_proxy(entry, parts, target=target.name)
        release = release.model_copy(update={"health": part_health(entry, parts, target=target.name),
                                             **({} if current.domain else {"urls": part_urls(entry, parts)})})  # fmt: skip
        new["spbe_release"] = release.model_dump(mode="json")
    switch: dict[str, Any] = {}
    if way.zero_downtime:
        web, port = web_component(entry)
        containers, images, checks, switch = switch_plan(
            web=web.name, port=port, stamp=state.stamp(ctx.now), serving=old, containers=new["spbe_containers"],
            health=new["spbe_health"], images=new["spbe_images"], proxy_container=proxy_container_name(target.name, app),
            proxy_dir=f"{state.app_dir(target.root, app)}/{PROXY_DIR}",
        )
        # nothing stops and no data changes: no backup is taken (the record names none)
        release = release.model_copy(update={
            "health": [HealthSpec.model_validate(h) for h in checks], "backup": None,
            "images": {i["component"]: i["config"] for i in images},
        })
        # the network and volumes keep their labels (the serving release's): spbe_configure
        # (like docker_network before it) recreates a network whose labels differ, and the
        # running containers come back on it without their aliases (the web container no
        # longer finds "db")
        new.update(spbe_containers=containers, spbe_images=images, spbe_health=checks, spbe_labels=dict(old.labels),
                   spbe_release=release.model_dump(mode="json"))
    new.update(deploy_vars(new, entry=entry, root=target.root, bundle_digest=vb.digest))
    # a secret the new release introduces is generated, not "data without its secrets" (issue 12)
    new["spbe_secrets_may_be_new"] = new_secret_names(new["spbe_secrets"], old)
    journal = Journal.model_validate({
        "id": new_journal_id(ctx.now, lock.token), "operation": "upgrade", "app": app, "target": target.name,
        "who": ctx.operator, "host": state.controller_host(), "pid": os.getpid(), "started": state.iso(ctx.now),
        "lock_token": lock.token,
        "from": {"version": current.version, "bundle_digest": current.bundle_digest, "deploy": current.deploy},
        "to": {"version": vb.version, "bundle_digest": vb.digest, "deploy": deploy},
        "attempt": deploy, "backup": None if way.zero_downtime else backup_id, "migrates_data": release.migrates_data,
    })
    extravars = (switch_vars(new, old=old, journal=journal, switch=switch) if way.zero_downtime
                 else upgrade_vars(new, old=old, journal=journal, backup_id=backup_id, who=ctx.operator))
    host_vars = None
    if parts is not None:
        olds = part_old_specs(ctx, target=target, parts=parts, app=app, deploy=current.deploy or "",
                                lock_host_spec=old)
        full = part_vars(parts, entry=entry, target=inner, manifest=vb.manifest, release=release, bundle_dir=vb.dir,
                         configs=configs, users=users, now=ctx.now, bundle_digest=vb.digest)  # fmt: skip
        host_vars = {}
        for name, v in full.items():
            v["spbe_secrets_may_be_new"] = new_secret_names(v["spbe_secrets"], olds[name])
            uv = upgrade_vars(v, old=olds[name], journal=journal, backup_id=backup_id, who=ctx.operator)
            host_vars[name] = {k: uv[k] for k in UPGRADE_HOST_KEYS if k in uv}
        extravars = {k: v for k, v in extravars.items() if k not in UPGRADE_HOST_KEYS}
        extravars["spbe_play_hosts"] = list(host_vars)
    return UpgradePlan(
        target=target, bundle=vb, app_state=st, current=current, old=old, releases=releases, path=path,
        values=values, configs=config_changes([c.model_dump() for c in old.configs], configs), release=release,
        extravars=extravars, lock=lock, agreement=agreement,
        attempt=Attempt(path=state.attempt_path(target.root, app, stamp=state.stamp(ctx.now), version=vb.version),
                        record=release.model_dump(mode="json")),
        backup_id=backup_id, journal=journal, missing=blobs_to_ship(vb.blob_sizes(), st.blobs), trust=trust.describe(),
        route=way, parts=parts, host_vars=host_vars,
    )


# upgrade.yml's variables that differ per host of a data center (host vars, never extravars:
# Ansible's extra vars win over host vars)
UPGRADE_HOST_KEYS = (*HOST_KEYS, "spbe_new", "spbe_old", "spbe_secrets_may_be_new")


def part_old_specs(ctx: OpContext, *, target: Target, parts: list[HostPart], app: str, deploy: str,
                   lock_host_spec: DeploySpec) -> dict[str, DeploySpec]:
    """The serving release's deploy spec on each host of the data center (each host keeps its
    part's, under the one deploy name of the release), read from the hosts as untrusted."""
    others = [p.host for p in parts if not p.lock_host]
    states = read_part_states(ctx, target=target, hosts=others, app=app, deploys=[deploy])
    out = {p.host.name: lock_host_spec for p in parts if p.lock_host}
    for h in others:
        out[h.name] = states[h.name].deploy(deploy, what=f"{app} on {h.name}")
    return out


def upgrade_route(entry: Any, *, releases: Sequence[Release], domain: str | None, old: DeploySpec,
                  new: dict[str, Any]) -> Route:
    """The path of this upgrade (:func:`spbe_share.plans.switch.route`) for the entry's web component."""
    migrating = [r.version for r in releases if r.migrates_data]
    if not domain or migrating:
        return route(migrating=migrating, domain=domain, web="", web_volumes=(), web_health=False, serving=old,
                     containers=(), configs=(), images=())
    web, _ = web_component(entry)
    return route(migrating=migrating, domain=domain, web=web.name, web_volumes=[v.name for v in web.volumes],
                 web_health=web.health is not None, serving=old, containers=new["spbe_containers"],
                 configs=new["spbe_configs"], images=new["spbe_images"])


def new_secret_names(secrets: list[dict[str, Any]], old: DeploySpec) -> list[str]:
    """The names among ``secrets`` (the new release's) that the serving release ``old`` did not have."""
    had = {s.name for s in old.secrets}
    return sorted(s["name"] for s in secrets if s["name"] not in had)


NEW_KEYS = ("spbe_images", "spbe_blobs", "spbe_configs", "spbe_secrets", "spbe_secret_mounts", "spbe_network",
            "spbe_volumes", "spbe_labels", "spbe_containers", "spbe_health")


def upgrade_vars(new: dict[str, Any], *, old: DeploySpec, journal: Journal, backup_id: str, who: str) -> dict[str, Any]:
    """The variables of ``upgrade.yml`` (pure): the new release's under ``spbe_new``, the serving
    release's (its deploy spec) under ``spbe_old``, the rest as install has them."""
    top = {k: v for k, v in new.items() if k not in NEW_KEYS}
    return {
        **top,
        "spbe_new": {k: new[k] for k in NEW_KEYS},
        "spbe_old": old.playbook_vars(),
        "spbe_old_version": old.version,
        "spbe_backup_id": backup_id,
        "spbe_backup_who": who,
        "spbe_journal": journal.as_data(),
    }


def switch_vars(new: dict[str, Any], *, old: DeploySpec, journal: Journal, switch: dict[str, Any]) -> dict[str, Any]:
    """The variables of ``switch.yml`` for a zero-downtime upgrade (pure)."""
    top = {k: v for k, v in new.items() if k not in NEW_KEYS}
    return {
        **top,
        "spbe_to": {k: new[k] for k in NEW_KEYS},
        "spbe_from_configs": [c.model_dump(mode="json") for c in old.configs],
        "spbe_switch": switch,
        "spbe_ship": True,
        "spbe_journal": journal.as_data(),
        "spbe_outcome_key": "spbe_upgrade",
    }


def data_hosts(plan: UpgradePlan) -> list[Target] | None:
    """The hosts whose part holds data to back up (several hosts; None: the app's one host)."""
    if plan.parts is None or plan.host_vars is None:
        return None
    return [p.host for p in plan.parts if has_backup_data(plan.host_vars[p.host.name]["spbe_old"]["spbe_backup_spec"])]


def has_backup_data(spec: dict[str, Any]) -> bool:
    """A backup spec (as the playbooks take it) naming a database or a volume."""
    return bool(spec.get("databases") or spec.get("volumes"))


def switch_stats(run: RunResult, *, target: str) -> SwitchStats:
    """How the switch of ``switch.yml`` let the proxy's old workers finish (validated)."""
    return host_data(run, target=target, key="spbe_switch_drain", model=SwitchStats)


def downtime_of(run: RunResult) -> float:
    """Seconds from the task stopping the old release to the end of the last health check after it."""
    names = [t.name for t in run.timings]
    start = next((i for i, n in enumerate(names) if n.startswith("Stop: stop the old containers")), None)
    if start is None:
        return 0.0
    end = max((i for i, n in enumerate(names) if n.startswith("Health:") and i > start), default=len(names) - 1)
    return sum(t.seconds for t in run.timings[start:end + 1])


def execute(ctx: OpContext, op: Operation, plan: UpgradePlan, *, break_lock: bool = False) -> UpgradeResult:
    """Ship what the target lacks (old release serving), then ``upgrade.yml`` under the lock."""
    from ..remote.ship import bundle_files, env_bwlimit, ship_bundle

    try:
        if plan.parts is None:
            shipped = ship_bundle(
                ctx.ws, plan.target, plan.bundle.manifest, plan.bundle.dir, bwlimit=env_bwlimit(), meter=ctx.meter,
                files=bundle_files(plan.extravars),
            )
        else:  # each host the images of the components it runs
            shipped = ship_parts(ctx, plan)
    except SpbeError:
        ctx.cancel.check()
        raise
    ctx.cancel.check()
    if plan.parts is not None:  # a secret the new release introduces: one value across the data center
        share_part_secrets(ctx, plan)
    if not plan.route.zero_downtime:  # no backup on the switch route
        from .backuphost import ensure_links

        ensure_links(ctx.ws, plan.target, data_hosts(plan))  # the pre-upgrade backup is copied onto the backup host too
    op.note(blobs_sent=len(shipped.sent), bytes_sent=shipped.bytes_sent,
            backup="" if plan.route.zero_downtime else plan.backup_id)
    run = run_locked(
        ctx, op, playbook=plan.playbook, target=plan.target, extravars=plan.extravars, lock=plan.lock,
        attempt=plan.attempt, break_lock=break_lock, check=False, hosts=[p.host for p in plan.parts or ()],
        host_vars=plan.host_vars,
    )
    if not run.ok:
        # several hosts: the first host may be the one that became unreachable; another tells
        told = next((h.name for h in [plan.target, *(p.host for p in plan.parts or ())]
                     if run.stats.get(h.name, {}).get("spbe_upgrade") is not None), None)
        if told is None:
            raise_for_run(run, plan.target.name, "upgrade", app=plan.app)
        stats = host_data(run, target=told or plan.target.name, key="spbe_upgrade", model=UpgradeStats)
        op.note(outcome=stats.outcome, cause=stats.cause[:500], run=str(run.run_dir))
        if stats.outcome == "rolled_back" and plan.route.zero_downtime:
            raise RolledBack(
                f"{plan.app} {plan.to_version} did not become healthy on {plan.target.name}; nothing switched:"
                f" {plan.from_version} served all along (its new container was removed)",
                details=[f"cause: {stats.cause[:1500]}", f"log: {run.run_dir}"],
            )
        if stats.outcome == "rolled_back":
            raise RolledBack(
                f"{plan.app} {plan.to_version} failed on {plan.target.name} after {plan.from_version} stopped; rolled"
                f" back: {plan.from_version} serves again with its data (backup {plan.backup_id} restored when the new"
                f" release had started)",
                details=[f"cause: {stats.cause[:1500]}", f"log: {run.run_dir}"],
            )
        if stats.outcome == "undo_failed":
            raise RemoteFailed(
                f"{plan.app} {plan.to_version} failed on {plan.target.name} and undoing it failed too; the data of"
                f" {plan.from_version} is in backup {plan.backup_id} (verified)",
                details=[f"cause: {stats.cause[:1500]}", f"log: {run.run_dir}",
                         f"the journal on the target says where it stopped: `spbe-share history {plan.app} --target"
                         f" {plan.target.name}`; `spbe-share rollback` retries the undo"],
            )
        raise RemoteFailed(
            f"{plan.app} upgrade on {plan.target.name} failed before {plan.from_version} stopped: nothing changed,"
            f" {plan.from_version} still serves",
            details=[f"cause: {stats.cause[:1500]}", f"log: {run.run_dir}"],
        )
    done = host_data(run, target=plan.target.name, key="spbe_install", model=InstallStats)
    record = state.validated_record(done.current, app=plan.app, target=plan.target.name, version=plan.to_version,
                                    source=plan.target.name)
    state.save_cached(ctx.ws, target=plan.target.name, app=plan.app, record=record)
    phases = phase_seconds(run, UPGRADE_PHASES)
    phases["Ship"] += shipped.seconds
    return UpgradeResult(
        app=plan.app, target=plan.target.name, from_version=plan.from_version, to_version=plan.to_version,
        outcome="upgraded", backup="" if plan.route.zero_downtime else plan.backup_id, blobs_sent=len(shipped.sent), bytes_sent=shipped.bytes_sent,
        bytes_missing=sum(plan.missing.values()), downtime_s=downtime_of(run), seconds=run.seconds + shipped.seconds,
        run_dir=run.run_dir, urls=list(plan.release.urls),
        phase_seconds=phases, switch=switch_stats(run, target=plan.target.name) if plan.route.zero_downtime else None,
    )


def early_bundle(ctx: OpContext, *, target: Target, app: str, to: str | None, bundle: Path | None,
                 bundle_digest: str | None) -> VerifiedBundle | None:
    """The bundle of the version asked, verified, when the target has one host and the bundle
    is here already (given, or built before: never built for this); else None, also when it
    does not verify (:func:`plan_upgrade` verifies it again then, and fails in its own order)."""
    if target.multi_host:
        return None
    try:
        return verified_bundle(ctx, app=app, version=to, bundle=bundle, digest=bundle_digest, build=False)
    except SpbeError:
        ctx.cancel.check()
        return None


def read_state_for_upgrade(
    ctx: OpContext, *, target: Target, app: str, to: str | None, bundle: Path | None, bundle_digest: str | None,
) -> tuple[AppState, VerifiedBundle | None, tuple[dict[str, Any], TargetFacts] | None]:
    """The app's state; on a target of one host whose bundle is here (:func:`early_bundle`) read
    in ONE SSH connection with preflight's facts (its request depends on the bundle's entry
    only, not on the state: :func:`spbe_share.ops.checks.read_state_and_facts`), saving
    preflight's own connection (issue 21). The facts are only evaluated where preflight runs in
    :func:`plan_upgrade`, after every check of the state. Else, or when the facts could not be
    read there: the state alone (preflight reads them itself later)."""
    from pydantic import ValidationError

    vb = early_bundle(ctx, target=target, app=app, to=to, bundle=bundle, bundle_digest=bundle_digest)
    if vb is None:
        return read_state(ctx, target=target, app=app), None, None
    request = facts_request(target, vb.entry)
    st, raw = read_state_and_facts(ctx, target=target, app=app, facts_request=request)
    if raw is None:
        return st, vb, None
    try:
        return st, vb, (request, TargetFacts.model_validate(raw))
    except ValidationError:  # preflight reads them again, and says what is wrong
        return st, vb, None


def upgrade(
    ctx: OpContext,
    *,
    app: str,
    target_name: str,
    to: str | None = None,
    bundle: Path | None = None,
    bundle_digest: str | None = None,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    allow_self_signed: bool = False,
    break_lock: bool = False,
    confirm: Any = None,
    dry_run: bool = False,
) -> tuple[UpgradePlan, UpgradeResult | None]:
    """Plan, (``confirm(plan)`` -> False stops here: the dry run), then upgrade. Audited."""
    with operation(ctx, name="upgrade", app=app, target=target_name) as op:
        op.note(to=to)
        require_slug(app, what="app")
        target = checked_target(ctx, target_name, compare_key=False)  # read_state's ssh compares it (exit 6)
        st, vb, read = read_state_for_upgrade(ctx, target=target, app=app, to=to, bundle=bundle,
                                              bundle_digest=bundle_digest)
        recover_if_needed(ctx, op, target=target, st=st, command="upgrade", dry_run=dry_run)  # returns: st holds
        plan = plan_upgrade(ctx, app=app, target_name=target_name, to=to, bundle=bundle, bundle_digest=bundle_digest,
                            sets=sets, values_file=values_file, allow_self_signed=allow_self_signed, app_state=st,
                            verified=vb, preflight_read=read)
        op.note(**{"from": plan.from_version, "to": plan.to_version, "bundle": plan.bundle.digest,
                   "migrates_data": plan.migrates_data, "route": plan.route.name, "trust": plan.trust, "agreement": plan.agreement})
        if confirm is not None and not confirm(plan):
            op.result = "ok: planned only"
            return plan, None
        result = execute(ctx, op, plan, break_lock=break_lock)
        op.note(downtime_s=round(result.downtime_s, 1), run=str(result.run_dir))
        return plan, result


__all__ = [
    "UPGRADE_PHASES",
    "UpgradePlan",
    "UpgradeResult",
    "downtime_of",
    "early_bundle",
    "execute",
    "plan_upgrade",
    "read_state_for_upgrade",
    "switch_vars",
    "upgrade",
    "upgrade_route",
    "upgrade_vars",
]


UPGRADE_PHASES = ("Lock", "Journal", "Ship", "Load", "Backup", "Stop", "Configure", "Start", "Health", "Switch", "Record")
