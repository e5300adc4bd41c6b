#!/usr/bin/python
"""Configure an app on its target in one call: config files, secrets, network, volumes
(standard library only; the docker CLI). The work: module_utils/spbe_configure.py."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_configure import ConfigureError, configure

DOCUMENTATION = r"""
module: spbe_configure
short_description: Write an app's config files and secrets, create its network and volumes, in one call
description:
  - Does what tasks/configure.yml did in eight tasks (issue 21, one round trip per phase), with
    the same modes, owners and semantics.
  - Each config file C(<app_dir>/config/<component>/<file>) (folder 0755, file 0644) is replaced
    (a new inode, so a bind-mounted file is replaced, not edited) only when its content differs.
  - Each secret C(<app_dir>/secrets/<name>) (0600) is generated on the target if absent, never
    changed, never returned.
  - Each component's folder C(<app_dir>/secrets/<component>) (owner, group, 0500) and its
    read-only copies of its secrets (owner, group, 0400), replaced when they differ.
  - The network and the volumes through the docker CLI, created with I(labels) when absent,
    never recreated (the containers on an existing network, the serving ones included, stay
    connected).
  - Returns C(config_changed) and C(secrets_changed), the components whose config files or
    secret copies changed (they restart), C(secrets_generated) (names only), C(network)
    (created or null) and C(volumes_created).
options:
  app_dir: {type: path, required: true}
  configs:
    type: list
    elements: dict
    default: []
    description: the rendered config files; C(content) is no_log (not logged on the target)
    options:
      component: {type: str, required: true}
      file: {type: str, required: true}
      content: {type: str, required: true, no_log: true}
  secrets:
    type: list
    elements: dict
    default: []
    options:
      name: {type: str, required: true}
      length: {type: int, default: 32}
  secret_mounts:
    type: list
    elements: dict
    default: []
    options:
      component: {type: str, required: true}
      name: {type: str, required: true}
      owner: {type: raw, required: true, description: user id or name}
      group: {type: raw, required: true, description: group id or name}
  network: {type: str, description: the app's network; none given (config.yml), no network is touched}
  volumes:
    type: list
    elements: dict
    default: []
    options:
      name: {type: str, required: true}
  labels: {type: dict, default: {}}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "app_dir": {"type": "path", "required": True},
            "configs": {"type": "list", "elements": "dict", "default": [], "options": {
                "component": {"type": "str", "required": True},
                "file": {"type": "str", "required": True},
                "content": {"type": "str", "required": True, "no_log": True},
            }},
            "secrets": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "length": {"type": "int", "default": 32},
            }},
            "secret_mounts": {"type": "list", "elements": "dict", "default": [], "options": {
                "component": {"type": "str", "required": True},
                "name": {"type": "str", "required": True},
                "owner": {"type": "raw", "required": True},
                "group": {"type": "raw", "required": True},
            }},
            "network": {"type": "str"},
            "volumes": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
            }},
            "labels": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = configure(p["app_dir"], configs=p["configs"], secrets_=p["secrets"],
                           secret_mounts=p["secret_mounts"], network=p["network"], volumes=p["volumes"],
                           labels={str(k): str(v) for k, v in p["labels"].items()}, check=module.check_mode)
    except (ConfigureError, OSError, KeyError, ValueError) as e:
        # paths, names and docker's answers only: no secret value is ever read into a message
        module.fail_json(msg=f"configure: {e}", exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
