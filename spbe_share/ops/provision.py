"""``spbe-share target provision NAME``: make a bare server ready, from a signed provision bundle.

Checks first, reading only: the bundle's signature and every file's digest, its signer trusted
for provisioning (this workspace's own key or ``keys trust FILE --provision``; a key trusted
only for a donor's apps is refused: the packages are installed as root), the pinned host key,
the target's OS and architecture (``/etc/os-release``, ``dpkg --print-architecture`` over
SSH), and that the bundle was built for that OS and architecture. Then ``playbooks/provision.yml``
(clock check, lock, root folders, daemon.json, offline packages, engine started, what install
needs checked) on the operations core like every operation (:mod:`.core`): one audit line for
every outcome, refusals and internal errors included; the provisioning lock
(``<root>/locks/_provision.lock``, one per server, apart from the apps' locks) with its lease
renewed while the playbook runs; an interrupt releases it and is audited as ``cancelled``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    InvalidInput,
    Locked,
    NotFound,
    RemoteFailed,
)
from ..i18n import N_
from ..outside import OutsideJSONError, loads_json
from ..provision.bundle import ProvisionManifest, ProvisionSigner, verify_for_provisioning
from ..provision.oses import PROFILES, os_id_of, parse_os_release
from .core import new_lock, operation, run_locked

if TYPE_CHECKING:
    from ..records.state import LockOwner
    from ..remote.runner import RunResult
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .context import OpContext

DAEMON_KEY = r"^[a-z][a-z0-9-]{0,63}$"
PLAYBOOK = "provision.yml"


def provision_fix(target: str) -> str:
    """What to run when a target lacks what install needs (named by preflight)."""
    return f"spbe-share target provision {target}"


# ---------------------------------------------------------------- docker daemon options


def parse_daemon_options(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items (VALUE is JSON when it parses: ``false``, ``10``, ``{...}``; else text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not re.match(DAEMON_KEY, key):
            raise InvalidInput(
                f"--docker-daemon-opt {item!r}: expected KEY=VALUE with a daemon.json key (e.g. storage-driver=vfs)"
            )
        try:
            out[key] = loads_json(raw)
        except OutsideJSONError:  # not JSON (or nested past any daemon.json): the text itself
            out[key] = raw
    return out


def with_daemon_options(target: Target, options: dict[str, Any]) -> Target:
    """``target`` with ``options`` merged into its daemon settings (a null value removes a key)."""
    merged = {**target.docker_daemon_options, **options}
    return target.model_copy(update={"docker_daemon_options": {k: v for k, v in merged.items() if v is not None}})


def set_docker_daemon_options(ws: Workspace, name: str, options: dict[str, Any]) -> Target:
    """Merge ``options`` into the target's ``spbe_docker_daemon_options`` in the inventory."""
    from ..targets.inventory import load_targets, save_targets

    targets = load_targets(ws)
    if name not in targets:
        raise NotFound(f"unknown target {name!r}")
    targets[name] = with_daemon_options(targets[name], options)
    save_targets(ws, targets.values())
    return targets[name]


# ---------------------------------------------------------------- reading the target


def read_platform(ws: Workspace, target: Target) -> tuple[str, str]:
    """(os id, dpkg architecture) of the target, e.g. ("debian-12", "amd64")."""
    from ..remote.ssh import run_ssh

    os_release = run_ssh(ws, target, ["cat", "/etc/os-release"], timeout=60)
    if os_release.returncode != 0:
        raise RemoteFailed(f"{target.name}: cannot read /etc/os-release: {os_release.stderr.strip()[-200:]}")
    os_id = os_id_of(parse_os_release(os_release.stdout))
    arch = run_ssh(ws, target, ["dpkg", "--print-architecture"], timeout=60)
    if arch.returncode != 0:
        raise InvalidInput(
            f"{target.name} runs {os_id} without dpkg: spbe-share provisions {', '.join(sorted(PROFILES))}"
        )
    return os_id, arch.stdout.strip()


# ---------------------------------------------------------------- plan (pure) and run


def provision_vars(
    *, target: Target, manifest: ProvisionManifest, bundle_path: Path, lock_owner: LockOwner
) -> dict[str, Any]:
    """The variables of ``provision.yml`` (pure)."""
    return {
        "spbe_target": target.name,
        "spbe_root": target.root,
        "spbe_provision_bundle": str(bundle_path),
        "spbe_provision_files": [f.model_dump(mode="json") for f in manifest.files],
        "spbe_provision_needs": [list(alts) for alts in manifest.needs],
        "spbe_lock_owner": lock_owner.model_dump(mode="json"),
        "spbe_lock_path": lock_file(target),
    }


