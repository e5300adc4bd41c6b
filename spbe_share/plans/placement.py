"""Which host of a data center runs which component of an entry with roles (pure).

A target of several hosts and an entry with roles: each component runs on the host carrying
its role (:func:`placement`). The app keeps ONE lock, journal and release record, on the
target's first host (the inventory host named after the target, where every read of the app
already goes: status, history, lock, the no-op check); each host keeps its own part (bundle
files, the secrets its components mount, config, containers, a deploy spec of its part).

Across hosts (:class:`HostPart`):

* a component that a component on ANOTHER host depends on publishes its ``serves`` ports on
  its own host's address only (``ADDRESS:5432:5432/tcp``, never 0.0.0.0), and an env value of
  the dependent naming it (``DB_HOST: db``) becomes that address;
* start order across hosts: every host first starts (and waits for the health of) what other
  hosts depend on (``first``), then the rest: the database before the web.

A target of one host, or an entry without roles: :func:`placement` returns None (one host runs
everything, exactly as before).

With a domain (``install --domain``, :func:`behind_proxy`): the TLS proxy runs on the host of
the app's web component (the one :func:`spbe_share.plans.proxy.web_component` names) and is the
only thing on that host's public address (443, and 80 that redirects); that host's app ports
move to loopback. The database keeps its host's private address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..catalog.models import Component, Entry, Port
from ..errors import InvalidInput
from ..records.state import HealthSpec

if TYPE_CHECKING:
    from ..targets.inventory import Target


@dataclass(frozen=True)
class HostPart:
    """One host's share of an app: its components (the entry's, rewritten for the host)."""

    host: Target  # the host as a one-host target (name: its inventory host name)
    components: tuple[Component, ...]  # the entry's order, ports and env as this host runs them
    first: tuple[str, ...]  # started and healthy on every host before the rest starts anywhere
    lock_host: bool  # the target's first host: the app's lock, journal and release record

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components)


def component_hosts(entry: Entry, target: Target) -> dict[str, Target]:
    """component -> the host carrying its role (InvalidInput naming a role no host carries)."""
    out: dict[str, Target] = {}
    for c in entry.components:
        if c.role is None:
            raise InvalidInput(f"{entry.id}: component {c.name} has no role (an entry with roles gives each one)")
        host = target.host_with(c.role)
        if host is None:
            raise InvalidInput(f"{entry.id}: no host of target {target.name} carries the role {c.role} of"
                               f" component {c.name} (target add --replace ... --host {c.role}=ADDRESS)")  # fmt: skip
        out[c.name] = host
    return out


def placement(entry: Entry, target: Target) -> list[HostPart] | None:
    """Each host's part of ``entry`` on ``target``, in the target's host order, hosts without a
    component left out; None when one host runs everything (no roles, or one host)."""
    if not (entry.roles and target.multi_host):
        return None
    where = component_hosts(entry, target)
    by_name = {c.name: c for c in entry.components}
    served: set[str] = set()  # depended on from another host
    for c in entry.components:
        for dep in c.depends_on:
            if where[dep].name != where[c.name].name:
                if not by_name[dep].serves:
                    dep_role = by_name[dep].role
                    raise InvalidInput(
                        f"{entry.id}: {c.name} (role {c.role}) depends on {dep} (role {dep_role}), which runs"
                        f" on another host and declares no 'serves' port to reach it by"
                    )
                served.add(dep)
    first: set[str] = set()

    def pull(name: str) -> None:  # what it needs on its own host starts first too
        if name in first:
            return
        first.add(name)
        for dep in by_name[name].depends_on:
            if where[dep].name == where[name].name:
                pull(dep)

    for name in served:
        pull(name)
    parts = []
    for h in target.hosts():
        mine = [c for c in entry.components if where[c.name].name == h.name]
        if not mine and h.name != target.name:  # the first host always: it holds the lock and record
            continue
        rewritten = tuple(_on_host(c, served=c.name in served, address=h.bind_address,
                                   remote={d: where[d].bind_address for d in c.depends_on
                                           if where[d].name != h.name})
                          for c in mine)  # fmt: skip
        parts.append(HostPart(host=h, components=rewritten, first=tuple(c.name for c in mine if c.name in first),
                              lock_host=h.name == target.name))  # fmt: skip
    return parts


def _on_host(c: Component, *, served: bool, address: str, remote: dict[str, str]) -> Component:
    """``c`` as its host runs it: ``serves`` published when another host depends on it; env
    values naming a dependency on another host replaced by that host's address."""
    update: dict[str, object] = {}
    if served:
        update["ports"] = [*c.ports, *(Port(container=p, published=p) for p in c.serves)]
    if remote:
        update["env"] = {k: remote.get(v, v) for k, v in c.env.items()}
    return c.model_copy(update=update) if update else c


