"""The journal of an upgrade or rollback on the target, and what the next command does with it.

``<root>/apps/<app>/journal.json`` (written by the ``spbe_journal`` module, atomically) holds
the last upgrade or rollback of the app::

    {"format": 1, "id": "20261122T101500Z-5f3a", "operation": "upgrade",
     "app": "e-office", "target": "kota-sorong", "who": "ops@laptop", "host": "laptop", "pid": 4242,
     "started": "2026-11-22T10:15:00Z", "lock_token": "<hex>",
     "from": {"version": "1.0.0", "bundle_digest": "sha256:...", "deploy": "20261101T080000Z-1.0.0"},
     "to":   {"version": "1.1.0", "bundle_digest": "sha256:...", "deploy": "20261122T101500Z-1.1.0"},
     "attempt": "20261122T101500Z-1.1.0",         # releases/<attempt>.json is its record
     "backup": "20261122T101502Z-pre-upgrade-3fa2", # taken before anything stopped, pinned
     "restore": null,                              # rollback: the backup holding the data of "to"
     "migrates_data": true,
     "steps": [{"step": "begin", "at": "..."}, {"step": "shipped", "at": "..."}, ...],
     "state": "running", "cause": null}

Steps, in order, each written BEFORE the action it names when the action can leave the app
down (``stopping-old``, ``starting-new``) and after it otherwise:

    begin, shipped, backed-up, stopping-old, restoring, starting-new, started-new, healthy, recorded
    undo: undo-begin, undo-restored, undo-started-old, undo-done

``state``: ``running`` until the end, then ``done``, ``rolled_back`` (undone after a failure),
``failed`` (stopped before anything stopped, or the undo failed too) or ``abandoned`` (a later
command found it unfinished with nothing to undo).

:func:`resume_plan` (pure) decides what the next ``upgrade`` or ``rollback`` does with an
unfinished journal, and says why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RemoteFailed
from .deployspec import DEPLOY_NAME, VERSION

BACKUP_ID = r"^\d{8}T\d{6}Z-[a-z0-9][a-z0-9-]{0,40}$"
ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
JOURNAL_ID = r"^\d{8}T\d{6}Z-[0-9a-f]{4,32}$"

Step = Literal[
    "begin", "shipped", "backed-up", "stopping-old", "restoring", "starting-new", "started-new", "healthy",
    "recorded", "resumed", "undo-begin", "undo-restored", "undo-started-old", "undo-done",
]
FORWARD: tuple[str, ...] = (
    "begin", "shipped", "backed-up", "stopping-old", "restoring", "starting-new", "started-new", "healthy", "recorded",
)
State = Literal["running", "done", "rolled_back", "failed", "abandoned"]
Text = Annotated[str, Field(max_length=2000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Side(_Model):
    version: str = Field(pattern=VERSION)
    bundle_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    deploy: str = Field(pattern=DEPLOY_NAME)


class JournalStep(_Model):
    step: Step
    at: str = Field(pattern=ISO_UTC)


class Journal(_Model):
    format: Literal[1] = 1
    id: str = Field(pattern=JOURNAL_ID)
    operation: Literal["upgrade", "rollback"]
    app: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    target: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
    who: Text
    host: Text
    pid: int
    started: str = Field(pattern=ISO_UTC)
    lock_token: str = Field(pattern=r"^[0-9a-f]{16,64}$")
    from_: Side = Field(alias="from")
    to: Side
    attempt: str = Field(pattern=DEPLOY_NAME)
    backup: str | None = Field(default=None, pattern=BACKUP_ID)
    restore: str | None = Field(default=None, pattern=BACKUP_ID)
    migrates_data: bool = False
    steps: list[JournalStep] = Field(default_factory=list, max_length=100)
    state: State = "running"
    cause: Text | None = None

    def as_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @property
    def step_names(self) -> list[str]:
        return [s.step for s in self.steps]

    @property
    def last_forward(self) -> str:
        """The last forward step reached (``begin`` at least)."""
        reached = [s for s in self.step_names if s in FORWARD]
        return max(reached, key=FORWARD.index) if reached else "begin"

    def reached(self, step: str) -> bool:
        return FORWARD.index(self.last_forward) >= FORWARD.index(step)

    @property
    def undoing(self) -> bool:
        return "undo-begin" in self.step_names and "undo-done" not in self.step_names

    def at(self, step: str) -> dt.datetime | None:
        for s in self.steps:
            if s.step == step:
                return dt.datetime.strptime(s.at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        return None

    def downtime_s(self) -> float | None:
        """From ``stopping-old`` to ``healthy`` (or ``undo-done``), on the target's clock."""
        start = self.at("stopping-old")
        end = self.at("healthy") or self.at("undo-done")
        if start is None or end is None:
            return None
        return (end - start).total_seconds()