def lock_file(target: Target) -> str:
    """The provisioning lock on ``target`` (one per server, apart from the apps' locks)."""
    return f"{target.root}/locks/_provision.lock"


@dataclass
class ProvisionPlan:
    target: Target
    os_id: str
    arch: str
    bundle_path: Path
    manifest: ProvisionManifest
    signer: ProvisionSigner
    extravars: dict[str, Any]
    lock: LockOwner


@dataclass
class ProvisionResult:
    target: str
    os: str
    arch: str
    bundle: str
    changed: bool
    changed_tasks: list[str]
    installed: list[str]
    clock: dict[str, Any]
    docker_version: str
    daemon_json: dict[str, Any]
    run_dir: Path
    seconds: float
    signer: ProvisionSigner
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "os": self.os,
            "arch": self.arch,
            "bundle": self.bundle,
            "signer": self.signer.as_dict(),
            "changed": self.changed,
            "changed_tasks": self.changed_tasks,
            "installed": self.installed,
            "clock": self.clock,
            "docker_version": self.docker_version,
            "daemon_json": self.daemon_json,
            "warnings": self.warnings,
            "run_dir": str(self.run_dir),
            "seconds": round(self.seconds, 2),
        }


def locate_bundle(ws: Workspace, os_id: str, arch: str, bundle: Path | None) -> Path:
    from ..provision.build import default_bundle_path

    if bundle is not None:
        return bundle
    path = default_bundle_path(ws, os_id, arch)
    if not path.is_file():
        raise NotFound(
            f"no provision bundle for {os_id}/{arch} ({path}): build one on a machine that reaches a"
            f" {os_id.split('-')[0]} mirror (spbe-share provision-bundle build --os {os_id}), or pass --bundle FILE"
        )
    return path


def plan_provision(
    ctx: OpContext,
    *,
    target_name: str,
    bundle: Path | None = None,
    docker_daemon_options: dict[str, Any] | None = None,
    host: str | None = None,
) -> ProvisionPlan:
    """Every check of a provisioning, reading only; the plan of ``provision.yml``. ``host``: one
    host of a data center with several (its inventory name; default: the target's first)."""
    from ..remote.ssh import check_host_key
    from ..targets.inventory import get_target

    target = get_target(ctx.ws, target_name)
    if host is not None:
        target = next(h for h in target.hosts() if h.name == host)
    if docker_daemon_options:
        target = with_daemon_options(target, docker_daemon_options)
    if target.connection != "ssh":
        raise InvalidInput(
            f"target {target.name!r} is this machine: prepare it with `bash scripts/setup`, not `target provision`"
        )
    # a bundle given by name is checked (signature, digests, signer trusted for provisioning)
    # before the target is contacted
    given = verify_for_provisioning(ctx.ws, bundle) if bundle is not None else None
    ctx.cancel.check()
    check_host_key(ctx.ws, target)  # the pinned host key (the target as saved: same host)
    ctx.cancel.check()
    os_id, arch = read_platform(ctx.ws, target)
    if os_id not in PROFILES:
        raise InvalidInput(f"{target.name} runs {os_id}: spbe-share provisions {', '.join(sorted(PROFILES))}")
    path = locate_bundle(ctx.ws, os_id, arch, bundle)
    manifest, signer = given or verify_for_provisioning(ctx.ws, path)
    if (manifest.os, manifest.arch) != (os_id, arch):
        raise InvalidInput(
            f"{path} is for {manifest.os}/{manifest.arch}; {target.name} runs {os_id}/{arch}"
            f" (spbe-share provision-bundle build --os {os_id} --arch {arch})"
        )
    owner = new_lock(ctx, operation=f"provision {target.name}")
    return ProvisionPlan(
        target=target,
        os_id=os_id,
        arch=arch,
        bundle_path=path,
        manifest=manifest,
        signer=signer,
        extravars=provision_vars(target=target, manifest=manifest, bundle_path=path.resolve(), lock_owner=owner),
        lock=owner,
    )


def _raise_failure(result: RunResult, target: str) -> None:
    from ..remote.outcome import raise_for_run

    if result.failed_result.get("spbe_locked"):
        raise Locked(f"{target}: {result.failed_message}")
    raise_for_run(result, target, "provisioning")


