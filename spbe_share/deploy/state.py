"""Deployment state: release records and locks (both live ON the target), plus a local cache.

Layout on a target (``<root>`` = the target's ``root``)::

    <root>/blobs/sha256/<hex>                      image configs and layers (content-addressed)
    <root>/lib/dockerarchive.py                    stdlib-only archive rebuilder used by docker load
    <root>/locks/<app>.lock                        the operation lock (JSON: LockOwner)
    <root>/apps/<app>/bundles/<version>/           entry/, templates/, playbooks/, spbe-bundle.json(.sig)
    <root>/apps/<app>/config/<component>/<file>    rendered config files (mounted read-only)
    <root>/apps/<app>/secrets/<NAME>               generated secrets, 0600, never leave the target
    <root>/apps/<app>/secrets/<component>/<NAME>   the copy a component mounts, owned by its user
    <root>/apps/<app>/releases/<stamp>-<version>.json   one record per install/upgrade attempt
    <root>/apps/<app>/current.json                 the release that serves now (last success)

Records are plain JSON, mode 0644: any operator can read them with ``cat``. They never hold
secrets. The target is the source of truth; ``ws.cache_dir/releases/<target>/<app>.json`` is
only the last record this workspace saw (shown when a target cannot be reached).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from ..workspace import Workspace


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreviousRelease(_Model):
    version: str
    when: str
    bundle_digest: str


class HealthSpec(_Model):
    component: str
    container: str
    type: Literal["http", "command"]
    url: str | None = None  # http checks reachable from the target
    port: int | None = None  # container port (http checks run inside the container)
    path: str | None = None
    command: list[str] | None = None
    retries: int = 60
    delay: int = 2


class ReleaseRecord(_Model):
    """``<root>/apps/<app>/releases/*.json`` and ``current.json`` (no secrets, ever)."""

    format: Literal[1] = 1
    app: str
    version: str
    target: str
    pemda: str
    kode_wilayah: str
    bundle_digest: str  # sha256 of the signed bundle manifest
    signer: str
    values: dict[str, str] = Field(default_factory=dict)
    images: dict[str, str] = Field(default_factory=dict)  # component -> image id
    containers: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    health: list[HealthSpec] = Field(default_factory=list)
    who: str
    when: str  # ISO 8601 UTC
    result: Literal["ok", "failed", "cancelled"] = "ok"
    message: str | None = None
    previous: PreviousRelease | None = None


class LockOwner(_Model):
    """Content of ``<root>/locks/<app>.lock``."""

    who: str
    pid: int
    host: str
    since: str
    operation: str
    token: str


def new_lock_owner(*, who: str, operation: str, now: dt.datetime | None = None) -> LockOwner:
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return LockOwner(
        who=who,
        pid=os.getpid(),
        host=socket.gethostname(),
        since=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        operation=operation,
        token=uuid.uuid4().hex,
    )


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover
        return str(os.getuid())


def iso(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def stamp(now: dt.datetime) -> str:
    """File-name timestamp: ``20261122T101500Z``."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


# ---------------------------------------------------------------- names (one place)


def container_name(target: str, app: str, component: str) -> str:
    return f"spbe-{target}-{app}-{component}"


def network_name(target: str, app: str) -> str:
    return f"spbe-{target}-{app}"


def volume_name(target: str, app: str, volume: str) -> str:
    return f"spbe-{target}-{app}-{volume}"


def app_dir(root: str, app: str) -> str:
    return f"{root.rstrip('/')}/apps/{app}"


def lock_path(root: str, app: str) -> str:
    return f"{root.rstrip('/')}/locks/{app}.lock"


def attempt_path(root: str, app: str, *, stamp: str, version: str) -> str:
    """``<root>/apps/<app>/releases/<stamp>-<version>.json``: the record of one attempt."""
    return f"{app_dir(root, app)}/releases/{stamp}-{version}.json"


# ---------------------------------------------------------------- local cache of records


def cache_file(ws: Workspace, target: str, app: str) -> Path:
    return ws.cache_dir / "releases" / target / f"{app}.json"


def save_cached(ws: Workspace, record: ReleaseRecord) -> None:
    path = cache_file(ws, record.target, record.app)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def load_cached(ws: Workspace, target: str) -> list[ReleaseRecord]:
    folder = ws.cache_dir / "releases" / target
    out: list[ReleaseRecord] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(ReleaseRecord.model_validate_json(path.read_text()))
        except (OSError, ValidationError):
            continue  # a damaged cache is only a cache
    return out


def parse_record(data: Any) -> ReleaseRecord | None:
    try:
        return ReleaseRecord.model_validate(data)
    except ValidationError:
        return None
