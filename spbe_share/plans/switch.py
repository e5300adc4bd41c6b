"""The zero-downtime path of an upgrade or a rollback (pure): when it applies, and what
``playbooks/switch.yml`` does.

It applies when nothing but the app's web component changes and that component keeps no data:

* no release crossed migrates data (``migrates_data: false``);
* the app is behind its TLS proxy (installed with ``--domain``): the proxy's one-line
  ``proxy/upstream.conf`` decides where requests go (:mod:`.proxy`);
* the web component (the one the proxy serves) is stateless: it has no volumes;
* every other component would run as it does now: the same image layers (its image's config
  differs only by the release's version labels), command, env, ports, mounts and config files.
  Those keep running, untouched, and the release records them as they run (their container
  spec and image are the serving release's).

Otherwise the safe path (backup, stop, migrate, start) applies, and the plan says why.

The switch (Kamal's shape): the new web container starts BESIDE the serving one, under a
temporary name (``<name>--<stamp>``), with no published port (its health is checked inside it);
once healthy, ``upstream.conf`` names that container and nginx reloads (new workers take it,
old ones finish their requests); once the proxy's old worker processes have exited (their
requests are done; at most :data:`GRACE_S`) the old web container is stopped and removed, the
new one takes the canonical name (``docker rename``: no restart; Docker's DNS follows the name)
and ``upstream.conf`` names the canonical container again, as install writes it. Behind the
proxy the app's port is not published at all
(the proxy reaches it over the app's network), so the release's deploy spec has no port for the
web component and its health check runs inside the container.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..records.deployspec import DeploySpec, Mount
from .proxy import upstream_conf

# at most this many seconds for the proxy's old workers to finish their requests after the switch
# (the switch waits until they have exited, usually at once; then the old web container stops)
GRACE_S = 30


class SwitchStats(BaseModel):
    """How the switch let the proxy's old workers finish (``switch.yml`` ``set_stats`` key
    ``spbe_switch_drain``; from the target: untrusted): ``drained`` (they exited), ``grace``
    (some still ran at :data:`GRACE_S`), ``unknown`` (not readable: a fixed wait)."""

    model_config = ConfigDict(extra="forbid")
    drain: Literal["drained", "grace", "unknown"]
    drain_s: float = Field(ge=0, le=3600)
    old_workers: int = Field(ge=0, le=100000)


@dataclass(frozen=True)
class Route:
    """Which path an upgrade (or rollback) takes, and why (printed by the plan)."""

    zero_downtime: bool
    why: str

    @property
    def name(self) -> str:
        return "zero-downtime" if self.zero_downtime else "stop-start"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.name, "why": self.why}


def _norm_mounts(mounts: Sequence[Any]) -> list[dict[str, Any]]:
    return [Mount.model_validate(m if isinstance(m, Mapping) else m.model_dump()).model_dump(mode="json")
            for m in mounts]


def route(
    *,
    migrating: Sequence[str],
    domain: str | None,
    web: str,
    web_volumes: Sequence[str],
    web_health: bool,
    serving: DeploySpec,
    containers: Sequence[Mapping[str, Any]],
    configs: Sequence[Mapping[str, Any]],
    images: Sequence[Mapping[str, Any]],
) -> Route:
    """The path from ``serving`` (the deploy spec that runs) to the release whose container specs
    and rendered config files are ``containers`` and ``configs``; ``web``: the component the
    proxy serves, ``web_volumes`` its volumes, ``web_health`` whether it has a health check;
    ``images``: the release's images (``{component, config, layers}``); ``migrating``: the crossed releases that migrate data."""
    if migrating:
        return Route(False, f"{', '.join(migrating)} migrates data: backup, stop, migrate, start")
    if not domain:
        return Route(False, "the app has no TLS proxy (installed without --domain): stop, start")
    if not web:
        return Route(False, "not exactly one component changes: stop, start")
    if web_volumes:
        return Route(False, f"component {web} keeps data in volumes ({', '.join(web_volumes)}): stop, start")
    if not web_health:
        return Route(False, f"component {web} has no health check to switch on: stop, start")
    olds = {c.component: c for c in serving.containers}
    if web not in olds or web not in {c["component"] for c in containers}:
        return Route(False, f"component {web} is not in both releases: stop, start")
    new_comps = {str(c["component"]) for c in containers}
    gone = sorted(set(olds) - new_comps)
    if gone:
        return Route(False, f"component {', '.join(gone)} is removed: stop, start")
    old_layers = {i.component: list(i.layers) for i in serving.images}
    new_layers = {str(i["component"]): list(i["layers"]) for i in images}
    old_configs = {(c.component, c.file): c.content for c in serving.configs}
    new_configs = {(str(c["component"]), str(c["file"])): str(c["content"]) for c in configs}
    for c in containers:
        comp = str(c["component"])
        if comp == web:
            continue
        o = olds.get(comp)
        if o is None:
            return Route(False, f"component {comp} is new in this release: stop, start")
        changed = [k for k in ("command", "env", "ports") if getattr(o, k) != c[k]]
        if old_layers.get(comp) != new_layers.get(comp):
            changed.insert(0, "image")
        if _norm_mounts(o.mounts) != _norm_mounts(c["mounts"]):
            changed.append("mounts")
        if {k: v for k, v in old_configs.items() if k[0] == comp} != {k: v for k, v in new_configs.items()
                                                                      if k[0] == comp}:
            changed.append("config")
        if changed:
            return Route(False, f"component {comp} changes too ({', '.join(changed)}): stop, start")
    return Route(True, f"no data migration, component {web} is stateless (no volumes) and behind the TLS proxy of"
                       f" {domain}: the new {web} starts beside the old one and the proxy switches once it is healthy")


