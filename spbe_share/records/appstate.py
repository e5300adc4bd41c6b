"""What a target keeps about one app, read by ``playbooks/module_utils/spbe_appstate.py`` (over
one SSH connection, or as ``app_state.yml``) and validated here.

The target is not trusted: every record goes through :func:`~.state.validated_record` (strict,
and it must name this app and target), deploy specs through
:func:`~.deployspec.validated_deploy`, the journal through :func:`~.journal.parse_journal`,
backups through the backup engine's strict models. A record that does not validate is kept as
an :class:`Unreadable` row (history shows it, nothing uses it); a damaged journal or deploy spec
that an operation needs stops that operation (exit 8) with the file and field named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RemoteFailed, SpbeError
from . import state
from .backups import BackupRow, parse_rows
from .deployspec import DeploySpec, validated_deploy
from .journal import Journal, parse_journal
from .state import LockOwner, ReleaseRecord

if TYPE_CHECKING:
    from ..targets.inventory import Target


class LockInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holder: LockOwner
    age_s: int = Field(ge=0)
    stale: bool

    def describe(self) -> str:
        h = self.holder
        text = f"{h.who} (pid {h.pid} on {h.host}, {h.operation}) since {h.since}"
        if self.stale and h.lease_s:
            return f"{text}; STALE: its lease of {h.lease_s} s ran out {self.age_s - h.lease_s} s ago"
        if h.lease_s:
            return f"{text}; lease renewed {self.age_s} s ago, expires in {max(0, h.lease_s - self.age_s)} s"
        return f"{text}; no lease (an older spbe-share, or taken by hand)"

    @property
    def expires_in_s(self) -> int | None:
        return None if not self.holder.lease_s else max(0, self.holder.lease_s - self.age_s)


@dataclass(frozen=True)
class Unreadable:
    name: str
    why: str


@dataclass
class AppState:
    """The app on one target, validated."""

    app: str
    target: str
    current: ReleaseRecord | None
    releases: list[tuple[str, ReleaseRecord]]  # (name, record), oldest first
    unreadable: list[Unreadable]
    journal: Journal | None
    journal_problem: str | None
    lock: LockInfo | None
    lock_problem: str | None
    deploys: dict[str, DeploySpec]
    deploy_problems: dict[str, str]
    blobs: set[str]
    backups: list[BackupRow] = field(default_factory=list)

    def deploy(self, name: str | None, *, what: str) -> DeploySpec:
        """The deploy spec ``name`` (RemoteFailed naming why it cannot be used)."""
        if name is None:
            raise RemoteFailed(
                f"{self.target}: {what} was deployed by an older spbe-share that kept no deploy spec, so it cannot"
                f" be brought back automatically; reinstall it once with this version (spbe-share install {self.app}"
                " --version V) and try again"
            )
        if name in self.deploys:
            return self.deploys[name]
        why = self.deploy_problems.get(name, "the file is missing (`spbe-share prune` removes the deploy specs of the"
                                             " releases it does not keep: that release can only be installed again)")
        raise RemoteFailed(f"{self.target}: deploy spec {name} of {what}: {why}")

    def backup(self, backup_id: str) -> BackupRow | None:
        return next((b for b in self.backups if b.id == backup_id), None)

    def ok_records(self) -> list[tuple[str, ReleaseRecord]]:
        """The records of attempts that made their release serve (the chain), oldest first."""
        return [(n, r) for n, r in self.releases if r.result == "ok"]


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current: Any = None
    releases: list[Any] = Field(default_factory=list, max_length=10000)
    journal: Any = None
    lock: Any = None
    deploys: dict[str, Any] = Field(default_factory=dict)
    blobs: list[str] = Field(default_factory=list, max_length=100000)
    backups: list[Any] = Field(default_factory=list, max_length=10000)
    now: int = 0


def parse_state(data: Any, *, target: Target, app: str) -> AppState:
    """Validate what ``spbe_appstate.py`` answered (or ``app_state.yml`` published; pure)."""
    src = f"{target.name}:{state.app_dir(target.root, app)}"
    try:
        raw = _Raw.model_validate(data)
    except ValidationError as exc:
        raise RemoteFailed(f"{src}: the target returned an invalid app state: {exc.errors()[0]['msg']}") from None
    current = None
    if raw.current is not None:
        current = state.validated_record(raw.current, app=app, target=target.name, version=None,
                                         source=f"{src}/current.json")
    releases: list[tuple[str, ReleaseRecord]] = []
    unreadable: list[Unreadable] = []
    for item in raw.releases:
        name = str(item.get("name", "?")) if isinstance(item, dict) else "?"
        try:
            record = state.validated_record(item.get("record") if isinstance(item, dict) else None, app=app,
                                            target=target.name, version=None, source=f"{src}/releases/{name}.json")
        except SpbeError as exc:
            unreadable.append(Unreadable(name=name, why=exc.message))
            continue
        releases.append((name, record))
    journal, journal_problem = None, None
    if raw.journal is not None:
        try:
            journal = parse_journal(raw.journal, app=app, target=target.name, source=f"{src}/journal.json")
        except SpbeError as exc:
            journal_problem = exc.message
    lock, lock_problem = None, None
    if raw.lock is not None:
        try:
            lock = LockInfo.model_validate(raw.lock)
        except ValidationError as exc:
            lock_problem = f"{target.name}: the lock file of {app} is not a valid lock: {exc.errors()[0]['msg']}"
    deploys: dict[str, DeploySpec] = {}
    problems: dict[str, str] = {}
    for name, spec in raw.deploys.items():
        try:
            deploys[name] = validated_deploy(spec, app=app, target=target.name, root=target.root,
                                             bind_address=target.bind_address, source=f"{src}/deploys/{name}.json")
        except SpbeError as exc:
            problems[name] = exc.message
    try:
        backups = parse_rows(raw.backups, where=f"{src}/backups")
    except SpbeError:
        backups = []
    return AppState(
        app=app, target=target.name, current=current, releases=releases, unreadable=unreadable, journal=journal,
        journal_problem=journal_problem, lock=lock, lock_problem=lock_problem, deploys=deploys,
        deploy_problems=problems, blobs={b[:64] for b in raw.blobs}, backups=backups,
    )


__all__ = ["AppState", "LockInfo", "Unreadable", "parse_state"]
