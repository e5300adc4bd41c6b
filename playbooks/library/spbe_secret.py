#!/usr/bin/python
"""Generate a per-deployment secret on the target, once (standard library only)."""

from __future__ import annotations

import os
import secrets
import string

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_files import write_new

DOCUMENTATION = r"""
module: spbe_secret
short_description: Create a random secret file (mode 0600) on the target if it does not exist
description:
  - The secret is generated ON the target with Python's C(secrets) module, written with
    O_CREAT|O_EXCL and mode 0600, and never returned. An existing secret is kept as it is
    (reinstall and upgrade keep the deployment's secrets).
  - Use with C(no_log: true).
options:
  path: {type: path, required: true}
  length: {type: int, default: 32}
"""

ALPHABET = string.ascii_letters + string.digits


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "length": {"type": "int", "default": 32},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    if os.path.exists(path):
        module.exit_json(changed=False)
    if module.check_mode:
        module.exit_json(changed=True)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    value = "".join(secrets.choice(ALPHABET) for _ in range(module.params["length"]))
    write_new(path, value.encode("ascii"), 0o600)
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()
