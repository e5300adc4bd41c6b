#!/usr/bin/python
"""Read-only probe of a target for spbe-share preflight (standard library only)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils import spbe_preflight as preflight
except ImportError:  # loaded by path (tests)
    import spbe_preflight as preflight

DOCUMENTATION = r"""
module: spbe_probe
short_description: Free disk, free ports, and what install needs on the target
description:
  - Changes nothing. I(root) need not exist: the nearest existing parent is measured.
  - A port is free when a socket can bind it on I(bind_address) (SO_REUSEADDR, closed at once);
    this also catches a listener on 0.0.0.0 that a connect test could miss.
  - Also reports what install needs besides the engine: the Python libraries the
    community.docker modules import (looked up by the interpreter this module runs under,
    which is the one those modules will use), the zstd binary, whether I(root) (or,
    when it does not exist yet, its nearest existing parent) is writable, and whether the
    kernel enforces AppArmor and apparmor_parser is there (dockerd needs it then).
  - The reading is module_utils/spbe_preflight.py's (the controller also runs that file as a
    script over one SSH connection: preflight of a single host).
options:
  root: {type: path, required: true}
  bind_address: {type: str, default: 127.0.0.1}
  ports: {type: list, elements: int, default: []}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "bind_address": {"type": "str", "default": "127.0.0.1"},
            "ports": {"type": "list", "elements": "int", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    module.exit_json(changed=False, **preflight.probe(p["root"], p["bind_address"], p["ports"]))


if __name__ == "__main__":
    main()
