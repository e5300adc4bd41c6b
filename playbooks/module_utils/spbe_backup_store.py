"""spbe-share backups on a target: layout, ids, spec and manifest checks, list, prune, pins, lock.

Standard library only (Python 3.11): this file runs on the target, imported by the Ansible
module ``spbe_backup`` (as ``ansible.module_utils.spbe_backup_store``) and by the scheduled
backup script ``<root>/lib/spbe_backup_engine.py`` (installed next to it). It never talks to
Docker; :mod:`spbe_backup_engine` does.

Layout under ``<root>/apps/<app>/backups/``::

    <id>/manifest.json         what the backup holds (written LAST, before the rename)
    <id>/verification.json     the latest verification (rewritten by every verify)
    <id>/db-<n>-<component>.pgdump   pg_dump --format=custom
    <id>/db-<n>-<component>.sqlite3  copy made with SQLite's online backup API
    <id>/vol-<volume>.tar      archive of a plain volume (ustar/pax, numeric owners)
    <id>.partial/              a backup being written; never listed, never restored,
                               removed by the next create or prune (it was killed)
    .pins/<holder>             a pin: the file holds one backup id that prune must keep
                               (the upgrade journal pins its pre-upgrade backup)
    .deleting-<id>/            a backup being pruned (renamed first, so it never looks whole)

Ids sort by time: ``20261122T101500Z-pre-upgrade-3fa2`` (UTC stamp, why, 4 random hex).
"""

# Over 500 lines on purpose: installed as one stdlib file beside the engine in <root>/lib: the store's layout, checks, list, prune, pins.

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import tarfile
import urllib.parse

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_files as files
    from ansible.module_utils import spbe_lockfile as lockfile
except ImportError:  # as a script in <root>/lib/ (installed beside it), or sent with one
    import spbe_files as files  # type: ignore[no-redef]
    import spbe_lockfile as lockfile  # type: ignore[no-redef]

FORMAT = 1
KIND = "spbe-share-backup"
WHY = ("manual", "scheduled", "pre-upgrade", "pre-restore", "pre-rollback", "pre-purge")
DEFAULT_KEEP = 14  # the e-office / pengaduan SOP: daily backups kept 14 days

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
BACKUP_ID = re.compile(r"^(\d{8}T\d{6}Z)-([a-z0-9][a-z0-9-]{0,40})$")
PG_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ABS_PATH = re.compile(r"^/(?:[A-Za-z0-9._-]+/)*[A-Za-z0-9._-]+$")
SAFE_ROOT = re.compile(r"^/(?:[A-Za-z0-9._-]+/?)*$")
CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
FILE_NAME = re.compile(r"^(?:db-\d{1,3}-[a-z0-9-]{1,63}\.(?:pgdump|sqlite3)|vol-[a-z0-9-]{1,63}\.tar)$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PIN_HOLDER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}$")
SETTING = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
SECRETS_FILE_RE = re.compile(r"^secrets\.[a-z0-9]{1,10}$")
SEALED_DATA = "sealed-secrets.age"  # kept by spbe-share in <app dir>, beside secrets/
SEALED_META = "sealed-secrets.json"
SECRETS_FILE = "secrets.age"  # the copy inside a backup

ITEM_TYPES = ("postgresql", "sqlite", "volume-archive", "volume-covered")
MANIFEST = "manifest.json"
VERIFICATION = "verification.json"
PINS = ".pins"


class BackupError(Exception):
    """A refusal or failure the operator can act on (one-line message)."""


