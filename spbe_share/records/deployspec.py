"""What it takes to bring a release back: ``<root>/apps/<app>/deploys/<stamp>-<version>.json``.

Every install, upgrade and rollback that makes a release serve writes its deploy spec beside
the release record (``ReleaseRecord.deploy`` names it): the image ids and their blobs, the
rendered config files, the secrets to generate (names and lengths only, never values), the
network, volumes and containers, the health checks and the backup spec of that release. A
rollback (manual, or automatic after a failed upgrade, or after a killed controller) needs
nothing else: not the old bundle, not the catalog, not the workspace that installed it. The
images stay in the target's engine and their blobs in ``<root>/blobs`` until ``spbe-share
prune`` removes a release's deploy spec (it never removes an image or blob a deploy spec that
stays names).

Config files hold values, never secrets (secrets are separate files mounted read-only).

Read back from a target, a deploy spec is untrusted: :func:`validated_deploy` checks it strictly
and checks every name it holds against the names spbe-share itself gives (containers, network,
volumes, mounts under the app's own folder, ports on the target's bind address), so a spec
planted on the target can make spbe-share do nothing it would not do for that app anyway.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RemoteFailed
from . import state
from .backupspec import BackupSpec
from .state import HealthSpec

HEX64 = r"^[0-9a-f]{64}$"
IMAGE_ID = r"^sha256:[0-9a-f]{64}$"
CONFIG_FILE = r"^\d{1,3}-[A-Za-z0-9._-]{1,100}$"
NAME = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
VERSION = r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$"
DEPLOY_NAME = r"^\d{8}T\d{6}Z-[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$"

Name = Annotated[str, Field(pattern=NAME)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeployImage(_Model):
    component: Name
    ref: str = Field(max_length=300)
    config: str = Field(pattern=IMAGE_ID)
    layers: list[Annotated[str, Field(pattern=IMAGE_ID)]] = Field(max_length=200)


class DeployConfig(_Model):
    component: Name
    file: str = Field(pattern=CONFIG_FILE)
    content: str = Field(max_length=1 << 20)


class DeploySecret(_Model):
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    length: int = Field(ge=8, le=4096)


class DeploySecretMount(_Model):
    component: Name
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    owner: int = Field(ge=0)
    group: int = Field(ge=0)


class Mount(_Model):
    type: Literal["bind", "volume"]
    source: str = Field(max_length=1024)
    target: str = Field(pattern=r"^/(?:[A-Za-z0-9._-]+/?)*$", max_length=1024)
    read_only: bool = False


class ContainerSpec(_Model):
    name: str = Field(max_length=255)
    component: Name
    image: str = Field(pattern=IMAGE_ID)
    command: list[Annotated[str, Field(max_length=4096)]] = Field(default_factory=list, max_length=100)
    env: dict[str, Annotated[str, Field(max_length=4096)]] = Field(default_factory=dict)
    ports: list[str] = Field(default_factory=list, max_length=100)
    mounts: list[Mount] = Field(default_factory=list, max_length=100)
    labels: dict[str, Annotated[str, Field(max_length=300)]] = Field(default_factory=dict)


class DeploySpec(_Model):
    """``deploys/<stamp>-<version>.json``."""

    format: Literal[1] = 1
    app: Name
    target: Name
    version: str = Field(pattern=VERSION)
    bundle_digest: str = Field(pattern=IMAGE_ID)
    images: list[DeployImage] = Field(max_length=50)
    blobs: list[Annotated[str, Field(pattern=HEX64)]] = Field(max_length=1000)
    configs: list[DeployConfig] = Field(default_factory=list, max_length=200)
    secrets: list[DeploySecret] = Field(default_factory=list, max_length=100)
    secret_mounts: list[DeploySecretMount] = Field(default_factory=list, max_length=500)
    network: str = Field(max_length=255)
    volumes: list[str] = Field(default_factory=list, max_length=100)
    labels: dict[str, Annotated[str, Field(max_length=300)]] = Field(default_factory=dict)
    containers: list[ContainerSpec] = Field(min_length=1, max_length=50)
    health: list[HealthSpec] = Field(default_factory=list, max_length=50)
    backup: BackupSpec

    def playbook_vars(self) -> dict[str, Any]:
        """The variables ``tasks/{load,configure,start,health}.yml`` take, for this release."""
        return {
            "spbe_images": [i.model_dump(mode="json") for i in self.images],
            "spbe_blobs": list(self.blobs),
            "spbe_configs": [c.model_dump(mode="json") for c in self.configs],
            "spbe_secrets": [s.model_dump(mode="json") for s in self.secrets],
            "spbe_secret_mounts": [m.model_dump(mode="json") for m in self.secret_mounts],
            "spbe_network": self.network,
            "spbe_volumes": [{"name": v} for v in self.volumes],
            "spbe_labels": dict(self.labels),
            "spbe_containers": [c.model_dump(mode="json") for c in self.containers],
            "spbe_health": [h.model_dump(mode="json") for h in self.health],
            "spbe_backup_spec": self.backup.as_data(),
        }

    @property
    def container_names(self) -> list[str]:
        return [c.name for c in self.containers]


LOOPBACK = "127.0.0.1"  # where an app behind its TLS proxy publishes its ports (plans.proxy.APP_BIND)


def _problem(spec: DeploySpec, *, app: str, target: str, root: str, bind_address: str) -> str | None:
    """The first name in ``spec`` that spbe-share would not have given this app (pure)."""
    if spec.app != app or spec.target != target:
        return f"it is the deploy spec of {spec.app} on {spec.target}"
    adir = state.app_dir(root, app)
    prefix = f"spbe-{target}-{app}-"
    if spec.network != state.network_name(target, app):
        return f"network {spec.network!r}"
    for v in spec.volumes:
        if not v.startswith(prefix) or not re.match(NAME, v[len(prefix):]):
            return f"volume {v!r}"
    images = {i.config for i in spec.images}
    # an app behind its TLS proxy (install --domain) publishes its ports on loopback only
    binds = "|".join(re.escape(a) for a in (bind_address, LOOPBACK))
    urls = tuple(f"http://{a}:" for a in (bind_address, f"[{bind_address}]", LOOPBACK))
    names = set()
    for c in spec.containers:
        if c.name != state.container_name(target, app, c.component):
            return f"container {c.name!r}"
        names.add(c.name)
        if c.image not in images:
            return f"container {c.name}: image {c.image} is not one of the release's images"
        for port in c.ports:
            if not re.match(rf"^(?:{binds}):\d{{1,5}}:\d{{1,5}}/(?:tcp|udp)$", port):
                return f"container {c.name}: port {port!r}"
        for m in c.mounts:
            if m.type == "volume" and m.source not in spec.volumes:
                return f"container {c.name}: volume {m.source!r}"
            if m.type == "bind" and not (
                re.match(rf"^{re.escape(adir)}/(?:secrets|config)/[a-z0-9-]+/[A-Za-z0-9._-]+$", m.source)
                and ".." not in m.source.split("/")
            ):
                return f"container {c.name}: bind mount {m.source!r}"
        if c.labels.get("id.go.spbe.app") != app or c.labels.get("id.go.spbe.target") != target:
            return f"container {c.name}: labels"
    for h in spec.health:
        if h.container not in names:
            return f"health check of {h.container!r}"
        if h.url is not None and not h.url.startswith(urls):
            return f"health url {h.url!r}"
    comps = {c.component for c in spec.containers}
    for cf in spec.configs:
        if cf.component not in comps:
            return f"config of unknown component {cf.component!r}"
    b = spec.backup
    if (b.app, b.target, b.root) != (app, target, root):
        return "backup spec of another app, target or root"
    if any(c.container not in names for c in b.components):
        return "backup spec names a container of another app"
    return None


def validated_deploy(data: Any, *, app: str, target: str, root: str, bind_address: str, source: str) -> DeploySpec:
    """A deploy spec read back from a target, checked before anything uses it (exit 8 if not)."""
    try:
        spec = DeploySpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise RemoteFailed(f"{source}: invalid deploy spec: {where}: {first['msg']}; nothing was used") from None
    problem = _problem(spec, app=app, target=target, root=root, bind_address=bind_address)
    if problem:
        raise RemoteFailed(f"{source}: the deploy spec is not one spbe-share wrote for {app} on {target}: {problem};"
                           " nothing was used")
    return spec


__all__ = ["ContainerSpec", "DEPLOY_NAME", "DeploySpec", "validated_deploy"]
