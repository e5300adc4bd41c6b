"""spbe-share backups on a target: restore (stdlib only; see ``spbe_backup_engine.py``).

Refuses a backup of another app or of another version than the one that will dk.run, verifies
it again, stops the app, restores each engine's way, then starts again what was running.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
import tempfile
import time

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_backup_docker as dk
    from ansible.module_utils import spbe_backup_store as store
    from ansible.module_utils.spbe_backup_engine import verify
except ImportError:  # as a script in <root>/lib/
    import spbe_backup_docker as dk  # type: ignore[no-redef]
    import spbe_backup_store as store  # type: ignore[no-redef]
    from spbe_backup_engine import verify  # type: ignore[no-redef]

BackupError = store.BackupError
Docker = dk.Docker
CHUNK = dk.CHUNK

PG_PREPARE_SQL = (
    "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
    " WHERE datname = :'tmp' AND pid <> pg_catalog.pg_backend_pid();\n"
    "DROP DATABASE IF EXISTS :\"tmp\";\n"
    "CREATE DATABASE :\"tmp\" OWNER :\"owner\" TEMPLATE template0 ENCODING :'enc'"
    " LC_COLLATE :'collate' LC_CTYPE :'ctype';\n"
)

PG_SWAP_SQL = (
    "DROP DATABASE IF EXISTS :\"old\";\n"
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = :'db') AS has_db \\gset\n"
    "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity"
    " WHERE datname = :'db' AND pid <> pg_catalog.pg_backend_pid();\n"
    "\\if :has_db\n"
    "ALTER DATABASE :\"db\" RENAME TO :\"old\";\n"
    "\\endif\n"
    "ALTER DATABASE :\"tmp\" RENAME TO :\"db\";\n"
    "DROP DATABASE IF EXISTS :\"old\";\n"
)

PG_DROP_TMP_SQL = "DROP DATABASE IF EXISTS :\"tmp\";\n"



def _psql(docker: Docker, container: str, su: str, sql: str, variables: dict[str, str], what: str) -> bytes:
    return dk.must(dk.exec_argv(docker.bin, container, dk.psql_args(su, variables), user="postgres", stdin=True),
                what, stdin=sql.encode(), timeout=300)


def _restore_pg_beside(docker: Docker, item: dict, db: dict, path: str, container: str) -> dict[str, str]:
    """Restore the dump into a new database beside the live one; the live one is untouched."""
    su = db["superuser"]
    docker.wait_pg_ready(container, su)
    tmp, old = dk.pg_side_names(db["name"])
    names = {"db": db["name"], "tmp": tmp, "old": old, "owner": item["owner"], "enc": item["encoding"],
             "collate": item["collate"], "ctype": item["ctype"]}
    if not store.PG_IDENT.match(names["owner"]):
        raise BackupError(f"backup names database owner {names['owner']!r}, not a plain identifier")
    for key in ("enc", "collate", "ctype"):
        if not names[key] or not all(c.isalnum() or c in "._-@" for c in names[key]):
            raise BackupError(f"backup names {key} {names[key]!r}")
    roles = _psql(docker, container, su, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'owner';\n",
                  {"owner": names["owner"]}, "looking up the database owner")
    if not roles.strip():
        raise BackupError(f"role {names['owner']!r} does not exist in {container}: the database owner must exist "
                          "before its data can be restored (a new server needs the deployment's secrets first)")
    _psql(docker, container, su, PG_PREPARE_SQL, {k: names[k] for k in ("tmp", "owner", "enc", "collate", "ctype")},
          f"creating database {tmp}")
    argv = dk.exec_argv(docker.bin, container, dk.pg_restore_args(su, database=tmp, owner=names["owner"]),
                     user="postgres", stdin=True)
    rc, _, err = dk.run(argv, stdin_file=path, timeout=docker.timeout)
    if rc != 0:
        dk.run(dk.exec_argv(docker.bin, container, dk.psql_args(su, {"tmp": tmp}), user="postgres", stdin=True),
            stdin=PG_DROP_TMP_SQL.encode(), timeout=300)
        raise BackupError(f"pg_restore into {tmp} failed, database {db['name']} left as it was: {dk.tail(err)}")
    return names


def _swap_pg(docker: Docker, db: dict, names: dict[str, str], container: str) -> None:
    _psql(docker, container, db["superuser"], PG_SWAP_SQL, {k: names[k] for k in ("db", "tmp", "old")},
          f"swapping {names['tmp']} in as {db['name']}")


def _tar_stream_into(argv: list[str], write, what: str, timeout: float | None) -> None:
    """Run ``argv`` with a tar written by ``write(tarfile)`` on its stdin."""
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errf)  # noqa: S603
    timer = dk.watchdog(proc, timeout)
    try:
        assert proc.stdin is not None
        try:
            with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                write(tar)
        except BrokenPipeError:
            pass  # the helper died: its exit code and stderr say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        rc = proc.wait()
    finally:
        if timer:
            timer.cancel()
    errf.seek(0)
    err = errf.read()
    errf.close()
    if rc != 0:
        raise BackupError(f"{what} failed (exit {rc}): {dk.tail(err)}")


def _restore_into_volume(docker: Docker, container: str, mount: str, *, archive: str | None,
                         sqlite_items: list[tuple[dict, str]], timeout: float | None) -> None:
    """One helper container: (replace: empty the mount), remove the SQLite files and their
    -wal/-shm/-journal, extract the archive plus the SQLite copies."""
    mount = mount.rstrip("/")
    removals = []
    for item, _ in sqlite_items:
        rel = item["path"][len(mount) + 1:]
        removals += [f"{rel}-wal", f"{rel}-shm", f"{rel}-journal", rel]
    info = docker.inspect(container)
    if info is None:
        raise BackupError(f"container {container} does not exist on this target")
    argv = dk.helper_argv(docker.bin, name=docker.fresh_helper_name(container), image=info["Image"],
                       entrypoint="/bin/sh", args=["-c", dk.RESTORE_SCRIPT, "spbe-restore", mount,
                                                   "replace" if archive else "keep", *removals],
                       user="0:0", volumes_from=container)

    def write(tar: tarfile.TarFile) -> None:
        if archive is not None:
            with tarfile.open(archive, mode="r:") as src:
                for member in src:
                    tar.addfile(member, src.extractfile(member) if member.isreg() else None)
        for item, path in sqlite_items:
            ti = tarfile.TarInfo(item["path"][len(mount) + 1:])
            ti.size = os.path.getsize(path)
            ti.uid, ti.gid, ti.mode = int(item["uid"]), int(item["gid"]), int(item["mode"]) & 0o7777
            ti.mtime = int(time.time())
            with open(path, "rb") as f:
                tar.addfile(ti, f)

    _tar_stream_into(argv, write, f"restoring into {container}:{mount}", timeout)


def _read_back(docker: Docker, container: str, path: str, expected: str) -> None:
    """Compare the file now in the volume with the backup's SHA-256 (via ``docker cp``)."""
    sha = hashlib.sha256()
    proc = subprocess.Popen(dk.docker_cp_out_argv(docker.bin, container, path),  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isreg():
                    f = tar.extractfile(member)
                    assert f is not None
                    while True:
                        chunk = f.read(CHUNK)
                        if not chunk:
                            break
                        sha.update(chunk)
    except tarfile.TarError:
        pass  # docker's exit code and stderr below say why
    _, err = proc.communicate()
    if proc.returncode != 0 or sha.hexdigest() != expected:
        raise BackupError(f"after restore, {container}:{path} does not match the backup {dk.tail(err)}")


def restore_plan(spec: dict, manifest: dict) -> list[dict]:
    """The steps of a restore, in order (pure): PostgreSQL databases, then one step per
    (component, mount) holding volume archives and/or SQLite files. Every value comes from
    the spec; the manifest only says which items exist."""
    steps: list[dict] = []
    for item in manifest["items"]:
        if item["type"] == "postgresql":
            db = store.spec_database(spec, item)
            steps.append({"kind": "postgresql", "item": item, "db": db,
                          "container": store.container_of(spec, db["component"])})
    by_mount: dict[tuple[str, str], dict] = {}
    for item in manifest["items"]:
        if item["type"] == "volume-archive":
            vol = store.spec_volume(spec, item)
            key = (vol["component"], vol["mount"].rstrip("/"))
            by_mount.setdefault(key, {"kind": "volume", "archive": None, "sqlite": [], "labels": []})
            by_mount[key]["archive"] = item
            by_mount[key]["labels"].append(f"volume {vol['name']}")
    for item in manifest["items"]:
        if item["type"] == "sqlite":
            db = store.spec_database(spec, item)
            key = (db["component"], db["mount"].rstrip("/"))
            by_mount.setdefault(key, {"kind": "volume", "archive": None, "sqlite": [], "labels": []})
            by_mount[key]["sqlite"].append({**item, "path": db["name"]})
            by_mount[key]["labels"].append(f"SQLite {db['name']}")
    for (component, mount), step in by_mount.items():
        steps.append({**step, "component": component, "mount": mount,
                      "container": store.container_of(spec, component)})
    return steps


def restore(spec: dict, backup_id: str, *, expect_version: str, restart: bool = True,
            docker: Docker | None = None) -> dict:
    """Verify, then put the backup's data back. Refuses an unverifiable or mismatching backup.

    The app is stopped for the restore (components holding a restored PostgreSQL database keep
    running: the dump is restored through their server). With ``restart`` the components that
    were running are started again afterwards (health is the caller's job). When a step fails
    before any live data changed, the components are started again; after, they stay stopped
    (starting an app on half-restored data is worse than a stopped app: run the restore again).
    """
    store.check_spec(spec)
    docker = docker or Docker()
    manifest = store.load_manifest(spec, backup_id)
    version = manifest["release"]["version"]
    if version != expect_version:
        raise BackupError(f"backup {backup_id} holds the data of {spec['app']} {version}; the version that will "
                          f"run is {expect_version}: refusing (data of one release must not run under another; "
                          "roll back, or restore a backup of the same version)")
    steps = restore_plan(spec, manifest)
    check = verify(spec, backup_id, docker=docker)
    if not check["ok"]:
        raise BackupError(f"backup {backup_id} failed verification, not restoring: {check['cause']}")

    folder = f"{store.backups_dir(spec)}/{backup_id}"
    pg_components = {s["db"]["component"] for s in steps if s["kind"] == "postgresql"}
    order = [c["container"] for c in spec["components"]]
    was_running = [c for c in order if docker.running(c)]
    stopped: list[str] = []
    touched = False
    done: list[str] = []
    try:
        for c in reversed(spec["components"]):
            if c["name"] not in pg_components and c["container"] in was_running:
                docker.stop(c["container"])
                stopped.append(c["container"])
        for c in spec["components"]:
            if c["name"] in pg_components and not docker.running(c["container"]):
                docker.start(c["container"])
        for s in steps:
            if s["kind"] == "postgresql":
                names = _restore_pg_beside(docker, s["item"], s["db"], f"{folder}/{s['item']['file']}",
                                           s["container"])
                touched = True
                _swap_pg(docker, s["db"], names, s["container"])
                done.append(f"database {s['db']['name']} in {s['container']}")
            else:
                archive = f"{folder}/{s['archive']['file']}" if s["archive"] else None
                sqlite_items = [(i, f"{folder}/{i['file']}") for i in s["sqlite"]]
                touched = True
                _restore_into_volume(docker, s["container"], s["mount"], archive=archive,
                                     sqlite_items=sqlite_items, timeout=docker.timeout)
                for item, _ in sqlite_items:
                    _read_back(docker, s["container"], item["path"], item["sha256"])
                done.append(f"{', '.join(s['labels'])} in {s['container']}:{s['mount']}")
    except BaseException:
        if not touched:
            for c in order:
                if c in stopped:
                    docker.start(c)
        raise
    started = []
    if restart:
        for c in order:
            if c in was_running and not docker.running(c):
                docker.start(c)
                started.append(c)
    return {"id": backup_id, "version": version, "restored": done, "stopped": stopped, "started": started,
            "verification": check}


