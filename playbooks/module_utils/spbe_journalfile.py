"""The journal file of an upgrade or rollback on a target (standard library only, Python 3.11).

``<root>/apps/<app>/journal.json``: how far the last upgrade or rollback of an app got
(spbe_share.records.journal reads it). Written whole or not at all (``spbe_files.write_atomic``).
Used by the module ``spbe_journal`` and by ``spbe_switchover`` (the zero-downtime switch writes
its steps as it goes, in the same module call).
"""

from __future__ import annotations

import datetime as dt
import json
import os

try:  # as Ansible module_utils
    from ansible.module_utils.spbe_files import write_atomic
except ImportError:  # a script, or the unit tests
    from spbe_files import write_atomic  # type: ignore[no-redef]

ALLOWED_FIELDS = {"backup", "restore", "note"}
STATES = ("running", "done", "rolled_back", "failed", "abandoned")


class JournalError(Exception):
    """A journal that is not the one of this operation, or a field a step cannot set."""


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read(path: str) -> dict | None:
    """The journal, ``None`` when there is none; an unreadable one reads as state ``unreadable``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"id": "unreadable", "state": "unreadable"}
    return data if isinstance(data, dict) else {"id": "unreadable", "state": "unreadable"}


def write(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o644)


def step(path: str, journal_id: str, name: str, *, state: str | None = None, cause: str | None = None,
         fields: dict | None = None) -> dict:
    """Append step ``name`` (the target's time, UTC) to the journal ``journal_id``; set ``state``,
    ``cause`` and ``fields`` when given. :class:`JournalError` for another journal's id."""
    current = read(path)
    if current is None or current.get("id") != journal_id:
        raise JournalError("the journal {} is not the one of this operation (id {}, expected {})".format(
            path, None if current is None else current.get("id"), journal_id))
    for key in fields or {}:
        if key not in ALLOWED_FIELDS:
            raise JournalError(f"spbe_journal: field {key!r} cannot be set by a step")
    current.setdefault("steps", []).append({"step": name, "at": now()})
    if state:
        current["state"] = state
    if cause is not None:
        current["cause"] = cause[:2000]
    current.update(fields or {})
    write(path, current)
    return current
