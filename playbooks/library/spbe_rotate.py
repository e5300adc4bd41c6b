#!/usr/bin/python
"""Rotate one secret of an spbe-share app on its target (standard library only)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import string
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_files import write_atomic, write_new

DOCUMENTATION = r"""
module: spbe_rotate
short_description: Change a deployment's secret where the app allows it, with a way back
description:
  - The new value is generated HERE with Python's C(secrets) module and never returned; the
    old one is kept beside it in C(<secrets_dir>/.rotate-<NAME>/) (0700) until I(action=finish).
  - I(action=prepare) keeps the old value and generates the new one. A leftover of a rotation
    that did not finish is undone first (the old value put back everywhere).
  - I(action=apply) makes the new value effective. I(method.type=postgresql-role): C(ALTER ROLE)
    run by the server's superuser (C(postgres), peer authentication on the local socket) in
    I(method.container); the role and the password travel as psql variables on stdin, never on
    a command line. Then the secret file and each component's copy are replaced (same owner
    and mode) and the components using it restarted, in I(components) order.
  - I(action=rollback) does the same with the old value (after a failed health check).
  - I(action=finish) removes the kept old value.
options:
  secrets_dir: {type: path, required: true}
  name: {type: str, required: true}
  length: {type: int, default: 32}
  method: {type: dict, required: true, description: "{type: restart | postgresql-role, container?, role?}"}
  components: {type: list, elements: dict, default: [], description: "[{component, container}] using the secret"}
  action: {type: str, required: true, choices: [prepare, apply, rollback, finish]}
  docker: {type: str, default: docker}
  stop_timeout: {type: int, default: 10}
"""

ALPHABET = string.ascii_letters + string.digits
NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
PG_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


class RotateError(Exception):
    pass


def psql_set(value: str) -> str:
    """A psql ``\\set`` line quoting ``value`` (backslashes and quotes escaped)."""
    return "\\set pw '" + value.replace("\\", "\\\\").replace("'", "''") + "'\n"


def alter_role_argv(docker: str, container: str, role: str) -> list[str]:
    return [docker, "exec", "-i", "-u", "postgres", container, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-v", f"role={role}", "-d", "postgres"]


def alter_role(docker: str, container: str, role: str, value: str) -> None:
    sql = psql_set(value) + 'ALTER ROLE :"role" PASSWORD :\'pw\';\n'
    p = subprocess.run(alter_role_argv(docker, container, role), input=sql.encode("utf-8"),  # noqa: S603
                       capture_output=True, timeout=120, check=False)
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").replace(value, "[new value]").strip()[-400:]
        raise RotateError(f"ALTER ROLE {role} in {container} failed: {err}")


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(1 << 16)


def replace_file(path: str, value: bytes) -> bool:
    """Replace ``path`` keeping its owner and mode (a new inode: restart to see it)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    write_atomic(path, value, st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid)
    return True


def install_value(p: dict, value: bytes) -> list[str]:
    """Put ``value`` into the secret file and every component's copy; restart the users."""
    folder, name = p["secrets_dir"], p["name"]
    replace_file(f"{folder}/{name}", value)
    done = []
    for c in p["components"]:
        if replace_file(f"{folder}/{c['component']}/{name}", value):
            done.append(c["component"])
    for c in p["components"]:
        r = subprocess.run([p["docker"], "restart", "-t", str(p["stop_timeout"]), c["container"]],  # noqa: S603
                           capture_output=True, timeout=p["stop_timeout"] + 180, check=False)
        if r.returncode != 0:
            raise RotateError(f"docker restart {c['container']}: {r.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return done


def apply(p: dict, value: bytes) -> list[str]:
    method = p["method"]
    if method["type"] == "postgresql-role":
        alter_role(p["docker"], method["container"], method["role"], value.decode("utf-8"))
    return install_value(p, value)


def rollback(p: dict, keep: str) -> bool:
    """Put the old value back everywhere; False when there is nothing to undo."""
    try:
        old = read(f"{keep}/old")
    except FileNotFoundError:
        return False
    apply(p, old)
    return True


def check(module: AnsibleModule) -> dict:
    p = module.params
    if not NAME.match(p["name"]):
        module.fail_json(msg=f"not a secret name: {p['name']!r}")
    method = p["method"]
    if method.get("type") not in ("restart", "postgresql-role"):
        module.fail_json(msg="method.type must be restart or postgresql-role")
    if method["type"] == "postgresql-role" and not (
            isinstance(method.get("container"), str) and CONTAINER.match(method["container"])
            and isinstance(method.get("role"), str) and PG_IDENT.match(method["role"])):
        module.fail_json(msg="postgresql-role needs a container name and a plain role identifier")
    for c in p["components"]:
        if not (SLUG.match(str(c.get("component"))) and CONTAINER.match(str(c.get("container")))):
            module.fail_json(msg=f"bad component {c!r}")
    if not 16 <= p["length"] <= 256:
        module.fail_json(msg="length must be 16..256")
    return p


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "secrets_dir": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "length": {"type": "int", "default": 32},
            "method": {"type": "dict", "required": True},
            "components": {"type": "list", "elements": "dict", "default": []},
            "action": {"type": "str", "required": True, "choices": ["prepare", "apply", "rollback", "finish"]},
            "docker": {"type": "str", "default": "docker"},
            "stop_timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=False,
    )
    p = check(module)
    keep = f"{p['secrets_dir']}/.rotate-{p['name']}"
    try:
        if p["action"] == "prepare":
            current = f"{p['secrets_dir']}/{p['name']}"
            if not os.path.isfile(current):
                module.fail_json(msg=f"secret {p['name']} does not exist on this target ({current})")
            undone = rollback(p, keep) if os.path.isdir(keep) else False
            shutil.rmtree(keep, ignore_errors=True)
            os.mkdir(keep, 0o700)
            shutil.copy2(current, f"{keep}/old")
            value = "".join(secrets.choice(ALPHABET) for _ in range(p["length"]))
            write_new(f"{keep}/new", value.encode("ascii"), 0o600)
            module.exit_json(changed=True, undid_unfinished=undone)
        if p["action"] == "apply":
            done = apply(p, read(f"{keep}/new"))
            module.exit_json(changed=True, copies=done)
        if p["action"] == "rollback":
            module.exit_json(changed=rollback(p, keep))
        shutil.rmtree(keep, ignore_errors=True)
        module.exit_json(changed=True)
    except (RotateError, OSError, subprocess.TimeoutExpired) as exc:
        module.fail_json(msg=f"{p['action']} of secret {p['name']}: {exc}")


if __name__ == "__main__":
    main()
