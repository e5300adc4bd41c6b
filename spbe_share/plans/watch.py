"""``spbe-share watch``: the settings file, the check's config and its schedule files (pure).

The operator's settings live in ``<workspace>/watch.yml`` (:class:`WatchSettings`, strict):
``defaults`` for every target and a section per target that overrides them key by key::

    defaults:
      every_minutes: 15
      thresholds: {disk_percent: 85, backup_hours: 26, cert_days: 21, restarts: 3}
      email: {host: smtp.pemda.go.id, port: 25, sender: spbe-share@pemda.go.id, to: [tik@pemda.go.id]}
      webhook: {url: "http://10.10.0.5:8080/hooks/spbe"}
    targets:
      kota-sorong:
        thresholds: {disk_percent: 90}
        certificates: {e-office: /etc/ssl/pemda/e-office.crt}

From them :func:`check_config` is the JSON the target's check reads
(``<root>/watch/watch.json``; ``playbooks/module_utils/spbe_watch.py``), and
:func:`schedule_files` the cron file (``/etc/cron.d/spbe-share-watch-<target>``) or systemd
service + timer that run it every ``every_minutes``, the same mechanism as ``backup schedule``.
The target sends the alerts itself (a data center with no operator online still tells
someone), so the relay and the webhook must be reachable from the target, not from here.
"""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import InvalidInput
from .schedule import PLAIN_PATH, PYTHON, SLUG, Kind, ScheduleFile, plain_root

FORMAT = 1
KIND = "spbe-share-watch"
DEFAULT_EVERY = 15
SETTINGS_FILE = "watch.yml"


class Thresholds(BaseModel):
    """When a reading is a warning (and an alert)."""

    model_config = ConfigDict(extra="forbid")
    disk_percent: float = Field(default=85, ge=0, le=100, description="disk of the root at least this full")
    backup_hours: float = Field(default=26, gt=0, description="newest verified backup older than this")
    cert_days: float = Field(default=21, ge=0, description="TLS certificate expiring within this")
    restarts: int = Field(default=3, ge=1, description="container restarts between two checks")


class Email(BaseModel):
    """The Pemda's SMTP relay (no login: a relay on the Pemda's network that accepts its servers)."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(min_length=3, max_length=254, pattern=r"^[^\s@<>]+@[^\s@<>]+$")
    to: list[str] = Field(min_length=1, max_length=20)
    starttls: bool = False
    timeout: int = Field(default=20, ge=1, le=120)

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for a in v:
            if not (3 <= len(a) <= 254) or "@" not in a or any(c in a for c in " \t\r\n<>,"):
                raise ValueError(f"not an email address: {a[:60]!r}")
        return v


class Webhook(BaseModel):
    """A receiver on the Pemda's network: each alert is POSTed to it as one JSON object."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, pattern=r"^https?://[^\s]+$")
    timeout: int = Field(default=20, ge=1, le=120)


