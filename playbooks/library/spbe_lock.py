#!/usr/bin/python3
"""Take or release the spbe-share lock of one app on a target (standard library only)."""

from __future__ import annotations

import json
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_lock
short_description: Take or release the spbe-share operation lock of an app on a target
description:
  - C(state=present) creates I(path) atomically (O_CREAT|O_EXCL) holding I(owner) as JSON.
    If the file exists and I(force) is false, the module fails naming the holder and since when.
  - C(state=absent) removes the lock only when it holds I(owner.token) (or I(force) is true);
    C(released) says whether it did, C(holder) who holds a lock it left alone.
  - Reports C(changed=false): a lock taken and released leaves nothing behind, so it must not
    count as a change of the deployment.
options:
  path: {type: path, required: true}
  state: {type: str, choices: [present, absent], default: present}
  owner: {type: dict, required: true, description: who, pid, host, since, operation, token}
  force: {type: bool, default: false, description: break a lock held by someone else (audited by the caller)}
"""


def read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"who": "unknown", "since": "unknown"}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "owner": {"type": "dict", "required": True},
            "force": {"type": "bool", "default": False},
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
    if force and os.path.exists(path):
        broken = read_holder(path)
        os.unlink(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        holder = read_holder(path)
        module.fail_json(
            msg="locked by {} (pid {} on {}, {}) since {}".format(
                holder.get("who"), holder.get("pid"), holder.get("host"),
                holder.get("operation"), holder.get("since"),
            ),
            spbe_locked=True,
            holder=holder,
        )
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(owner, f, sort_keys=True)
    module.exit_json(changed=False, broken=broken)


if __name__ == "__main__":
    main()
