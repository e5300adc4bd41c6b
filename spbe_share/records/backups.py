"""The backup manifest and the engine's answers, as strict models for the controller.

A backup lives on the target under ``<root>/apps/<app>/backups/<id>/`` with ``manifest.json``
(written by ``playbooks/module_utils/spbe_backup_engine.py``, last, before the folder is
renamed from ``<id>.partial``) and ``verification.json`` (the latest verification).

The controller reads these back from targets: they are untrusted data. :func:`parse_manifest`
validates strictly (unknown keys, types, patterns) and the controller builds no path from
them; the one field usable as a path component is ``id`` (pattern :data:`BACKUP_ID`), and
only after validation.

``secrets`` holds the deployment's secrets sealed to the operator's key(s) (issue 12), or is
``null`` with ``secrets_note`` saying why not (no current sealed copy on the target).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import VerificationFailed
from ..outside import quoted
from ..yamlio import format_loc

BACKUP_ID = r"^\d{8}T\d{6}Z-[a-z0-9][a-z0-9-]{0,40}$"
SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
PG_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"
HEX64 = r"^[0-9a-f]{64}$"
DIGEST = r"^sha256:[0-9a-f]{64}$"
VERSION = r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$"
CONTAINER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"
ABS_PATH = r"^/(?:[A-Za-z0-9._-]+/)*[A-Za-z0-9._-]+$"
REL_PATH = r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$"
ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
DB_FILE = r"^db-\d{1,3}-[a-z0-9-]{1,63}\.(?:pgdump|sqlite3)$"
VOL_FILE = r"^vol-[a-z0-9-]{1,63}\.tar$"
LOCALE = r"^[A-Za-z0-9._@-]{1,64}$"
SETTING = r"^[a-z][a-z0-9_]{0,63}$"
SECRET_NAME = r"^[A-Z][A-Z0-9_]{0,63}$"

Why = Literal["manual", "scheduled", "pre-upgrade", "pre-restore", "pre-rollback", "pre-purge"]
Slug = Annotated[str, Field(pattern=SLUG)]
Sha256 = Annotated[str, Field(pattern=HEX64)]
Size = Annotated[int, Field(ge=0)]
Container = Annotated[str, Field(pattern=CONTAINER)]
AbsPath = Annotated[str, Field(pattern=ABS_PATH, max_length=1024)]
Text = Annotated[str, Field(max_length=2000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Release(_Model):
    """The release that was serving when the backup was taken (the data belongs to it), with
    its per-Pemda values (settings, never secrets) when the target's record had them."""

    version: str = Field(pattern=VERSION)
    bundle_digest: str = Field(pattern=DIGEST)
    values: dict[Annotated[str, Field(pattern=SETTING)], Text] | None = Field(default=None, max_length=200)


class PostgresItem(_Model):
    type: Literal["postgresql"]
    component: Slug
    container: Container
    database: str = Field(pattern=PG_IDENT)
    superuser: str = Field(pattern=PG_IDENT)
    owner: str = Field(pattern=PG_IDENT)
    encoding: str = Field(pattern=LOCALE)
    collate: str = Field(pattern=LOCALE)
    ctype: str = Field(pattern=LOCALE)
    server_version: str = Field(max_length=200)
    file: str = Field(pattern=DB_FILE)
    size: Size
    sha256: Sha256


class SqliteItem(_Model):
    type: Literal["sqlite"]
    component: Slug
    container: Container
    path: AbsPath
    volume: Slug
    mount: AbsPath
    uid: int = Field(ge=0)
    gid: int = Field(ge=0)
    mode: int = Field(ge=0, le=0o7777)
    file: str = Field(pattern=DB_FILE)
    size: Size
    sha256: Sha256


class VolumeArchiveItem(_Model):
    type: Literal["volume-archive"]
    name: Slug
    component: Slug
    container: Container
    mount: AbsPath
    excluded: list[Annotated[str, Field(pattern=REL_PATH)]] = Field(max_length=1000)
    members: Size
    file: str = Field(pattern=VOL_FILE)
    size: Size
    sha256: Sha256


