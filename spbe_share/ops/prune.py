"""``spbe-share prune``: give back the disk of an app's old releases on a target, on the core
(:mod:`.core`), under the app's lock.

The serving release and the newest others that served stay (``keep`` in all,
:func:`~spbe_share.plans.prune.prune_plan`); of the other versions the deploy spec (that
release can no longer be brought back by ``rollback``), the bundle files and the images go,
then the blobs nothing names any more (``playbooks/prune.yml``,
``module_utils/spbe_prune.py``). Release records stay: ``history`` still shows every attempt.
``dry_run`` says what would go and removes nothing. An app across several hosts: every host
with a part of it prunes its own (the first host holds the lock; the same versions stay
everywhere). An unfinished upgrade or rollback is refused (exit 8) before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput, RemoteFailed
from ..plans.prune import DEFAULT_GRACE_S, MAX_GRACE_S, MAX_KEEP, prune_plan
from ..remote.outcome import host_data
from .checks import checked_target, read_state, require_slug, serving_record, spread_parts
from .context import OpContext
from .core import new_lock, operation, run_locked


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrunedImage(_Strict):
    id: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    tags: list[str] = Field(default_factory=list, max_length=100)
    bytes: int = Field(ge=0)  # an upper bound: an image's size counts layers shared with images that stay
    disk_freed: int | None = Field(default=None, ge=0)  # measured on the target (None: a dry run)


class KeptImage(_Strict):
    id: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    why: str = Field(max_length=600)


class PruneStats(_Strict):
    """What ``prune.yml`` publishes (``spbe_prune``); from the target: untrusted."""

    check: bool
    keep: list[str] = Field(max_length=MAX_KEEP)
    files: list[str] = Field(max_length=100000)
    files_bytes: int = Field(ge=0)
    images: list[PrunedImage] = Field(max_length=10000)
    images_kept: list[KeptImage] = Field(max_length=10000)
    images_bytes: int = Field(ge=0)
    blobs: int = Field(ge=0)
    blobs_bytes: int = Field(ge=0)
    blobs_young: int = Field(ge=0)
    bytes: int = Field(ge=0)  # an upper bound: an image's size counts layers shared with images that stay
    disk_freed: int | None = Field(default=None, ge=0)  # measured on the target (None: a dry run)


def merged(per_host: dict[str, PruneStats]) -> PruneStats:
    """The hosts' figures together (several hosts: each file named ``<host>:<file>``)."""
    if len(per_host) == 1:
        return next(iter(per_host.values()))
    first = next(iter(per_host.values()))
    freed = [s.disk_freed for s in per_host.values()]
    return PruneStats(
        check=first.check, keep=first.keep,
        files=[f"{h}:{f}" for h, s in per_host.items() for f in s.files],
        files_bytes=sum(s.files_bytes for s in per_host.values()),
        images=[i for s in per_host.values() for i in s.images],
        images_kept=[i for s in per_host.values() for i in s.images_kept],
        images_bytes=sum(s.images_bytes for s in per_host.values()),
        blobs=sum(s.blobs for s in per_host.values()), blobs_bytes=sum(s.blobs_bytes for s in per_host.values()),
        blobs_young=sum(s.blobs_young for s in per_host.values()), bytes=sum(s.bytes for s in per_host.values()),
        disk_freed=None if None in freed else sum(f or 0 for f in freed),
    )


@dataclass
class PruneResult:
    app: str
    target: str
    dry_run: bool
    keep: list[str]
    gone: list[str]
    hosts: dict[str, PruneStats]  # by inventory host name (one host: the target's name)
    run_dir: Path

    @property
    def stats(self) -> PruneStats:
        """Every host's figures together."""
        return merged(self.hosts)

    def as_dict(self) -> dict[str, Any]:
        out = {"app": self.app, "target": self.target, "dry_run": self.dry_run, "keep": self.keep,
               "versions_gone": self.gone, **self.stats.model_dump(exclude={"check", "keep"})}
        if len(self.hosts) > 1:
            out["hosts"] = {h: s.model_dump(exclude={"check", "keep"}) for h, s in self.hosts.items()}
        return {**out, "run_dir": str(self.run_dir)}


def prune(ctx: OpContext, *, app: str, target_name: str, keep: int, dry_run: bool = False,
          blob_grace_s: int = DEFAULT_GRACE_S, break_lock: bool = False) -> PruneResult:
    """Prune ``app``'s releases on ``target_name`` but the ``keep`` newest that served; blobs
    younger than ``blob_grace_s`` stay (a ship of another app may be under way: it comes
    before that app's playbook and lock)."""
    with operation(ctx, name="prune", app=app, target=target_name) as op:
        require_slug(app, what="app")
        if not 1 <= keep <= MAX_KEEP:
            raise InvalidInput(f"--keep: {keep} is not a number of releases from 1 to {MAX_KEEP}")
        if not 0 <= blob_grace_s <= MAX_GRACE_S:
            raise InvalidInput(f"--blob-grace: {blob_grace_s} seconds is not from 0 to {MAX_GRACE_S}")
        target = checked_target(ctx, target_name)
        parts = spread_parts(ctx, target, app=app)  # several hosts: each prunes its part
        hosts = [p.host for p in parts or () if p.components or p.lock_host]
        st = read_state(ctx, target=target, app=app)
        plan = prune_plan(st.releases, serving_record(st, app=app, target=target.name), keep=keep)
        op.note(keep=plan.keep, versions_gone=plan.gone, dry_run=dry_run)
        extravars: dict[str, Any] = {
            "spbe_target": target.name, "spbe_root": target.root, "spbe_app": app, "spbe_prune_keep": plan.keep,
            "spbe_prune_check": dry_run, "spbe_prune_grace_s": blob_grace_s}
        host_vars = None
        if hosts:
            extravars["spbe_play_hosts"] = [h.name for h in hosts]
            host_vars = {h.name: {"spbe_root": h.root} for h in hosts}
        run = run_locked(
            ctx, op, playbook="prune.yml", target=target, extravars=extravars,
            lock=new_lock(ctx, operation=f"prune {app}"), break_lock=break_lock, attempt=None,
            hosts=hosts, host_vars=host_vars,
        )
        per_host = {}
        for name in [h.name for h in hosts] or [target.name]:
            done = per_host[name] = host_data(run, target=name, key="spbe_prune", model=PruneStats)
            if done.keep != sorted(plan.keep):
                asked = sorted(plan.keep)
                raise RemoteFailed(f"{name}: prune kept {done.keep}, not the versions asked ({asked})")
        result = PruneResult(app=app, target=target.name, dry_run=dry_run, keep=plan.keep, gone=plan.gone,
                             hosts=per_host, run_dir=run.run_dir)
        total = result.stats
        op.note(files=len(total.files), images=len(total.images), blobs=total.blobs, bytes=total.bytes,
                run=str(run.run_dir))
        return result


__all__ = ["PruneResult", "PruneStats", "merged", "prune"]
