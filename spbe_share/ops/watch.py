"""``spbe-share watch enable|off|run --target T``: the scheduled check of a target.

``enable`` reads the operator's settings (``<workspace>/watch.yml``: :class:`~..plans.watch.WatchSettings`),
installs the stdlib check in ``<root>/lib``, writes its config and a cron file (or systemd
timer) running it every ``every_minutes``, and runs it once (``playbooks/watch.yml``). ``off``
removes the schedule (the last record stays and shows as stale). ``run`` runs the installed
check now. Each is one audit line. The check itself sends the alerts from the target.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import RemoteFailed
from ..outside import OutsideJSONError, loads_json
from ..plans.watch import SETTINGS_FILE, Mode, WatchSettings, watch_vars
from ..records.watch import WatchView, view_of
from ..remote.outcome import host_data
from .checks import checked_target
from .context import OpContext
from .core import operation

if TYPE_CHECKING:
    from pathlib import Path

    from ..plans.schedule import Kind
    from ..workspace import Workspace

MAX_RECORD = 1 << 20


def settings_path(ws: Workspace) -> Path:
    return ws.home / SETTINGS_FILE


def load_settings(ws: Workspace) -> WatchSettings:
    """``<workspace>/watch.yml`` (defaults when it does not exist); a bad one names file, line, field."""
    from ..yamlio import load_model

    path = settings_path(ws)
    if not path.exists():
        return WatchSettings()
    return load_model(WatchSettings, path)


class _Stats(BaseModel):
    """What ``watch.yml`` publishes (``spbe_watch``); from the target: untrusted."""

    model_config = ConfigDict(extra="forbid")
    written: list[str] = Field(max_length=10)
    removed: list[str] = Field(max_length=10)
    ran: bool
    output: str = Field(max_length=4000)
    record: str = Field(max_length=2 * MAX_RECORD)


@dataclass
class WatchResult:
    target: str
    mode: str
    written: list[str]
    removed: list[str]
    channels: list[str]
    view: WatchView | None

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "mode": self.mode, "written": self.written, "removed": self.removed,
                "channels": self.channels,
                "watch": self.view.model_dump(mode="json") if self.view else None}  # fmt: skip


def _record(ctx: OpContext, target: str, encoded: str) -> WatchView | None:
    if not encoded:
        return None
    try:
        raw = loads_json(base64.b64decode(encoded, validate=True)[:MAX_RECORD + 1])
    except (binascii.Error, OutsideJSONError):
        raise RemoteFailed(f"{target}: the watch record is not one JSON document") from None
    return view_of(raw, target=target, now=ctx.now)


def watch(ctx: OpContext, *, target_name: str, mode: Mode, kind: Kind = "cron") -> WatchResult:
    """Enable, remove (``off``) or run the watch of ``target_name``."""
    from ..remote.outcome import raise_for_run
    from ..remote.runner import run_playbook

    with operation(ctx, name=f"watch {mode}", app=None, target=target_name) as op:
        target = checked_target(ctx, target_name)
        resolved = load_settings(ctx.ws).resolved(target.name) if mode == "enable" else None
        extravars = watch_vars(mode=mode, target=target.name, root=target.root, settings=resolved, kind=kind,
                               python=target.python)
        channels = [c for c in ("email", "webhook") if resolved is not None and getattr(resolved, c)]
        op.started = True
        run = run_playbook(ctx.ws, op=f"watch-{mode}", target=target.name, app=None, playbook="watch.yml",
                           targets=[target], extravars=extravars, progress=ctx.progress, now=ctx.now,
                           cancel=ctx.cancel)  # fmt: skip
        if run.cancelled and not run.ok:
            from ..errors import Cancelled

            raise Cancelled(f"watch {mode} of {target.name} stopped by {ctx.cancel.signal_name}")
        raise_for_run(run, target.name, f"watch {mode}")
        done = host_data(run, target=target.name, key="spbe_watch", model=_Stats)
        view = _record(ctx, target.name, done.record)
        op.note(written=done.written, removed=done.removed, channels=channels,
                warnings=[w.key for w in view.warnings] if view else [])  # fmt: skip
        return WatchResult(target=target.name, mode=mode, written=done.written, removed=done.removed,
                           channels=channels, view=view)  # fmt: skip


__all__ = ["WatchResult", "load_settings", "settings_path", "watch"]
