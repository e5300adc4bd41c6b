"""Runs ON THE TARGET (standard library only, Python 3.11): is the deployment exactly the request?

The no-op check of ``install`` (``spbe_share.ops.noop`` builds the request and runs this over one
SSH connection: ``ssh target python3 -c PROGRAM``, this file with the lock protocol it imports,
the request as JSON on stdin, the answer as JSON on stdout). In that one round trip, under the
app's lock:

1. take the lock ``<root>/locks/<app>.lock`` with the protocol ``spbe_lock`` uses
   (``spbe_lockfile``); a held lock is answered ``locked`` and nothing else is done;
2. compare, reading only: the release record (``current.json``: result ok, same app, target,
   version, bundle digest and values), the folders and files install writes (content digests,
   modes, owners: the rendered config, the bundle's small files, the archive tool), the
   deployment's secrets and each component's read-only copy (same bytes, owner, mode), the
   blobs, the images in the engine, the network and volumes, every container (running, the
   expected image id, command, environment, labels, ports, mounts, network alias, restart
   policy), then every health check once (http from the target, or a command inside the
   container, as ``tasks/health.yml`` does);
3. release the lock (only if it still holds this operation's token).

It changes nothing but the lock it takes and removes. The answer lists every difference it
found (``same`` is true only when there is none) and the release record as read (untrusted:
the controller validates it). Docker is asked through its unix socket (no docker SDK needed).
"""

import hashlib
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

try:  # the lock protocol, sent with this script (spbe_share.remote.scripts)
    from ansible.module_utils import spbe_lockfile as lockfile
except ImportError:
    import spbe_lockfile as lockfile

MAX_READ = 1 << 20


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def docker(sock, method, path, body=None, timeout=10):
    """(status, JSON or None) of one Docker API call."""
    conn = UnixHTTP(sock, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read(8 * MAX_READ)
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return resp.status, doc
    finally:
        conn.close()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MAX_READ), b""):
            h.update(chunk)
    return h.hexdigest()


def take_lock(path, owner):
    """Take the app's lock (the protocol of spbe_lockfile, as spbe_lock does); the holder when
    someone else holds it, else None."""
    try:
        lockfile.take(path, owner)
    except lockfile.Held as held:
        return held.holder
    return None


def release_lock(path, token):
    return lockfile.release(path, token)[0]


def check_record(req, out):
    path = os.path.join(req["app_dir"], "current.json")
    try:
        with open(path, "rb") as f:
            current = json.loads(f.read(MAX_READ))
    except (OSError, ValueError) as exc:
        out.append(f"release record {path}: {type(exc).__name__}")
        return None
    if not isinstance(current, dict):
        out.append(f"release record {path}: not an object")
        return None
    if current.get("result") != "ok":
        out.append("release record: result {!r}".format(current.get("result")))
    for key, want in sorted(req["record"].items()):
        if current.get(key) != want:
            out.append(f"release record: {key} differs")
    return current


def check_mode_owner(kind, want, st, out, both=False):
    """The mode, then (when ``want`` names one) the owner of ``want["path"]`` against ``st``;
    a folder reports only its first difference, a file (``both``) each."""
    mode = st.st_mode & 0o7777
    if mode != want["mode"]:
        out.append("{} {}: mode {:o}, not {:o}".format(kind, want["path"], mode, want["mode"]))
        if not both:
            return
    if "uid" in want and (st.st_uid, st.st_gid) != (want["uid"], want["gid"]):
        out.append("{} {}: owner {}:{}, not {}:{}".format(kind, want["path"], st.st_uid, st.st_gid,
                                                           want["uid"], want["gid"]))


