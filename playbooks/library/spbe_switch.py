#!/usr/bin/python
"""The zero-downtime switch of an app's web component (standard library only; the docker CLI)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_journalfile import JournalError
from ansible.module_utils.spbe_switchover import SwitchError, start_beside, switch_over, undo

DOCUMENTATION = r"""
module: spbe_switch
short_description: Start a web container beside the serving one, switch the proxy to it, or undo that
description:
  - One call per phase of playbooks/switch.yml (each task is a round trip over a slow link).
  - I(action=switch) starts I(next) (a container spec with a temporary name, no published
    port) on I(network) with the alias I(component), then runs each of I(health) inside it
    until it passes (module_utils/spbe_health.py), writing the journal steps C(shipped),
    C(starting-new), C(started-new), C(healthy) to I(journal) as they happen. Then it writes
    I(upstream_next) to I(proxy_dir)/upstream.conf, has the proxy container check and reload it
    (C(nginx -t), C(nginx -s reload)), waits until the proxy's old worker processes have exited
    (at most I(grace_s) seconds), stops and removes I(serving), renames I(next) to I(serving)
    and writes I(upstream_final), reloaded the same way. If the proxy refuses the new upstream,
    upstream.conf is written back and nothing switched.
  - I(action=undo) (nothing switched) removes I(next) and writes back I(configs) (the serving
    release's config files) and I(upstream_final).
  - A failure returns C(switched) (the proxy already sends requests to the new container) and
    C(health) (a health check gave up) besides C(msg).
options:
  action: {type: str, required: true, choices: [switch, undo]}
  next: {type: dict, required: true, description: "container spec {name, image, command, env, labels, mounts}"}
  network: {type: str}
  component: {type: str}
  health: {type: list, elements: dict, default: [], description: "[{component, container, type, port, path, command, retries, delay}]"}
  journal: {type: dict, description: "{path, id}: the journal to write the steps to"}
  serving: {type: str}
  proxy_container: {type: str}
  proxy_dir: {type: path}
  upstream_next: {type: str}
  upstream_final: {type: str}
  grace_s: {type: float, default: 2}
  app_dir: {type: path}
  configs: {type: list, elements: dict, default: [], description: "[{component, file, content}] (undo)"}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["switch", "undo"]},
            "next": {"type": "dict", "required": True},
            "network": {"type": "str"},
            "component": {"type": "str"},
            "health": {"type": "list", "elements": "dict", "default": []},
            "journal": {"type": "dict"},
            "serving": {"type": "str"},
            "proxy_container": {"type": "str"},
            "proxy_dir": {"type": "path"},
            "upstream_next": {"type": "str"},
            "upstream_final": {"type": "str"},
            "grace_s": {"type": "float", "default": 2},
            "app_dir": {"type": "path"},
            "configs": {"type": "list", "elements": "dict", "default": []},
        },
        required_if=[("action", "switch", ["network", "component", "serving", "proxy_container", "proxy_dir",
                                            "upstream_next", "upstream_final"]),
                     ("action", "undo", ["app_dir"])],
        supports_check_mode=False,
    )
    p = module.params
    try:
        if p["action"] == "switch":
            start_beside(spec=p["next"], network=p["network"], alias=p["component"], checks=p["health"],
                         journal=p["journal"])
            done = switch_over(serving=p["serving"], next_name=str(p["next"].get("name")),
                               proxy=p["proxy_container"], proxy_dir=p["proxy_dir"], upstream_next=p["upstream_next"],
                               upstream_final=p["upstream_final"], grace_s=p["grace_s"])
            module.exit_json(changed=True, switched=True, **done)
        undo(next_name=str(p["next"].get("name")), app_dir=p["app_dir"], configs=p["configs"],
             proxy_dir=p["proxy_dir"], upstream_final=p["upstream_final"])
        module.exit_json(changed=True)
    except SwitchError as e:
        module.fail_json(msg=str(e), switched=e.switched, health=e.health)
    except JournalError as e:
        module.fail_json(msg=str(e), switched=False, health=False)


if __name__ == "__main__":
    main()
