"""spbe-share backups on a target: the ``docker`` CLI calls, as argument lists (pure builders),
and the process plumbing (streams to files with SHA-256, watchdogs, helper containers).

Standard library only; see ``spbe_backup_engine.py`` for the whole picture.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import tempfile
import threading
import time

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_backup_store as store
except ImportError:  # as a script in <root>/lib/
    import spbe_backup_store as store  # type: ignore[no-redef]

BackupError = store.BackupError
CHUNK = 1 << 20
STDERR_TAIL = 600
HELPER_LABEL = "id.go.spbe.helper=backup"

# Run by the component's python3 (argv: database path). Writes the snapshot to stdout and,
# as the last stderr line, the owner and mode of the live file.
SQLITE_BACKUP_SCRIPT = r"""
import json, os, sqlite3, sys, tempfile
path = sys.argv[1]
if not os.path.isfile(path):
    sys.stderr.write("no database file at %s\n" % path)
    sys.exit(3)
st = os.stat(path)
fd, tmp = tempfile.mkstemp(prefix="spbe-backup-", suffix=".sqlite3")
os.close(fd)
try:
    src = sqlite3.connect(path, timeout=60)
    dst = sqlite3.connect(tmp)
    src.backup(dst)
    dst.close()
    src.close()
    out = sys.stdout.buffer
    with open(tmp, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
    out.flush()
finally:
    os.unlink(tmp)
sys.stderr.write("SPBE-STAT " + json.dumps({"uid": st.st_uid, "gid": st.st_gid, "mode": st.st_mode & 0o7777}) + "\n")
"""

# Run by /bin/sh in a helper container (argv: mount, mode, files to remove first). stdin: tar.
RESTORE_SCRIPT = r"""
set -eu
cd "$1"
mode="$2"
shift 2
if [ "$mode" = replace ]; then
    find . -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
fi
for f in "$@"; do rm -f -- "$f"; done
tar --numeric-owner -xpf -
"""

# ---------------------------------------------------------------- argv builders (pure)


def exec_argv(docker: str, container: str, argv: list[str], *, user: str | None = None,
              stdin: bool = False) -> list[str]:
    out = [docker, "exec"]
    if stdin:
        out.append("-i")
    if user:
        out += ["-u", user]
    return out + [container, *argv]


def helper_argv(docker: str, *, name: str, image: str, entrypoint: str, args: list[str],
                user: str | None = None, volumes_from: str | None = None) -> list[str]:
    """A short-lived container from a component's own image: no network, removed at exit."""
    out = [docker, "run", "--rm", "-i", "--name", name, "--network", "none", "--log-driver", "none",
           "--label", HELPER_LABEL, "--entrypoint", entrypoint]
    if user:
        out += ["-u", user]
    if volumes_from:
        out += ["--volumes-from", volumes_from]
    return out + [image, *args]


def psql_args(superuser: str, variables: dict[str, str]) -> list[str]:
    """psql reading SQL on stdin; values only as psql variables (quoted by psql itself)."""
    out = ["psql", "-X", "-q", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-U", superuser, "-d", "postgres"]
    for k, v in sorted(variables.items()):
        out += ["-v", f"{k}={v}"]
    return out


def pg_dump_args(superuser: str, database: str) -> list[str]:
    return ["pg_dump", "--format=custom", "--no-password", "-U", superuser, "-d", database]


def pg_restore_list_args(superuser: str) -> list[str]:
    return ["pg_restore", "--list", "-U", superuser]


def pg_restore_read_args(superuser: str) -> list[str]:
    return ["pg_restore", "--file=/dev/null", "-U", superuser]


def pg_restore_args(superuser: str, *, database: str, owner: str) -> list[str]:
    return ["pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", f"--role={owner}",
            "--no-password", "-U", superuser, "-d", database]


def pg_side_names(database: str) -> tuple[str, str]:
    """(new database restored beside the live one, name the live one gets while swapping)."""
    return database[:48] + "__spbe_restore", database[:52] + "__spbe_old"


def docker_cp_out_argv(docker: str, container: str, path: str) -> list[str]:
    return [docker, "cp", f"{container}:{path}", "-"]


# ---------------------------------------------------------------- running programs


def tail(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text[-STDERR_TAIL:]


def run(argv: list[str], *, stdin: bytes | None = None, stdin_file: str | None = None,
        timeout: float | None = None) -> tuple[int, bytes, bytes]:
    if stdin_file is not None:
        with open(stdin_file, "rb") as f:
            p = subprocess.run(argv, stdin=f, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    else:
        p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    return p.returncode, p.stdout, p.stderr


def must(argv: list[str], what: str, **kw: object) -> bytes:
    rc, out, err = run(argv, **kw)  # type: ignore[arg-type]
    if rc != 0:
        raise BackupError(f"{what} failed (exit {rc}): {tail(err) or tail(out)}")
    return out


class _Sink:
    """A write-only file object over a raw fd that counts and hashes what it writes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.sha.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def watchdog(proc: subprocess.Popen, timeout: float | None) -> threading.Timer | None:
    if not timeout:
        return None
    t = threading.Timer(timeout, proc.kill)
    t.daemon = True
    t.start()
    return t


def stream_to_file(argv: list[str], dest: str, *, what: str, timeout: float | None = None,
                   transform=None) -> tuple[int, str, bytes]:
    """Run ``argv`` and write its stdout to ``dest`` (new file, 0600); returns (size, sha256, stderr).

    ``transform(stdout, sink)`` may rewrite the stream (the volume archive filter). On any
    failure the process is killed and ``dest`` removed; a full disk raises BackupError.
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    sink = _Sink(fd)
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf)  # noqa: S603 - argv list
    timer = watchdog(proc, timeout)
    try:
        assert proc.stdout is not None
        if transform is None:
            while True:
                chunk = proc.stdout.read(CHUNK)
                if not chunk:
                    break
                sink.write(chunk)
        else:
            transform(proc.stdout, sink)
        rc = proc.wait()
        os.fsync(fd)
    except BaseException as exc:
        proc.kill()
        rc = proc.wait()
        os.close(fd)
        os.unlink(dest)
        if timer:
            timer.cancel()
        if store.is_disk_full(exc):
            raise OSError(exc.errno, os.strerror(exc.errno), dest) from None  # type: ignore[union-attr]
        if isinstance(exc, tarfile.TarError):
            errf.seek(0)
            err = tail(errf.read())
            raise BackupError(f"{what} failed: {err or f'the archive stream is malformed: {exc}'}") from None
        raise
    finally:
        if timer:
            timer.cancel()
    os.close(fd)
    errf.seek(0)
    err = errf.read()
    errf.close()
    if rc != 0:
        os.unlink(dest)
        raise BackupError(f"{what} failed (exit {rc}): {tail(err)}")
    return sink.size, sink.sha.hexdigest(), err


def sha256_file(path: str) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


# ---------------------------------------------------------------- containers


class Docker:
    """The few ``docker`` CLI calls the engine needs."""

    def __init__(self, docker: str = "docker", timeout: float | None = None, stop_timeout: int = 10) -> None:
        self.bin = docker
        self.timeout = timeout
        # seconds `docker stop` waits before SIGKILL; the data being replaced, a graceful stop
        # buys nothing (and a Python server running as PID 1 ignores SIGTERM: it always waits)
        self.stop_timeout = stop_timeout

    def inspect(self, container: str) -> dict | None:
        rc, out, _ = run([self.bin, "container", "inspect", container], timeout=60)
        if rc != 0:
            return None
        data = json.loads(out.decode("utf-8"))
        return data[0] if data else None

    def running(self, container: str) -> bool:
        info = self.inspect(container)
        return bool(info and info.get("State", {}).get("Running"))

    def stop(self, container: str) -> None:
        must([self.bin, "stop", "-t", str(self.stop_timeout), container], f"docker stop {container}",
             timeout=self.stop_timeout + 120)

    def start(self, container: str) -> None:
        must([self.bin, "start", container], f"docker start {container}", timeout=120)

    def tool_argv(self, container: str, argv: list[str], *, user: str | None, stdin: bool = True,
                  volumes: bool = False) -> list[str]:
        """Run ``argv`` in the component: ``docker exec`` when it runs, else a helper container
        from its image (with its volumes when ``volumes``)."""
        info = self.inspect(container)
        if info is None:
            raise BackupError(f"container {container} does not exist on this target")
        if info.get("State", {}).get("Running"):
            return exec_argv(self.bin, container, argv, user=user, stdin=stdin)
        name = self.fresh_helper_name(container)
        return helper_argv(self.bin, name=name, image=info["Image"], entrypoint=argv[0], args=argv[1:],
                           user=user, volumes_from=container if volumes else None)

    def fresh_helper_name(self, container: str) -> str:
        name = f"{container}-spbe-helper"
        run([self.bin, "rm", "-f", name], timeout=60)  # a leftover of a killed run
        return name

    def user_of(self, container: str) -> str | None:
        info = self.inspect(container) or {}
        return (info.get("Config") or {}).get("User") or None

    def wait_pg_ready(self, container: str, superuser: str, *, seconds: int = 120) -> None:
        deadline = time.monotonic() + seconds
        last = ""
        while time.monotonic() < deadline:
            rc, out, err = run(exec_argv(self.bin, container, ["pg_isready", "-U", superuser], user="postgres"),
                               timeout=30)
            if rc == 0:
                return
            last = tail(err or out)
            time.sleep(1)
        raise BackupError(f"PostgreSQL in {container} not ready after {seconds}s: {last}")


