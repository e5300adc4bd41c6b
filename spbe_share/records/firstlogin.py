"""Is an app's initial password still in use? The app answers it (the entry's
``first_login.state_path``: ``{"initial_password_in_use": true|false}``), read on the target by
the status reading (``playbooks/library/spbe_status.py``) with the modification time of the
secret that holds that password (when it was made); both come back here as untrusted.

:func:`parse_answers` (pure, never raises) validates them; :func:`remember` keeps what status
saw in the workspace (``<cache>/first-login/<target>.json``): when the password was seen in use
and when it was first seen changed, so the change is on record after the app says so.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.models import SLUG
from ..i18n import N_

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..workspace import Workspace

MAX_BODY = 4097  # the target keeps at most 4096 bytes of an answer (one more: it was longer)
STATE_KEY = "initial_password_in_use"


@dataclass(frozen=True)
class FirstLoginState:
    """What one app answered: ``in_use`` None when there is no usable answer (``problem`` says why)."""

    app: str
    in_use: bool | None
    since: dt.datetime | None = None  # when the initial password was made (its secret file)
    problem: str = ""
    changed_seen: dt.datetime | None = None  # first status that saw it changed (from the workspace)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    app: str = Field(pattern=SLUG)
    status: int = Field(ge=-1, le=999)
    body: str = Field(max_length=MAX_BODY)
    made: float | int | None = Field(default=None, ge=0, le=32503680000)  # up to year 3000


def items_for(entries: Iterable[Entry]) -> list[str]:
    """``APP:SECRET:PATH`` for every entry whose first login names a state path (pure)."""
    return sorted(f"{e.id}:{e.first_login.secret}:{e.first_login.state_path}"
                  for e in entries if e.first_login is not None and e.first_login.state_path)


def parse_answers(raw: Any) -> dict[str, FirstLoginState]:
    """app -> state from the target's ``first_login`` list (untrusted; never raises)."""
    from ..outside import OutsideJSONError, loads_json

    out: dict[str, FirstLoginState] = {}
    if not isinstance(raw, list):
        return out
    for item in raw[:200]:
        if not isinstance(item, list | tuple) or len(item) != 4:
            continue
        try:
            a = _Answer(app=item[0], status=item[1], body=item[2], made=item[3])
        except ValidationError:
            continue
        since = dt.datetime.fromtimestamp(a.made, dt.UTC) if a.made is not None else None
        if a.status != 200:
            why = "no answer" if a.status == -1 else f"HTTP {a.status}"
            out[a.app] = FirstLoginState(a.app, None, since, N_(f"its first-login state: {why}"))
            continue
        try:
            data = loads_json(a.body, depth=4) if len(a.body) < MAX_BODY else None
        except OutsideJSONError:
            data = None
        value = data.get(STATE_KEY) if isinstance(data, dict) else None
        if not isinstance(value, bool):
            out[a.app] = FirstLoginState(a.app, None, since,
                                         N_("its first-login answer has no initial_password_in_use true or false"))
            continue
        out[a.app] = FirstLoginState(a.app, value, since)
    return out


def _file(ws: Workspace, target: str) -> Any:
    from ..outside import child_path

    return child_path(ws.cache_dir / "first-login", f"{target}.json", what="target")


def remember(ws: Workspace, target: str, states: Mapping[str, FirstLoginState], now: dt.datetime
             ) -> dict[str, FirstLoginState]:
    """Keep what status saw on ``target``; returns the states with ``changed_seen`` filled in
    (the first time a status saw the password changed, kept from then on)."""
    from ..files import atomic_write_text

    if not states:
        return dict(states)
    path = _file(ws, target)
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        kept = kept if isinstance(kept, dict) else {}
    except (OSError, ValueError):
        kept = {}  # a damaged record is only a record: it starts again
    out: dict[str, FirstLoginState] = {}
    for app, st in states.items():
        before = kept.get(app)
        changed = _when(before.get("changed_seen")) if isinstance(before, dict) else None
        if st.in_use is True:
            changed = None  # in use again (a restore of older data): not changed any more
        elif st.in_use is False and changed is None:
            changed = now
        if st.in_use is not None:
            kept[app] = {"in_use": st.in_use, "checked_at": now.isoformat(),
                         "since": st.since.isoformat() if st.since else None,
                         "changed_seen": changed.isoformat() if changed else None}
        out[app] = FirstLoginState(st.app, st.in_use, st.since, st.problem, changed)
    atomic_write_text(path, json.dumps(kept, indent=2, sort_keys=True) + "\n", mode=0o644)
    return out


def _when(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def age_text(since: dt.datetime | None, now: dt.datetime) -> str:
    """``3 days``, ``5 h``, ``12 min`` (``age unknown`` without a time)."""
    if since is None:
        return "age unknown"
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def cell(state: FirstLoginState | None, now: dt.datetime) -> str:
    """The status column: ``IN USE (3 days)``, ``changed``, ``?`` (no usable answer) or ``-``."""
    if state is None:
        return "-"
    if state.in_use is None:
        return "?"
    return f"IN USE ({age_text(state.since, now)})" if state.in_use else "changed"


def warning(state: FirstLoginState | None, now: dt.datetime, *, user: str | None) -> str | None:
    """The warning shown while the initial password is in use, or None."""
    if state is None or state.in_use is not True:
        return None
    who = user or "the first account"
    return N_(f"initial password still in use ({age_text(state.since, now)}): log in as {who} and change it")


def as_json(state: FirstLoginState | None) -> dict[str, Any]:
    """``--json`` fields: in use (None: not known), since, first seen changed, why unknown."""
    if state is None:
        return {"initial_password_in_use": None}
    return {
        "initial_password_in_use": state.in_use,
        "initial_password_since": state.since.isoformat() if state.since else None,
        "initial_password_changed_seen": state.changed_seen.isoformat() if state.changed_seen else None,
        **({"initial_password_problem": state.problem} if state.problem else {}),
    }


__all__ = ["FirstLoginState", "age_text", "as_json", "cell", "items_for", "parse_answers", "remember", "warning"]
