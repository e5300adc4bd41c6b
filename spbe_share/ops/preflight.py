"""Preflight: does a target meet an app's requirements? Reads facts over SSH, changes nothing.

:func:`gather_host_facts` reads the facts of a target of one host in ONE SSH round trip
(``playbooks/module_utils/spbe_preflight.py`` as a script, :func:`ask_facts`), and those of a
data center of several hosts with ``playbooks/preflight.yml``, one run over them all; the same
reading both ways (setup facts, free disk of the target root's filesystem, a bind test of every port, ``docker
version``, the Python libraries the community.docker modules import, under the interpreter the
operations use, zstd, a writable root); :func:`evaluate` is a pure function
from the entry's requirements and those facts to a list of :class:`Check`. What provisioning
installs is checked here too, so install never fails half way for a reason preflight could
have seen; such a failing check names its fix (``spbe-share target provision NAME``).

A data center with several hosts and an entry with roles (:func:`host_plan`): each host that
carries roles of the entry is checked against the sum of their minimums (a failure names the
host and its roles) and recommended sizes (a warning); a target of one host, or an entry
without roles, against ``requirements`` as always.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..catalog.models import Component, Entry, Requirements, RoleSize
from ..errors import Cancelled, InvalidInput, PreflightFailed, RemoteFailed, SpbeError
from ..outside import OutsideJSONError, loads_json

if TYPE_CHECKING:
    from ..remote.interrupts import CancelToken
    from ..remote.runner import ProgressCallback
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


class FirewallFacts(BaseModel):
    """``spbe_nft`` state=query on a host serving another host (the database host)."""

    model_config = ConfigDict(extra="ignore")
    nft: str | None = None  # the nft binary; None: the host has none
    denied: str = ""  # nft there, but the SSH user may not use it (not root)
    installed: bool = False  # the app is on this host already (its folder)
    present: bool = False  # the app's rules in place as install writes them
    missing: list[str] = Field(default_factory=list)


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
    firewall: FirewallFacts | None = None  # a host serving another: its nftables access rule

    @field_validator("firewall", mode="before")
    @classmethod
    def _no_rule_asked(cls, v: Any) -> Any:
        return None if v == {} else v  # preflight.yml publishes {} where no rule was asked of the host

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
    host: str = ""  # a data center with several hosts: the host checked (and its roles)
    warn: bool = False  # ok, but under the role's recommended figures


def required_ports(entry: Entry, *, proxy: bool = False) -> list[int]:
    """Ports that must be free: ``requirements.ports`` plus every published port (sorted); with
    the TLS proxy (``install --domain``) also 443 and 80."""
    ports = set(entry.requirements.ports) | ({443, 80} if proxy else set())
    for c in entry.components:
        for p in c.ports:
            if p.protocol == "tcp":
                ports.add(p.host_port)
    return sorted(ports)


def components_on(entry: Entry, roles: Sequence[str] | None) -> list[Component]:
    """The components a host carrying ``roles`` runs (None: one host runs them all)."""
    return list(entry.components) if roles is None else [c for c in entry.components if c.role in roles]


def fronts(entry: Entry, roles: Sequence[str]) -> bool:
    """Does a host carrying ``roles`` run the web component, which the TLS proxy fronts (--domain)?"""
    from ..plans.proxy import web_component

    return web_component(entry)[0].name in {c.name for c in components_on(entry, roles)}


def host_ports(entry: Entry, roles: Sequence[str] | None, *, proxy: bool = False) -> list[int]:
    """Ports that must be free on a host carrying ``roles``: its components' published TCP
    ports, and ``requirements.ports`` where it publishes any, and the ``serves`` ports of its
    components that a component on another host depends on (None: :func:`required_ports`).
    ``proxy`` (--domain): 443 and 80 on the host of the web component too."""
    if roles is None:
        return required_ports(entry, proxy=proxy)
    if proxy and fronts(entry, roles):
        return sorted({443, 80, *host_ports(entry, roles)})
    mine = components_on(entry, roles)
    published = {p.host_port for c in mine for p in c.ports if p.protocol == "tcp"}
    names = {c.name for c in mine}
    # what a component on another host connects to (``serves``) is published on this host too
    served = {p for c in mine for p in c.serves
              if any(c.name in o.depends_on for o in entry.components if o.name not in names)}  # fmt: skip
    return sorted(served | ((published | set(entry.requirements.ports)) if published else set()))


def role_sizes(entry: Entry, roles: Sequence[str]) -> tuple[RoleSize, RoleSize]:
    """(minimum, recommended) of a host carrying ``roles``: the sums over them."""
    chosen = [r for r in entry.roles if r.name in roles]

    def total(sizes: list[RoleSize]) -> RoleSize:
        return RoleSize(cpu_cores=sum(s.cpu_cores for s in sizes), memory_mb=sum(s.memory_mb for s in sizes),
                        disk_gb=sum(s.disk_gb for s in sizes))  # fmt: skip

    return total([r.minimum for r in chosen]), total([r.wanted for r in chosen])


def host_plan(target: Target, entry: Entry) -> list[tuple[Target, tuple[str, ...] | None]]:
    """The hosts preflight checks and the entry's roles each carries. None: the target's one
    host carries every component and ``requirements`` (a single-server entry, or a target of
    one host)."""
    if not (entry.roles and target.multi_host):
        return [(target, None)]
    declared = [r.name for r in entry.roles]
    out: list[tuple[Target, tuple[str, ...] | None]] = []
    for h in target.hosts():
        mine = tuple(r for r in declared if r in h.roles)
        if mine:
            out.append((h, mine))
    return out


def firewall_rules(target: Target, entry: Entry) -> dict[str, list[dict[str, Any]]]:
    """host -> the nftables access rules install writes there (:mod:`..plans.firewall`); none
    with ``SPBE_SHARE_NFTABLES=off`` or for an app on one host."""
    from ..plans.firewall import access_rules, nftables_on
    from ..plans.placement import placement

    if not nftables_on():
        return {}
    try:
        parts = placement(entry, target)
    except InvalidInput:  # a role that no host carries: its own check says so
        return {}
    return access_rules(parts, target) if parts else {}


def firewall_check(rules: Sequence[dict[str, Any]], facts: FirewallFacts | None, *, where: str) -> list[Check]:
    """The access rule of a host serving others: a warning where it cannot be written (no nft,
    or not usable by the SSH user) or where it is missing after an install."""
    if not rules or facts is None:
        return []
    required = "; ".join(f"{r['address']}:{','.join(str(p) for p in r['ports'])} only from {', '.join(r['allow'])}"
                         for r in rules)  # fmt: skip
    if facts.nft is None:
        found, warn = "no nft on this host: the Pemda's firewall must limit it", True
    elif facts.denied:
        found, warn = f"not written: {facts.denied}", True
    elif facts.present:
        found, warn = "in place", False
    elif facts.installed:
        found, warn = "missing (spbe-share install writes it again)", True
    else:
        found, warn = f"nft found ({facts.nft}): install writes it", False
    return [Check("nftables access rule", required, found, True, host=where, warn=warn)]


def missing_roles(target: Target, entry: Entry) -> list[Check]:
    """A role of the entry that no host of a multi-host target carries."""
    if not (entry.roles and target.multi_host):
        return []
    return [
        Check(f"role {r.name}", "a host of the target carries it", "no host (target add --replace ... --host"
              f" {r.name}=ADDRESS)", False)  # fmt: skip
        for r in entry.roles if target.host_with(r.name) is None
    ]


def role_checks(entry: Entry, roles: Sequence[str], facts: TargetFacts, checks: list[Check], *,
                where: str) -> list[Check]:  # fmt: skip
    """``checks`` (evaluated against the roles' minimum) named after the host and its roles,
    plus a warning for each figure under the roles' recommended ones."""
    _minimum, wanted = role_sizes(entry, roles)
    label = "+".join(roles)
    out = []
    for c in checks:
        required = f"{c.required} ({label})" if c.check in ("cpu cores", "memory", "free disk") else c.required
        out.append(Check(c.check, required, c.found, c.ok, c.fix, host=where))
    under = [
        ("cpu cores", f">= {wanted.cpu_cores}", str(facts.cpu_cores), facts.cpu_cores < wanted.cpu_cores),
        ("memory", f">= {wanted.memory_mb} MB", f"{facts.memory_mb} MB", facts.memory_mb < wanted.memory_mb),
        ("free disk", f">= {wanted.disk_gb} GB", f"{facts.disk.free_mb / 1024:.1f} GB",
         facts.disk.free_mb < wanted.disk_gb * 1024),
    ]  # fmt: skip
    for name, required, found, low in under:
        if low:
            out.append(Check(f"{name} (recommended)", f"{required} ({label})", found, True, host=where, warn=True))
    return out


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


def preflight_host_vars(target: Target, entry: Entry, plan: Sequence[tuple[Target, tuple[str, ...] | None]],
                        *, proxy: bool = False) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:  # fmt: skip
    """Extravars and per-host vars of a preflight over several hosts (what each host runs;
    ``proxy``: the web component's host also the TLS proxy, its 443 and 80)."""
    from ..plans.proxy import proxy_container_name

    extravars = {"spbe_target": target.name, "spbe_app": entry.id,
                 "spbe_preflight_hosts": [h.name for h, _roles in plan]}  # fmt: skip
    rules = firewall_rules(target, entry)
    host_vars = {
        h.name: {
            "spbe_root": h.root,  # each host its own (an extravar would win over every host's)
            "spbe_bind_address": h.bind_address,
            "spbe_ports": host_ports(entry, roles, proxy=proxy),
            "spbe_containers": [f"spbe-{target.name}-{entry.id}-{c.name}" for c in components_on(entry, roles)]
            + ([proxy_container_name(target.name, entry.id)] if proxy and roles and fronts(entry, roles) else []),
            **({"spbe_firewall": rules[h.name]} if h.name in rules else {}),
        }
        for h, roles in plan
    }
    return extravars, host_vars


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


def gather_host_facts(
    ws: Workspace,
    *,
    target: Target,
    entry: Entry,
    plan: Sequence[tuple[Target, tuple[str, ...] | None]],
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    proxy: bool = False,
) -> tuple[dict[str, TargetFacts], str]:
    """Facts of every host of ``plan``, and the run folder that keeps what was asked and answered.
    One host (the target itself): one SSH round trip (:func:`ask_facts`). Several hosts: one
    run of ``preflight.yml`` over them all."""
    from ..remote.outcome import raise_for_run
    from ..remote.runner import run_playbook

    if len(plan) == 1 and plan[0][0].name == target.name:
        if cancel is not None:
            cancel.check()
        try:
            facts, run_dir = ask_facts(ws, target=target, entry=entry, proxy=proxy)
        except SpbeError:
            if cancel is not None and cancel.requested:  # an interrupt also stops the ssh
                raise Cancelled(f"preflight on {target.name} stopped; it changes nothing") from None
            raise
        return {target.name: facts}, str(run_dir)
    extravars, host_vars = preflight_host_vars(target, entry, plan, proxy=proxy)
    result = run_playbook(
        ws,
        op="preflight",
        target=target.name,
        app=entry.id,
        playbook="preflight.yml",
        targets=[h for h, _roles in plan],
        extravars=extravars,
        host_vars=host_vars,
        progress=progress,
        now=dt.datetime.now(dt.UTC),
        cancel=cancel,
    )
    if result.cancelled and not result.ok:
        raise Cancelled(f"preflight on {target.name} stopped; it changes nothing")
    raise_for_run(result, target.name, "preflight")
    out = {}
    for h, _roles in plan:
        data = result.stats.get(h.name, {}).get("spbe_preflight")
        if not isinstance(data, dict):
            raise RemoteFailed(f"{h.name}: preflight returned no facts (see {result.run_dir})")
        out[h.name] = TargetFacts.model_validate(data)
    return out, str(result.run_dir)


def facts_request(target: Target, entry: Entry, *, proxy: bool = False) -> dict[str, Any]:
    """The request of the preflight script (``module_utils/spbe_preflight.py``): what
    ``preflight.yml`` gets as variables for one host."""
    ev = preflight_vars(target, entry, proxy=proxy)
    return {"root": ev["spbe_root"], "bind_address": ev["spbe_bind_address"], "ports": ev["spbe_ports"],
            "containers": ev["spbe_containers"]}


def ask_facts(ws: Workspace, *, target: Target, entry: Entry, proxy: bool = False) -> tuple[TargetFacts, Path]:
    """The facts of a target of one host in ONE SSH round trip: ``module_utils/spbe_preflight.py``
    as a script (the same reading as ``preflight.yml``'s, without an Ansible run: over a slow link
    that run's start-up and round trips cost seconds, issue 21). Request and answer are kept in
    a run folder (``<runs>/<stamp>-preflight-<target>-<app>/``)."""
    import json

    from ..remote.runner import run_dir_name
    from ..remote.scripts import ask

    request = facts_request(target, entry, proxy=proxy)
    run_dir = ws.runs_dir / run_dir_name("preflight", target.name, entry.id, dt.datetime.now(dt.UTC))
    run_dir.mkdir(parents=True, mode=0o700)
    (run_dir / "request.json").write_text(json.dumps(request, indent=1, sort_keys=True))
    facts = ask(ws, target, "spbe_preflight", request, TargetFacts, what="preflight (reading the target's facts)")
    (run_dir / "answer.json").write_text(facts.model_dump_json(indent=1))
    return facts, run_dir


def keep_facts(ws: Workspace, *, target: Target, app: str, request: dict[str, Any], facts: TargetFacts) -> Path:
    """The run folder of a preflight whose facts were read with the app's state
    (:func:`spbe_share.ops.checks.read_state_and_facts`): the request and answer, as
    :func:`ask_facts` keeps them."""
    import json

    from ..remote.runner import run_dir_name

    run_dir = ws.runs_dir / run_dir_name("preflight", target.name, app, dt.datetime.now(dt.UTC))
    run_dir.mkdir(parents=True, mode=0o700)
    (run_dir / "request.json").write_text(json.dumps(request, indent=1, sort_keys=True))
    (run_dir / "answer.json").write_text(facts.model_dump_json(indent=1))
    return run_dir


def run_preflight(
    ws: Workspace,
    *,
    target: Target,
    entry: Entry,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    proxy: bool = False,
    read: tuple[dict[str, Any], TargetFacts] | None = None,
) -> PreflightReport:
    """Gather facts and evaluate; the caller decides what a failure means (see :func:`require_ok`).

    A data center with several hosts and an entry with roles: each host carrying a role of
    the entry is checked against the sum of its roles' minimum (fail) and recommended (warn).
    ``read``: a target of one host whose facts were read already, with the app's state in one
    connection (:func:`spbe_share.ops.checks.read_state_and_facts`): the request sent and the
    facts it answered; used (and kept in the run folder) when that request is exactly the one
    this preflight sends, else the facts are read again."""
    plan = host_plan(target, entry)
    if read is not None and len(plan) == 1 and plan[0][0].name == target.name \
            and read[0] == facts_request(target, entry, proxy=proxy):
        facts = {target.name: read[1]}
        run_dir = str(keep_facts(ws, target=target, app=entry.id, request=read[0], facts=read[1]))
    else:
        facts, run_dir = gather_host_facts(ws, target=target, entry=entry, plan=plan, progress=progress,
                                           cancel=cancel, proxy=proxy)  # fmt: skip
    fix = fix_for(target)
    checks: list[Check] = missing_roles(target, entry)
    rules = firewall_rules(target, entry) if len(plan) > 1 else {}
    for h, roles in plan:
        f = facts[h.name]
        if roles is None:
            checks += evaluate(entry.requirements, f, ports=required_ports(entry, proxy=proxy), bind_address=h.bind_address,
                               fix=fix)  # fmt: skip
            continue
        minimum, _wanted = role_sizes(entry, roles)
        req = entry.requirements.model_copy(update=minimum.model_dump())
        found = evaluate(req, f, ports=host_ports(entry, roles, proxy=proxy), bind_address=h.bind_address, fix=fix)
        checks += role_checks(entry, roles, f, found, where=f"{h.name} ({', '.join(roles)})")
        checks += firewall_check(rules.get(h.name, []), f.firewall, where=f"{h.name} ({', '.join(roles)})")
    return PreflightReport(target=target.name, app=entry.id, checks=checks, run_dir=run_dir)


def require_ok(report: PreflightReport) -> None:
    bad = failed(report.checks)
    if bad:
        fixes = list(dict.fromkeys(c.fix for c in bad if c.fix))
        raise PreflightFailed(
            f"{report.target} does not meet the requirements of {report.app}",
            details=[f"  {c.host + ': ' if c.host else ''}{c.check}: required {c.required}, found {c.found}"
                     for c in bad]
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
        check_host_keys(ctx, target)
        entry = get_entry(ctx.ws, app).entry
        report = run_preflight(ctx.ws, target=target, entry=entry, progress=ctx.progress, cancel=ctx.cancel)
        op.result = "ok" if report.ok else "failed"
        op.note(failed=[f"{c.host}: {c.check}" if c.host else c.check for c in failed(report.checks)],
                run=report.run_dir)
        return report


def preflight_ok(ctx: OpContext, *, target: Target, entry: Entry, proxy: bool = False,
                 across_hosts: bool = False, read: tuple[dict[str, Any], TargetFacts] | None = None,
                 ) -> PreflightReport:  # fmt: skip
    """Preflight on the target (read-only); raises PreflightFailed when a check fails.
    ``proxy``: the app gets the TLS proxy (443 and 80 must be free, or be its own).
    ``across_hosts``: the operation spreads an app with roles over the hosts of the target
    (install); the others still refuse that (:func:`refuse_across_hosts`). ``read``: facts read
    already with the app's state (see :func:`run_preflight`)."""

    ctx.cancel.check()
    if not across_hosts:
        refuse_across_hosts(target, entry)
    report = run_preflight(ctx.ws, target=target, entry=entry, progress=ctx.progress, cancel=ctx.cancel,
                           proxy=proxy, read=read)
    require_ok(report)
    for c in report.checks:
        if c.warn:
            ctx.say(f"warning: {c.host}: {c.check}: {c.required}, found {c.found}")
    ctx.cancel.check()
    return report


def refuse_across_hosts(target: Target, entry: Entry) -> None:
    """Operations start an app on the target's first host only: an app with roles on a target
    of several hosts is refused before anything changes (its components belong on other hosts)."""
    if target.multi_host and "backup" in target.roles:
        raise InvalidInput(
            f"the first host of target {target.name} carries the role backup: an app is never installed on the"
            " backup host (its backups would not leave it); add the target with the app's host first"
        )
    if entry.roles and target.multi_host:
        raise InvalidInput(
            f"{entry.id} spreads over roles ({', '.join(r.name for r in entry.roles)}) and target {target.name} has"
            " several hosts: this version installs an app on one host only; use a target of one host"
            " (it carries every role)"
        )


def check_host_keys(ctx: OpContext, target: Target) -> None:
    """The pinned keys of a data center's other hosts (``checked_target`` checks the first)."""
    from ..remote.ssh import check_host_key

    for h in target.hosts()[1:]:
        check_host_key(ctx.ws, h)
        ctx.cancel.check()
