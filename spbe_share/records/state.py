"""Deployment state: release records and locks (both live ON the target), plus a local cache.

Layout on a target (``<root>`` = the target's ``root``)::

    <root>/blobs/sha256/<hex>                      image configs and layers (content-addressed); also
                                                   the files tar and dockerarchive.py as shipped
    <root>/lib/dockerarchive.py                    stdlib-only archive rebuilder used by docker load
    <root>/locks/<app>.lock                        the operation lock (JSON: LockOwner)
    <root>/apps/<app>/bundles/<version>.tar.zst    the bundle's small files as one tar (kept)
    <root>/apps/<app>/bundles/<version>/           entry/, templates/, playbooks/, spbe-bundle.json(.sig)
    <root>/apps/<app>/config/<component>/<file>    rendered config files (mounted read-only)
    <root>/apps/<app>/secrets/<NAME>               generated secrets, 0600, never leave the target
    <root>/apps/<app>/secrets/<component>/<NAME>   the copy a component mounts, owned by its user
    <root>/apps/<app>/releases/<stamp>-<version>.json   one record per install/upgrade/rollback attempt
    <root>/apps/<app>/deploys/<stamp>-<version>.json    what a rollback needs to bring that release back
                                                   (containers, rendered config, health, backup spec)
    <root>/apps/<app>/current.json                 the release that serves now (last success)
    <root>/apps/<app>/journal.json                 the steps of the last upgrade/rollback (resume)

Records are plain JSON, mode 0644: any operator can read them with ``cat``. They never hold
secrets. The target is the source of truth; ``ws.cache_dir/releases/<target>/<app>.json`` is
only the last record this workspace saw (shown when a target cannot be reached).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.models import KODE_WILAYAH
from ..catalog.models import SLUG as SLUG_PATTERN
from ..files import atomic_write_text

if TYPE_CHECKING:
    from ..workspace import Workspace

SLUG = re.compile(SLUG_PATTERN)  # app ids and target names
DIGEST = r"^sha256:[0-9a-f]{64}$"  # a bundle manifest's digest (it names a cache folder)
Digest = Annotated[str, Field(pattern=DIGEST)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreviousRelease(_Model):
    version: str
    when: str
    bundle_digest: Digest


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


Result = Literal["ok", "failed", "cancelled", "rolled_back", "interrupted"]
Operation = Literal["install", "upgrade", "rollback", "config"]


DOMAIN = r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class ReleaseRecord(_Model):
    """``<root>/apps/<app>/releases/*.json`` and ``current.json`` (no secrets, ever).

    ``result``: ``ok`` (it served), ``failed`` (nothing was stopped, or a rollback failed),
    ``cancelled`` (Ctrl-C), ``rolled_back`` (an upgrade failed after the old version stopped and
    was undone: the old release serves again), ``interrupted`` (the controller died or the
    connection was cut; written by the next command that finished or undid it).
    """

    format: Literal[1] = 1
    app: str
    version: str
    target: str
    pemda: str
    kode_wilayah: str
    bundle_digest: Digest  # sha256 of the signed bundle manifest
    signer: str
    # the donor of this release (the catalog's; absent in older records)
    donor_kode_wilayah: Annotated[str, Field(pattern=KODE_WILAYAH)] | None = None
    values: dict[str, str] = Field(default_factory=dict)
    images: dict[str, str] = Field(default_factory=dict)  # component -> image id
    containers: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    health: list[HealthSpec] = Field(default_factory=list)
    who: str
    when: str  # ISO 8601 UTC
    result: Result = "ok"
    message: str | None = None
    previous: PreviousRelease | None = None
    # day-2 operations (absent in records written before them)
    operation: Operation | None = None
    host: str | None = None  # the controller the operation ran from
    backup: str | None = None  # backup taken just before this attempt (the previous release's data)
    migrates_data: bool = False  # deploying this release over the previous one changed the data
    deploy: str | None = None  # <stamp>-<version>: deploys/<deploy>.json can bring this release back
    from_version: str | None = None  # the version serving when this attempt started
    # install --domain: the proxy serves it on 443 (TLS); the app's ports are on loopback only
    domain: Annotated[str, Field(pattern=DOMAIN, max_length=253)] | None = None


class TlsInfo(_Model):
    """``<root>/apps/<app>/proxy/tls.json``: the certificate the app's TLS proxy serves (no key)."""

    domain: Annotated[str, Field(pattern=DOMAIN, max_length=253)]
    not_after: dt.datetime
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    issuer: Annotated[str, Field(max_length=500)] = ""


def tls_infos(raw: object) -> dict[str, TlsInfo]:
    """app -> certificate, from a status answer's ``tls`` list ``[[app, {...}], ...]`` (untrusted:
    what does not validate is left out)."""
    out: dict[str, TlsInfo] = {}
    if not isinstance(raw, list):
        return out
    for item in raw[:200]:
        if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str) and SLUG.match(item[0])):
            continue
        try:
            out[item[0]] = TlsInfo.model_validate(item[1])
        except ValidationError:
            continue
    return out


DEFAULT_LEASE_S = 120


class LockOwner(_Model):
    """Content of ``<root>/locks/<app>.lock``.

    The lease: the lock file's modification time (the TARGET's clock) is its last renewal; the
    controller touches it every ``lease_s / 4`` seconds while the operation runs
    (:mod:`spbe_share.remote.lease`). A lock whose file is older than ``lease_s`` is stale: its holder is gone
    (killed, or its connection cut). A lock without ``lease_s`` (written by an older
    spbe-share, or by hand) never goes stale by itself.
    """

    who: str
    pid: int
    host: str
    since: str
    operation: str
    token: str
    lease_s: int | None = None


def new_lock_owner(
    *, who: str, operation: str, now: dt.datetime | None = None, lease_s: int | None = DEFAULT_LEASE_S
) -> LockOwner:
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return LockOwner(
        who=who,
        pid=os.getpid(),
        host=socket.gethostname(),
        since=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        operation=operation,
        token=uuid.uuid4().hex,
        lease_s=lease_s,
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


def controller_host() -> str:
    """The controller's host name, as records name it (``ReleaseRecord.host``)."""
    return socket.gethostname()[:200] or "unknown"


def deploy_name(*, stamp: str, version: str) -> str:
    """``<stamp>-<version>``: ``deploys/<name>.json`` of the release record of that attempt."""
    return f"{stamp}-{version}"


def deploy_path(root: str, app: str, name: str) -> str:
    return f"{app_dir(root, app)}/deploys/{name}.json"


def journal_path(root: str, app: str) -> str:
    return f"{app_dir(root, app)}/journal.json"


# ---------------------------------------------------------------- records read from a target (untrusted)


def validated_record(data: Any, *, app: str, target: str, version: str | None, source: str) -> ReleaseRecord:
    """A release record read back from a target, checked before the controller uses it.

    The target is not trusted: the record must be a strict :class:`ReleaseRecord` and name the
    ``app``, ``target`` and (when given) ``version`` that were asked for. Raises
    :class:`~spbe_share.errors.RemoteFailed` (exit 8) naming ``source`` and the field.
    """
    from ..errors import RemoteFailed

    try:
        record = ReleaseRecord.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(record)"
        raise RemoteFailed(f"{source}: invalid release record: {where}: {first['msg']}; nothing was saved") from None
    wanted = {"app": app, "target": target, "version": version}
    for name, want in wanted.items():
        got = getattr(record, name)
        if want is not None and got != want:
            raise RemoteFailed(
                f"{source}: the release record says {name} {got!r}, but {want!r} was asked for;"
                " the record was not used and nothing was saved"
            )
    return record


# ---------------------------------------------------------------- local cache of records


def _slug(value: str, what: str) -> str:
    from ..errors import InvalidInput

    if not SLUG.match(value):
        raise InvalidInput(f"{what} {value!r} is not a valid name (lowercase letters, digits and '-')")
    return value


def cache_file(ws: Workspace, target: str, app: str) -> Path:
    """``ws.cache_dir/releases/<target>/<app>.json``; both names must be slugs (never from a record)."""
    return ws.cache_dir / "releases" / _slug(target, "target") / f"{_slug(app, 'app')}.json"


def save_cached(ws: Workspace, *, target: str, app: str, record: ReleaseRecord) -> Path:
    """Cache ``record`` under the names that were ASKED for (validated), not the record's own."""
    if (record.target, record.app) != (target, app):
        raise ValueError(f"record of {record.app}@{record.target} cached as {app}@{target}")  # a bug
    path = cache_file(ws, target, app)
    atomic_write_text(path, json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n", mode=0o644)
    return path


def load_cached(ws: Workspace, target: str) -> list[ReleaseRecord]:
    folder = ws.cache_dir / "releases" / _slug(target, "target")
    out: list[ReleaseRecord] = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            record = ReleaseRecord.model_validate_json(path.read_text())
        except (OSError, ValidationError):
            continue  # a damaged cache is only a cache
        if record.target == target and f"{record.app}.json" == path.name:
            out.append(record)
    return out


def parse_record(data: Any) -> ReleaseRecord | None:
    try:
        return ReleaseRecord.model_validate(data, strict=True)
    except ValidationError:
        return None


class InstallStats(BaseModel):
    """What ``install.yml`` publishes (``set_stats`` key ``spbe_install``); from the target: untrusted."""

    model_config = ConfigDict(extra="forbid")
    new_release: bool
    current: dict[str, Any]
