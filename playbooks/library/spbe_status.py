#!/usr/bin/python
"""Read-only status of every spbe-share app on a target, in one task (standard library only).

Two ways in, one reading (:func:`read_status`):

* as the Ansible module ``spbe_status`` (``playbooks/status.yml``; :func:`main` is a thin
  AnsibleModule wrapper: arguments in, ``status`` out);
* as a plain script, ``python3 -c <this file> --spbe-share-status ROOT [--blobs]``: what
  ``spbe-share fleet status`` and ``plan`` run over one SSH connection per target (no Ansible
  on either side). The status is printed as one JSON document on stdout.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

DOCUMENTATION = r"""
module: spbe_status
short_description: Release records, the newest attempt, container state and health of every app
description:
  - Changes nothing. Reads C(<root>/apps/*/current.json) and the newest
    C(<root>/apps/<app>/releases/*.json) of every app, the C(proxy/tls.json) of an app with a
    domain (its certificate's domain and expiry), asks the Docker engine (its unix socket)
    for the state (and restart count) of the containers the records name, calls their http
    health URLs, and reads the scheduled check's last record C(<root>/watch/last.json).
  - For each C(first_login) item C(APP:SECRET:PATH), calls PATH at the address of APP's first
    http health URL (the app's answer whether its initial password is still in use: at most
    4 KiB, returned as text) and the modification time of C(<root>/apps/APP/secrets/SECRET)
    (when that password was made; its value is never read).
  - Everything it reads is bounded (apps, file sizes, containers, URLs), and returned as read;
    spbe-share validates it on the controller (a target is not trusted).
options:
  root: {type: path, required: true}
  blobs: {type: bool, default: false, description: also list the blob digests the target holds}
  http_timeout: {type: int, default: 5}
  docker_socket: {type: path, default: /var/run/docker.sock}
  first_login: {type: list, elements: str, default: [], description: "APP:SECRET:PATH items"}
"""

MAX_APPS = 200
MAX_RECORD = 256 * 1024
MAX_CONTAINERS = 50
MAX_URLS = 20
MAX_BLOBS = 20000
HTTP_TIMEOUT = 5
DOCKER_SOCKET = "/var/run/docker.sock"
SCRIPT_FLAG = "--spbe-share-status"
FIRST_LOGIN_FLAG = "--first-login"
MAX_FIRST_LOGIN = 4096  # bytes of an app's first-login answer
_FIRST_LOGIN = re.compile(r"^([a-z0-9][a-z0-9-]{0,62}):([A-Z][A-Z0-9_]{0,63}):(/[A-Za-z0-9._~/-]{0,199})$")
WATCH_RECORD = "watch/last.json"  # under the root: written by the scheduled check (module_utils/spbe_watch.py)


def read_json(path: str) -> object:
    """The JSON in ``path``, or ``{"_error": why}`` (never raises)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RECORD + 1)
    except OSError as exc:
        return {"_error": exc.strerror or str(exc)}
    if len(raw) > MAX_RECORD:
        return {"_error": f"larger than {MAX_RECORD} bytes"}
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        return {"_error": f"not JSON: {exc}"}


def newest_attempt(app_dir: str) -> str | None:
    folder = os.path.join(app_dir, "releases")
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        return None
    return os.path.join(folder, names[-1]) if names else None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def container_state(sock_path: str, name: str, timeout: float) -> dict:
    """``State`` of container ``name`` from the engine API ({} when it does not exist)."""
    conn = _UnixConnection(sock_path, timeout)
    try:
        conn.request("GET", f"/containers/{urllib.parse.quote(name, safe='')}/json")
        resp = conn.getresponse()
        body = resp.read(4 * 1024 * 1024)
        if resp.status == 404:
            return {}
        if resp.status != 200:
            return {"Status": f"engine answered {resp.status}"}
        info = json.loads(body.decode("utf-8"))
        state = info.get("State") or {}
        health = state.get("Health") or {}
        restarts = info.get("RestartCount")
        return {
            "Running": bool(state.get("Running")),
            "Status": str(state.get("Status") or ""),
            "Health": {"Status": str(health.get("Status") or "")} if health else {},
            "RestartCount": restarts if isinstance(restarts, int) else 0,
        }
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return {"Status": f"engine not answering: {exc}"}
    finally:
        conn.close()


def http_code(url: str, timeout: float) -> int:
    if not url.startswith(("http://", "https://")):
        return -1
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - the record's own health URL
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError, http.client.HTTPException):
        return -1


def http_text(url: str, timeout: float) -> tuple[int, str]:
    """(status, the first MAX_FIRST_LOGIN bytes of the body as text); status -1: no answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) URL built from the record
            return int(resp.status), resp.read(MAX_FIRST_LOGIN + 1).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return -1, str(exc)[:200]


def first_login_state(root: str, record: object, item: str, timeout: float) -> list | None:
    """``[app, status, body, secret mtime]`` for one ``APP:SECRET:PATH`` item, None when the app
    has no record or no http health URL to take the address from."""
    m = _FIRST_LOGIN.match(item)
    if not m or not isinstance(record, dict) or record.get("app") != m.group(1):
        return None
    app, secret, path = m.groups()
    base = None
    for h in (record.get("health") or [])[:MAX_URLS]:
        url = h.get("url") if isinstance(h, dict) else None
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            parts = urllib.parse.urlsplit(url)
            base = f"{parts.scheme}://{parts.netloc}"
            break
    if base is None:
        return None
    status, body = http_text(base + path, timeout)
    try:
        made = os.stat(os.path.join(root, "apps", app, "secrets", secret)).st_mtime
    except OSError:
        made = None
    return [app, status, body, made]


def read_status(root: str, *, blobs: bool = False, http_timeout: int = HTTP_TIMEOUT,
                docker_socket: str = DOCKER_SOCKET, first_login: list | None = None) -> dict:
    """Records, newest attempts, container states, health codes (and blob names) under ``root``."""
    timeout = max(1, http_timeout)
    apps_dir = os.path.join(root, "apps")
    try:
        apps = sorted(n for n in os.listdir(apps_dir) if not n.startswith("."))[:MAX_APPS]
    except OSError:
        apps = []
    records, last, names, urls, certs = [], [], [], [], []
    for app in apps:
        app_dir = os.path.join(apps_dir, app)
        current = os.path.join(app_dir, "current.json")
        if os.path.isfile(current):
            rec = read_json(current)
            records.append(rec)
            if isinstance(rec, dict):
                for c in (rec.get("containers") or [])[:MAX_CONTAINERS]:
                    if isinstance(c, str) and c not in names:
                        names.append(c)
                for h in (rec.get("health") or [])[:MAX_URLS]:
                    url = h.get("url") if isinstance(h, dict) else None
                    if isinstance(url, str) and url not in urls:
                        urls.append(url)
        tls = os.path.join(app_dir, "proxy", "tls.json")  # the TLS proxy's certificate (no key)
        if os.path.isfile(tls):
            certs.append([app, read_json(tls)])
        attempt = newest_attempt(app_dir)
        if attempt is not None:
            last.append([app, read_json(attempt)])
    containers = [[n, container_state(docker_socket, n, timeout)] for n in names]
    http = [[u, http_code(u, timeout)] for u in urls]
    result = {"records": records, "last": last, "containers": containers, "http": http, "tls": certs}
    if first_login:
        by_app = {r.get("app"): r for r in records if isinstance(r, dict)}
        answers = []
        for item in list(first_login)[:MAX_APPS]:
            m = _FIRST_LOGIN.match(str(item))
            got = first_login_state(root, by_app.get(m.group(1)), str(item), timeout) if m else None
            if got is not None:
                answers.append(got)
        result["first_login"] = answers
    watch = os.path.join(root, WATCH_RECORD)
    if os.path.isfile(watch):  # the scheduled check's last record (spbe_watch.py), as read
        result["watch"] = read_json(watch)
    if blobs:
        try:
            result["blobs"] = sorted(os.listdir(os.path.join(root, "blobs", "sha256")))[:MAX_BLOBS]
        except OSError:
            result["blobs"] = []
    return result


def main() -> None:
    """The Ansible module: arguments in, ``status`` out."""
    # imported here only: the plain-script way runs where no Ansible is installed
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "blobs": {"type": "bool", "default": False},
            "http_timeout": {"type": "int", "default": HTTP_TIMEOUT},
            "docker_socket": {"type": "path", "default": DOCKER_SOCKET},
            "first_login": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    p = module.params
    status = read_status(p["root"], blobs=p["blobs"], http_timeout=p["http_timeout"], docker_socket=p["docker_socket"],
                         first_login=p["first_login"])
    module.exit_json(changed=False, status=status)


def script(argv: list) -> int:
    """``--spbe-share-status ROOT [--blobs] [--first-login APP:SECRET:PATH]...``: the status as
    JSON on stdout."""
    rest, blobs, first_login = list(argv[1:]), False, []
    while rest:
        arg = rest.pop(0)
        if arg == "--blobs":
            blobs = True
        elif arg == FIRST_LOGIN_FLAG and rest and _FIRST_LOGIN.match(rest[0]):
            first_login.append(rest.pop(0))
        else:
            argv = []
            break
    if not argv or argv[0].startswith("-"):
        sys.stderr.write(f"usage: {SCRIPT_FLAG} ROOT [--blobs] [{FIRST_LOGIN_FLAG} APP:SECRET:PATH]...\n")
        return 2
    sys.stdout.write(json.dumps(read_status(argv[0], blobs=blobs, first_login=first_login), separators=(",", ":")))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [SCRIPT_FLAG]:
        sys.exit(script(sys.argv[2:]))
    main()