def host_entry(entry: Entry, part: HostPart) -> Entry:
    """The entry as one host of the data center runs it: only its components (rewritten);
    ``depends_on`` keeps only what runs on the same host (the rest started first elsewhere)."""
    names = set(part.names)
    comps = [c.model_copy(update={"depends_on": [d for d in c.depends_on if d in names]}) for c in part.components]
    update: dict[str, Any] = {"components": comps}
    if entry.backup is not None:  # what this host keeps (its volumes, its databases)
        here = {v.name for c in comps for v in c.volumes}
        update["backup"] = entry.backup.model_copy(update={
            "volumes": [v for v in entry.backup.volumes if v in here],
            "databases": [d for d in entry.backup.databases if d.component in names]})  # fmt: skip
    return entry.model_copy(update=update)


def behind_proxy(entry: Entry, parts: list[HostPart], *, target: str) -> list[HostPart]:
    """``parts`` with the TLS proxy in front: the host running the web component publishes its
    app ports on loopback (its public address is the proxy's). That host must be the target's
    first one (it keeps the release record, and status reads the certificate and the web's
    health there), and must not serve a component to another host (loopback would hide it)."""
    from .proxy import APP_BIND, web_component

    web, _port = web_component(entry)
    front = next(p for p in parts if web.name in p.names)
    if not front.lock_host:
        raise InvalidInput(
            f"--domain: the web component {web.name} of {entry.id} runs on {front.host.name}, not on the first"
            f" host of {target}: the TLS proxy runs beside it and the first host keeps the release record"
            f" (target add --replace {target} ... with the host of role {web.role} given first)"
        )
    mine = set(front.names)
    served = sorted({d for p in parts if p is not front for c in p.components for d in c.depends_on if d in mine})
    if served:
        raise InvalidInput(f"--domain: {', '.join(served)} on {front.host.name} serves other hosts: its port cannot"
                           " move to loopback behind the TLS proxy")  # fmt: skip
    inner = front.host.model_copy(update={"bind_address": APP_BIND})
    return [HostPart(host=inner, components=p.components, first=p.first, lock_host=p.lock_host) if p is front else p
            for p in parts]  # fmt: skip


__all__ = [
    "PER_HOST", "HostPart", "behind_proxy", "component_hosts", "host_entry", "host_vars_of", "part_health", "part_urls",
    "placement", "split_vars",
]  # fmt: skip


# ---------------------------------------------------------------- the variables of each host

# install.yml's variables that differ per host: host vars of each host, never extravars
# (Ansible's extra vars win over host vars)
PER_HOST = (
    "spbe_root", "spbe_bind_address", "spbe_blobs", "spbe_images", "spbe_configs", "spbe_secrets", "spbe_secret_mounts",
    "spbe_volumes", "spbe_containers", "spbe_health", "spbe_data_volumes", "spbe_deploy_spec",
)  # fmt: skip


def part_health(entry: Entry, parts: list[HostPart], *, target: str) -> list[HealthSpec]:
    """The health checks of every host's components (an http check through its host's address)."""
    from .containers import health_specs

    return [h for p in parts for h in health_specs(host_entry(entry, p), target=target,
                                                   bind_address=p.host.bind_address)]  # fmt: skip


def part_urls(entry: Entry, parts: list[HostPart]) -> list[str]:
    """The app's URLs: each component's own published ports on its host (not ``serves``)."""
    from .containers import app_urls

    out = []
    for p in parts:
        names = set(p.names)
        own = entry.model_copy(update={"components": [c for c in entry.components if c.name in names]})
        out += app_urls(own, bind_address=p.host.bind_address)
    return out


def split_vars(common: dict[str, Any], per_host: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``common`` (the lock host's install variables) without the per-host ones, plus
    ``spbe_play_hosts`` (the hosts the play runs on)."""
    out = {k: v for k, v in common.items() if k not in PER_HOST}
    out["spbe_play_hosts"] = list(per_host)
    return out


def host_vars_of(part: HostPart, variables: dict[str, Any]) -> dict[str, Any]:
    """One host's variables: its part of ``variables`` (built from :func:`host_entry`), what it
    starts first, and whether it keeps the release record."""
    names = set(part.names)
    images = [i for i in variables["spbe_images"] if i["component"] in names]
    out = {k: variables[k] for k in PER_HOST if k in variables}
    out.update(
        spbe_images=images,
        spbe_blobs=sorted({d.split(":", 1)[1] for i in images for d in [i["config"], *i["layers"]]}),
        spbe_configs=[c for c in variables["spbe_configs"] if c["component"] in names],
        spbe_start_first=list(part.first),
        spbe_record_here=part.lock_host,
    )
    return out
