"""Backups copied host to host onto the Pemda's backup host (issue 19 item 5). Standard library
only (Python 3.11): runs on the app host, on the backup host, and as the receive-only command
the backup host's sshd forces for the app host's key. The threat model is in docs/backups.md.

On the app host (``<root>/backup-host-link/``, 0700, root):
    id_ed25519, id_ed25519.pub   the per-target backup key pair (made here; the private key
                                 never leaves this host), 0600
    known_hosts                  the backup host's key pinned in the operator's workspace
    link.json                    {target, address, port, user}
    :func:`send` copies a verified backup over ``ssh ... put <id>`` (a tar stream of its files);
    :func:`pull` brings one back (``get <id>``) into ``<backups>/<id>`` for a restore.

On the backup host (``<root>/backup-copies/<target>/<id>/``, 0700):
    the backup's files as the app host wrote them, and received.json (what was checked here).
    ``~/.ssh/authorized_keys`` holds the app host's key as
    ``restrict,command="<python> <root>/lib/spbe_backup_host.py serve <folder>" KEY spbe-backup:<target>``
    (``spbe-backup:<target>:<host>`` for a host of the target other than its first: each host that
    makes backups, e.g. the database host of an app across hosts, has its own key line):
    no shell, no forwarding, no pty; :func:`serve` answers only ``put ID`` (a new backup: never
    overwrites one, refuses anything but plain files with the names a backup has), ``get ID``
    and ``list``, all inside that one folder.

Run as a script: ``serve FOLDER`` (the forced command), or with no arguments and a JSON request
on stdin (the controller, over its own SSH link: ``{"action": "link"|"authorize"|"copies"|"pull",
...}``); answers one JSON object on stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile

try:
    from ansible.module_utils import spbe_backup_store as store
except ImportError:  # a script: python3 -c PROGRAM, or <root>/lib/
    import spbe_backup_store as store  # type: ignore[no-redef]

LINK_DIR = "backup-host-link"
COPIES_DIR = "backup-copies"
KEY = "id_ed25519"
LINK = "link.json"
KNOWN_HOSTS = "known_hosts"
RECEIVED = "received.json"
MARK = "spbe-backup:"  # authorized_keys comment: spbe-backup:<target>[:<host>]
MAX_FILES = 64
MAX_ANSWER = 1 << 20
CHUNK = 1 << 20
SSH_TIMEOUT_S = 3600
PUBKEY = re.compile(r"^ssh-ed25519 [A-Za-z0-9+/]{20,200}={0,2}$")
ADDRESS = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*)$")
USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
KNOWN_HOST_LINE = re.compile(r"^[^\s#]+ [a-z0-9-]+ [A-Za-z0-9+/=]+$")
PGDUMP_MAGIC = b"PGDMP"


class BackupHostError(store.BackupError):
    pass


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise BackupHostError(msg)


def copy_name_ok(name: str) -> bool:
    """The names a backup's files have: nothing else is written on the backup host."""
    return name in (store.MANIFEST, store.VERIFICATION) or bool(
        store.FILE_NAME.match(name) or store.SECRETS_FILE_RE.match(name))


# ---------------------------------------------------------------- the copy itself (both ends)