# ---------------------------------------------------------------- small helpers


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id(why: str, when: dt.datetime, *, after: list[str] | tuple[str, ...] = ()) -> str:
    """A new id; its stamp is later than every id in ``after`` (ids sort by creation, even for
    two backups in one second or after the clock went back)."""
    when = when.astimezone(dt.UTC).replace(microsecond=0)
    stamps = [m.group(1) for m in map(BACKUP_ID.match, after) if m]
    if stamps:
        newest = dt.datetime.strptime(max(stamps), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        when = max(when, newest + dt.timedelta(seconds=1))
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{why}-{secrets.token_hex(2)}"


def check_id(backup_id: str) -> str:
    if not isinstance(backup_id, str) or not BACKUP_ID.match(backup_id):
        raise BackupError(f"not a backup id: {backup_id!r} (expected e.g. 20261122T101500Z-manual-3fa2)")
    return backup_id


fsync_dir = files.fsync_dir


def write_json_atomic(path: str, data: dict, mode: int = 0o600) -> None:
    """Write ``path`` whole or not at all (``spbe_files.write_atomic``: temp file, fsync, rename),
    so readers see old or new, never half; a full disk is an OSError naming ``path``."""
    payload = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        files.write_atomic(path, payload, mode)
    except OSError as exc:
        if is_disk_full(exc):
            raise OSError(exc.errno, os.strerror(exc.errno), path) from None  # type: ignore[arg-type]
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def read_json(path: str, limit: int = 1 << 20) -> dict:
    with open(path, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise BackupError(f"{path}: larger than {limit} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BackupError(f"{path}: not a JSON object")
    return data


def disk_full_message(path: str, what: str) -> str:
    try:
        st = os.statvfs(path)
        free = st.f_bavail * st.f_frsize
        free_text = f"{free // (1 << 20)} MiB free" if free >= 10 << 20 else f"{free // 1024} KiB free"
    except OSError:
        free_text = "free space unknown"
    return (
        f"no space left on the device of {path} while writing {what} ({free_text}); "
        "the incomplete backup was removed. Free disk space or prune old backups, then try again"
    )


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


# ---------------------------------------------------------------- the spec (what to back up)


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise BackupError(f"backup spec: {msg}")


def check_spec(spec: dict) -> dict:
    """Validate a backup spec (built by spbe-share, or read from ``backup-spec.json``)."""
    _need(isinstance(spec, dict), "not an object")
    allowed = {"format", "app", "target", "root", "components", "databases", "volumes"}
    extra = set(spec) - allowed
    _need(not extra, f"unknown keys {sorted(extra)}")
    _need(spec.get("format") == FORMAT, f"format must be {FORMAT}")
    for key in ("app", "target"):
        _need(isinstance(spec.get(key), str) and bool(SLUG.match(spec[key])), f"{key} must be a slug")
    root = spec.get("root")
    _need(isinstance(root, str) and bool(SAFE_ROOT.match(root)) and ".." not in root.split("/"),
          "root must be an absolute path of letters, digits, '.', '_', '-'")
    comps = spec.get("components")
    _need(isinstance(comps, list) and bool(comps), "components must be a non-empty list")
    names = set()
    for c in comps:
        _need(isinstance(c, dict) and set(c) == {"name", "container"}, "components[]: {name, container}")
        _need(bool(SLUG.match(str(c["name"]))), f"component name {c['name']!r}")
        _need(bool(CONTAINER.match(str(c["container"]))), f"container name {c['container']!r}")
        names.add(c["name"])
    for i, d in enumerate(spec.get("databases") or []):
        _need(isinstance(d, dict), f"databases[{i}] must be an object")
        _need(d.get("component") in names, f"databases[{i}].component unknown")
        if d.get("engine") == "postgresql":
            _need(set(d) == {"component", "engine", "name", "superuser"}, f"databases[{i}] keys")
            _need(bool(PG_IDENT.match(str(d["name"]))), f"databases[{i}].name is not a plain identifier")
            _need(bool(PG_IDENT.match(str(d["superuser"]))), f"databases[{i}].superuser")
        elif d.get("engine") == "sqlite":
            _need(set(d) == {"component", "engine", "name", "volume", "mount"}, f"databases[{i}] keys")
            _need(bool(ABS_PATH.match(str(d["name"]))) and ".." not in d["name"].split("/"),
                  f"databases[{i}].name must be an absolute file path")
            _need(bool(SLUG.match(str(d["volume"]))), f"databases[{i}].volume")
            _need(bool(ABS_PATH.match(str(d["mount"]))) and d["name"].startswith(d["mount"].rstrip("/") + "/"),
                  f"databases[{i}]: the file must lie under the volume's mount")
        else:
            _need(False, f"databases[{i}].engine must be postgresql or sqlite")
    for i, v in enumerate(spec.get("volumes") or []):
        _need(isinstance(v, dict), f"volumes[{i}] must be an object")
        _need(set(v) <= {"name", "component", "mount", "method", "covered_by", "exclude"}, f"volumes[{i}] keys")
        _need(bool(SLUG.match(str(v.get("name")))), f"volumes[{i}].name")
        _need(v.get("component") in names, f"volumes[{i}].component unknown")
        _need(bool(ABS_PATH.match(str(v.get("mount")))), f"volumes[{i}].mount")
        _need(v.get("method") in ("archive", "covered"), f"volumes[{i}].method must be archive or covered")
        for rel in v.get("exclude") or []:
            _need(isinstance(rel, str) and bool(re.match(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$", rel))
                  and ".." not in rel.split("/"), f"volumes[{i}].exclude entry {rel!r}")
        if v["method"] == "covered":
            _need(isinstance(v.get("covered_by"), str), f"volumes[{i}].covered_by")
    return spec


def container_of(spec: dict, component: str) -> str:
    for c in spec["components"]:
        if c["name"] == component:
            return c["container"]
    raise BackupError(f"backup spec: no component {component!r}")


def spec_database(spec: dict, item: dict) -> dict:
    """The spec's database entry for a manifest item (values come from the spec, not the manifest)."""
    key = item.get("database") if item["type"] == "postgresql" else item.get("path")
    for d in spec.get("databases") or []:
        if d["component"] == item.get("component") and d["engine"] == item["type"] and d["name"] == key:
            return d
    raise BackupError(f"the backup holds {item['type']} database {key!r} of component {item.get('component')!r}, "
                      "which this app does not declare")


def spec_volume(spec: dict, item: dict) -> dict:
    for v in spec.get("volumes") or []:
        if v["name"] == item.get("name") and v["method"] == "archive":
            return v
    raise BackupError(f"the backup holds an archive of volume {item.get('name')!r}, which this app does not back up")



def app_dir(spec: dict) -> str:
    return f"{spec['root'].rstrip('/')}/apps/{spec['app']}"


def backups_dir(spec: dict) -> str:
    return f"{app_dir(spec)}/backups"


def lock_path(spec: dict) -> str:
    return f"{spec['root'].rstrip('/')}/locks/{spec['app']}.lock"


def db_file_name(index: int, db: dict) -> str:
    ext = "pgdump" if db["engine"] == "postgresql" else "sqlite3"
    return f"db-{index}-{db['component']}.{ext}"


def volume_file_name(volume: dict) -> str:
    return f"vol-{volume['name']}.tar"


# ---------------------------------------------------------------- the serving release


def serving_release(spec: dict) -> dict:
    """``{version, bundle_digest}`` of ``<app_dir>/current.json`` (read as data, checked); on
    another host of a data center (the database host of an app across hosts), of the part it
    runs: ``<app_dir>/part.json``."""
    path = f"{app_dir(spec)}/current.json"
    try:
        data = read_json(path)
    except FileNotFoundError:
        try:
            path = f"{app_dir(spec)}/part.json"
            data = read_json(path)
        except FileNotFoundError:
            raise BackupError(f"{app_dir(spec)}/current.json does not exist: no release of {spec['app']} is recorded"
                              " as serving here; pass the release explicitly") from None
    release = {"version": data.get("version"), "bundle_digest": data.get("bundle_digest")}
    if "values" in data:
        release["values"] = data.get("values")
    return check_release(release, path)


def check_release(release: object, where: str = "release") -> dict:
    """``{version, bundle_digest}`` and, when given, the release's ``values`` (the per-Pemda
    settings, never secrets: a restore onto a new server installs with the same ones)."""
    if not isinstance(release, dict):
        raise BackupError(f"{where}: release must be an object")
    version, digest = release.get("version"), release.get("bundle_digest")
    if not isinstance(version, str) or not VERSION.match(version):
        raise BackupError(f"{where}: version {version!r} is not a version")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise BackupError(f"{where}: bundle_digest {digest!r} is not sha256:<hex>")
    out = {"version": version, "bundle_digest": digest}
    values = release.get("values")
    if values is not None:
        if not (isinstance(values, dict) and len(values) <= 200
                and all(isinstance(k, str) and SETTING.match(k) and isinstance(v, str) and len(v) <= 2000
                        for k, v in values.items())):
            raise BackupError(f"{where}: values must map setting names to text")
        out["values"] = dict(values)
    return out


# ---------------------------------------------------------------- the sealed secrets (issue 12)


def sealed_secrets(spec: dict) -> tuple[dict | None, str | None, str | None]:
    """The sealed copy of the deployment's secrets kept by spbe-share beside them, if it is
    current: ``(manifest entry, path of the sealed file, None)``, else ``(None, None, why not)``.

    spbe-share seals the secrets to the operator's key on its own machine and stores the
    result as ``<app dir>/sealed-secrets.age`` (+ ``.json``: recipients, size, SHA-256, salted
    fingerprints). Here the fingerprints are recomputed from ``<app dir>/secrets/<NAME>``
    with the standard library: a copy sealed before a secret changed is not used."""
    folder = app_dir(spec)
    meta_path, data_path = f"{folder}/{SEALED_META}", f"{folder}/{SEALED_DATA}"
    try:
        meta = read_json(meta_path)
    except FileNotFoundError:
        return None, None, ("no sealed copy of the secrets on this target yet "
                            "(spbe-share backup from the operator's machine seals them)")
    except BackupError as exc:
        return None, None, f"the sealed copy of the secrets is unreadable: {exc}"
    prints, salt = meta.get("fingerprints"), meta.get("salt")
    if not (isinstance(prints, dict) and isinstance(salt, str) and re.match(r"^[0-9a-f]{32}$", salt)
            and isinstance(meta.get("sealed_to"), list) and isinstance(meta.get("sha256"), str)
            and isinstance(meta.get("size"), int)):
        return None, None, f"{meta_path} is not a sealed-secrets record"
    try:
        names = sorted(n for n in os.listdir(f"{folder}/secrets") if SECRET_NAME.match(n)
                       and os.path.isfile(f"{folder}/secrets/{n}"))
    except FileNotFoundError:
        names = []
    if sorted(prints) != names:
        return None, None, ("the sealed copy does not hold the same secrets as this target "
                            f"(sealed {', '.join(sorted(prints)) or 'none'}; here {', '.join(names) or 'none'})")
    for name in names:
        with open(f"{folder}/secrets/{name}", "rb") as f:
            value = f.read(1 << 16)
        digest = hashlib.sha256(bytes.fromhex(salt) + b"\0" + name.encode() + b"\0" + value).hexdigest()
        if digest != prints[name]:
            return None, None, f"the sealed copy is older than secret {name} (changed since it was sealed)"
    try:
        size = os.path.getsize(data_path)
        with open(data_path, "rb") as f:
            sha = hashlib.sha256(f.read(1 << 20)).hexdigest()
    except FileNotFoundError:
        return None, None, f"{data_path} is missing"
    if size != meta["size"] or sha != meta["sha256"]:
        return None, None, f"{data_path} does not match its record (size, SHA-256)"
    entry = {"sealed_to": [str(r) for r in meta["sealed_to"]][:20], "file": SECRETS_FILE, "size": size,
             "sha256": sha, "salt": salt, "fingerprints": dict(prints),
             "sealed_at": str(meta.get("sealed_at") or "")[:40]}
    return entry, data_path, None


# ---------------------------------------------------------------- manifest


def check_manifest(data: dict, *, backup_id: str, spec: dict) -> dict:
    """The checks a target makes before trusting a manifest it wrote (the controller's model
    in ``spbe_share.records.backups`` is the strict one)."""
    if data.get("kind") != KIND or data.get("format") != FORMAT:
        raise BackupError(f"backup {backup_id}: not an spbe-share backup manifest (format {FORMAT})")
    if data.get("id") != backup_id:
        raise BackupError(f"backup {backup_id}: its manifest names id {data.get('id')!r}")
    if data.get("app") != spec["app"]:
        raise BackupError(f"backup {backup_id} belongs to app {data.get('app')!r}, not {spec['app']!r}")
    check_release(data.get("release"), f"backup {backup_id} manifest")
    items = data.get("items")
    if not isinstance(items, list):
        raise BackupError(f"backup {backup_id}: manifest has no items")
    sealed = data.get("secrets")
    if sealed is not None and not (isinstance(sealed, dict) and isinstance(sealed.get("file"), str)
                                   and SECRETS_FILE_RE.match(sealed["file"])
                                   and isinstance(sealed.get("sha256"), str) and SHA256.match(sealed["sha256"])
                                   and isinstance(sealed.get("size"), int) and sealed["size"] >= 0):
        raise BackupError(f"backup {backup_id}: manifest names sealed secrets without a plain file, size, sha256")
    for item in items:
        if not isinstance(item, dict) or item.get("type") not in ITEM_TYPES:
            raise BackupError(f"backup {backup_id}: manifest holds an item this engine does not know: "
                              f"{str(item)[:100]}")
        f = item.get("file")
        if f is not None and (not isinstance(f, str) or not FILE_NAME.match(f)):
            raise BackupError(f"backup {backup_id}: manifest names an unexpected file {f!r}")
        if f is not None and not (isinstance(item.get("sha256"), str) and SHA256.match(item["sha256"])
                                  and isinstance(item.get("size"), int) and item["size"] >= 0):
            raise BackupError(f"backup {backup_id}: item {f} lacks size or sha256")
    return data


def load_manifest(spec: dict, backup_id: str) -> dict:
    check_id(backup_id)
    path = f"{backups_dir(spec)}/{backup_id}/{MANIFEST}"
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise BackupError(f"no backup {backup_id} of {spec['app']} on this target ({path} is missing)") from None
    return check_manifest(data, backup_id=backup_id, spec=spec)


def load_verification(spec: dict, backup_id: str) -> dict | None:
    try:
        return read_json(f"{backups_dir(spec)}/{backup_id}/{VERIFICATION}")
    except (FileNotFoundError, BackupError):
        return None


# ---------------------------------------------------------------- the tool in <root>/lib

TOOL_FILE = re.compile(r"^spbe_[a-z_]{1,40}\.py$")


def install_tool(root: str, files_by_name: dict) -> list:
    """Write the tool's files ``{name: source text}`` into ``<root>/lib`` (mode 0644, each whole
    or not at all), in one call (one Ansible task, one SSH round trip: not one copy per file).
    Only ``spbe_*.py`` names; a file already holding that text is left alone. Returns the
    names written (empty: nothing changed)."""
    _need(isinstance(root, str) and bool(SAFE_ROOT.match(root)) and ".." not in root.split("/"),
          f"root {root!r} is not a plain absolute path")
    _need(isinstance(files_by_name, dict) and bool(files_by_name), "no tool files given")
    lib = f"{root.rstrip('/')}/lib"
    os.makedirs(lib, mode=0o755, exist_ok=True)
    written = []
    for name, text in sorted(files_by_name.items()):
        _need(isinstance(name, str) and TOOL_FILE.match(name) is not None, f"not a tool file: {name!r}")
        _need(isinstance(text, str) and bool(text), f"{name}: empty or not text")
        path, data = f"{lib}/{name}", text.encode("utf-8")
        try:
            with open(path, "rb") as f:
                same = f.read() == data and (os.fstat(f.fileno()).st_mode & 0o7777) == 0o644
        except FileNotFoundError:
            same = False
        if not same:
            files.write_atomic(path, data, 0o644)
            written.append(name)
    return written


# ---------------------------------------------------------------- cheap checks of a backup's files


def check_sqlite(path: str) -> str:
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"SQLite cannot read {os.path.basename(path)}: {exc}") from None
    if rows != [("ok",)]:
        raise BackupError(f"PRAGMA integrity_check of {os.path.basename(path)}: {'; '.join(r[0] for r in rows[:5])}")
    return f"integrity_check ok, {tables} tables, user_version {version}"


def check_tar(path: str) -> str:
    n = 0
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                n += 1
                if member.isreg():
                    f = tar.extractfile(member)
                    assert f is not None
                    while f.read(1 << 20):
                        pass
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"tar cannot read {os.path.basename(path)}: {exc}") from None
    return f"tar listing ok, {n} members"


# ---------------------------------------------------------------- list, pins, prune


def list_ids(spec: dict) -> tuple[list[str], list[str]]:
    """(complete backup ids sorted oldest first, names of incomplete ``.partial`` folders)."""
    folder = backups_dir(spec)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return [], []
    complete = sorted(n for n in names if BACKUP_ID.match(n) and os.path.isfile(f"{folder}/{n}/{MANIFEST}"))
    partial = sorted(n for n in names if n.endswith(".partial"))
    return complete, partial


def pins(spec: dict) -> dict[str, str]:
    """holder -> pinned backup id (files in ``backups/.pins/``; unreadable pins are ignored)."""
    folder = f"{backups_dir(spec)}/{PINS}"
    out = {}
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return out
    for name in sorted(names):
        if not PIN_HOLDER.match(name):
            continue
        try:
            with open(f"{folder}/{name}", encoding="ascii") as f:
                value = f.read(100).strip()
        except (OSError, UnicodeDecodeError):
            continue
        if BACKUP_ID.match(value):
            out[name] = value
    return out


def pin(spec: dict, backup_id: str, holder: str) -> bool:
    """Pin ``backup_id`` for ``holder`` (e.g. ``upgrade-<journal id>``); True if it changed."""
    check_id(backup_id)
    if not PIN_HOLDER.match(holder):
        raise BackupError(f"pin holder {holder!r}: lowercase letters, digits, '.', '_', '-'")
    load_manifest(spec, backup_id)
    folder = f"{backups_dir(spec)}/{PINS}"
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if pins(spec).get(holder) == backup_id:
        return False
    files.write_atomic(f"{folder}/{holder}", (backup_id + "\n").encode("ascii"), 0o644)
    return True


def unpin(spec: dict, holder: str) -> bool:
    if not PIN_HOLDER.match(holder):
        raise BackupError(f"pin holder {holder!r}: lowercase letters, digits, '.', '_', '-'")
    try:
        os.unlink(f"{backups_dir(spec)}/{PINS}/{holder}")
    except FileNotFoundError:
        return False
    return True


def summary(spec: dict, backup_id: str) -> dict:
    """One row of ``list``: the manifest's facts, its verification, its pins."""
    folder = f"{backups_dir(spec)}/{backup_id}"
    try:
        m = load_manifest(spec, backup_id)
    except BackupError as exc:
        return {"id": backup_id, "dir": folder, "state": "unreadable", "cause": str(exc)}
    v = load_verification(spec, backup_id)
    if v is None:
        state, cause, when = "unverified", "never verified", None
    else:
        state = "verified" if v.get("ok") is True else "failed"
        cause, when = v.get("cause"), v.get("when")
    return {
        "id": backup_id,
        "dir": folder,
        "state": state,
        "cause": cause,
        "verified_at": when,
        "app": m["app"],
        "version": m["release"]["version"],
        "bundle_digest": m["release"]["bundle_digest"],
        "created": m.get("created"),
        "why": m.get("why"),
        "who": m.get("who"),
        "size": sum(int(i.get("size") or 0) for i in m["items"]),
        "secrets": m.get("secrets") is not None,
        "pinned_by": sorted(h for h, i in pins(spec).items() if i == backup_id),
    }


def list_backups(spec: dict) -> dict:
    complete, partial = list_ids(spec)
    return {"backups": [summary(spec, i) for i in reversed(complete)], "incomplete": partial}


def prune_plan(rows: list[dict], *, keep: int, protect: set[str]) -> tuple[list[str], dict[str, str]]:
    """Which backups to delete (pure). ``rows`` newest first, as :func:`list_backups` gives them.

    Kept: the ``keep`` newest; the newest verified one (even past ``keep``); every id in
    ``protect`` (pins, and ids the caller names, e.g. from an unfinished upgrade's journal);
    anything unreadable (a person should look at it). Returns (ids to delete, id -> why kept).
    """
    if keep < 1:
        raise BackupError("keep must be at least 1")
    why_kept: dict[str, str] = {}
    newest_verified = next((r["id"] for r in rows if r.get("state") == "verified"), None)
    delete = []
    for n, row in enumerate(rows):
        bid = row["id"]
        if n < keep:
            why_kept[bid] = f"one of the {keep} newest"
        elif bid == newest_verified:
            why_kept[bid] = "the newest verified backup"
        elif bid in protect:
            why_kept[bid] = "pinned (still needed by an operation)"
        elif row.get("state") == "unreadable":
            why_kept[bid] = "unreadable manifest: left for a person to inspect"
        else:
            delete.append(bid)
    return delete, why_kept


def remove_tree(folder: str, name: str) -> None:
    """Rename ``folder/name`` to ``.deleting-<name>`` first, so it never looks like a backup."""
    src = f"{folder}/{name}"
    doomed = f"{folder}/.deleting-{name}"
    if os.path.exists(src):
        os.replace(src, doomed)
        fsync_dir(folder)
    shutil.rmtree(doomed, ignore_errors=True)


def clean_leftovers(spec: dict) -> list[str]:
    """Remove ``.partial`` and ``.deleting-*`` folders (a killed create or prune). Call only
    under the app's lock: a ``.partial`` folder may belong to a running backup otherwise."""
    folder = backups_dir(spec)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    removed = []
    for n in sorted(names):
        if n.endswith(".partial") or n.startswith(".deleting-"):
            shutil.rmtree(f"{folder}/{n}", ignore_errors=True)
            removed.append(n)
    return removed


def prune(spec: dict, *, keep: int = DEFAULT_KEEP, protect: list[str] | tuple[str, ...] = ()) -> dict:
    rows = list_backups(spec)["backups"]
    protected = set(protect) | set(pins(spec).values())
    delete, why_kept = prune_plan(rows, keep=keep, protect=protected)
    leftovers = clean_leftovers(spec)
    for bid in delete:
        remove_tree(backups_dir(spec), bid)
    return {"deleted": delete, "kept": why_kept, "removed_incomplete": leftovers}


# ---------------------------------------------------------------- the app lock (scheduled runs)


SCHEDULED = "scheduled "  # operation prefix of the locks taken by scheduled runs
SCHEDULED_LEASE_S = 120  # a scheduled run renews its lock's lease (lockfile.Renewer) while it works


def _dead_scheduled_run(holder: dict) -> bool:
    """A lock left by a scheduled run of this engine, on this host, whose process is gone
    (killed, or the server rebooted). Locks of any other operation are never broken here."""
    pid = holder.get("pid")
    if not str(holder.get("operation", "")).startswith(SCHEDULED) or holder.get("host") != socket.gethostname():
        return False
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def take_lock(spec: dict, *, who: str, operation: str, notes: list[str] | None = None,
              lease_s: int | None = None) -> dict:
    """The app's lock, with the protocol of the playbooks' ``spbe_lock`` (``spbe_lockfile``).

    A lock left by a dead scheduled run on this host is broken (said in ``notes``), so one
    killed cron run does not stop every later one; any other holder is a refusal. With
    ``lease_s`` the lock has a lease that its holder renews (``lockfile.Renewer``): if the run
    dies another way, the lock goes stale for the operations that meet it."""
    path = lock_path(spec)
    owner = {"who": who, "pid": os.getpid(), "host": socket.gethostname(), "since": iso(utc_now()),
             "operation": operation, "token": secrets.token_hex(16)}
    if lease_s:
        owner["lease_s"] = lease_s
    try:
        done = lockfile.take(path, owner, may_break=_dead_scheduled_run)
    except lockfile.Held as held:
        raise BackupError(str(held)) from None
    if done["broken"] is not None and notes is not None:
        notes.append("broke the lock of a scheduled run that is gone: "
                     + str(lockfile.describe(done["broken"], {})).removeprefix("locked by "))
    return owner


def release_lock(spec: dict, owner: dict) -> None:
    lockfile.release(lock_path(spec), owner.get("token"))
