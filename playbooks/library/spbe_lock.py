#!/usr/bin/python
"""Take or release the spbe-share lock of one app on a target (standard library only).

The protocol itself is ``module_utils/spbe_lockfile.py``, shared with every other holder.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the lock protocol: playbooks/module_utils/spbe_lockfile.py
    from ansible.module_utils.spbe_lockfile import (
        Held,
        describe,
        lease_facts,
        read_holder,
        release,
        take,
        take_over,
    )
except ImportError:  # loaded by hand (tests), with module_utils on sys.path
    from spbe_lockfile import Held, describe, lease_facts, read_holder, release, take, take_over  # type: ignore[no-redef]

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
        released, holder = release(path, owner.get("token"), force=force)
        if holder is not None:
            module.exit_json(changed=False, released=False, holder=holder)
        module.exit_json(changed=False, released=released)
    try:
        done = take(path, owner, force=force, takeover=module.params["takeover"])
    except Held as held:
        module.fail_json(msg=str(held), spbe_locked=True, holder=held.holder, **held.facts)
    module.exit_json(changed=False, broken=done["broken"], taken_over=done["taken_over"])


__all__ = ["describe", "lease_facts", "read_holder", "take_over"]


if __name__ == "__main__":
    main()