class VolumeCoveredItem(_Model):
    """A volume holding a database engine's files: not archived, the dump covers it."""

    type: Literal["volume-covered"]
    name: Slug
    component: Slug
    container: Container
    mount: AbsPath
    covered_by: Text


Item = Annotated[PostgresItem | SqliteItem | VolumeArchiveItem | VolumeCoveredItem, Field(discriminator="type")]


class SealedSecrets(_Model):
    """The deployment's secrets, sealed to the operator's key(s) (age, X25519; see
    :mod:`spbe_share.sealing`): ``file`` in the backup folder, its size and SHA-256, the salted
    fingerprint of each secret (names are visible, values are not)."""

    sealed_to: list[Annotated[str, Field(pattern=r"^age1[02-9ac-hj-np-z]{58}$")]] = Field(min_length=1, max_length=20)
    file: str = Field(pattern=r"^secrets\.[a-z0-9]{1,10}$")
    size: Size
    sha256: Sha256
    salt: str = Field(pattern=r"^[0-9a-f]{32}$")
    fingerprints: dict[Annotated[str, Field(pattern=SECRET_NAME)], Sha256] = Field(max_length=200)
    sealed_at: str = Field(max_length=40)

    @property
    def names(self) -> list[str]:
        return sorted(self.fingerprints)


class BackupManifest(_Model):
    """``<root>/apps/<app>/backups/<id>/manifest.json``."""

    kind: Literal["spbe-share-backup"]
    format: Literal[1]
    id: str = Field(pattern=BACKUP_ID)
    app: Slug
    target: Slug
    release: Release
    created: str = Field(pattern=ISO_UTC)
    finished: str = Field(pattern=ISO_UTC)
    who: Text
    why: Why
    note: Text | None = None
    items: list[Item] = Field(max_length=1000)
    secrets: SealedSecrets | None = None
    secrets_note: Text | None = None  # why the secrets are not in it (``secrets`` null)

    @property
    def size(self) -> int:
        return sum(getattr(i, "size", 0) for i in self.items)

    def files(self) -> list[str]:
        """The data files (and the sealed secrets file) of the backup folder, besides manifest.json."""
        out = [i.file for i in self.items if not isinstance(i, VolumeCoveredItem)]
        return out + ([self.secrets.file] if self.secrets is not None else [])

    def sums(self) -> dict[str, tuple[int, str]]:
        """file -> (size, sha256) of every file :meth:`files` names."""
        out = {i.file: (i.size, i.sha256) for i in self.items if not isinstance(i, VolumeCoveredItem)}
        if self.secrets is not None:
            out[self.secrets.file] = (self.secrets.size, self.secrets.sha256)
        return out


class Check(_Model):
    item: Text | None
    ok: bool
    detail: Text


class Verification(_Model):
    """``verification.json``: the latest verification of one backup."""

    id: str = Field(pattern=BACKUP_ID)
    ok: bool
    cause: Text | None
    when: str = Field(pattern=ISO_UTC)
    manifest_sha256: Sha256
    checks: list[Check] = Field(max_length=1000)


class BackupRow(_Model):
    """One backup as the engine's ``list`` reports it (fields beyond ``state`` and ``cause``
    are absent when the manifest is unreadable)."""

    id: str = Field(pattern=BACKUP_ID)
    dir: Text
    state: Literal["verified", "unverified", "failed", "unreadable"]
    cause: Text | None = None
    verified_at: str | None = Field(default=None, pattern=ISO_UTC)
    app: Slug | None = None
    version: str | None = Field(default=None, pattern=VERSION)
    bundle_digest: str | None = Field(default=None, pattern=DIGEST)
    created: str | None = Field(default=None, pattern=ISO_UTC)
    why: Why | None = None
    who: Text | None = None
    size: Size | None = None
    pinned_by: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list)
    secrets: bool | None = None  # the backup carries the sealed secrets


