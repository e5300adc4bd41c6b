"""``spbe-share config get`` and ``config set``: the settings of an installed app, changed
without an upgrade, on the core (:mod:`.core`).

``get`` reads the serving release's record from the target (untrusted, validated) and shows
each setting the entry declares with its value, its default and whether it may change.

``set`` checks the values against the entry INSIDE the serving release's verified bundle
(:mod:`spbe_share.plans.settings`: unknown names, invalid values and ``immutable`` settings
are refused before the target is contacted for a change), renders that release's templates
again in the sandbox, and runs ``playbooks/config.yml`` under the lock: the new config files,
a restart of only the components whose config changed, the app's health; on failure the old
files come back, those components restart and health is checked again (the attempt is
recorded as ``rolled_back``, exit 13). A success is a new release record (operation
``config``, same version and bundle) with its own deploy spec, so ``rollback`` and
``upgrade`` keep the new values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidInput, RemoteFailed, RolledBack
from ..plans.render import render_configs
from ..plans.settings import changed_configs, settings_change
from ..plans.values import template_variables
from ..records import state
from ..records.deployspec import DeploySpec
from ..records.state import ReleaseRecord
from ..remote.outcome import host_data, raise_for_run
from .bundles import catalog_entry, serving_bundle
from .checks import checked_target, read_state, refuse_spread, require_slug, serving_record
from .context import OpContext
from .core import Attempt, new_lock, operation, run_locked


@dataclass
class SettingRow:
    name: str
    value: str
    default: str | None
    immutable: bool
    description: str
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "default": self.default, "immutable": self.immutable,
                "type": self.kind, "description": self.description}


@dataclass
class ConfigView:
    app: str
    target: str
    version: str
    rows: list[SettingRow]

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "version": self.version,
                "settings": [r.as_dict() for r in self.rows]}


def config_get(ctx: OpContext, *, app: str, target_name: str) -> ConfigView:
    """The settings of ``app`` on the target: the serving record's values, the catalog's declarations."""
    require_slug(app, what="app")
    target = checked_target(ctx, target_name)
    current = serving_record(read_state(ctx, target=target, app=app), app=app, target=target.name)
    entry = catalog_entry(ctx, app)
    rows = [SettingRow(name=s.name, value=current.values.get(s.name, s.default or ""), default=s.default,
                       immutable=s.immutable, description=s.description, kind=s.type) for s in entry.settings]
    return ConfigView(app=app, target=target.name, version=current.version, rows=rows)


class ConfigStats(BaseModel):
    """What ``config.yml`` publishes (``set_stats`` key ``spbe_config``); untrusted."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["changed", "rolled_back", "undo_failed"]
    cause: str
    restarted: list[str]


@dataclass
class ConfigResult:
    app: str
    target: str
    version: str
    changed: dict[str, tuple[str, str]]
    restarted: list[str] = field(default_factory=list)
    seconds: float = 0.0
    run_dir: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "version": self.version,
                "changed": {k: {"from": a, "to": b} for k, (a, b) in self.changed.items()},
                "restarted": self.restarted, "seconds": round(self.seconds, 2),
                "run_dir": str(self.run_dir) if self.run_dir else None}


def config_vars(*, spec: DeploySpec, configs: list[dict[str, Any]], restart: list[str], record: ReleaseRecord,
                deploy: str, stamp: str, root: str) -> dict[str, Any]:
    """The variables of ``config.yml`` (pure): the serving deploy spec with the new config files."""
    new_spec = DeploySpec.model_validate({
        **spec.model_dump(mode="json"),
        "configs": [{k: c[k] for k in ("component", "file", "content")} for c in configs],
    })
    serving = spec.playbook_vars()
    return {
        "spbe_target": spec.target, "spbe_root": root, "spbe_app": spec.app, "spbe_version": spec.version,
        "spbe_stamp": stamp,
        "spbe_configs": [{k: c[k] for k in ("component", "file", "content")} for c in configs],
        "spbe_old_configs": serving["spbe_configs"],
        "spbe_restart_components": list(restart),
        "spbe_serving_containers": serving["spbe_containers"],
        "spbe_network": serving["spbe_network"],
        "spbe_health": serving["spbe_health"],
        "spbe_deploy_name": deploy,
        "spbe_deploy_spec": new_spec.model_dump(mode="json"),
        "spbe_record": record.model_dump(mode="json"),
    }


