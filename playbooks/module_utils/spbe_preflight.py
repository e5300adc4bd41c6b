"""Preflight's reading of a target, read-only (Python 3.11 standard library only).

Two ways, one source:

* the Ansible module ``spbe_probe`` (``playbooks/preflight.yml``, for a data center of several
  hosts) imports :func:`probe`: free disk, free ports, what install needs;
* the controller runs this file as a script over ONE SSH connection
  (``spbe_share.remote.scripts.ask``): a JSON request on stdin
  ``{"root", "bind_address", "ports", "containers"}``, one JSON answer on stdout with every fact
  preflight evaluates (what ``preflight.yml`` publishes as ``spbe_preflight``): the probe's, the
  host's CPUs, memory and distribution (as Ansible's ``setup`` names them), ``docker version``
  and the host ports this deployment's own containers publish. Over a slow link this is one
  round trip instead of an Ansible run (issue 21).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys

PYTHON_LIBRARIES = ("docker", "requests")  # what the playbooks' community.docker modules import
DOCKER_TIMEOUT = 60


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


def library_versions(names: tuple) -> dict:
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


def probe(root: str, bind_address: str, ports: list) -> dict:
    """Free disk of ``root`` (or its nearest existing parent), a bind test of each port on
    ``bind_address``, this interpreter and its libraries, zstd, a writable root, AppArmor."""
    measured = nearest_existing(root)
    st = os.statvfs(measured)
    return {
        "disk": {"path": measured, "root_exists": measured == root,
                 "free_mb": st.f_bavail * st.f_frsize // (1024 * 1024)},
        "ports": {str(p): port_state(bind_address, int(p)) for p in ports},
        "bind_address": bind_address,
        "python": {
            "executable": sys.executable,
            "version": ".".join(str(v) for v in sys.version_info[:3]),
            "modules": library_versions(PYTHON_LIBRARIES),
        },
        "zstd": shutil.which("zstd"),
        "root_writable": os.access(measured, os.W_OK),
        "apparmor": apparmor(),
    }


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def os_release(text: str) -> dict:
    """``/etc/os-release`` as a dict (KEY=value, the value's quotes removed)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            out[key.strip()] = value.strip().strip("\"'")
    return out


def distribution(release: dict, debian_version: str) -> tuple:
    """(family, version, major) as Ansible's ``setup`` names them (``distribution`` lowered,
    ``distribution_version``, ``distribution_major_version``): Debian's version is the point
    release of /etc/debian_version (12.5), the others' VERSION_ID (24.04)."""
    family = release.get("ID", "").lower() or "unknown"
    version = release.get("VERSION_ID", "")
    point = debian_version.strip()
    if family == "debian" and point[:1].isdigit():
        version = point
    return family, version, version.split(".")[0] if version else ""


def cpu_count(cpuinfo: str) -> int:
    """Logical processors, as Ansible's ``processor_vcpus`` counts them (``processor`` lines)."""
    n = sum(1 for line in cpuinfo.splitlines() if line.split(":")[0].strip() == "processor")
    return n or (os.cpu_count() or 0)


def memory_mb(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) // 1024
    return 0


def _docker(argv: list) -> tuple:
    """(rc, stdout, stderr) of ``docker ARGV...``; rc -1: no docker command."""
    try:
        proc = subprocess.run(["docker", *argv], capture_output=True, text=True,  # noqa: S603,S607 - argv list
                              timeout=DOCKER_TIMEOUT, check=False)
    except FileNotFoundError:
        return -1, "", "docker: command not found"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -2, "", f"docker: {exc}"
    return proc.returncode, proc.stdout.rstrip("\n"), proc.stderr.rstrip("\n")


def own_ports(containers: list) -> list:
    """The host ports the named containers (those that exist) publish."""
    if not containers:
        return []
    _rc, out, _err = _docker(["container", "inspect", *[str(c) for c in containers]])  # the missing ones: rc 1
    try:
        found = json.loads(out) if out.strip() else []
    except ValueError:
        return []
    ports = []
    for c in found if isinstance(found, list) else []:
        bindings = ((c or {}).get("HostConfig") or {}).get("PortBindings") or {}
        for binds in bindings.values():
            for b in binds or []:
                host_port = str((b or {}).get("HostPort") or "")
                if host_port.isdigit():
                    ports.append(int(host_port))
    return ports


def facts(request: dict) -> dict:
    """Every fact preflight evaluates (the request: root, bind_address, ports, containers)."""
    out = probe(str(request["root"]), str(request.get("bind_address") or "127.0.0.1"),
                [int(p) for p in request.get("ports") or []])
    family, version, major = distribution(os_release(_read("/etc/os-release") or _read("/usr/lib/os-release")),
                                          _read("/etc/debian_version"))
    rc, stdout, stderr = _docker(["version", "--format", "{{json .}}"])
    out.update(
        cpu_cores=cpu_count(_read("/proc/cpuinfo")),
        memory_mb=memory_mb(_read("/proc/meminfo")),
        os_family=family,
        os_version=version,
        os_major=major,
        docker_rc=rc,
        docker_version=stdout,
        docker_error=stderr,
        own_ports=own_ports(list(request.get("containers") or [])),
    )
    return out


if __name__ == "__main__":
    sys.stdout.write(json.dumps(facts(json.loads(sys.stdin.read())), separators=(",", ":")) + "\n")
