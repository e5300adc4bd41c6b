"""Runs ON THE TARGET (standard library only, Python 3.11): the target's part of a support
bundle, redacted here before it leaves.

``spbe_share.ops.support`` runs it over one SSH connection (``python3 -c PROGRAM``, this file
with ``spbe_redact``), the request as JSON on stdin::

    {"app_dir": ..., "containers": [{"container", "component"}], "since_s": 86400,
     "max_log_bytes": 1048576, "rules": [{"name", "pattern"}], "docs": {"name": "text"}}

and answers one JSON object on stdout: ``{"files": {"name": "text"}, "redactions": N}``:

- ``containers.json``: each container's state (status, exit code, restarts, health, OOM);
- ``logs/<component>.log``: its ``docker logs --since`` (stdout and stderr, timestamps), the
  last ``max_log_bytes`` bytes;
- ``host.json``: OS, kernel, memory, load, disk use of the root and Docker's folder, the
  engine's version;
- every text of ``docs`` (what the controller collected: versions, deploy spec, history, the
  last failed run's events, preflight), redacted here too.

Every text is redacted before it is written to stdout: the install's secret values (the files
under ``<app_dir>/secrets``), then personal data (e-mail addresses, phone numbers, NIK, and the
entry's own ``support.redact`` rules): :mod:`spbe_redact`. Reads only; changes nothing.
"""

import json
import os
import platform
import shutil
import subprocess
import sys

try:  # sent with this script (spbe_share.remote.scripts)
    from ansible.module_utils import spbe_redact as redaction
except ImportError:
    import spbe_redact as redaction

MAX_REQUEST = 8 << 20
CHUNK = 1 << 16


def _docker(args, timeout=60):
    try:
        p = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, check=False)  # noqa: S603,S607
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, b"", str(exc).encode()
    return p.returncode, p.stdout, p.stderr


def container_state(name):
    rc, out, err = _docker(["container", "inspect", name])
    if rc != 0:
        return {"exists": False, "error": err.decode("utf-8", "replace").strip()[:300]}
    try:
        info = (json.loads(out) or [{}])[0]
    except ValueError:
        return {"exists": True, "error": "docker inspect answered no JSON"}
    st = info.get("State") or {}
    health = st.get("Health") or {}
    return {"exists": True, "status": st.get("Status"), "running": bool(st.get("Running")),
            "restarting": bool(st.get("Restarting")), "exit_code": st.get("ExitCode"),
            "oom_killed": bool(st.get("OOMKilled")), "error": st.get("Error") or None,
            "started_at": st.get("StartedAt"), "finished_at": st.get("FinishedAt"),
            "restarts": info.get("RestartCount", 0), "health": health.get("Status"),
            "image": info.get("Image")}


def log_tail(name, since_s, limit):
    """The last ``limit`` bytes of the container's log since ``since_s`` seconds ago."""
    try:
        p = subprocess.Popen(["docker", "logs", "--timestamps", "--since", f"{int(since_s)}s", name],  # noqa: S603,S607
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        return f"(docker logs could not run: {exc})\n"
    tail = bytearray()
    cut = False
    while True:
        chunk = p.stdout.read(CHUNK)
        if not chunk:
            break
        tail += chunk
        if len(tail) > limit:
            del tail[:len(tail) - limit]
            cut = True
    p.wait()
    text = tail.decode("utf-8", "replace")
    if cut:
        text = f"(earlier lines left out: only the last {limit} bytes)\n" + text.split("\n", 1)[-1]
    return text


def _meminfo():
    out = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("MemTotal", "MemAvailable", "MemFree", "SwapTotal", "SwapFree"):
                    out[key] = value.strip()
    except OSError:
        pass
    return out


def _os_name():
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def _disk(path):
    try:
        u = shutil.disk_usage(path)
    except OSError:
        return None
    return {"path": path, "total": u.total, "used": u.used, "free": u.free,
            "used_percent": round(100 * u.used / u.total, 1) if u.total else None}


def host_facts(app_dir):
    rc, out, _err = _docker(["version", "--format", "{{json .}}"])
    engine = None
    if rc == 0:
        try:
            v = json.loads(out)
            engine = {"server": (v.get("Server") or {}).get("Version"), "api": (v.get("Server") or {}).get("ApiVersion"),
                      "client": (v.get("Client") or {}).get("Version")}
        except ValueError:
            engine = None
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            load = f.read().split()[:3]
    except OSError:
        load = []
    disks = [d for d in (_disk(app_dir), _disk("/"), _disk("/var/lib/docker")) if d]
    return {"os": _os_name(), "kernel": platform.release(), "machine": platform.machine(),
            "python": platform.python_version(), "memory": _meminfo(), "load": load, "disks": disks,
            "docker": engine}


def collect(request):
    secrets = redaction.secret_values(os.path.join(request["app_dir"], "secrets"))
    rules = redaction.personal_rules(request.get("rules") or [])
    raw = {}
    states = []
    for c in request.get("containers") or []:
        name, component = str(c["container"]), str(c["component"])
        state = container_state(name)
        states.append({"container": name, "component": component, **state})
        if state.get("exists"):
            raw[f"logs/{component}.log"] = log_tail(name, request.get("since_s", 86400),
                                                    request.get("max_log_bytes", 1 << 20))
    trees = {"containers.json": states, "host.json": host_facts(request["app_dir"])}
    for name, text in (request.get("docs") or {}).items():
        name, text = str(name), str(text)
        if name.endswith(".json"):
            try:
                trees[name] = json.loads(text)
                continue
            except ValueError:
                pass
        raw[name] = text
    files = {}
    count = 0
    for name, text in raw.items():
        clean = redaction.redact(text, secrets, rules)
        count += clean != text
        files[name] = clean
    # JSON is redacted as values, not as text: only its strings (a number stays a number and
    # the file stays JSON)
    for name, tree in trees.items():
        clean = redaction.redact_tree(tree, secrets, rules)
        count += clean != tree
        files[name] = json.dumps(clean, indent=1, sort_keys=True)
    return {"files": files, "redactions": count}


def main():
    request = json.loads(sys.stdin.buffer.read(MAX_REQUEST))
    sys.stdout.write(json.dumps(collect(request)))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
