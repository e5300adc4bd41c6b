"""Preflight: does a target meet an app's requirements? Reads facts over SSH, changes nothing.

:func:`gather_facts` runs ``playbooks/preflight.yml`` (setup facts, free disk of the target
root's filesystem, a bind test of every port, ``docker version``, the Python libraries the
community.docker modules import, zstd, a writable root); :func:`evaluate` is a pure function
from the entry's requirements and those facts to a list of :class:`Check`. What provisioning
installs is checked here too, so install never fails half way for a reason preflight could
have seen; such a failing check names its fix (``spbe-share target provision NAME``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..catalog.models import Entry, Requirements
from ..errors import Cancelled, PreflightFailed, RemoteFailed
from ..outside import OutsideJSONError, loads_json

if TYPE_CHECKING:
    from ..remote.interrupts import CancelToken
    from ..remote.runner import ProgressCallback, RunResult
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .context import OpContext


class DiskFacts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path: str
    root_exists: bool = False
    free_mb: int


class PythonFacts(BaseModel):
    """The interpreter Ansible's modules run under on the target, and its libraries."""

    model_config = ConfigDict(extra="ignore")
    executable: str = ""
    version: str = ""
    modules: dict[str, str | None] = Field(default_factory=dict)  # name -> version, None = missing


# The libraries the playbooks' community.docker modules import on the target.
MODULE_LIBRARIES = ("docker", "requests")


class AppArmorFacts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    kernel: bool = False  # the kernel enforces AppArmor
    parser: str | None = None  # apparmor_parser, which dockerd then needs for its profile


class TargetFacts(BaseModel):
    """What ``preflight.yml`` publishes (``set_stats`` key ``spbe_preflight``)."""

    model_config = ConfigDict(extra="ignore")
    cpu_cores: int = 0
    memory_mb: int = 0
    os_family: str = "unknown"
    os_version: str = ""
    os_major: str = ""
    disk: DiskFacts
    ports: dict[str, str] = Field(default_factory=dict)  # "8080" -> free | in use | ...
    bind_address: str = ""
    docker_rc: int = -1
    docker_version: str = ""  # `docker version --format '{{json .}}'` output
    docker_error: str = ""
    own_ports: list[int] = Field(default_factory=list)  # published by this app's containers
    python: PythonFacts | None = None
    zstd: str | None = None  # path of the zstd binary
    root_writable: bool = False
    apparmor: AppArmorFacts = Field(default_factory=AppArmorFacts)

    def docker_server_version(self) -> str | None:
        if self.docker_rc != 0 or not self.docker_version.strip():
            return None
        try:
            doc = loads_json(self.docker_version)
        except OutsideJSONError:
            return None
        server = doc.get("Server") if isinstance(doc, dict) else None
        if not isinstance(server, dict):
            return None
        return str(server.get("Version") or "") or None


@dataclass(frozen=True)
class Check:
    check: str
    required: str
    found: str
    ok: bool
    fix: str = ""  # what to run when it fails (provisioning fixes most of what install needs)


def required_ports(entry: Entry, *, proxy: bool = False) -> list[int]:
    """Ports that must be free: ``requirements.ports`` plus every published port (sorted); with
    the TLS proxy (``install --domain``) also 443 and 80."""
    ports = set(entry.requirements.ports) | ({443, 80} if proxy else set())
    for c in entry.components:
        for p in c.ports:
            if p.protocol == "tcp":
                ports.add(p.host_port)
    return sorted(ports)


def _os_ok(req: Requirements, facts: TargetFacts) -> bool:
    for os_ in req.os:
        if os_.name != facts.os_family:
            continue
        for v in os_.versions:
            if v in (facts.os_major, facts.os_version) or facts.os_version.startswith(v + "."):
                return True
    return False


def check_bind_address(address: str, facts: TargetFacts) -> Check:
    """The address app ports will be published on must be an IP address of the target.

    Docker (community.docker) refuses a host name there, and would fail only at Start,
    after ship, configure and secrets ran; the port probe fails on a foreign address.
    """
    import ipaddress

    required = "an IP address of the target"
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return Check("bind address", required, f"host name {address!r} (set an IP: target add --replace"
                     " ... --bind-address IP)", False)  # fmt: skip
    if "address not available" in facts.ports.values():
        return Check("bind address", required, f"{address} is not an address of the target", False)
    return Check("bind address", required, address, True)