def result_of(plan: ProvisionPlan, result: RunResult) -> ProvisionResult:
    """What ``provision.yml`` published (``set_stats`` key ``spbe_provision``)."""
    info = result.stats.get(plan.target.name, {}).get("spbe_provision") or {}
    clock = {
        "skew_seconds": info.get("clock_skew_seconds"),
        "level": info.get("clock_level"),
        "message": info.get("clock_message"),
    }
    warnings = [str(clock["message"])] if clock["level"] == "warn" else []
    return ProvisionResult(
        target=plan.target.name,
        os=plan.os_id,
        arch=plan.arch,
        bundle=str(plan.bundle_path),
        changed=result.changed > 0,
        changed_tasks=list(result.changed_tasks),
        installed=list(info.get("installed") or []),
        clock=clock,
        docker_version=str(info.get("docker_version") or ""),
        daemon_json=dict(info.get("daemon_json") or {}),
        run_dir=result.run_dir,
        seconds=result.seconds,
        signer=plan.signer,
        warnings=warnings,
    )


def _cancelled(target: str) -> Callable[[str, str | None, str], str]:
    def message(signal: str, where: str | None, cleaned: str) -> str:
        if where is None:
            return N_(f"provisioning of {target} stopped by {signal} before its playbook started; {cleaned}")
        return N_(f"provisioning of {target} stopped by {signal} during '{where}'; {cleaned}; running"
                  f" `spbe-share target provision {target}` again finishes it")

    return message


def provision(
    ctx: OpContext,
    *,
    target_name: str,
    bundle: Path | None = None,
    docker_daemon_options: dict[str, Any] | None = None,
    host: str | None = None,
) -> ProvisionResult:
    """Check, then provision ``target_name`` (``host``: that host of it): audited on every exit path, under the provisioning
    lock with its lease renewed; a SIGINT/SIGTERM (``ctx.cancel``) stops the playbook, releases
    the lock if this run holds it and raises :class:`Cancelled` (exit 12).

    ``docker_daemon_options`` are merged into the target's settings for this run and saved in
    the inventory once it succeeded (a refused or failed run leaves the inventory as it was).
    """
    with operation(ctx, name="provision", app=None, target=host or target_name) as op:
        plan = plan_provision(ctx, target_name=target_name, bundle=bundle, docker_daemon_options=docker_daemon_options,
                              host=host)  # fmt: skip
        op.note(bundle=plan.manifest.digest)
        op.cancelled = _cancelled(plan.target.name)
        run = run_locked(
            ctx, op, playbook=PLAYBOOK, target=plan.target, extravars=plan.extravars, lock=plan.lock, attempt=None,
            lock_file=lock_file(plan.target), check=False,
        )
        if not run.ok:
            _raise_failure(run, plan.target.name)
        result = result_of(plan, run)
        if docker_daemon_options and host is None:
            set_docker_daemon_options(ctx.ws, target_name, docker_daemon_options)
        op.result = "ok" if result.changed else "ok: nothing changed"
        op.note(os=plan.os_id, arch=plan.arch, signer=plan.signer.key_id, signer_trust=plan.signer.why,
                installed=result.installed, changed_tasks=result.changed_tasks,
                clock_skew_seconds=result.clock["skew_seconds"], run=str(result.run_dir))
        return result


def provision_all(
    ctx: OpContext,
    *,
    target_name: str,
    bundle: Path | None = None,
    docker_daemon_options: dict[str, Any] | None = None,
) -> list[ProvisionResult]:
    """``target provision``: every host of the data center, one after the other (each its own
    checks, lock, OS and bundle; a host that fails stops the rest, and running it again
    finishes them: a provisioned host changes nothing). The daemon options are saved once all
    hosts took them."""
    from ..targets.inventory import load_targets

    target = load_targets(ctx.ws).get(target_name)
    if target is None or not target.multi_host:  # provision() refuses (and audits) a target it cannot use
        return [provision(ctx, target_name=target_name, bundle=bundle, docker_daemon_options=docker_daemon_options)]
    out = []
    for h in target.hosts():
        ctx.say(f"provisioning host {h.name} ({h.host}, roles {', '.join(h.roles)})")
        out.append(provision(ctx, target_name=target_name, bundle=bundle, docker_daemon_options=docker_daemon_options,
                             host=h.name))  # fmt: skip
    if docker_daemon_options:
        set_docker_daemon_options(ctx.ws, target_name, docker_daemon_options)
    return out