def new_journal_id(now: dt.datetime, token: str) -> str:
    return f"{now.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{token[:8]}"


def parse_journal(data: Any, *, app: str, target: str, source: str) -> Journal:
    try:
        journal = Journal.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise RemoteFailed(f"{source}: invalid journal: {where}: {first['msg']}; nothing was used") from None
    if journal.app != app or journal.target != target:
        raise RemoteFailed(f"{source}: the journal is of {journal.app} on {journal.target}, not {app} on {target}")
    return journal


# ---------------------------------------------------------------- what the next command does


Action = Literal["none", "abandon", "restart-old", "undo", "finish"]


@dataclass(frozen=True)
class Resume:
    """What to do with an unfinished journal: ``action`` and, for the operator, ``why``.

    * ``none``: nothing unfinished;
    * ``abandon``: it stopped before the serving release was stopped: nothing to undo, the
      attempt is recorded as interrupted;
    * ``restart-old``: the old release was stopped, the new one never started: the data is
      untouched, start the old release again (no restore);
    * ``undo``: the new release may have started (and migrated data): stop it, restore the
      backup taken before, start the old release;
    * ``finish``: the new release had started (``upgrade`` only): check its health and record
      it; if it is not healthy, undo.
    """

    action: Action
    why: str
    restore: str | None = None  # backup to restore (undo)


def resume_plan(journal: Journal | None, *, command: Literal["upgrade", "rollback"]) -> Resume:
    """What ``command`` does first with the journal it found on the target (pure)."""
    if journal is None or journal.state != "running":
        return Resume("none", "no unfinished upgrade or rollback")
    what = f"the {journal.operation} {journal.from_.version} -> {journal.to.version} started {journal.started}"
    where = f"stopped after step '{journal.steps[-1].step if journal.steps else 'begin'}'"
    if journal.undoing:
        return Resume("undo", f"{what} {where} while it was being undone: the undo is done again (every step"
                      " of it can be repeated)", restore=_undo_restore(journal))
    if journal.reached("recorded"):
        return Resume("abandon", f"{what} {where}: it had finished (its record is written); only the journal"
                      " is closed")
    if not journal.reached("stopping-old"):
        return Resume("abandon", f"{what} {where}, before {journal.from_.version} was stopped: nothing to undo,"
                      " the attempt is recorded as interrupted")
    if not journal.reached("restoring") and not journal.reached("starting-new"):
        return Resume("restart-old", f"{what} {where}: {journal.from_.version} was stopped and"
                      f" {journal.to.version} never started, so the data is untouched: {journal.from_.version}"
                      " is started again")
    if command == "upgrade" and journal.operation == "upgrade" and journal.reached("started-new"):
        return Resume("finish", f"{what} {where}: {journal.to.version} had started, so the upgrade is finished:"
                      f" its health is checked, then it is recorded (or undone if it is not healthy)",
                      restore=_undo_restore(journal))
    return Resume("undo", f"{what} {where}: {journal.to.version} may have started and changed the data, so it"
                  f" is undone: {journal.from_.version} with the data of backup {journal.backup}",
                  restore=_undo_restore(journal))


def _undo_restore(journal: Journal) -> str | None:
    """The backup an undo restores: the one taken before anything stopped (if the data may have
    changed since: a restore happened, or the new release started)."""
    if journal.reached("restoring") or journal.reached("starting-new"):
        return journal.backup
    return None


__all__ = [
    "FORWARD",
    "Journal",
    "JournalStep",
    "Resume",
    "Side",
    "new_journal_id",
    "parse_journal",
    "resume_plan",
]
