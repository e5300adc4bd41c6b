#!/usr/bin/python
"""Wait for an app's health checks in one call (standard library only; the docker CLI)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_health import HealthError, wait_healthy

DOCUMENTATION = r"""
module: spbe_health_wait
short_description: Wait until each health check of an app passes (one call, quick tries first)
description:
  - Runs each of I(checks) in order until it passes (module_utils/spbe_health.py). http with a
    C(url) is a GET from the target; http without one is a GET of
    C(http://127.0.0.1:port/path) by the container's own python3 (C(docker exec)); command runs
    C(command) in the container. Tries come 0.1 s apart at first, 1.5 times longer each time,
    never longer than the check's C(delay); a check gives up after C(retries) x C(delay) seconds.
  - Returns C(checks) ([{component, tries, seconds}]). A check that gives up fails the task
    with C(failed_checks) (the checks that gave up, for the logs of their containers).
options:
  checks: {type: list, elements: dict, required: true, description: "[{component, container, type, url, port, path, command, retries, delay}]"}
"""


def main() -> None:
    module = AnsibleModule(argument_spec={"checks": {"type": "list", "elements": "dict", "required": True}},
                           supports_check_mode=False)
    try:
        done = wait_healthy(module.params["checks"])
    except HealthError as e:
        module.fail_json(msg=str(e), failed_checks=e.failed)
    module.exit_json(changed=False, checks=done)


if __name__ == "__main__":
    main()