def check_paths(req, out):
    for d in req["dirs"]:
        try:
            st = os.stat(d["path"])
        except OSError:
            out.append("folder {} is missing".format(d["path"]))
            continue
        if not os.path.isdir(d["path"]):
            out.append("{} is not a folder".format(d["path"]))
        else:
            check_mode_owner("folder", d, st, out)
    for f in req["files"]:
        try:
            st = os.stat(f["path"])
            digest = sha256_file(f["path"])
        except OSError:
            out.append("file {} is missing".format(f["path"]))
            continue
        if digest != f["sha256"]:
            out.append("file {}: content differs".format(f["path"]))
        check_mode_owner("file", f, st, out, both=True)
    for s in req["secrets"]:
        try:
            if os.path.getsize(s) <= 0:
                out.append(f"secret {os.path.basename(s)} is empty")
        except OSError:
            out.append(f"secret {os.path.basename(s)} is missing")
    for c in req["secret_copies"]:
        try:
            st = os.stat(c["path"])
            same = sha256_file(c["path"]) == sha256_file(c["src"])
        except OSError:
            out.append("secret copy {} is missing".format(c["label"]))
            continue
        if not same:
            out.append("secret copy {} differs from the secret".format(c["label"]))
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (c["uid"], c["gid"], 0o400):
            out.append("secret copy {}: owner or mode differs".format(c["label"]))
    blob_dir = req["blob_dir"]
    missing = [h for h in req["blobs"]
               if not any(os.path.isfile(os.path.join(blob_dir, n)) for n in (h, h + ".zst"))]
    if missing:
        out.append(f"{len(missing)} blob(s) missing (first: sha256:{missing[0]})")


def labels_cover(have, want):
    have = have or {}
    return all(have.get(k) == v for k, v in want.items())


def port_bindings(ports):
    """"ip:host:container/proto" (ip may be [v6]) -> Docker's HostConfig.PortBindings."""
    out = {}
    for p in ports:
        left, _, proto = p.rpartition("/")
        ip_host, _, container = left.rpartition(":")
        ip, _, host = ip_host.rpartition(":")
        out.setdefault(f"{container}/{proto}", []).append({"HostIp": ip.strip("[]"), "HostPort": host})
    return out


def check_docker(req, out):
    sock = req["docker_socket"]
    for image in req["images"]:
        status, _ = docker(sock, "GET", f"/images/{image}/json")
        if status != 200:
            out.append(f"image {image[:19]} is not in the engine")
    status, net = docker(sock, "GET", "/networks/{}".format(req["network"]["name"]))
    if status != 200 or not isinstance(net, dict):
        out.append("network {} is missing".format(req["network"]["name"]))
    elif not labels_cover(net.get("Labels"), req["network"]["labels"]):
        out.append("network {}: labels differ".format(req["network"]["name"]))
    for v in req["volumes"]:
        status, vol = docker(sock, "GET", "/volumes/{}".format(v["name"]))
        if status != 200 or not isinstance(vol, dict):
            out.append("volume {} is missing".format(v["name"]))
        elif not labels_cover(vol.get("Labels"), v["labels"]):
            out.append("volume {}: labels differ".format(v["name"]))
    for c in req["containers"]:
        check_container(sock, c, req["network"]["name"], out)