def switched_component(serving: DeploySpec, back: DeploySpec) -> tuple[str, int | None, list[str]]:
    """For a rollback (no entry at hand, only the two deploy specs): the one component whose image
    differs, the container port of its http health check, and its volumes; ``""`` when not exactly
    one component's image differs."""
    olds = {c.component: c.image for c in serving.containers}
    differ = [c for c in back.containers if olds.get(c.component) != c.image]
    if len(differ) != 1:
        return "", None, []
    c = differ[0]
    port = next((h.port for h in back.health if h.component == c.component and h.type == "http"), None)
    return c.component, port, [m.source for m in c.mounts if m.type == "volume"]


def switch_plan(
    *,
    web: str,
    port: int,
    stamp: str,
    serving: DeploySpec,
    containers: Sequence[Mapping[str, Any]],
    health: Sequence[Mapping[str, Any]],
    images: Sequence[Mapping[str, Any]],
    proxy_container: str,
    proxy_dir: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """What the switch starts and records (pure): the release's container specs (the other
    components' as they run now, the web one without a published port), its images (the other
    components' as they run now), its health checks, and ``spbe_switch`` (the variables of
    ``switch.yml``)."""
    olds = {c.component: c for c in serving.containers}
    out: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    for c in containers:
        if c["component"] == web:
            final = {**dict(c), "ports": []}
            out.append(final)
        else:
            out.append(olds[str(c["component"])].model_dump(mode="json"))
    old_images = {i.component: i.model_dump(mode="json") for i in serving.images}
    kept_images = [dict(i) if i["component"] == web else old_images[str(i["component"])] for i in images]
    old_health = {h.component: h.model_dump(mode="json") for h in serving.health}
    checks: list[dict[str, Any]] = []
    web_check: dict[str, Any] | None = None
    for h in health:
        if h["component"] == web:
            web_check = {**dict(h), "url": None}
            checks.append(web_check)
        elif h["component"] in old_health:
            checks.append(old_health[str(h["component"])])
    suffix = stamp.lower()
    nxt = f"{final['name']}--{suffix}"
    switch = {
        "component": web,
        "serving": final["name"],
        "next": {**final, "name": nxt},
        "health": [{**web_check, "container": nxt}] if web_check else [],
        "proxy_container": proxy_container,
        "proxy_dir": proxy_dir,
        "upstream_next": upstream_conf(nxt, port),
        "upstream_final": upstream_conf(final["name"], port),
        "grace_s": GRACE_S,
    }
    return out, kept_images, checks, switch


__all__ = ["GRACE_S", "Route", "SwitchStats", "route", "switch_plan", "switched_component"]
