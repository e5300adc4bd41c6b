#!/usr/bin/python
"""Bring an app's containers to their specs in one call (standard library only; the docker CLI)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_dockerrun import DockerRunError, ensure, prepare

DOCUMENTATION = r"""
module: spbe_start
short_description: Create, start or restart an app's containers from their specs, in order
description:
  - Each of I(containers) (module_utils/spbe_dockerrun.py) runs on I(network) with its component
    as an alias, docker-init as PID 1, json-file logs (10 MB x 5), restart unless stopped.
  - A container created from the same spec (label C(id.go.spbe.spec)) is kept (started if
    stopped, restarted if its component is in I(restart) or I(restart_all)); any other is
    removed and created anew (a matching C(<name>--next), created ahead, is renamed and started
    instead). I(recreate) creates every one anew. I(state=present) creates without starting.
  - I(state=prepared) (an upgrade, while the old release still serves) creates, not starts,
    C(<name>--next) for each container whose spec differs from what runs; returns C(prepared).
  - Returns C(results) ([{name, component, changed, action}]), as a loop over the containers did.
options:
  containers: {type: list, elements: dict, required: true, description: "[{name, component, image, command, env, ports, mounts, labels}]"}
  network: {type: str, required: true}
  state: {type: str, choices: [started, present, prepared], default: started}
  restart: {type: list, elements: str, default: [], description: components whose files changed}
  restart_all: {type: bool, default: false}
  recreate: {type: bool, default: false}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "containers": {"type": "list", "elements": "dict", "required": True},
            "network": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["started", "present", "prepared"], "default": "started"},
            "restart": {"type": "list", "elements": "str", "default": []},
            "restart_all": {"type": "bool", "default": False},
            "recreate": {"type": "bool", "default": False},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        if p["state"] == "prepared":
            made = prepare(p["containers"], network=p["network"])
            module.exit_json(changed=bool(made), prepared=made)
        results = ensure(p["containers"], network=p["network"], state=p["state"], restart=p["restart"],
                         restart_all=p["restart_all"], recreate=p["recreate"])
    except DockerRunError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=any(r["changed"] for r in results), results=results)


if __name__ == "__main__":
    main()
