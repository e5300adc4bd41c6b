#!/usr/bin/python
"""Write the journal of an spbe-share upgrade/rollback on the target (standard library only)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_journalfile import JournalError, now, read, step, write

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
    try:
        current = step(path, p["id"], p["step"], state=p["state"], cause=p["cause"], fields=p["fields"])
    except JournalError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=True, journal=current)


if __name__ == "__main__":
    main()