def install_needs(facts: TargetFacts, *, fix: str = "") -> list[Check]:
    """What install itself needs on the target besides the engine (pure)."""
    python = facts.python or PythonFacts()
    libs = {name: python.modules.get(name) for name in MODULE_LIBRARIES}
    missing = [n for n, v in libs.items() if v is None]
    where = python.executable or "the target's python3"
    found = ", ".join(f"{n} {v}" if v else f"{n} missing" for n, v in libs.items())
    checks = [
        Check("python libraries", f"{', '.join(MODULE_LIBRARIES)} importable by {where}", found, not missing),
        Check("zstd", "zstd on the PATH", facts.zstd or "missing", bool(facts.zstd)),
        Check(
            "spbe-share root",
            f"writable: {facts.disk.path}" if facts.disk.root_exists else f"creatable under {facts.disk.path}",
            "writable" if facts.root_writable else "not writable",
            facts.root_writable,
        ),
    ]
    if facts.apparmor.kernel:  # else dockerd cannot load its profile and no container starts
        parser = facts.apparmor.parser
        checks.append(Check("apparmor", "apparmor_parser (the kernel enforces AppArmor)", parser or "missing",
                            bool(parser)))
    return [c if c.ok else Check(c.check, c.required, c.found, c.ok, fix) for c in checks]


def evaluate(
    requirements: Requirements,
    facts: TargetFacts,
    *,
    ports: Sequence[int] = (),
    bind_address: str | None = None,
    fix: str = "",
) -> list[Check]:
    """Every requirement against the facts; ``ports`` are the TCP ports that must be free.

    ``bind_address`` is the address the install will publish on (default: the one probed).
    ``fix`` is named by the failing checks that provisioning repairs (engine, libraries, zstd, root).
    """
    req = requirements
    checks = [
        Check("cpu cores", f">= {req.cpu_cores}", str(facts.cpu_cores), facts.cpu_cores >= req.cpu_cores),
        Check(
            "memory",
            f">= {req.memory_mb} MB",
            f"{facts.memory_mb} MB",
            facts.memory_mb >= req.memory_mb,
        ),
        Check(
            "free disk",
            f">= {req.disk_gb} GB on {facts.disk.path}",
            f"{facts.disk.free_mb / 1024:.1f} GB",
            facts.disk.free_mb >= req.disk_gb * 1024,
        ),
        Check(
            "operating system",
            " or ".join(f"{o.name} {'/'.join(o.versions)}" for o in req.os),
            f"{facts.os_family} {facts.os_version}".strip(),
            _os_ok(req, facts),
        ),
    ]
    server = facts.docker_server_version()
    if server:
        found = f"engine {server}"
    elif facts.docker_rc == -1:
        found = "docker not found"
    else:
        found = (facts.docker_error.strip().splitlines() or ["engine not answering"])[-1][:120]
    checks.append(Check("docker engine", "running", found, server is not None, "" if server else fix))
    checks.append(check_bind_address(bind_address or facts.bind_address, facts))
    checks += install_needs(facts, fix=fix)
    own = set(facts.own_ports)
    for port in ports:
        state = facts.ports.get(str(port), "not tested")
        if state == "in use" and port in own:
            checks.append(Check(f"port {port}", f"free on {facts.bind_address}", "in use by this app", True))
            continue
        checks.append(Check(f"port {port}", f"free on {facts.bind_address}", state, state == "free"))
    return checks


def failed(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def container_names(target: str, entry: Entry, *, proxy: bool = False) -> list[str]:
    from ..plans.proxy import proxy_container_name

    return [f"spbe-{target}-{entry.id}-{c.name}" for c in entry.components] + (
        [proxy_container_name(target, entry.id)] if proxy else [])


def preflight_vars(target: Target, entry: Entry, *, proxy: bool = False) -> dict[str, Any]:
    """``proxy``: the app gets a domain: 443 and 80 must be free too (or be its proxy's)."""
    return {
        "spbe_target": target.name,
        "spbe_root": target.root,
        "spbe_bind_address": target.bind_address,
        "spbe_ports": required_ports(entry, proxy=proxy),
        "spbe_containers": container_names(target.name, entry, proxy=proxy),
    }


@dataclass(frozen=True)
class PreflightReport:
    target: str
    app: str
    checks: list[Check]
    run_dir: str

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "app": self.app,
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
            "run_dir": self.run_dir,
        }


