#!/usr/bin/python
"""Read-only probe of a target for spbe-share preflight (standard library only)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys

from ansible.module_utils.basic import AnsibleModule

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
options:
  root: {type: path, required: true}
  bind_address: {type: str, default: 127.0.0.1}
  ports: {type: list, elements: int, default: []}
"""


def nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def port_state(address: str, port: int) -> str:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        return "free"
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "in use"
        if exc.errno == errno.EADDRNOTAVAIL:
            return "address not available"
        return "error: " + (exc.strerror or str(exc))
    finally:
        s.close()


PYTHON_LIBRARIES = ("docker", "requests")


# Asked of a fresh process of this interpreter: the answer of the module's own process can be
# wrong, e.g. under mitogen's strategy, whose importer in the module's process claims names it
# may later fetch from the controller (find_spec answers for a library the target lacks).
_VERSIONS = """
import importlib.metadata, importlib.util, json, sys
out = {}
for name in sys.argv[1:]:
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    try:
        out[name] = importlib.metadata.version(name) if found else None
    except importlib.metadata.PackageNotFoundError:
        out[name] = "unknown"
print(json.dumps(out))
"""


def library_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """The installed version of each library importable by this interpreter (None: it cannot be
    imported), asked of a fresh process of the same interpreter."""
    try:
        proc = subprocess.run(  # noqa: S603 - fixed program text, names from this module
            [sys.executable, "-c", _VERSIONS, *names], capture_output=True, text=True, timeout=60, check=False
        )
        answer = json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        answer = {}
    return {name: answer.get(name) if isinstance(answer.get(name), str) else None for name in names}


def apparmor() -> dict:
    try:
        with open("/sys/module/apparmor/parameters/enabled", encoding="ascii") as f:
            kernel = f.read().strip() == "Y"
    except OSError:
        kernel = False
    parser = shutil.which("apparmor_parser") or next(
        (p for p in ("/usr/sbin/apparmor_parser", "/sbin/apparmor_parser") if os.access(p, os.X_OK)), None
    )
    return {"kernel": kernel, "parser": parser}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "bind_address": {"type": "str", "default": "127.0.0.1"},
            "ports": {"type": "list", "elements": "int", "default": []},
        },
        supports_check_mode=True,
    )
    root = module.params["root"]
    measured = nearest_existing(root)
    st = os.statvfs(measured)
    free_mb = st.f_bavail * st.f_frsize // (1024 * 1024)
    address = module.params["bind_address"]
    ports = {str(p): port_state(address, p) for p in module.params["ports"]}
    module.exit_json(
        changed=False,
        disk={"path": measured, "root_exists": measured == root, "free_mb": free_mb},
        ports=ports,
        bind_address=address,
        python={
            "executable": sys.executable,
            "version": ".".join(str(v) for v in sys.version_info[:3]),
            "modules": library_versions(PYTHON_LIBRARIES),
        },
        zstd=shutil.which("zstd"),
        root_writable=os.access(measured, os.W_OK),
        apparmor=apparmor(),
    )


if __name__ == "__main__":
    main()
