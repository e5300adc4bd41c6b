#!/usr/bin/python
"""Stop or remove an app's containers by name (standard library only; the docker CLI)."""

from __future__ import annotations

import subprocess

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_containers
short_description: Stop or remove containers by name, in the order given (never creates one)
description:
  - C(state=stopped) stops each running container of I(names) (C(docker stop -t timeout)); a
    stopped container stays stopped, its restart policy does not start it again.
    C(state=absent) removes each (C(docker rm -f)). Names that are no container are skipped.
  - Unlike community.docker.docker_container, a missing container is never created.
  - Returns C(stopped) / C(removed), the names it acted on.
options:
  names: {type: list, elements: str, required: true}
  state: {type: str, choices: [stopped, absent], default: stopped}
  timeout: {type: int, default: 10, description: seconds docker stop waits before killing}
"""


def docker(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    # an argument list (names from the module arguments, never a shell string)
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "choices": ["stopped", "absent"], "default": "stopped"},
            "timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=False,
    )
    names, state, timeout = module.params["names"], module.params["state"], module.params["timeout"]
    acted = []
    for name in names:
        if not name or name.startswith("-"):
            module.fail_json(msg=f"not a container name: {name!r}")
        probe = docker(["inspect", "--type", "container", "--format", "{{.State.Running}}", "--", name], 60)
        if probe.returncode != 0:
            continue
        if state == "stopped":
            if probe.stdout.strip() != "true":
                continue
            done = docker(["stop", "-t", str(timeout), "--", name], timeout + 120)
        else:
            done = docker(["rm", "-f", "--", name], 180)
        if done.returncode != 0:
            module.fail_json(msg=f"docker {'stop' if state == 'stopped' else 'rm'} {name}: {done.stderr.strip()[-500:]}",
                             **{"stopped" if state == "stopped" else "removed": acted})
        acted.append(name)
    key = "stopped" if state == "stopped" else "removed"
    module.exit_json(changed=bool(acted), **{key: acted})


if __name__ == "__main__":
    main()