def config_set(ctx: OpContext, *, app: str, target_name: str, sets: Sequence[str], bundle: Path | None = None,
               break_lock: bool = False) -> ConfigResult:
    """Change settings of the serving release (health-gated, rolled back by itself). Audited."""
    with operation(ctx, name="config set", app=app, target=target_name) as op:
        require_slug(app, what="app")
        if not sets:
            raise InvalidInput("config set: give at least one NAME=VALUE")
        target = checked_target(ctx, target_name)
        refuse_spread(ctx, target, app=app, what="config set")
        st = read_state(ctx, target=target, app=app)
        current = serving_record(st, app=app, target=target.name)
        spec = st.deploy(current.deploy, what=f"{app} {current.version}")
        vb = serving_bundle(ctx, app=app, record=current, bundle=bundle)
        change = settings_change(vb.entry, current=current.values, sets=sets)
        op.note(settings=sorted(change.changed))  # names only: a value may be personal data
        if not change.changed:
            op.result = "ok: unchanged"
            return ConfigResult(app=app, target=target.name, version=current.version, changed={})
        variables = template_variables(change.values, app=app, version=current.version, target=target.name,
                                       pemda=target.pemda, kode_wilayah=target.kode_wilayah)
        configs = render_configs(vb.entry, template_root=vb.dir, variables=variables)
        restart = changed_configs([c.model_dump() for c in spec.configs], configs)
        stamp = state.stamp(ctx.now)
        deploy = state.deploy_name(stamp=stamp, version=current.version)
        record = current.model_copy(update={
            "values": change.values.as_dict(), "who": ctx.operator, "when": state.iso(ctx.now), "result": "ok",
            "message": None, "operation": "config", "host": state.controller_host(), "backup": None,
            "migrates_data": False, "deploy": deploy, "from_version": current.version,
            "previous": {"version": current.version, "when": current.when, "bundle_digest": current.bundle_digest},
        })
        record = ReleaseRecord.model_validate(record.model_dump(mode="json"))
        run = run_locked(
            ctx, op, playbook="config.yml", target=target,
            extravars=config_vars(spec=spec, configs=configs, restart=restart, record=record, deploy=deploy,
                                  stamp=stamp, root=target.root),
            lock=new_lock(ctx, operation=f"config set {app}"), break_lock=break_lock,
            attempt=Attempt(path=state.attempt_path(target.root, app, stamp=stamp, version=current.version),
                            record=record.model_dump(mode="json")),
            check=False,
        )
        if not run.ok:
            if run.stats.get(target.name, {}).get("spbe_config") is None:
                raise_for_run(run, target.name, "config set", app=app)
            stats = host_data(run, target=target.name, key="spbe_config", model=ConfigStats)
            op.note(outcome=stats.outcome, cause=stats.cause[:500], run=str(run.run_dir))
            names = ", ".join(sorted(change.changed))
            if stats.outcome == "rolled_back":
                raise RolledBack(
                    f"changing {names} of {app} on {target.name} failed; rolled back: the old settings serve again"
                    " and the app is healthy (`spbe-share history` shows the attempt)",
                    details=[f"cause: {stats.cause[:1500]}", f"log: {run.run_dir}"],
                )
            raise RemoteFailed(
                f"changing {names} of {app} on {target.name} failed and putting the old config back failed too",
                details=[f"cause: {stats.cause[:1500]}", f"log: {run.run_dir}"],
            )
        done = host_data(run, target=target.name, key="spbe_config", model=ConfigStats)
        state.save_cached(ctx.ws, target=target.name, app=app, record=record)
        op.note(restarted=done.restarted, run=str(run.run_dir))
        return ConfigResult(app=app, target=target.name, version=current.version, changed=change.changed,
                            restarted=done.restarted, seconds=run.seconds, run_dir=run.run_dir)


__all__ = ["ConfigResult", "ConfigView", "SettingRow", "config_get", "config_set", "config_vars"]