class WatchTarget(BaseModel):
    """One target's settings (every key optional: unset keys come from ``defaults``)."""

    model_config = ConfigDict(extra="forbid")
    every_minutes: int | None = Field(default=None, ge=1, le=1440)
    thresholds: dict[str, float] | None = None
    email: Email | None = None
    webhook: Webhook | None = None
    certificates: dict[str, str] | None = None

    @field_validator("thresholds")
    @classmethod
    def _known(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None:
            Thresholds.model_validate(v)  # names and ranges
        return v

    @field_validator("certificates")
    @classmethod
    def _certs(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for app, path in (v or {}).items():
            if not SLUG.match(app):
                raise ValueError(f"app {app[:60]!r} is not a slug")
            if not PLAIN_PATH.match(path) or ".." in path.split("/"):
                raise ValueError(f"{app}: {path[:100]!r} is not a plain absolute path")
        return v


class WatchSettings(BaseModel):
    """``<workspace>/watch.yml``."""

    model_config = ConfigDict(extra="forbid")
    defaults: WatchTarget = Field(default_factory=WatchTarget)
    targets: dict[str, WatchTarget] = Field(default_factory=dict)

    def resolved(self, target: str) -> Resolved:
        """``defaults`` with ``target``'s own section over it, key by key."""
        mine = self.targets.get(target, WatchTarget())
        d = self.defaults
        thresholds = Thresholds.model_validate({**(d.thresholds or {}), **(mine.thresholds or {})})
        return Resolved(
            every_minutes=mine.every_minutes or d.every_minutes or DEFAULT_EVERY, thresholds=thresholds,
            email=mine.email or d.email, webhook=mine.webhook or d.webhook,
            certificates={**(d.certificates or {}), **(mine.certificates or {})},
        )


class Resolved(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every_minutes: int
    thresholds: Thresholds
    email: Email | None
    webhook: Webhook | None
    certificates: dict[str, str]


def _check(target: str, root: str, python: str) -> str:
    if not SLUG.match(target):
        raise InvalidInput(f"target {target!r} is not a slug")
    return plain_root(root, python)


def check_config(settings: Resolved, *, target: str, root: str) -> dict[str, Any]:
    """The JSON the check on the target reads (``<root>/watch/watch.json``)."""
    return {
        "format": FORMAT, "kind": KIND, "target": target, "root": _check(target, root, PYTHON),
        "every_minutes": settings.every_minutes, "thresholds": settings.thresholds.model_dump(),
        "email": settings.email.model_dump() if settings.email else None,
        "webhook": settings.webhook.model_dump() if settings.webhook else None,
        "certificates": settings.certificates,
    }  # fmt: skip


def unit_name(target: str) -> str:
    return f"spbe-share-watch-{target}"


def check_argv(*, target: str, root: str, python: str = PYTHON) -> list[str]:
    """What a scheduled run (and ``watch run``) executes on the target."""
    root = _check(target, root, python)
    return [python, f"{root}/lib/spbe_watch.py", "--config", f"{root}/watch/watch.json"]


def every_paths(target: str) -> list[str]:
    """Every file a watch schedule of ``target`` may have (removed by ``watch off``)."""
    name = unit_name(target)
    return [f"/etc/cron.d/{name}", f"/etc/systemd/system/{name}.service", f"/etc/systemd/system/{name}.timer"]


def schedule_files(*, kind: Kind, target: str, root: str, every_minutes: int,
                   python: str = PYTHON) -> list[ScheduleFile]:  # fmt: skip
    if not 1 <= every_minutes <= 1440:
        raise InvalidInput("every_minutes: 1 to 1440")
    root = _check(target, root, python)
    name = unit_name(target)
    argv = check_argv(target=target, root=root, python=python)
    if kind == "cron":
        minutes = f"*/{every_minutes}" if every_minutes < 60 else "0"
        hours = "*" if every_minutes <= 60 else f"*/{every_minutes // 60}"
        log = f"{root}/watch/watch.log"
        content = "\n".join([
            f"# spbe-share: the watch of target {target}, every {every_minutes} min: health, disk, backups,",
            "# restarts, certificates; one record in " + f"{root}/watch/last.json, alerts as configured.",
            "# Written by spbe-share (watch enable); to change it, edit watch.yml and run that command again.",
            "SHELL=/bin/sh",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"{minutes} {hours} * * * root {shlex.join(argv)} >> {shlex.quote(log)} 2>&1",
            "",
        ])  # fmt: skip
        return [ScheduleFile(path=f"/etc/cron.d/{name}", content=content)]
    if kind == "systemd":
        service = "\n".join([
            f"# spbe-share: one check of target {target} (started by {name}.timer). Written by spbe-share.",
            "[Unit]", f"Description=spbe-share watch of {target}", "", "[Service]", "Type=oneshot",
            f"ExecStart={shlex.join(argv)}", "Nice=10", "",
        ])  # fmt: skip
        timer = "\n".join([
            f"# Enable: systemctl daemon-reload && systemctl enable --now {name}.timer",
            "[Unit]", f"Description=spbe-share watch of {target}, every {every_minutes} min", "",
            "[Timer]", f"OnBootSec={every_minutes}min", f"OnUnitActiveSec={every_minutes}min", f"Unit={name}.service",
            "", "[Install]", "WantedBy=timers.target", "",
        ])  # fmt: skip
        return [ScheduleFile(path=f"/etc/systemd/system/{name}.service", content=service),
                ScheduleFile(path=f"/etc/systemd/system/{name}.timer", content=timer)]  # fmt: skip
    raise InvalidInput(f"schedule kind {kind!r}: cron or systemd")


Mode = Literal["enable", "off", "run"]


def watch_vars(*, mode: Mode, target: str, root: str, settings: Resolved | None = None,
               kind: Kind = "cron", python: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Variables of ``playbooks/watch.yml`` (``python``: the target's interpreter, default
    ``/usr/bin/python3``)."""
    python = python or PYTHON
    root = _check(target, root, python)
    out: dict[str, Any] = {"spbe_target": target, "spbe_root": root, "spbe_watch_mode": mode,
                           "spbe_watch_argv": check_argv(target=target, root=root, python=python),
                           # run: the schedule is left as it is; enable and off: no other schedule file stays
                           "spbe_schedule_paths": [] if mode == "run" else every_paths(target),
                           "spbe_schedule_files": []}  # fmt: skip
    if mode == "enable":
        if settings is None:
            raise InvalidInput("watch enable needs settings")
        out["spbe_watch_config"] = check_config(settings, target=target, root=root)
        out["spbe_schedule_files"] = [
            {"path": f.path, "content": f.content, "mode": f"{f.mode:04o}"}
            for f in schedule_files(kind=kind, target=target, root=root, every_minutes=settings.every_minutes,
                                    python=python)
        ]
    return out


__all__ = [
    "SETTINGS_FILE", "Email", "Resolved", "Thresholds", "WatchSettings", "WatchTarget", "Webhook",
    "check_argv", "check_config", "every_paths", "schedule_files", "unit_name", "watch_vars",
]  # fmt: skip