def gather_facts(
    ws: Workspace,
    *,
    target: Target,
    entry: Entry,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    proxy: bool = False,
) -> tuple[TargetFacts, RunResult]:
    from ..remote.outcome import raise_for_run
    from ..remote.runner import run_playbook

    result = run_playbook(
        ws,
        op="preflight",
        target=target.name,
        app=entry.id,
        playbook="preflight.yml",
        targets=[target],
        extravars=preflight_vars(target, entry, proxy=proxy),
        progress=progress,
        now=dt.datetime.now(dt.UTC),
        cancel=cancel,
    )
    if result.cancelled and not result.ok:
        raise Cancelled(f"preflight on {target.name} stopped; it changes nothing")
    raise_for_run(result, target.name, "preflight")
    data = result.stats.get(target.name, {}).get("spbe_preflight")
    if not isinstance(data, dict):
        raise RemoteFailed(f"{target.name}: preflight returned no facts (see {result.run_dir})")
    return TargetFacts.model_validate(data), result


def run_preflight(
    ws: Workspace,
    *,
    target: Target,
    entry: Entry,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    proxy: bool = False,
) -> PreflightReport:
    """Gather facts and evaluate; the caller decides what a failure means (see :func:`require_ok`)."""
    facts, result = gather_facts(ws, target=target, entry=entry, progress=progress, cancel=cancel, proxy=proxy)
    checks = evaluate(
        entry.requirements, facts, ports=required_ports(entry, proxy=proxy), bind_address=target.bind_address,
        fix=fix_for(target),
    )
    return PreflightReport(target=target.name, app=entry.id, checks=checks, run_dir=str(result.run_dir))


def require_ok(report: PreflightReport) -> None:
    bad = failed(report.checks)
    if bad:
        fixes = list(dict.fromkeys(c.fix for c in bad if c.fix))
        raise PreflightFailed(
            f"{report.target} does not meet the requirements of {report.app}",
            details=[f"  {c.check}: required {c.required}, found {c.found}" for c in bad]
            + [f"fix: {f}" for f in fixes],
        )


def fix_for(target: Target) -> str:
    """What prepares ``target`` for install: provisioning, or the setup script for this machine."""
    from .provision import provision_fix

    return provision_fix(target.name) if target.connection == "ssh" else "bash scripts/setup (this machine)"


def preflight(ctx: OpContext, *, app: str, target_name: str) -> PreflightReport:
    """``spbe-share preflight``: host key, catalog entry, facts, evaluation; audited.

    Returns the report (also when checks fail: the caller shows the table, then
    :func:`require_ok` raises :class:`PreflightFailed`).
    """
    from ..catalog.loader import get_entry
    from .checks import checked_target
    from .core import operation

    with operation(ctx, name="preflight", app=app, target=target_name, refusal="error") as op:
        target = checked_target(ctx, target_name)
        entry = get_entry(ctx.ws, app).entry
        report = run_preflight(ctx.ws, target=target, entry=entry, progress=ctx.progress, cancel=ctx.cancel)
        op.result = "ok" if report.ok else "failed"
        op.note(failed=[c.check for c in failed(report.checks)], run=report.run_dir)
        return report


def preflight_ok(ctx: OpContext, *, target: Target, entry: Entry, proxy: bool = False) -> PreflightReport:
    """Preflight on the target (read-only); raises PreflightFailed when a check fails.
    ``proxy``: the app gets the TLS proxy (443 and 80 must be free, or be its own)."""

    ctx.cancel.check()
    report = run_preflight(ctx.ws, target=target, entry=entry, progress=ctx.progress, cancel=ctx.cancel,
                           proxy=proxy)
    require_ok(report)
    ctx.cancel.check()
    return report
