#!/usr/bin/python
"""Generate a per-deployment secret on the target, once (standard library only)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_configure import new_secret

DOCUMENTATION = r"""
module: spbe_secret
short_description: Create a random secret file (mode 0600) on the target if it does not exist
description:
  - The secret is generated ON the target with Python's C(secrets) module, written with
    O_CREAT|O_EXCL and mode 0600, and never returned. An existing secret is kept as it is
    (reinstall and upgrade keep the deployment's secrets).
  - Use with C(no_log: true). The generation is module_utils/spbe_configure.py's C(new_secret)
    (the module spbe_configure generates an app's secrets the same way).
options:
  path: {type: path, required: true}
  length: {type: int, default: 32}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "length": {"type": "int", "default": 32},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=new_secret(module.params["path"], module.params["length"], check=module.check_mode))


if __name__ == "__main__":
    main()
