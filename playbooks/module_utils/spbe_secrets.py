"""Runs ON the target (standard library only, Python 3.11): the deployment's secrets, for the
controller's sealing and for putting sealed secrets back.

Started by :mod:`spbe_share.remote.secretsync` as ``python3 -c PROGRAM COMMAND ROOT APP`` (this file
with the write helper it imports)
over the pinned SSH connection (or locally for the ``local`` target). Requests come on stdin
and answers go to stdout as one JSON object each; secret values travel only in these streams,
never in arguments, files outside ``<root>/apps/<app>/secrets/``, or Ansible.

Commands:

``read``         stdin ``{"names": [...] | null}`` (null: every secret the deployment has) ->
                 ``{"values": {...}, "missing": [...], "sealed": META|null}``
``store-sealed`` stdin ``{"meta": META, "data": BASE64}`` -> writes ``<app>/sealed-secrets.age`` and
                 ``.json`` (0600, atomically) -> ``{"stored": true}``
``put``          stdin ``{"values": {...}}`` -> writes each missing secret (0600, O_EXCL); an
                 existing one must hold the same value -> ``{"written": [...], "kept": [...]}``;
                 exit 3 with ``{"conflicts": [...]}`` (names only) and nothing written otherwise
``ensure``       stdin ``{"secrets": [{"name": N, "length": L}, ...]}`` -> generates each missing one
                 here (``secrets`` module, letters and digits, 0600, O_EXCL, as the spbe_secret
                 module does) -> ``{"values": {...}, "generated": [...]}``: the app's first host
                 of a data center with several hosts, whose values go to the other hosts (``put``)
``stage-tls-key`` stdin ``{"value": PEM}`` -> writes ``<app>/secrets/_tls/staged.key`` (0600): the
                 next TLS key of the app's proxy; the playbook under the lock puts it in place
                 (``TLS_PRIVATE_KEY``) -> ``{"staged": true}``
``backup-sealed`` stdin ``{"id": ID}`` -> ``{"manifest": {...}, "data": BASE64|null}`` (a backup's
                 manifest and its sealed secrets file, which is encrypted)

Exit 2: a bad request (message on stderr). Nothing here prints a secret to stderr.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import string
import sys

try:  # the write helper, sent with this script (spbe_share.remote.scripts)
    from ansible.module_utils import spbe_files as files
except ImportError:
    import spbe_files as files

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
ROOT = re.compile(r"^/(?:[A-Za-z0-9._-]+/?)*$")
NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
BACKUP_ID = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9][a-z0-9-]{0,40}$")
SEALED = "sealed-secrets.age"
SEALED_META = "sealed-secrets.json"
LIMIT = 1 << 20
ALPHABET = string.ascii_letters + string.digits  # as spbe_configure.new_secret (modules spbe_configure, spbe_secret)


def fail(message, code=2):
    sys.stderr.write("spbe-share secrets: " + message + "\n")
    sys.exit(code)


def answer(data):
    sys.stdout.write(json.dumps(data, sort_keys=True))
    sys.stdout.flush()


def request():
    raw = sys.stdin.buffer.read(LIMIT + 1)
    if len(raw) > LIMIT:
        fail("request too large")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        fail("request is not JSON")
    if not isinstance(data, dict):
        fail("request is not an object")
    return data


def read_file(path):
    with open(path, "rb") as f:
        data = f.read(LIMIT + 1)
    if len(data) > LIMIT:
        fail(f"{path} is larger than {LIMIT} bytes")
    return data


def secret_names(data, key):
    names = data.get(key)
    if not isinstance(names, (list, dict)) or not all(isinstance(n, str) and NAME.match(n) for n in names):
        fail(f"{key}: secret names are UPPER_CASE letters, digits and '_'")
    return names


def cmd_read(app_dir):
    data = request()
    if data.get("names") is None:  # every secret of the deployment
        try:
            folder = os.path.join(app_dir, "secrets")
            names = sorted(n for n in os.listdir(folder) if NAME.match(n) and os.path.isfile(os.path.join(folder, n)))
        except FileNotFoundError:
            names = []
    else:
        names = secret_names(data, "names")
    values, missing = {}, []
    for name in names:
        try:
            values[name] = read_file(os.path.join(app_dir, "secrets", name)).decode("utf-8")
        except FileNotFoundError:
            missing.append(name)
        except UnicodeDecodeError:
            fail(f"secret {name} is not UTF-8 text")
    sealed = None
    try:
        sealed = json.loads(read_file(os.path.join(app_dir, SEALED_META)).decode("utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        sealed = None
    answer({"values": values, "missing": missing, "sealed": sealed})


def cmd_store_sealed(app_dir):
    data = request()
    meta, blob = data.get("meta"), data.get("data")
    if not isinstance(meta, dict) or not isinstance(blob, str):
        fail("store-sealed needs meta and data")
    raw = base64.b64decode(blob, validate=True)
    if meta.get("sha256") != hashlib.sha256(raw).hexdigest() or meta.get("size") != len(raw):
        fail("the sealed data does not match its meta (size, sha256)")
    os.makedirs(app_dir, mode=0o755, exist_ok=True)
    files.write_atomic(os.path.join(app_dir, SEALED), raw)
    files.write_atomic(os.path.join(app_dir, SEALED_META), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    answer({"stored": True})


def cmd_put(app_dir):
    values = secret_names(request(), "values")
    if not all(isinstance(v, str) and v and len(v) <= 4096 for v in values.values()):
        fail("values must be non-empty text")
    folder = os.path.join(app_dir, "secrets")
    written, kept, conflicts = [], [], []
    for name, value in sorted(values.items()):
        try:
            if read_file(os.path.join(folder, name)) == value.encode("utf-8"):
                kept.append(name)
            else:
                conflicts.append(name)
        except FileNotFoundError:
            pass
    if conflicts:
        answer({"conflicts": conflicts, "kept": kept, "written": []})
        sys.exit(3)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name, value in sorted(values.items()):
        if name in kept:
            continue
        files.write_new(os.path.join(folder, name), value.encode("utf-8"), 0o600)
        written.append(name)
    answer({"written": written, "kept": kept, "conflicts": []})


def cmd_ensure(app_dir):
    wanted = request().get("secrets")
    if not isinstance(wanted, list) or not all(
            isinstance(w, dict) and isinstance(w.get("name"), str) and NAME.match(w["name"])
            and isinstance(w.get("length"), int) and 8 <= w["length"] <= 4096 for w in wanted):
        fail("ensure needs secrets: [{name, length}]")
    folder = os.path.join(app_dir, "secrets")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    values, generated = {}, []
    for w in wanted:
        path = os.path.join(folder, w["name"])
        try:
            values[w["name"]] = read_file(path).decode("utf-8")
            continue
        except FileNotFoundError:
            pass
        except UnicodeDecodeError:
            fail(f"secret {w['name']} is not UTF-8 text")
        value = "".join(secrets.choice(ALPHABET) for _ in range(w["length"]))
        files.write_new(path, value.encode("ascii"), 0o600)
        values[w["name"]] = value
        generated.append(w["name"])
    answer({"values": values, "generated": generated})


def cmd_backup_sealed(app_dir):
    backup_id = request().get("id")
    if not isinstance(backup_id, str) or not BACKUP_ID.match(backup_id):
        fail("not a backup id")
    folder = os.path.join(app_dir, "backups", backup_id)
    try:
        manifest = json.loads(read_file(os.path.join(folder, "manifest.json")).decode("utf-8"))
    except FileNotFoundError:
        fail(f"no backup {backup_id} on this target", 3)
    except (ValueError, UnicodeDecodeError):
        fail(f"backup {backup_id}: unreadable manifest")
    sealed = manifest.get("secrets") if isinstance(manifest, dict) else None
    data = None
    if isinstance(sealed, dict) and isinstance(sealed.get("file"), str) and re.match(r"^secrets\.[a-z0-9]{1,10}$",
                                                                                   sealed["file"]):
        data = base64.b64encode(read_file(os.path.join(folder, sealed["file"]))).decode("ascii")
    answer({"manifest": manifest, "data": data})


def cmd_stage_tls_key(app_dir):
    value = request().get("value")
    if not (isinstance(value, str) and 0 < len(value) <= 16384 and value.startswith("-----BEGIN ")
            and "PRIVATE KEY-----" in value):
        fail("stage-tls-key needs a PEM private key")
    folder = os.path.join(app_dir, "secrets", "_tls")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    files.write_atomic(os.path.join(folder, "staged.key"), value.encode("utf-8"), 0o600)
    answer({"staged": True})


COMMANDS = {"read": cmd_read, "ensure": cmd_ensure, "stage-tls-key": cmd_stage_tls_key, "store-sealed": cmd_store_sealed, "put": cmd_put, "backup-sealed": cmd_backup_sealed}


def main(argv):
    if len(argv) != 3 or argv[0] not in COMMANDS:
        fail("usage: COMMAND ROOT APP (commands: " + ", ".join(sorted(COMMANDS)) + ")")
    command, root, app = argv
    if not ROOT.match(root) or ".." in root.split("/"):
        fail("root must be a plain absolute path")
    if not SLUG.match(app):
        fail("app must be a slug")
    os.umask(0o077)
    COMMANDS[command](os.path.join(root.rstrip("/") or "/", "apps", app))


if __name__ == "__main__":
    main(sys.argv[1:])