def receive_tar(stream, dest: str) -> list[str]:
    """Write the tar stream ``stream`` into the empty folder ``dest``: only plain files with a
    backup's file names (no folders, links, devices, paths), each created new (never over a
    file), at most :data:`MAX_FILES`. Returns the names written."""
    names: list[str] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                _need(member.isreg(), f"refused {member.name!r}: not a plain file (a backup holds only files)")
                _need(copy_name_ok(member.name), f"refused {member.name!r}: not a file of a backup in this folder")
                _need(len(names) < MAX_FILES, f"refused: more than {MAX_FILES} files")
                try:
                    fd = os.open(f"{dest}/{member.name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                except FileExistsError:
                    raise BackupHostError(f"refused {member.name!r}: sent twice") from None
                src = tar.extractfile(member)
                assert src is not None
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                names.append(member.name)
    except (tarfile.TarError, EOFError) as exc:
        raise BackupHostError(f"the copy is not a complete tar stream: {exc}") from None
    _need(store.MANIFEST in names, "refused: the copy has no manifest.json")
    return names


def _check_pgdump(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(len(PGDUMP_MAGIC))
    _need(head == PGDUMP_MAGIC, f"{os.path.basename(path)} is not a pg_dump custom-format file")
    return "pg_dump custom format header"


def check_copy(folder: str, backup_id: str, names: list[str]) -> dict:
    """Check a copy where it lies: the manifest's own checks, every file's size and SHA-256,
    the tar archives read whole, SQLite's integrity_check (pg_restore needs the database's
    image: the dump's header is checked here, the full read on the host that restores it)."""
    manifest = store.read_json(f"{folder}/{store.MANIFEST}")
    _need(manifest.get("kind") == store.KIND and manifest.get("format") == store.FORMAT,
          f"backup {backup_id}: not an spbe-share backup manifest")
    _need(manifest.get("id") == backup_id, f"backup {backup_id}: its manifest names id {manifest.get('id')!r}")
    _need(isinstance(manifest.get("items"), list), f"backup {backup_id}: manifest has no items")
    files = {}
    for item in manifest["items"]:
        _need(isinstance(item, dict) and item.get("type") in store.ITEM_TYPES, f"backup {backup_id}: unknown item")
        if item.get("file") is not None:
            files[item["file"]] = item
    sealed = manifest.get("secrets")
    if isinstance(sealed, dict) and isinstance(sealed.get("file"), str):
        files[sealed["file"]] = {"type": "secrets", **sealed}
    for name in names:
        _need(name in files or name in (store.MANIFEST, store.VERIFICATION),
              f"backup {backup_id}: {name} is not in its manifest")
    checks = []
    for name, item in sorted(files.items()):
        _need(copy_name_ok(name) and name in names, f"backup {backup_id}: {name} is missing from the copy")
        size, sha = _sha256(f"{folder}/{name}")
        _need((size, sha) == (item.get("size"), item.get("sha256")),
              f"{name}: SHA-256/size ({size} bytes) differ from the manifest: damaged on the way")
        if item["type"] == "volume-archive":
            detail = store.check_tar(f"{folder}/{name}")
        elif item["type"] == "sqlite":
            detail = store.check_sqlite(f"{folder}/{name}")
        elif item["type"] == "postgresql":
            detail = _check_pgdump(f"{folder}/{name}")
        else:
            detail = "sealed secrets"
        checks.append({"item": name, "ok": True, "detail": f"sha256 ok; {detail}"})
    return {"id": backup_id, "ok": True, "when": store.iso(store.utc_now()),
            "manifest_sha256": _sha256(f"{folder}/{store.MANIFEST}")[1], "checks": checks,
            "size": sum(os.path.getsize(f"{folder}/{n}") for n in names)}


def _sha256(path: str) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def take_copy(stream, folder: str, backup_id: str) -> dict:
    """Receive ``backup_id`` from ``stream`` into ``folder/<id>``, checked, or leave nothing."""
    store.check_id(backup_id)
    final = f"{folder}/{backup_id}"
    if os.path.lexists(final):
        raise BackupHostError(f"backup {backup_id} is already there; a copy is never overwritten")
    incoming = f"{folder}/.incoming-{backup_id}-{secrets.token_hex(4)}"
    os.mkdir(incoming, 0o700)
    try:
        names = receive_tar(stream, incoming)
        result = check_copy(incoming, backup_id, names)
        store.write_json_atomic(f"{incoming}/{RECEIVED}", result)
        store.fsync_dir(incoming)
        if os.path.lexists(final):
            raise BackupHostError(f"backup {backup_id} is already there; a copy is never overwritten")
        os.rename(incoming, final)
        store.fsync_dir(folder)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return result


def send_tar(out, folder: str, names: list[str]) -> None:
    """The files ``names`` of ``folder`` as a tar stream on ``out`` (never following a link)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            fd = os.open(f"{folder}/{name}", os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                info = tarfile.TarInfo(name)
                info.size = st.st_size
                info.mode = 0o600
                info.mtime = int(st.st_mtime)
                tar.addfile(info, f)


def backup_files(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if copy_name_ok(n))


# ---------------------------------------------------------------- the backup host: serve (forced command)


def list_copies(folder: str) -> dict:
    rows = []
    try:
        names = sorted(os.listdir(folder), reverse=True)
    except FileNotFoundError:
        names = []
    for n in names:
        if not store.BACKUP_ID.match(n) or not os.path.isdir(f"{folder}/{n}") or os.path.islink(f"{folder}/{n}"):
            continue
        try:
            got = store.read_json(f"{folder}/{n}/{RECEIVED}")
            rows.append({"id": n, "ok": got.get("ok") is True, "when": got.get("when"),
                         "manifest_sha256": got.get("manifest_sha256"), "size": got.get("size")})
        except (OSError, store.BackupError):
            rows.append({"id": n, "ok": False, "when": None, "manifest_sha256": None, "size": None})
    return {"copies": rows}


def serve(folder: str, command: str, stdin, stdout) -> dict | None:
    """Answer one request of the app host's key (``SSH_ORIGINAL_COMMAND``), inside ``folder``."""
    _need(os.path.isdir(folder) and not os.path.islink(folder), f"{folder} is not this host's backup folder")
    words = command.split()
    if words == ["list"]:
        return list_copies(folder)
    if len(words) == 2 and words[0] == "put":
        return take_copy(stdin, folder, store.check_id(words[1]))
    if len(words) == 2 and words[0] == "get":
        src = f"{folder}/{store.check_id(words[1])}"
        _need(os.path.isdir(src) and not os.path.islink(src), f"no copy of backup {words[1]} here")
        got = store.read_json(f"{src}/{RECEIVED}")
        _need(got.get("ok") is True, f"the copy of backup {words[1]} did not pass its checks here")
        send_tar(stdout, src, backup_files(src))
        return None
    raise BackupHostError(f"refused: {command[:80]!r} (this key may only put, get and list backups)")


# ---------------------------------------------------------------- the app host: link, send, pull


def link_dir(root: str) -> str:
    return f"{root}/{LINK_DIR}"


def load_link(root: str) -> dict | None:
    try:
        link = store.read_json(f"{link_dir(root)}/{LINK}")
    except FileNotFoundError:
        return None
    _need(isinstance(link.get("address"), str) and bool(ADDRESS.match(link["address"]))
          and isinstance(link.get("port"), int) and isinstance(link.get("user"), str)
          and bool(USER.match(link["user"])), f"{link_dir(root)}/{LINK}: not a backup host link")
    return link


def make_link(root: str, *, target: str, address: str, port: int, user: str, known_hosts: list[str]) -> dict:
    """Make (once) the app host's key pair, pin the backup host's key, note where it is."""
    _need(store.SAFE_ROOT.match(root) is not None, f"root {root!r} is not a plain absolute path")
    _need(store.SLUG.match(target) is not None, f"target {target!r} is not a plain name")
    _need(bool(ADDRESS.match(address)) and isinstance(port, int) and 0 < port < 65536 and bool(USER.match(user)),
          "the backup host's address, port or user is not plain")
    _need(bool(known_hosts) and all(KNOWN_HOST_LINE.match(k) for k in known_hosts),
          "the backup host's pinned key is missing or not a known_hosts line")
    d = link_dir(root)
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    key = f"{d}/{KEY}"
    if not os.path.exists(key):
        tmp = tempfile.mkdtemp(dir=d)
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", MARK + target,  # noqa: S603,S607
                            "-f", f"{tmp}/{KEY}"], check=True, capture_output=True, timeout=60)
            os.rename(f"{tmp}/{KEY}.pub", f"{key}.pub")
            os.rename(f"{tmp}/{KEY}", key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    os.chmod(key, 0o600)
    store.files.write_atomic(f"{d}/{KNOWN_HOSTS}", ("\n".join(known_hosts) + "\n").encode(), 0o600)
    store.write_json_atomic(f"{d}/{LINK}", {"target": target, "address": address, "port": port, "user": user})
    with open(f"{key}.pub", encoding="ascii") as f:
        pub = " ".join(f.read().split()[:2])
    return {"public_key": pub}


def ssh_argv(root: str, link: dict, command: list[str]) -> list[str]:
    d = link_dir(root)
    return ["ssh", "-i", f"{d}/{KEY}", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={d}/{KNOWN_HOSTS}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=15",
            "-p", str(link["port"]), "-l", link["user"], "-T", "--", link["address"], *command]


def _answer(raw: bytes, err: bytes, rc: int, what: str) -> dict:
    last = (err.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1][:300]
    if rc != 0:
        raise BackupHostError(f"{what}: the backup host refused or failed (exit {rc}): {last}")
    _need(len(raw) <= MAX_ANSWER, f"{what}: the backup host's answer is too large")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupHostError(f"{what}: the backup host's answer is not JSON: {last}") from None
    _need(isinstance(data, dict), f"{what}: the backup host's answer is not a JSON object")
    return data


def send(root: str, backups: str, backup_id: str) -> dict | None:
    """Copy the verified backup ``backup_id`` to the backup host (None: no backup host)."""
    link = load_link(root)
    if link is None:
        return None
    folder = f"{backups}/{store.check_id(backup_id)}"
    checked = store.read_json(f"{folder}/{store.VERIFICATION}")
    _need(checked.get("ok") is True, f"backup {backup_id} is not verified here; it is not copied")
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(ssh_argv(root, link, ["put", backup_id]), stdin=subprocess.PIPE,  # noqa: S603
                                stdout=out, stderr=err)
        assert proc.stdin is not None
        try:
            send_tar(proc.stdin, folder, backup_files(folder))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = proc.wait(timeout=SSH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BackupHostError(f"copying backup {backup_id} to the backup host took over {SSH_TIMEOUT_S}s") from None
        out.seek(0)
        err.seek(0)
        got = _answer(out.read(MAX_ANSWER + 1), err.read(), rc, f"copy of backup {backup_id}")
    _need(got.get("ok") is True and got.get("id") == backup_id
          and got.get("manifest_sha256") == checked.get("manifest_sha256"),
          f"copy of backup {backup_id}: the backup host's checks do not match this host's")
    return {"host": link["address"], **got}


def pull(root: str, backups: str, backup_id: str) -> dict:
    """Bring ``backup_id`` back from the backup host into ``backups/<id>`` (for a restore; the
    caller verifies it with the engine next). Refused when it is already here."""
    link = load_link(root)
    _need(link is not None, "this host has no backup host link")
    assert link is not None
    store.check_id(backup_id)
    os.makedirs(backups, mode=0o700, exist_ok=True)
    final = f"{backups}/{backup_id}"
    _need(not os.path.lexists(final), f"backup {backup_id} is already on this host")
    incoming = f"{final}.partial"
    shutil.rmtree(incoming, ignore_errors=True)
    os.mkdir(incoming, 0o700)
    try:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(ssh_argv(root, link, ["get", backup_id]), stdin=subprocess.DEVNULL,  # noqa: S603
                                    stdout=subprocess.PIPE, stderr=err)
            assert proc.stdout is not None
            try:
                names = receive_tar(proc.stdout, incoming)
            finally:
                proc.stdout.close()
                rc = proc.wait(timeout=SSH_TIMEOUT_S)
            err.seek(0)
            if rc != 0:
                _answer(b"", err.read(), rc, f"getting backup {backup_id}")
        result = check_copy(incoming, backup_id, names)
        try:
            os.unlink(f"{incoming}/{store.VERIFICATION}")  # verified again by the engine, here
        except FileNotFoundError:
            pass
        os.rename(incoming, final)
        store.fsync_dir(backups)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return {"id": backup_id, "pulled": True, "pulled_from": link["address"], "checks": result["checks"]}


# ---------------------------------------------------------------- the controller's requests


def authorize(root: str, *, target: str, public_key: str, python: str, files: dict[str, str],
              host: str | None = None) -> dict:
    """On the backup host: install this tool in ``<root>/lib``, make the target's folder and let
    ``public_key`` (the app host ``host``'s, default the target's first host, named as the
    target) run only :func:`serve` there, replacing that host's old key (a replaced server);
    the keys of the target's other hosts stay."""
    _need(store.SAFE_ROOT.match(root) is not None, f"root {root!r} is not a plain absolute path")
    _need(store.SLUG.match(target) is not None, f"target {target!r} is not a plain name")
    _need(host is None or store.SLUG.match(host) is not None, f"host {host!r} is not a plain name")
    _need(PUBKEY.match(public_key) is not None, "the app host's key is not an ssh-ed25519 public key")
    _need(store.ABS_PATH.match(python) is not None, f"python {python!r} is not a plain absolute path")
    lib = f"{root.rstrip('/')}/lib"
    try:
        store.install_tool(root, files)
    except store.BackupError as exc:
        raise BackupHostError(str(exc)) from None
    folder = f"{root.rstrip('/')}/{COPIES_DIR}/{target}"
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(f"{root.rstrip('/')}/{COPIES_DIR}", 0o700)
    ssh_dir = os.path.expanduser("~/.ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    path = f"{ssh_dir}/authorized_keys"
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    mark = MARK + target if host in (None, target) else f"{MARK}{target}:{host}"
    kept = [ln for ln in lines if not (ln.split() and ln.split()[-1] == mark)]
    line = (f'restrict,command="{python} {lib}/spbe_backup_host.py serve {folder}" {public_key} {mark}')
    store.files.write_atomic(path, ("\n".join([*kept, line]) + "\n").encode("utf-8"), 0o600)
    return {"folder": folder, "replaced": len(lines) - len(kept)}


def handle(request: dict) -> dict:
    action = request.get("action")
    if action == "link":
        return make_link(request["root"], target=request["target"], address=request["address"],
                         port=request["port"], user=request["user"], known_hosts=request["known_hosts"])
    if action == "authorize":
        return authorize(request["root"], target=request["target"], public_key=request["public_key"],
                         python=request["python"], files=request["files"], host=request.get("host"))
    if action == "pull":
        root, app, backup_id = str(request["root"]).rstrip("/"), str(request["app"]), store.check_id(request["id"])
        _need(store.SLUG.match(app) is not None, "app is not a plain name")
        backups = f"{root}/apps/{app}/backups"
        if os.path.isfile(f"{backups}/{backup_id}/{store.MANIFEST}"):
            return {"id": backup_id, "pulled": False}
        return pull(root, backups, backup_id)
    if action == "copies":
        _need(store.SLUG.match(str(request.get("target"))) is not None, "target is not a plain name")
        return list_copies(f"{str(request['root']).rstrip('/')}/{COPIES_DIR}/{request['target']}")
    raise BackupHostError(f"unknown action {action!r}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["serve"] and len(args) == 2:
            out = serve(args[1], os.environ.get("SSH_ORIGINAL_COMMAND", ""), sys.stdin.buffer, sys.stdout.buffer)
            if out is None:
                return 0
        elif not args:
            out = handle(json.loads(sys.stdin.read(MAX_ANSWER)))
        else:
            raise BackupHostError("usage: serve FOLDER, or a JSON request on stdin")
    except (store.BackupError, OSError, KeyError, ValueError) as exc:
        print(f"spbe-backup-host: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
