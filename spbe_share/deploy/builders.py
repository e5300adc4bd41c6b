"""Pure builders of the operations: data in, data out (no I/O, no target).

Container and health specs of an entry's components, the app's URLs, the secret mounts, the
release record of an attempt and the variables of ``install.yml``. Unit tests compare their
output by equality; the operations (``install.py``, ...) call them after the checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..catalog.models import Component, Entry
from ..errors import InvalidInput
from . import state
from .state import HealthSpec, LockOwner, ReleaseRecord
from .values import ResolvedValues, secret_specs

if TYPE_CHECKING:
    from ..bundle.manifest import BundleManifest
    from ..targets import Target
    from .runner import RunResult

# install.yml's task names start with one of these ("Ship: copy the blobs ..."); timed per phase
PHASES = ("Lock", "Ship", "Load", "Configure", "Start", "Health", "Record")
UPGRADE_PHASES = ("Lock", "Journal", "Ship", "Load", "Backup", "Stop", "Configure", "Start", "Health", "Record")


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


def release_record(
    *,
    target: Target,
    entry: Entry,
    manifest: BundleManifest,
    digest: str,
    values: ResolvedValues,
    who: str,
    now: dt.datetime,
) -> ReleaseRecord:
    """The record of this attempt, as the target will keep it (no secrets)."""
    return ReleaseRecord(
        app=entry.id,
        version=manifest.version,
        target=target.name,
        pemda=target.pemda,
        kode_wilayah=target.kode_wilayah,
        bundle_digest=digest,
        signer=manifest.signer,
        donor_kode_wilayah=entry.donor.kode_wilayah,
        values=values.as_dict(),
        images={img.component: img.config for img in manifest.images},
        containers=[state.container_name(target.name, entry.id, c.name) for c in start_order(entry.components)],
        urls=app_urls(entry, bind_address=target.bind_address),
        health=health_specs(entry, target=target.name, bind_address=target.bind_address),
        who=who,
        when=state.iso(now),
    )


def install_vars(
    *,
    target: Target,
    entry: Entry,
    manifest: BundleManifest,
    release: ReleaseRecord,
    bundle_dir: Path,
    files_tar: str,
    configs: list[dict[str, Any]],
    users: dict[str, tuple[int, int]],
    now: dt.datetime,
    dockerarchive: Path,
) -> dict[str, Any]:
    """The variables of ``install.yml`` (the core adds the lock's: see ``core.lock_vars``)."""
    from .opvars import data_check_vars

    version = manifest.version
    containers = container_specs(
        entry, version=version, target=target.name, root=target.root, bind_address=target.bind_address,
        images={img.component: img.config for img in manifest.images},
    )
    volumes = sorted({state.volume_name(target.name, entry.id, v.name) for c in entry.components for v in c.volumes})
    return {
        "spbe_target": target.name,
        "spbe_root": target.root,
        "spbe_bind_address": target.bind_address,
        "spbe_app": entry.id,
        "spbe_version": version,
        "spbe_stamp": state.stamp(now),
        "spbe_local_bundle_dir": str(bundle_dir),
        "spbe_dockerarchive": str(dockerarchive),
        "spbe_files_tar": files_tar,
        "spbe_blobs": sorted({d.split(":", 1)[1] for img in manifest.images for d in [img.config, *img.layers]}),
        "spbe_images": [
            {
                "component": i.component, "ref": i.ref, "config": i.config, "layers": list(i.layers),
                "sizes": {d: manifest.blob(d).size for d in i.blob_digests},
            }
            for i in manifest.images
        ],
        "spbe_configs": configs,
        "spbe_secrets": [{"name": s.name, "length": s.length} for s in secret_specs(entry)],
        "spbe_secret_mounts": secret_mounts(entry, users),
        "spbe_network": state.network_name(target.name, entry.id),
        "spbe_volumes": [{"name": v} for v in volumes],
        "spbe_labels": labels_for(entry.id, version, target.name),
        "spbe_containers": containers,
        "spbe_health": [h.model_dump(mode="json") for h in release.health],
        "spbe_release": release.model_dump(mode="json"),
        # existing data without its secrets stops the play before anything starts (issue 12)
        **data_check_vars(entry, target=target.name, images={img.component: img.config for img in manifest.images}),
    }


def lock_vars(lock: LockOwner, *, break_lock: bool) -> dict[str, Any]:
    """What every locked playbook gets: ``spbe_lock_owner`` (with its token), ``spbe_break_lock``."""
    return {"spbe_lock_owner": lock.model_dump(mode="json"), "spbe_break_lock": break_lock}


def phase_seconds(result: RunResult, phases: Sequence[str] = PHASES) -> dict[str, float]:
    """Seconds per phase, from the task names (``"Ship: ..."``)."""
    out: dict[str, float] = dict.fromkeys(phases, 0.0)
    for t in result.timings:
        phase = t.name.split(":", 1)[0].strip()
        if phase in out:
            out[phase] += t.seconds
    return out


__all__ = [
    "PHASES",
    "UPGRADE_PHASES",
    "app_urls",
    "config_file_name",
    "container_specs",
    "health_specs",
    "install_vars",
    "labels_for",
    "lock_vars",
    "phase_seconds",
    "release_record",
    "secret_mounts",
    "start_order",
    "url_host",
]
