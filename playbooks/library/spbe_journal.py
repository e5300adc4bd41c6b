#!/usr/bin/python
"""Write the journal of an spbe-share upgrade/rollback on the target (standard library only)."""

from __future__ import annotations

import datetime as dt
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_files import write_atomic

DOCUMENTATION = r"""
module: spbe_journal
short_description: The journal of an spbe-share upgrade or rollback (<root>/apps/<app>/journal.json)
description:
  - The journal says how far the last upgrade or rollback of an app got, so that after a killed
    controller or a cut connection the next command can finish it or undo it. Every write is
    atomic (temporary file, fsync, rename): a reader sees the old journal or the new one.
  - I(action=begin) writes I(journal) with its first step C(begin) and C(state=running). It
    refuses when the file holds an unfinished journal (C(state=running)) with another id,
    unless that id is I(replaces) (the controller resumed it and closes it in the same play).
  - I(action=step) appends I(step) with the target's time (UTC), and sets I(state), I(cause)
    and I(fields) when given. It refuses a journal whose id is not I(id).
  - Returns C(journal), the journal as written.
options:
  path: {type: path, required: true}
  action: {type: str, required: true, choices: [begin, step]}
  journal: {type: dict, description: the new journal (begin)}
  replaces: {type: str, description: id of an unfinished journal this one may replace (begin)}
  id: {type: str, description: the journal's id (step)}
  step: {type: str, description: the step reached (step)}
  state: {type: str, choices: [running, done, rolled_back, failed, abandoned]}
  cause: {type: str}
  fields: {type: dict, description: top-level fields to set (e.g. backup)}
"""

ALLOWED_FIELDS = {"backup", "restore", "note"}


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read(path: str) -> dict | None:
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "action": {"type": "str", "required": True, "choices": ["begin", "step"]},
            "journal": {"type": "dict"},
            "replaces": {"type": "str"},
            "id": {"type": "str"},
            "step": {"type": "str"},
            "state": {"type": "str", "choices": ["running", "done", "rolled_back", "failed", "abandoned"]},
            "cause": {"type": "str"},
            "fields": {"type": "dict"},
        },
        required_if=[("action", "begin", ["journal"]), ("action", "step", ["id", "step"])],
        supports_check_mode=False,
    )
    p = module.params
    path = p["path"]
    current = read(path)
    if p["action"] == "begin":
        journal = dict(p["journal"])
        if current is not None and current.get("state") == "running" and current.get("id") not in (
                journal.get("id"), p["replaces"]):
            module.fail_json(msg="the journal {} holds an unfinished {} (id {}) of this app; it must be finished or "
                             "undone first".format(path, current.get("operation"), current.get("id")))
        journal["steps"] = [{"step": "begin", "at": now()}]
        journal["state"] = "running"
        journal.setdefault("cause", None)
        write(path, journal)
        module.exit_json(changed=True, journal=journal)
    if current is None or current.get("id") != p["id"]:
        module.fail_json(msg="the journal {} is not the one of this operation (id {}, expected {})".format(
            path, None if current is None else current.get("id"), p["id"]))
    current.setdefault("steps", []).append({"step": p["step"], "at": now()})
    if p["state"]:
        current["state"] = p["state"]
    if p["cause"] is not None:
        current["cause"] = p["cause"][:2000]
    for key, value in (p["fields"] or {}).items():
        if key not in ALLOWED_FIELDS:
            module.fail_json(msg=f"spbe_journal: field {key!r} cannot be set by a step")
        current[key] = value
    write(path, current)
    module.exit_json(changed=True, journal=current)


if __name__ == "__main__":
    main()
