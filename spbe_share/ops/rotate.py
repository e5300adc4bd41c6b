"""``spbe-share secrets rotate``: give a deployment's secret a new value where the app's entry
allows it (``secrets[].rotation``), on the core (:mod:`.core`).

The entry decides: ``never`` (e.g. e-office's ``SECRET_KEY``, which wraps the signing keys)
and unmarked secrets are refused before the target is contacted. ``postgresql-role``: the
role's password changes in the database first (``ALTER ROLE`` by the server's superuser), then
in the app's secret files, then the components using it restart; ``restart``: files, then
restart. ``secrets-rotate.yml`` does it under the lock, gated on the serving release's health
checks; on any failure the old value is put back everywhere and health checked again. The new
value is generated on the target and never leaves it in clear; afterwards the secrets are
sealed again to the operator's key, so the next backup carries the new value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..plans.opvars import rotate_vars, rotation_of
from ..records import state
from ..remote.outcome import host_data
from .backups import catalog_entry, op_attempt, seal_secrets
from .checks import agreement_for, checked_target, refuse_spread, require_slug
from .context import OpContext
from .core import new_lock, operation, run_locked


class RotateStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    restarted: list[str]


@dataclass
class RotateResult:
    app: str
    target: str
    name: str
    restarted: list[str]
    sealed: str

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "name": self.name, "restarted": self.restarted,
                "sealed": self.sealed}


def rotate(ctx: OpContext, *, app: str, target_name: str, name: str, break_lock: bool = False) -> RotateResult:
    with operation(ctx, name="secrets rotate", app=app, target=target_name) as op:
        op.note(secret=name)
        require_slug(app, what="app")
        entry = catalog_entry(ctx, app)
        rotation_of(entry, name)  # refused here for never / unmarked secrets: nothing contacted
        target = checked_target(ctx, target_name)
        refuse_spread(ctx, target, app=app, what="secrets rotate")
        op.note(agreement=agreement_for(ctx, target=target, entry=entry, scope="support"))
        stamp = state.stamp(ctx.now)
        run = run_locked(
            ctx, op, playbook="secrets-rotate.yml", target=target,
            extravars=rotate_vars(entry, target=target, name=name),
            lock=new_lock(ctx, operation=f"secrets rotate {app} {name}"), break_lock=break_lock,
            attempt=op_attempt(target, app=app, op="secrets-rotate", who=ctx.operator, stamp=stamp,
                               details={"secret": name}),
        )
        done = host_data(run, target=target.name, key="spbe_rotated", model=RotateStats)
        sealed = seal_secrets(ctx, target, app, entry)
        op.note(restarted=done.restarted, sealed=sealed.state, run=str(run.run_dir))
        return RotateResult(app=app, target=target.name, name=name, restarted=done.restarted, sealed=sealed.state)


__all__ = ["RotateResult", "rotate"]
