#!/usr/bin/python
"""Read what spbe-share keeps on a target about one app (standard library only; changes nothing)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:  # the reading: playbooks/module_utils/spbe_appstate.py (also run as a script over SSH)
    from ansible.module_utils import spbe_appstate as appstate
except ImportError:  # loaded by path (tests), with module_utils on sys.path
    import spbe_appstate as appstate

DOCUMENTATION = r"""
module: spbe_app_state
short_description: Read the state spbe-share keeps on a target for one app (read-only)
description:
  - Returns C(current) (current.json), C(releases) (the newest I(history) release records, oldest
    first, each as {name, record}), C(journal) (journal.json), C(lock) ({holder, age_s, stale}: the
    lease is the lock file's age on this host's clock), C(deploys) (the deploy specs named in
    I(deploys), of current.json, of the journal and of the newest 10 successful attempts),
    C(blobs) (digests in
    <root>/blobs/sha256) and C(backups) (the backup engine's list).
  - Files that are not JSON objects come back as C({"unreadable": "<why>"}): the controller
    validates everything it reads (the target is not trusted) and reports the problem.
  - I(refuse) maps versions to reasons: when current.json names one of them, the module fails
    with C(spbe_refused=true) and that reason (install refuses to cross a data migration).
options:
  root: {type: path, required: true}
  app: {type: str, required: true}
  deploys: {type: list, elements: str, default: []}
  history: {type: int, default: 200}
  refuse: {type: dict, default: {}}
  blobs: {type: bool, default: true}
"""

def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "app": {"type": "str", "required": True},
            "deploys": {"type": "list", "elements": "str", "default": []},
            "history": {"type": "int", "default": 200},
            "refuse": {"type": "dict", "default": {}},
            "blobs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        state = appstate.read_state(p["root"], p["app"], deploys=p["deploys"], history=p["history"], refuse=p["refuse"],
                                    blobs=p["blobs"])
    except appstate.Refused as exc:
        module.fail_json(msg=str(exc), spbe_refused=True)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
