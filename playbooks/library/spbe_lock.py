#!/usr/bin/python3
"""Take or release the spbe-share lock of one app on a target (standard library only)."""

from __future__ import annotations

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_lock
short_description: Take or release the spbe-share operation lock of an app on a target
description:
  - C(state=present) creates I(path) atomically (O_CREAT|O_EXCL) holding I(owner) as JSON.
    If the file exists and I(force) is false, the module fails naming the holder and since when,
    and whether the holder's lease ran out (C(stale)).
  - The lease is the lock file's modification time on the target's clock, renewed by the
    controller while the operation runs (it touches the file); a lock whose file is older than
    the holder's C(lease_s) seconds is stale. A lock without C(lease_s) never goes stale.
  - I(takeover) (a lock token) takes over a stale lock holding that token: used by upgrade and
    rollback to finish or undo an operation whose controller died (its journal names the token).
    The lock is replaced only when it is stale; C(taken_over) names the holder it replaced.
  - C(state=absent) removes the lock only when it holds I(owner.token) (or I(force) is true);
    C(released) says whether it did, C(holder) who holds a lock it left alone.
  - Reports C(changed=false): a lock taken and released leaves nothing behind, so it must not
    count as a change of the deployment.
options:
  path: {type: path, required: true}
  state: {type: str, choices: [present, absent], default: present}
  owner: {type: dict, required: true, description: "who, pid, host, since, operation, token, lease_s"}
  force: {type: bool, default: false, description: break a lock held by someone else (audited by the caller)}
  takeover: {type: str, description: the token of a stale lock this operation may take over}
"""


def read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {"who": "unknown", "since": "unknown"}
    return data if isinstance(data, dict) else {"who": "unknown", "since": "unknown"}


def lease_facts(path: str, holder: dict) -> dict:
    """Age of the lease (seconds since the last renewal, target clock) and whether it ran out."""
    try:
        age = max(0, int(time.time() - os.stat(path).st_mtime))
    except OSError:
        return {"age_s": None, "stale": False}
    lease = holder.get("lease_s")
    stale = isinstance(lease, int) and not isinstance(lease, bool) and lease > 0 and age > lease
    return {"age_s": age, "stale": stale}


def describe(holder: dict, facts: dict) -> str:
    text = "locked by {} (pid {} on {}, {}) since {}".format(
        holder.get("who"), holder.get("pid"), holder.get("host"), holder.get("operation"), holder.get("since"))
    lease = holder.get("lease_s")
    if facts.get("stale"):
        text += "; STALE: its lease of {} s ran out {} s ago (the holder is gone)".format(
            lease, facts["age_s"] - lease)
    elif isinstance(lease, int) and facts.get("age_s") is not None:
        text += "; lease renewed {} s ago, expires in {} s".format(facts["age_s"], max(0, lease - facts["age_s"]))
    return text


def write_new(path: str, owner: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(owner, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def take_over(path: str, token: str) -> dict | None:
    """Move the stale lock aside and check it is the one we meant (two resumers never both win)."""
    aside = f"{path}.takeover-{os.getpid()}-{int(time.time() * 1000)}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None
    holder = read_holder(aside)
    facts = lease_facts(aside, holder)
    if holder.get("token") == token and facts["stale"]:
        os.unlink(aside)
        return dict(holder, **facts)
    try:  # someone else's lock: put it back (never over a newer one)
        os.link(aside, path)
    except FileExistsError:
        pass
    os.unlink(aside)
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "owner": {"type": "dict", "required": True},
            "force": {"type": "bool", "default": False},
            "takeover": {"type": "str", "no_log": False},
        },
        supports_check_mode=False,
    )
    path = module.params["path"]
    owner = module.params["owner"]
    force = module.params["force"]
    if module.params["state"] == "absent":
        if os.path.exists(path):
            holder = read_holder(path)
            if holder.get("token") == owner.get("token") or force:
                os.unlink(path)
                module.exit_json(changed=False, released=True)
            module.exit_json(changed=False, released=False, holder=holder)
        module.exit_json(changed=False, released=False)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    broken = None
    taken_over = None
    if os.path.exists(path):
        holder = read_holder(path)
        facts = lease_facts(path, holder)
        takeover = module.params["takeover"]
        if force:
            broken = holder
            os.unlink(path)
        elif takeover and holder.get("token") == takeover and facts["stale"]:
            taken_over = take_over(path, takeover)
    try:
        write_new(path, owner)
    except FileExistsError:
        holder = read_holder(path)
        facts = lease_facts(path, holder)
        module.fail_json(msg=describe(holder, facts), spbe_locked=True, holder=holder, **facts)
    module.exit_json(changed=False, broken=broken, taken_over=taken_over)


if __name__ == "__main__":
    main()
