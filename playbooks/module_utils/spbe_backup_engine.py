#!/usr/bin/python3
"""spbe-share backup engine on a target: create, verify and restore, through the ``docker`` CLI.

Standard library only (Python 3.11). Used in two ways:

* by the Ansible module ``spbe_backup`` (``ansible.module_utils.spbe_backup_engine``);
* as a script, installed as ``<root>/lib/spbe_backup_engine.py`` (with
  ``spbe_backup_store.py`` beside it) and run by the scheduled backup (cron/systemd)::

      /usr/bin/python3 <root>/lib/spbe_backup_engine.py create --spec <root>/apps/<app>/backup-spec.json \\
          --why scheduled --who cron --keep 14
      ... verify --spec FILE ID | list --spec FILE | prune --spec FILE --keep N

Each engine's own consistent method, while the app serves:

* PostgreSQL: ``pg_dump --format=custom`` run inside the component's container as the
  superuser (peer auth on the local socket), streamed to the target's disk. Verified by
  ``pg_restore --list`` (the table of contents) AND ``pg_restore --file=/dev/null`` (reads
  every data block, so a truncated or corrupted dump fails), in the same container.
  Restored into a NEW database (same owner, encoding, collation, from template0) with
  ``pg_restore --single-transaction --no-owner --role=<owner>``; only when that succeeded
  is the live database renamed away and the new one renamed in, then the old one dropped.
  A failed restore leaves the live database as it was.
* SQLite: the online backup API (``sqlite3.Connection.backup``, one step = one consistent
  snapshot) run by the component's own python3, as the component's user. Verified with
  ``PRAGMA integrity_check`` on the copy (read-only, immutable). Restored with the app
  stopped: ``-wal``/``-shm``/``-journal`` removed first, then the file replaced; its bytes
  are read back from the volume and compared with the backup.
* Plain volumes: ``docker cp <container>:<mount> -`` (a tar stream, works whether the
  container runs or not; owners kept), filtered on the target to drop what a database item
  already covers. Restored with the app stopped by a short-lived helper container from the
  component's own image (``--volumes-from``): contents deleted, then the archive extracted.
* A volume that holds a database engine's files (e-office's ``pgdata``) is NOT archived:
  a raw copy of a running PostgreSQL data directory is not consistent, and a cold copy
  needs the app stopped for the whole copy (downtime on every daily backup). The manifest
  records the volume with ``type: volume-covered`` and the database item that covers it;
  the dump is also the only form that restores across PostgreSQL versions.

Files go to ``<id>.partial/``; the manifest is written last, everything is fsynced, and only
then is the folder renamed to ``<id>``. Any failure (a full disk included) removes the
``.partial`` folder; a killed run leaves one behind that is never listed nor restored and
is removed by the next create or prune (both run under the app's lock).

Measured (``bench/bench_backup.py``, 2 shared cores, Docker on vfs, e-office 1.1.0): at 1,000
letters the dump is 0.08 MB, create 0.6 s, verify 0.2 s, restore 12 s (10 s of it is the web
component's ``docker stop``: its Python server ignores SIGTERM as PID 1); at 100,000 letters
(85 MB database) the dump is 5 MB, create 1.9 s, restore 16 s. Details: docs/backups.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_backup_docker as dk
    from ansible.module_utils import spbe_backup_host as offsite
    from ansible.module_utils import spbe_backup_store as store
except ImportError:  # as a script in <root>/lib/
    import spbe_backup_docker as dk  # type: ignore[no-redef]
    import spbe_backup_host as offsite  # type: ignore[no-redef]
    import spbe_backup_store as store  # type: ignore[no-redef]

BackupError = store.BackupError
Docker = dk.Docker
CHUNK = dk.CHUNK

PG_FACTS_SQL = (
    "SELECT pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype,"
    " current_setting('server_version') FROM pg_catalog.pg_database WHERE datname = :'db';\n"
)


# ---------------------------------------------------------------- create


def _volume_filter(prefix: str, exclude: set[str], seen: dict):
    """Rewrite a ``docker cp`` tar (members under ``<prefix>/``) to paths relative to the mount,
    dropping ``exclude``d paths (recorded in ``seen``)."""

    def rel(name: str) -> str | None:
        name = name.rstrip("/")
        if name == prefix:
            return "."
        if name.startswith(prefix + "/"):
            return name[len(prefix) + 1:]
        return None

    def transform(stream, sink) -> None:
        n = 0
        with tarfile.open(fileobj=stream, mode="r|") as src, \
                tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as dst:
            for member in src:
                r = rel(member.name)
                if r is None:
                    raise BackupError(f"unexpected member {member.name!r} in the docker cp stream")
                if r in exclude:
                    seen[r] = {"uid": member.uid, "gid": member.gid, "mode": member.mode}
                    continue
                member.name = r
                if member.islnk():
                    member.linkname = rel(member.linkname) or member.linkname
                data = src.extractfile(member) if member.isreg() else None
                dst.addfile(member, data)
                n += 1
        seen["\0members"] = n

    return transform


def _create_pg(docker: Docker, db: dict, container: str, dest: str, timeout: float | None) -> dict:
    su = db["superuser"]
    if not docker.running(container):
        raise BackupError(f"component {db['component']} ({container}) is not running: pg_dump needs its server")
    out = dk.must(dk.exec_argv(docker.bin, container, dk.psql_args(su, {"db": db["name"]}), user="postgres", stdin=True),
               f"reading facts of database {db['name']}", stdin=PG_FACTS_SQL.encode(), timeout=120)
    line = out.decode("utf-8").strip()
    if not line:
        raise BackupError(f"database {db['name']} does not exist in component {db['component']}")
    owner, enc, collate, ctype, server_version = line.split("\x1f")
    size, sha, _ = dk.stream_to_file(dk.exec_argv(docker.bin, container, dk.pg_dump_args(su, db["name"]), user="postgres"),
                                  dest, what=f"pg_dump of {db['name']}", timeout=timeout)
    return {"type": "postgresql", "component": db["component"], "container": container,
            "database": db["name"], "superuser": su, "owner": owner, "encoding": enc, "collate": collate,
            "ctype": ctype, "server_version": server_version, "file": os.path.basename(dest),
            "size": size, "sha256": sha}


def _create_sqlite(docker: Docker, db: dict, container: str, dest: str, timeout: float | None) -> dict:
    argv = docker.tool_argv(container, ["python3", "-c", dk.SQLITE_BACKUP_SCRIPT, db["name"]],
                            user=docker.user_of(container), stdin=False, volumes=True)
    size, sha, err = dk.stream_to_file(argv, dest, what=f"SQLite backup of {db['name']}", timeout=timeout)
    owner = {"uid": 0, "gid": 0, "mode": 0o644}
    for line in err.decode("utf-8", "replace").splitlines():
        if line.startswith("SPBE-STAT "):
            owner = json.loads(line[len("SPBE-STAT "):])
    return {"type": "sqlite", "component": db["component"], "container": container, "path": db["name"],
            "volume": db["volume"], "mount": db["mount"], "uid": int(owner["uid"]), "gid": int(owner["gid"]),
            "mode": int(owner["mode"]), "file": os.path.basename(dest), "size": size, "sha256": sha}


def _create_volume(docker: Docker, vol: dict, container: str, dest: str, timeout: float | None) -> dict:
    mount = vol["mount"].rstrip("/")
    seen: dict = {}
    size, sha, _ = dk.stream_to_file(dk.docker_cp_out_argv(docker.bin, container, mount), dest,
                                  what=f"archive of volume {vol['name']}", timeout=timeout,
                                  transform=_volume_filter(os.path.basename(mount), set(vol.get("exclude") or []),
                                                           seen))
    members = seen.pop("\0members", 0)
    return {"type": "volume-archive", "name": vol["name"], "component": vol["component"], "container": container,
            "mount": vol["mount"], "excluded": sorted(seen), "members": members,
            "file": os.path.basename(dest), "size": size, "sha256": sha}


def create(spec: dict, *, why: str, who: str, release: dict | None = None, backup_id: str | None = None,
           note: str | None = None, docker: Docker | None = None, timeout: float | None = None) -> dict:
    """Write a complete backup (or nothing) and return its manifest. Run under the app's lock:
    ``.partial`` folders left by killed runs are removed first."""
    store.check_spec(spec)
    if why not in store.WHY:
        raise BackupError(f"why must be one of {', '.join(store.WHY)}")
    if not isinstance(who, str) or not who or len(who) > 200:
        raise BackupError("who: 1 to 200 characters")
    if note is not None and len(note) > 2000:
        raise BackupError("note: at most 2000 characters")
    docker = docker or Docker()
    rel = store.check_release(release, "release") if release else store.serving_release(spec)
    started = store.utc_now()
    folder = store.backups_dir(spec)
    backup_id = store.check_id(backup_id) if backup_id else store.new_id(why, started, after=store.list_ids(spec)[0])
    final = f"{folder}/{backup_id}"
    partial = final + ".partial"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.path.exists(final):
            raise BackupError(f"backup {backup_id} already exists")
        store.clean_leftovers(spec)  # .partial folders of killed runs (we hold the lock)
        os.mkdir(partial, 0o700)
        items = []
        for i, db in enumerate(spec.get("databases") or []):
            container = store.container_of(spec, db["component"])
            dest = f"{partial}/{store.db_file_name(i, db)}"
            make = _create_pg if db["engine"] == "postgresql" else _create_sqlite
            items.append(make(docker, db, container, dest, timeout))
        for vol in spec.get("volumes") or []:
            container = store.container_of(spec, vol["component"])
            if vol["method"] == "covered":
                items.append({"type": "volume-covered", "name": vol["name"], "component": vol["component"],
                              "container": container, "mount": vol["mount"], "covered_by": vol["covered_by"]})
                continue
            items.append(_create_volume(docker, vol, container, f"{partial}/{store.volume_file_name(vol)}", timeout))
        # the deployment's secrets, sealed to the operator's key(s) on the operator's machine
        # (never in clear here): copied in when the sealed copy matches the secrets in use
        sealed, sealed_path, secrets_note = store.sealed_secrets(spec)
        if sealed is not None and sealed_path is not None:
            size, sha = _copy_file(sealed_path, f"{partial}/{sealed['file']}")
            if (size, sha) != (sealed["size"], sealed["sha256"]):
                raise BackupError("the sealed secrets changed while they were copied; try again")
        manifest = {
            "kind": store.KIND, "format": store.FORMAT, "id": backup_id, "app": spec["app"],
            "target": spec["target"], "release": rel, "created": store.iso(started),
            "finished": store.iso(store.utc_now()), "who": who, "why": why, "note": note,
            "items": items,
            "secrets": sealed,
            "secrets_note": secrets_note,
        }
        store.write_json_atomic(f"{partial}/{store.MANIFEST}", manifest, mode=0o600)
        store.fsync_dir(partial)
        os.rename(partial, final)
        store.fsync_dir(folder)
    except BaseException as exc:
        if os.path.isdir(partial):
            store.remove_tree(folder, os.path.basename(partial))
        if store.is_disk_full(exc):
            name = getattr(exc, "filename", None)
            raise BackupError(store.disk_full_message(folder, os.path.basename(name) if name else "the backup")) from None
        raise
    return manifest


def _copy_file(src: str, dest: str) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(src, "rb") as f, os.fdopen(fd, "wb") as out:
        while chunk := f.read(CHUNK):
            out.write(chunk)
            sha.update(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, sha.hexdigest()


# ---------------------------------------------------------------- verify


def _check_pg(docker: Docker, spec: dict, item: dict, path: str) -> str:
    db = store.spec_database(spec, item)
    su = db["superuser"]
    container = store.container_of(spec, db["component"])
    argv = docker.tool_argv(container, dk.pg_restore_list_args(su), user="postgres")
    rc, out, err = dk.run(argv, stdin_file=path, timeout=docker.timeout)
    if rc != 0:
        raise BackupError(f"pg_restore --list rejects {item['file']}: {dk.tail(err)}")
    toc = out.decode("utf-8", "replace").splitlines()
    tables = sum(1 for line in toc if " TABLE DATA " in line)
    argv = docker.tool_argv(container, dk.pg_restore_read_args(su), user="postgres")
    rc, _, err = dk.run(argv, stdin_file=path, timeout=docker.timeout)
    if rc != 0:
        raise BackupError(f"pg_restore cannot read all of {item['file']}: {dk.tail(err)}")
    return f"pg_restore read the whole dump: {len([t for t in toc if t and not t.startswith(';')])} entries, {tables} tables with data"


_check_sqlite = store.check_sqlite  # also the backup host's checks (spbe_backup_host)
_check_tar = store.check_tar


def verify(spec: dict, backup_id: str, *, docker: Docker | None = None) -> dict:
    """Read every file back (size + SHA-256) and check each with its engine's tool.

    Writes ``verification.json`` and returns it; ``ok`` is False with a ``cause`` when any
    check fails (never raises for a bad backup; raises only when there is no such backup).
    """
    store.check_spec(spec)
    docker = docker or Docker()
    manifest = store.load_manifest(spec, backup_id)
    folder = f"{store.backups_dir(spec)}/{backup_id}"
    checks = []
    cause = None
    for item in manifest["items"]:
        f = item.get("file")
        if f is None:
            checks.append({"item": item.get("name"), "ok": True, "detail": f"not archived: {item.get('covered_by')}"})
            continue
        path = f"{folder}/{f}"
        try:
            try:
                size, sha = dk.sha256_file(path)
            except FileNotFoundError:
                raise BackupError(f"{f} is missing") from None
            if size != item["size"] or sha != item["sha256"]:
                raise BackupError(f"{f}: SHA-256/size on disk ({size} bytes) differ from the manifest "
                                  f"({item['size']} bytes): the file was changed or damaged")
            if item["type"] == "postgresql":
                detail = _check_pg(docker, spec, item, path)
            elif item["type"] == "sqlite":
                detail = _check_sqlite(path)
            else:
                detail = _check_tar(path)
            checks.append({"item": f, "ok": True, "detail": f"sha256 ok; {detail}"})
        except BackupError as exc:
            checks.append({"item": f, "ok": False, "detail": str(exc)})
            cause = cause or str(exc)
    sealed = manifest.get("secrets")
    if sealed is not None:
        f = sealed["file"]
        try:
            size, sha = dk.sha256_file(f"{folder}/{f}")
            ok = (size, sha) == (sealed["size"], sealed["sha256"])
            detail = (f"sha256 ok; sealed to {len(sealed.get('sealed_to') or [])} key(s), opened only on the "
                      "operator's machine" if ok else f"{f}: SHA-256/size differ from the manifest")
        except FileNotFoundError:
            ok, detail = False, f"{f} is missing"
        checks.append({"item": f, "ok": ok, "detail": detail})
        if not ok:
            cause = cause or detail
    with open(f"{folder}/{store.MANIFEST}", "rb") as mf:
        manifest_sha = hashlib.sha256(mf.read()).hexdigest()
    result = {"id": backup_id, "ok": cause is None, "cause": cause, "when": store.iso(store.utc_now()),
              "manifest_sha256": manifest_sha, "checks": checks}
    try:
        store.write_json_atomic(f"{folder}/{store.VERIFICATION}", result, mode=0o600)
    except OSError as exc:
        if not store.is_disk_full(exc):
            raise
        result.update(ok=False, cause=store.disk_full_message(folder, store.VERIFICATION))
    return result


# ---------------------------------------------------------------- restore


# ---------------------------------------------------------------- command line (scheduled runs)


def _load_spec(path: str) -> dict:
    return store.check_spec(store.read_json(path))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="spbe_backup_engine.py", description="spbe-share backups on this server")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="back up now (takes the app's lock), verify, then prune")
    c.add_argument("--spec", required=True)
    c.add_argument("--why", default="scheduled", choices=store.WHY)
    c.add_argument("--who", default="cron")
    c.add_argument("--keep", type=int, default=store.DEFAULT_KEEP)
    v = sub.add_parser("verify", help="read a backup back and check it with each engine's tool")
    v.add_argument("--spec", required=True)
    v.add_argument("id")
    ls = sub.add_parser("list", help="the backups of the app, newest first")
    ls.add_argument("--spec", required=True)
    pr = sub.add_parser("prune", help="delete old backups, keeping the newest N (takes the lock)")
    pr.add_argument("--spec", required=True)
    pr.add_argument("--keep", type=int, default=store.DEFAULT_KEEP)
    args = p.parse_args(argv)
    try:
        spec = _load_spec(args.spec)
        if args.cmd == "verify":
            out = verify(spec, store.check_id(args.id))
        elif args.cmd == "list":
            out = store.list_backups(spec)
        else:
            notes: list[str] = []
            owner = store.take_lock(spec, who=getattr(args, "who", "cron"),
                                    operation=f"{store.SCHEDULED}{args.cmd} {spec['app']}", notes=notes,
                                    lease_s=store.SCHEDULED_LEASE_S)
            for note in notes:
                print(f"spbe-backup: {note}", file=sys.stderr)
            try:  # the lease is renewed while the run works: a killed run's lock goes stale
                with store.lockfile.Renewer(store.lock_path(spec), owner["token"], owner.get("lease_s")):
                    if args.cmd == "prune":
                        out = store.prune(spec, keep=args.keep)
                    else:
                        manifest = create(spec, why=args.why, who=args.who)
                        checked = verify(spec, manifest["id"])
                        out = {"id": manifest["id"], "verification": checked}
                        if not checked["ok"]:
                            print(json.dumps(out, indent=2, sort_keys=True))
                            print(f"spbe-backup: backup {manifest['id']} FAILED verification: {checked['cause']}",
                                  file=sys.stderr)
                            return 1
                        out["prune"] = store.prune(spec, keep=args.keep)
                        # onto the Pemda's backup host, when it has one (spbe_backup_host)
                        out["offsite"] = offsite.send(spec["root"], store.backups_dir(spec), manifest["id"])
            finally:
                store.release_lock(spec, owner)
    except BackupError as exc:
        print(f"spbe-backup: {exc}", file=sys.stderr)
        return 75 if str(exc).startswith("locked by") else 1
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0 if out.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
