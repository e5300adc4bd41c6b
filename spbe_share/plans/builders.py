"""Pure builders of the operations: data in, data out (no I/O, no target).

Container and health specs of an entry's components, the app's URLs, the secret mounts, the
release record of an attempt and the variables of ``install.yml``. Unit tests compare their
output by equality; the operations (``install.py``, ...) call them after the checks.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog.models import Entry
from ..records import state
from ..records.backupspec import BackupSpec
from ..records.deployspec import DeploySpec
from ..records.state import LockOwner, ReleaseRecord
from .containers import (
    app_urls,
    container_specs,
    health_specs,
    labels_for,
    secret_mounts,
    start_order,
)
from .values import ResolvedValues, secret_specs

if TYPE_CHECKING:
    from ..bundle.manifest import BundleManifest
    from ..targets.inventory import Target

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
    """The variables of ``install.yml`` (the core adds the lock's: see ``core.lock_vars``); reads
    the files tar and the archive tool for their digests (what the ship stream sends and the
    target checks them against: ``tasks/ship.yml``)."""
    from ..bundle.pack import sha256_file
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
        "spbe_files_tar_sha256": sha256_file(bundle_dir / files_tar),
        "spbe_dockerarchive_sha256": sha256_file(dockerarchive),
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


__all__ = [
    "app_urls",
    "container_specs",
    "deploy_spec",
    "deploy_vars",
    "health_specs",
    "install_vars",
    "labels_for",
    "lock_vars",
    "release_record",
    "secret_mounts",
    "start_order",
]


def deploy_spec(install_vars: dict[str, Any], *, backup: BackupSpec, bundle_digest: str) -> DeploySpec:
    """The deploy spec of a release from the variables of its install (pure)."""
    return DeploySpec(
        app=install_vars["spbe_app"],
        target=install_vars["spbe_target"],
        version=install_vars["spbe_version"],
        bundle_digest=bundle_digest,
        images=[{k: i[k] for k in ("component", "ref", "config", "layers")} for i in install_vars["spbe_images"]],
        blobs=install_vars["spbe_blobs"],
        configs=[{k: c[k] for k in ("component", "file", "content")} for c in install_vars["spbe_configs"]],
        secrets=install_vars["spbe_secrets"],
        secret_mounts=install_vars["spbe_secret_mounts"],
        network=install_vars["spbe_network"],
        volumes=[v["name"] for v in install_vars["spbe_volumes"]],
        labels=install_vars["spbe_labels"],
        containers=install_vars["spbe_containers"],
        health=install_vars["spbe_health"],
        backup=backup,
    )


def deploy_vars(install_vars: dict[str, Any], *, entry: Entry, root: str, bundle_digest: str) -> dict[str, Any]:
    """``spbe_deploy_name`` and ``spbe_deploy_spec``: ``tasks/record.yml`` keeps the spec as
    ``deploys/<name>.json`` beside the release record (pure)."""
    from .backup import backup_spec

    spec = deploy_spec(install_vars, backup=backup_spec(entry, target=install_vars["spbe_target"], root=root),
                       bundle_digest=bundle_digest)
    return {
        "spbe_deploy_name": state.deploy_name(stamp=install_vars["spbe_stamp"], version=install_vars["spbe_version"]),
        "spbe_deploy_spec": spec.model_dump(mode="json"),
    }