def _problems(exc: ValidationError) -> list[str]:
    """One line per problem; a refused text is quoted (escaped: it comes from the target)."""
    return [f"{format_loc(tuple(e['loc'])) or '(top)'}: {e['msg']}"
            + (f" (got {quoted(e['input'])})" if isinstance(e.get("input"), str) else "")
            for e in exc.errors(include_url=False)]


def parse_manifest(data: Any, *, where: str) -> BackupManifest:
    """Validate a manifest read back from a target; :class:`VerificationFailed` if it is not one."""
    try:
        return BackupManifest.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        raise VerificationFailed(f"{where}: not a valid backup manifest: {problems[0]}", details=problems) from None


def parse_verification(data: Any, *, where: str) -> Verification:
    try:
        return Verification.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        raise VerificationFailed(f"{where}: not a valid verification record: {problems[0]}",
                                 details=problems) from None


def parse_rows(data: Any, *, where: str) -> list[BackupRow]:
    if not isinstance(data, list):
        raise VerificationFailed(f"{where}: the backup list is not a list")
    out = []
    for i, row in enumerate(data):
        try:
            out.append(BackupRow.model_validate(row))
        except ValidationError as exc:
            problems = _problems(exc)
            raise VerificationFailed(f"{where}: backups[{i}]: {problems[0]}", details=problems) from None
    return out


# ---------------------------------------------------------------- the backup host (issue 19 item 5)


class HostCopy(_Model):
    """One copy on the Pemda's backup host, as its ``received.json`` says (``ok``: its size,
    SHA-256 and cheap engine checks passed there when it came)."""

    id: str = Field(pattern=BACKUP_ID)
    ok: bool
    when: str | None = Field(pattern=ISO_UTC)
    manifest_sha256: Sha256 | None
    size: Size | None


class HostCopies(_Model):
    """``spbe_backup_host`` ``copies``/``list``: the copies of one target, newest first."""

    copies: list[HostCopy] = Field(max_length=10000)


class OffsiteCopy(_Model):
    """The backup host's checks of a copy just sent (``tasks/backup.yml``, ``spbe_backup_offsite``)."""

    host: Text
    id: str = Field(pattern=BACKUP_ID)
    ok: Literal[True]
    when: str = Field(pattern=ISO_UTC)
    manifest_sha256: Sha256
    size: Size
    checks: list[Check] = Field(max_length=1000)


class LinkAnswer(_Model):
    """The app host's answer to ``link``: the public half of its backup key."""

    public_key: str = Field(pattern=r"^ssh-ed25519 [A-Za-z0-9+/]{20,200}={0,2}$")


class AuthorizeAnswer(_Model):
    folder: Text
    replaced: int = Field(ge=0)


class PullAnswer(_Model):
    """The app host's answer to ``pull``: the backup came back from the backup host (or was there)."""

    id: str = Field(pattern=BACKUP_ID)
    pulled: bool
    pulled_from: Text | None = None
    checks: list[Check] = Field(default_factory=list, max_length=1000)


class BackupPlayResult(_Model):
    """What ``playbooks/backup.yml`` publishes with ``set_stats`` as ``spbe_backup``."""

    backup: BackupManifest
    dir: Text
    verification: Verification
    offsite: OffsiteCopy | None = None
    deleted: list[Annotated[str, Field(pattern=BACKUP_ID)]] = Field(default_factory=list, max_length=10000)


class RestoreOutcome(_Model):
    id: str = Field(pattern=BACKUP_ID)
    version: str = Field(pattern=VERSION)
    restored: list[Text] = Field(max_length=1000)
    stopped: list[Container] = Field(max_length=1000)
    started: list[Container] = Field(max_length=1000)
    verification: Verification


class RestorePlayResult(_Model):
    """What ``playbooks/restore.yml`` publishes with ``set_stats`` as ``spbe_restore``."""

    restore: RestoreOutcome
    safety_backup: str | None = Field(default=None, pattern=BACKUP_ID)
