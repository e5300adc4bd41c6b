#!/usr/bin/python3
"""Why a component is unhealthy: its state and last log lines, secrets redacted ON the target."""

from __future__ import annotations

import json
import re
import subprocess

from ansible.module_utils.basic import AnsibleModule

try:  # the redaction rule, shared with `spbe-share logs` (module_utils/spbe_redact.py)
    from ansible.module_utils import spbe_redact
except ImportError:
    import spbe_redact  # type: ignore[no-redef]

secret_values, redact = spbe_redact.secret_values, spbe_redact.redact

DOCUMENTATION = r"""
module: spbe_logs
short_description: The last log lines of an app's containers, with every secret value redacted
description:
  - For each container, its state (running, restarting, exit code, restart count) and the last
    I(lines) lines of C(docker logs) (stdout and stderr).
  - Before anything leaves the target, every value found in the files under I(secrets_dir)
    (the deployment's secrets, including a rotation's old and new values) is replaced by
    C([secret NAME]), also when it appears URL-encoded (module_utils/spbe_redact.py, the one
    rule, also used by C(spbe-share logs)).
  - Returns C(containers) (a list of {container, component, state, lines}) and C(summary), one
    line per container such as C(web: FATAL: password authentication failed for user "eoffice").
options:
  containers: {type: list, elements: dict, required: true, description: "[{container, component}]"}
  secrets_dir: {type: path, required: true}
  lines: {type: int, default: 15}
  docker: {type: str, default: docker}
"""

CAUSE = re.compile(r"error|fatal|fail|exception|denied|refused|cannot|could not|tidak", re.IGNORECASE)
NOISE = re.compile(r"^\s*(\S+ - - \[.*\] \"GET /healthz|\* Serving|\* Running on|Press CTRL\+C)")


def container_state(docker: str, container: str) -> dict:
    p = subprocess.run([docker, "container", "inspect", container], capture_output=True, timeout=60,  # noqa: S603
                       check=False)
    if p.returncode != 0:
        return {"exists": False}
    info = (json.loads(p.stdout) or [{}])[0]
    st = info.get("State") or {}
    return {"exists": True, "status": st.get("Status"), "running": bool(st.get("Running")),
            "restarting": bool(st.get("Restarting")), "exit_code": st.get("ExitCode"),
            "restarts": info.get("RestartCount", 0), "error": st.get("Error") or None}


def last_lines(docker: str, container: str, n: int) -> list[str]:
    p = subprocess.run([docker, "logs", "--tail", str(max(n * 4, 40)), container],  # noqa: S603
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    lines = [ln.rstrip() for ln in p.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    useful = [ln for ln in lines if not NOISE.match(ln)]
    return [ln[:400] for ln in (useful or lines)[-n:]]


def describe(component: str, state: dict, lines: list[str]) -> str:
    if not state.get("exists"):
        return f"{component}: the container does not exist"
    how = "running" if state["running"] else f"{state['status']} (exit code {state['exit_code']})"
    if state.get("restarting") or state.get("restarts"):
        how += f", restarted {state['restarts']} times"
    errors = [ln for ln in lines if CAUSE.search(ln)]
    cause = (errors or lines or ["no log output"])[-1].strip()
    return f"{component}: {cause}  [{how}]"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "containers": {"type": "list", "elements": "dict", "required": True},
            "secrets_dir": {"type": "path", "required": True},
            "lines": {"type": "int", "default": 15},
            "docker": {"type": "str", "default": "docker"},
        },
        supports_check_mode=True,
    )
    p = module.params
    secrets = secret_values(p["secrets_dir"])
    out, summary = [], []
    for c in p["containers"]:
        name, component = str(c.get("container")), str(c.get("component") or c.get("container"))
        state = container_state(p["docker"], name)
        lines = [redact(ln, secrets) for ln in last_lines(p["docker"], name, p["lines"])] if state.get("exists") else []
        out.append({"container": name, "component": component, "state": state, "lines": lines})
        summary.append(redact(describe(component, state, lines), secrets))
    module.exit_json(changed=False, containers=out, summary=summary)


if __name__ == "__main__":
    main()
