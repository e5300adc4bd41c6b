"""The containers of an entry's components (pure): start order, names, mounts, published
ports, labels, health checks and the app's URLs. Unit tests compare the output by equality."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ..catalog.models import Component
from ..errors import InvalidInput
from ..records import state
from ..records.state import HealthSpec

if TYPE_CHECKING:
    from ..catalog.models import Entry


def start_order(components: Sequence[Component]) -> list[Component]:
    """Components sorted so each comes after what it depends on (stable otherwise)."""
    by_name = {c.name: c for c in components}
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise InvalidInput(f"components depend on each other in a cycle through {name!r}")
        visiting.add(name)
        for dep in by_name[name].depends_on:
            visit(dep)
        visiting.discard(name)
        done.append(name)

    for c in components:
        visit(c.name)
    return [by_name[n] for n in done]


def config_file_name(index: int, path: str) -> str:
    return f"{index}-{PurePosixPath(path).name}"


def labels_for(app: str, version: str, target: str) -> dict[str, str]:
    return {"id.go.spbe.app": app, "id.go.spbe.version": version, "id.go.spbe.target": target}


def container_specs(
    entry: Entry,
    *,
    version: str,
    target: str,
    root: str,
    bind_address: str,
    images: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The ``docker_container`` parameters of every component, in start order.

    ``images``: component -> image id (the config digest of the verified bundle). Containers
    are created from that id, not from the tag: a tag can be moved on the target's engine,
    the id is exactly the image that was verified. The tag is kept as a label.
    """
    app = entry.id
    adir = state.app_dir(root, app)
    out = []
    for c in start_order(entry.components):
        mounts: list[dict[str, Any]] = []
        for name in c.secrets:
            mounts.append(
                {
                    "type": "bind",
                    "source": f"{adir}/secrets/{c.name}/{name}",
                    "target": f"/run/secrets/{name}",
                    "read_only": True,
                }
            )
        for i, cf in enumerate(c.config):
            mounts.append(
                {
                    "type": "bind",
                    "source": f"{adir}/config/{c.name}/{config_file_name(i, cf.path)}",
                    "target": cf.path,
                    "read_only": True,
                }
            )
        for v in c.volumes:
            mounts.append({"type": "volume", "source": state.volume_name(target, app, v.name), "target": v.path})
        labels: dict[str, str] = {
            **labels_for(app, version, target),
            "id.go.spbe.component": c.name,
            "id.go.spbe.image": f"{c.image}:{version}",
        }
        out.append(
            {
                "name": state.container_name(target, app, c.name),
                "component": c.name,
                "image": images[c.name],
                "command": list(c.command) if c.command else [],
                "env": dict(c.env),
                "ports": [f"{url_host(bind_address)}:{p.host_port}:{p.container}/{p.protocol}" for p in c.ports],
                "mounts": mounts,
                "labels": labels,
            }
        )
    return out


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def health_specs(entry: Entry, *, target: str, bind_address: str) -> list[HealthSpec]:
    out: list[HealthSpec] = []
    for c in start_order(entry.components):
        h = c.health
        if h is None:
            continue
        name = state.container_name(target, entry.id, c.name)
        retries = max(1, h.timeout_s // h.interval_s)
        if h.type == "http":
            published = next((p.host_port for p in c.ports if p.container == h.port and p.protocol == "tcp"), None)
            url = f"http://{url_host(bind_address)}:{published}{h.path}" if published else None
            out.append(
                HealthSpec(
                    component=c.name, container=name, type="http", url=url, port=h.port, path=h.path,
                    retries=retries, delay=h.interval_s,
                )
            )
        else:
            out.append(
                HealthSpec(
                    component=c.name, container=name, type="command", command=list(h.command),
                    retries=retries, delay=h.interval_s,
                )
            )
    return out


def app_urls(entry: Entry, *, bind_address: str) -> list[str]:
    return [
        f"http://{url_host(bind_address)}:{p.host_port}/"
        for c in entry.components
        for p in c.ports
        if p.protocol == "tcp"
    ]


def secret_mounts(entry: Entry, users: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    for c in entry.components:
        uid, gid = users.get(c.name, (0, 0))
        for name in c.secrets:
            out.append({"component": c.name, "name": name, "owner": uid, "group": gid})
    return out


__all__ = [
    "app_urls",
    "config_file_name",
    "container_specs",
    "health_specs",
    "labels_for",
    "secret_mounts",
    "start_order",
    "url_host",
]
