"""``backup schedule``: plain files that run a daily backup on the target without spbe-share.

Two forms, both readable by ops staff and both running the same stdlib engine that the
playbooks install (``<root>/lib/spbe_backup_engine.py``, spec ``<root>/apps/<app>/backup-spec.json``):

* cron: ``/etc/cron.d/spbe-share-backup-<app>`` (Debian's cron reads ``/etc/cron.d`` files
  whose names are letters, digits, ``-`` and ``_`` only: app ids are slugs, so they qualify);
* systemd: ``/etc/systemd/system/spbe-share-backup-<app>.service`` + ``.timer``.

Each run takes the app's lock (a run during an upgrade is skipped with a message, exit 75),
creates a backup, verifies it, and prunes to the newest ``keep`` (the newest verified one and
pinned ones are always kept). Times are the server's local time zone.

Pure: the builders return file paths and contents; writing them is the playbook's job.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidInput
from .backup import DEFAULT_KEEP

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# cron treats '%' as a newline and systemd as a specifier: only plain characters in paths
PLAIN_PATH = re.compile(r"^/(?:[A-Za-z0-9._-]+/?)*$")
DAILY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
PYTHON = "/usr/bin/python3"

Kind = Literal["cron", "systemd"]


@dataclass(frozen=True)
class ScheduleFile:
    path: str
    content: str
    mode: int = 0o644


def parse_daily(text: str) -> tuple[int, int]:
    """``"01:30"`` -> (1, 30); an invalid time is :class:`InvalidInput`."""
    m = DAILY.match(text.strip())
    if not m:
        raise InvalidInput(f"--daily {text!r}: expected HH:MM, 00:00 to 23:59")
    return int(m[1]), int(m[2])


def plain_root(root: str, python: str) -> str:
    """``root`` without its trailing ``/``, when it and ``python`` are plain absolute paths (a
    schedule file writes them as they are)."""
    if not PLAIN_PATH.match(root) or ".." in root.split("/"):
        raise InvalidInput(f"target root {root!r}: a schedule needs a plain absolute path "
                           "(letters, digits, '.', '_', '-')")
    if not PLAIN_PATH.match(python):
        raise InvalidInput(f"python {python!r}: a plain absolute path")
    return root.rstrip("/")


def _check(app: str, root: str, keep: int, python: str) -> str:
    if not SLUG.match(app):
        raise InvalidInput(f"app {app!r} is not a slug")
    if keep < 1:
        raise InvalidInput("--keep must be at least 1")
    return plain_root(root, python)


def engine_argv(*, app: str, root: str, keep: int = DEFAULT_KEEP, who: str = "cron",
                python: str = PYTHON) -> list[str]:
    """The command a scheduled run executes on the target."""
    root = _check(app, root, keep, python)
    return [python, f"{root}/lib/spbe_backup_engine.py", "create", "--spec",
            f"{root}/apps/{app}/backup-spec.json", "--why", "scheduled", "--who", who, "--keep", str(keep)]


def unit_name(app: str, target: str | None = None) -> str:
    """``spbe-share-backup-<app>``, or ``spbe-share-backup-<target>-<app>`` (several targets'
    roots on one server, as in the simulated data centers, each get their own file)."""
    if target is not None and not SLUG.match(target):
        raise InvalidInput(f"target {target!r} is not a slug")
    return f"spbe-share-backup-{target}-{app}" if target else f"spbe-share-backup-{app}"


def cron_file(*, app: str, root: str, daily: str, keep: int = DEFAULT_KEEP, python: str = PYTHON,
              target: str | None = None) -> ScheduleFile:
    hour, minute = parse_daily(daily)
    root = _check(app, root, keep, python)
    command = shlex.join(engine_argv(app=app, root=root, keep=keep, who="cron", python=python))
    log = f"{root}/apps/{app}/backups/schedule.log"
    content = "\n".join([
        f"# spbe-share: daily backup of {app} at {hour:02d}:{minute:02d} (server time), keeping the newest {keep}.",
        "# Written by spbe-share (backup schedule); to change it, run that command again.",
        "# Each run: takes the app's lock (skipped while an upgrade runs), backs up, verifies, prunes.",
        f"# Backups: {root}/apps/{app}/backups/   Log: {log}",
        f"# List them: {shlex.join([python, f'{root}/lib/spbe_backup_engine.py', 'list', '--spec', f'{root}/apps/{app}/backup-spec.json'])}",
        "SHELL=/bin/sh",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "# minute hour day-of-month month day-of-week user command",
        f"{minute} {hour} * * * root {command} >> {shlex.quote(log)} 2>&1",
        "",
    ])
    return ScheduleFile(path=f"/etc/cron.d/{unit_name(app, target)}", content=content)


def systemd_files(*, app: str, root: str, daily: str, keep: int = DEFAULT_KEEP,
                  python: str = PYTHON, target: str | None = None) -> list[ScheduleFile]:
    hour, minute = parse_daily(daily)
    root = _check(app, root, keep, python)
    name = unit_name(app, target)
    service = "\n".join([
        f"# spbe-share: one backup of {app} (started by {name}.timer). Written by spbe-share (backup schedule).",
        "[Unit]",
        f"Description=spbe-share backup of {app}",
        "Wants=docker.service",
        "After=docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={shlex.join(engine_argv(app=app, root=root, keep=keep, who='systemd-timer', python=python))}",
        "Nice=10",
        "IOSchedulingClass=best-effort",
        "IOSchedulingPriority=7",
        "# exit 75: skipped because another operation (e.g. an upgrade) holds the app's lock",
        "SuccessExitStatus=75",
        "",
    ])
    timer = "\n".join([
        f"# spbe-share: daily backup of {app} at {hour:02d}:{minute:02d} (server time), keeping the newest {keep}.",
        f"# Enable: systemctl daemon-reload && systemctl enable --now {name}.timer",
        f"# Backups: {root}/apps/{app}/backups/   Log: journalctl -u {name}.service",
        "[Unit]",
        f"Description=Daily spbe-share backup of {app}",
        "",
        "[Timer]",
        f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00",
        "Persistent=true",
        f"Unit={name}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    return [
        ScheduleFile(path=f"/etc/systemd/system/{name}.service", content=service),
        ScheduleFile(path=f"/etc/systemd/system/{name}.timer", content=timer),
    ]


def schedule_files(*, kind: Kind, app: str, root: str, daily: str, keep: int = DEFAULT_KEEP,
                   python: str = PYTHON, target: str | None = None) -> list[ScheduleFile]:
    if kind == "cron":
        return [cron_file(app=app, root=root, daily=daily, keep=keep, python=python, target=target)]
    if kind == "systemd":
        return systemd_files(app=app, root=root, daily=daily, keep=keep, python=python, target=target)
    raise InvalidInput(f"schedule kind {kind!r}: cron or systemd")