def check_container(sock, c, network, out):
    name = c["name"]
    status, info = docker(sock, "GET", f"/containers/{name}/json")
    if status != 200 or not isinstance(info, dict):
        out.append(f"container {name} is missing")
        return
    state = info.get("State") or {}
    config = info.get("Config") or {}
    host = info.get("HostConfig") or {}
    if not state.get("Running") or state.get("Restarting") or state.get("Paused"):
        out.append("container {} is {}".format(name, state.get("Status")))
    if info.get("Image") != c["image"]:
        out.append("container {}: image {}, not {}".format(name, str(info.get("Image"))[:19], c["image"][:19]))
    if c["command"] and config.get("Cmd") != c["command"]:
        out.append(f"container {name}: command differs")
    status, image = docker(sock, "GET", "/images/{}/json".format(c["image"]))
    env = {}
    for line in ((image or {}).get("Config") or {}).get("Env") or []:
        k, _, v = line.partition("=")
        env[k] = v
    env.update(c["env"])
    have = {}
    for line in config.get("Env") or []:
        k, _, v = line.partition("=")
        have[k] = v
    if have != env:
        out.append(f"container {name}: environment differs")
    if not labels_cover(config.get("Labels"), c["labels"]):
        out.append(f"container {name}: labels differ")
    bindings = {k: [{"HostIp": b.get("HostIp", ""), "HostPort": b.get("HostPort", "")} for b in v or []]
                for k, v in (host.get("PortBindings") or {}).items()}
    if bindings != port_bindings(c["ports"]):
        out.append(f"container {name}: published ports differ")
    mounts = sorted((m.get("Type"), m.get("Source"), m.get("Target"), bool(m.get("ReadOnly")))
                    for m in host.get("Mounts") or [])
    want = sorted((m["type"], m["source"], m["target"], bool(m.get("read_only"))) for m in c["mounts"])
    if mounts != want:
        out.append(f"container {name}: mounts differ")
    if (host.get("RestartPolicy") or {}).get("Name") != "unless-stopped":
        out.append(f"container {name}: restart policy differs")
    nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
    if host.get("NetworkMode") != network or network not in nets:
        out.append(f"container {name}: not on network {network}")
    elif c["component"] not in (nets[network].get("Aliases") or []):
        out.append("container {}: alias {} missing".format(name, c["component"]))


def exec_rc(sock, container, argv, timeout=10):
    status, doc = docker(sock, "POST", f"/containers/{container}/exec",
                         {"Cmd": argv, "AttachStdout": False, "AttachStderr": False})
    if status != 201 or not isinstance(doc, dict):
        return None
    exec_id = doc.get("Id")
    status, _ = docker(sock, "POST", f"/exec/{exec_id}/start", {"Detach": True})
    if status != 200:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, info = docker(sock, "GET", f"/exec/{exec_id}/json")
        if status == 200 and isinstance(info, dict) and not info.get("Running"):
            return info.get("ExitCode")
        time.sleep(0.05)
    return None


def check_health(req, out):
    sock = req["docker_socket"]
    for h in req["health"]:
        what = "health of {}".format(h["component"])
        if h["type"] == "http" and h.get("url"):
            try:
                with urllib.request.urlopen(h["url"], timeout=5) as r:  # noqa: S310 - the entry's health URL
                    ok = r.status == 200
            except (OSError, urllib.error.URLError, http.client.HTTPException):
                ok = False
        elif h["type"] == "http":
            code = "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=5).status == 200 else 1)"
            url = "http://127.0.0.1:{}{}".format(h["port"], h["path"])
            ok = exec_rc(sock, h["container"], ["python3", "-c", code, url]) == 0
        else:
            ok = exec_rc(sock, h["container"], list(h["command"])) == 0
        if not ok:
            out.append(f"{what}: not healthy now")


def main():
    t0 = time.monotonic()
    req = json.loads(sys.stdin.buffer.read(16 * MAX_READ))
    answer = {"same": False, "differences": [], "locked": None, "current": None}
    lock = req["lock"]
    try:
        os.stat(os.path.dirname(lock["path"]))
    except OSError:
        answer["differences"].append("no lock folder: never installed here")
        print(json.dumps(answer))
        return
    holder = take_lock(lock["path"], lock["owner"])
    if holder is not None:
        answer["locked"] = holder
        print(json.dumps(answer))
        return
    try:
        out = answer["differences"]
        answer["current"] = check_record(req, out)
        if not out:  # the rest only for the release the record names
            check_paths(req, out)
        if not out:
            try:
                check_docker(req, out)
            except OSError as exc:
                out.append(f"docker engine: {exc}")
        if not out:
            check_health(req, out)
        answer["same"] = not out
    finally:
        answer["released"] = release_lock(lock["path"], lock["owner"]["token"])
    answer["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
