"""The watch record a target keeps: ``<root>/watch/last.json``, written by its scheduled check
(``playbooks/module_utils/spbe_watch.py``, ``spbe-share watch enable``) and read back through the
status reading as untrusted.

:func:`view_of` (pure, never raises) turns what the target answered into a :class:`WatchView`:
when the check ran, how old that is, and the warnings: the record's own (disk, health,
restarts, backups, certificates) plus ``stale`` when the record is older than two intervals
(the check itself stopped running: a warning of its own), or ``invalid`` when it cannot be read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.models import SLUG

MAX_TEXT = 300


class WatchWarning(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=80, pattern=r"^(disk|stale|invalid|(health|restarts|backup|certificate):" + SLUG[1:-1] + r")$")
    app: str | None = Field(default=None, pattern=SLUG)
    message: str = Field(max_length=MAX_TEXT)
    since: dt.datetime | None = None


class WatchDisk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(max_length=4096)
    total: int | None = Field(default=None, ge=0)
    free: int | None = Field(default=None, ge=0)
    used_percent: float | None = Field(default=None, ge=0, le=100)
    error: str | None = Field(default=None, max_length=MAX_TEXT)


class WatchCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(max_length=4096)
    not_after: dt.datetime | None = None
    error: str | None = Field(default=None, max_length=MAX_TEXT)


class WatchApp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str = Field(pattern=SLUG)
    version: str = Field(max_length=64)
    health: Literal["healthy", "unhealthy", "busy"]
    detail: str = Field(default="", max_length=MAX_TEXT)
    restarts: dict[str, int] = Field(default_factory=dict, max_length=50)
    restarts_since_last_check: int = Field(default=0, ge=0)
    last_verified_backup: dt.datetime | None = None
    certificate: WatchCertificate | None = None


class WatchAlerts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[Literal["email", "webhook"]] = Field(default_factory=list, max_length=2)
    sent: list[str] = Field(default_factory=list, max_length=1000)
    errors: list[str] = Field(default_factory=list, max_length=1000)


class WatchRecord(BaseModel):
    """``<root>/watch/last.json`` (format 1)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal[1]
    kind: Literal["spbe-share-watch"]
    target: str = Field(max_length=64)
    checked_at: dt.datetime
    every_minutes: int = Field(ge=1, le=1440)
    thresholds: dict[str, float] = Field(max_length=10)
    disk: WatchDisk
    apps: list[WatchApp] = Field(max_length=200)
    warnings: list[WatchWarning] = Field(max_length=1000)
    alerts: WatchAlerts


class Readings(BaseModel):
    """One app's readings of the last check (``null``: not read)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    disk_used_percent: float | None = None
    last_verified_backup: dt.datetime | None = None
    backup_age_hours: float | None = Field(default=None, description="at the time of the check")
    restarts: int | None = Field(default=None, description="restarts of the app's containers (Docker's count)")
    certificate_not_after: dt.datetime | None = None

    def text(self) -> str:
        parts = []
        if self.disk_used_percent is not None:
            parts.append(f"disk {self.disk_used_percent:g}%")
        if self.backup_age_hours is not None:
            parts.append(f"backup {self.backup_age_hours:.0f} h old")
        if self.restarts:
            parts.append(f"{self.restarts} restarts")
        if self.certificate_not_after is not None:
            parts.append(f"cert until {self.certificate_not_after:%Y-%m-%d}")
        return ", ".join(parts)


class WatchView(BaseModel):
    """What ``status`` and ``fleet status`` show of a target's watch (``--json``: ``watch``)."""

    model_config = ConfigDict(extra="forbid")
    checked_at: dt.datetime | None = None
    age_minutes: int | None = None
    every_minutes: int | None = None
    disk_used_percent: float | None = None
    warnings: list[WatchWarning] = Field(default_factory=list)
    alert_errors: list[str] = Field(default_factory=list)
    record: WatchRecord | None = Field(default=None, exclude=True)

    def readings(self, app: str) -> Readings:
        """What the check read for ``app`` (and the disk), for the tables and the fleet JSON."""
        rec = self.record
        mine = next((a for a in rec.apps if a.app == app), None) if rec else None
        backup_age = None
        if mine is not None and mine.last_verified_backup is not None and self.checked_at is not None:
            when = mine.last_verified_backup
            when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            backup_age = max(0.0, round((self.checked_at - when).total_seconds() / 3600, 1))
        cert = mine.certificate if mine else None
        return Readings(
            disk_used_percent=self.disk_used_percent,
            last_verified_backup=mine.last_verified_backup if mine else None,
            backup_age_hours=backup_age,
            restarts=sum(mine.restarts.values()) if mine else None,
            certificate_not_after=cert.not_after if cert else None,
        )

    def for_app(self, app: str) -> list[WatchWarning]:
        """The warnings of ``app`` and those of the whole target (disk, stale, invalid)."""
        return [w for w in self.warnings if w.app in (None, app)]


def view_of(raw: Any, *, target: str, now: dt.datetime) -> WatchView:
    """The watch of ``target`` from the record it answered (pure; never raises)."""
    try:
        rec = WatchRecord.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(record)"
        return WatchView(warnings=[WatchWarning(key="invalid", message=f"invalid watch record: {where}: {first['msg']}"[:MAX_TEXT])])
    if rec.target != target:
        return WatchView(warnings=[WatchWarning(key="invalid", message=f"the watch record names target {rec.target!r}")])
    checked = rec.checked_at if rec.checked_at.tzinfo else rec.checked_at.replace(tzinfo=dt.UTC)
    age = max(0, int((now - checked).total_seconds() // 60))
    warnings = list(rec.warnings)
    if age > 2 * rec.every_minutes:
        warnings.insert(0, WatchWarning(
            key="stale", since=checked,
            message=f"the watch has not run for {age} min (every {rec.every_minutes} min): its schedule stopped"))
    return WatchView(checked_at=checked, age_minutes=age, every_minutes=rec.every_minutes,
                     disk_used_percent=rec.disk.used_percent, warnings=warnings, alert_errors=rec.alerts.errors,
                     record=rec)  # fmt: skip


def summary(view: WatchView | None, app: str) -> tuple[str, list[str]]:
    """(one short cell, the warnings' messages) of ``app``'s row: ``-`` when the target has no watch."""
    if view is None:
        return "-", []
    messages = [w.message for w in view.for_app(app)]
    readings = view.readings(app).text()
    return cell(view.checked_at is not None, view.age_minutes, len(messages)) + (f"; {readings}" if readings else ""), messages


def cell(checked: bool, age_minutes: int | None, warnings: int) -> str:
    """``ok (5 min ago)`` or ``WARNING: 2 (5 min ago)``: the watch column of status tables."""
    when = age_text(age_minutes) if checked else "no record"
    return f"ok ({when})" if not warnings else f"WARNING: {warnings} ({when})"


def age_text(minutes: int | None) -> str:
    if minutes is None:
        return "never"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


__all__ = ["Readings", "WatchRecord", "WatchView", "WatchWarning", "age_text", "cell", "summary", "view_of"]
