"""Unit tests of the target-side backup engine (``playbooks/module_utils/spbe_backup_*.py``):
argv builders by equality, ids, retention, pins, leftovers, the lock, the volume-archive
filter and the restore plan. No Docker here (tests/integration runs the engine for real)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backuptest import FAKE_DIGEST, dk, engine, restorer, store, write_current  # noqa: E402

from spbe_share.catalog.loader import load_entry  # noqa: E402
from spbe_share.plans.backup import backup_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def spec_for(app: str, root: Path) -> dict[str, Any]:
    entry = load_entry(REPO / "catalog" / app / "spbe-app.yaml").entry
    return backup_spec(entry, target="kota-sorong", root=str(root)).as_data()


# ---------------------------------------------------------------- argv builders


def test_argv_builders() -> None:
    assert dk.exec_argv("docker", "c1", ["pg_dump", "-d", "x"], user="postgres") == [
        "docker", "exec", "-u", "postgres", "c1", "pg_dump", "-d", "x"]
    assert dk.exec_argv("docker", "c1", ["true"], stdin=True) == ["docker", "exec", "-i", "c1", "true"]
    assert dk.helper_argv("docker", name="c1-spbe-helper", image="sha256:abc", entrypoint="/bin/sh",
                          args=["-c", "x"], user="0:0", volumes_from="c1") == [
        "docker", "run", "--rm", "-i", "--name", "c1-spbe-helper", "--network", "none", "--log-driver", "none",
        "--label", "id.go.spbe.helper=backup", "--entrypoint", "/bin/sh", "-u", "0:0", "--volumes-from", "c1",
        "sha256:abc", "-c", "x"]  # fmt: skip
    assert dk.psql_args("postgres", {"tmp": "a", "db": "b"}) == [
        "psql", "-X", "-q", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres",
        "-v", "db=b", "-v", "tmp=a"]  # fmt: skip
    assert dk.pg_dump_args("postgres", "eoffice") == [
        "pg_dump", "--format=custom", "--no-password", "-U", "postgres", "-d", "eoffice"]
    assert dk.pg_restore_list_args("postgres") == ["pg_restore", "--list", "-U", "postgres"]
    assert dk.pg_restore_read_args("postgres") == ["pg_restore", "--file=/dev/null", "-U", "postgres"]
    assert dk.pg_restore_args("postgres", database="eoffice__spbe_restore", owner="eoffice") == [
        "pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", "--role=eoffice", "--no-password",
        "-U", "postgres", "-d", "eoffice__spbe_restore"]  # fmt: skip
    assert dk.pg_side_names("eoffice") == ("eoffice__spbe_restore", "eoffice__spbe_old")
    assert all(len(n) <= 63 for n in dk.pg_side_names("x" * 63))
    assert dk.docker_cp_out_argv("docker", "c1", "/data") == ["docker", "cp", "c1:/data", "-"]


# ---------------------------------------------------------------- ids


def test_ids_sort_by_creation_even_within_one_second() -> None:
    when = dt.datetime(2026, 11, 22, 10, 15, 0, 900000, tzinfo=dt.UTC)
    first = store.new_id("manual", when)
    assert first.startswith("20261122T101500Z-manual-") and store.check_id(first) == first
    second = store.new_id("pre-upgrade", when, after=[first])
    assert second.startswith("20261122T101501Z-pre-upgrade-")
    earlier_clock = store.new_id("manual", when - dt.timedelta(hours=1), after=[first, second])
    assert earlier_clock.startswith("20261122T101502Z-")
    for bad in ("../x", "20261122T101500Z", "20261122T101500Z-a/b", "x" * 80, 7):
        with pytest.raises(store.BackupError, match="not a backup id"):
            store.check_id(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- retention (pure)


def rows(*states: str) -> list[dict[str, str]]:
    """Newest first: ids b5, b4, ... with the given states."""
    n = len(states)
    return [{"id": f"b{n - i}", "state": s} for i, s in enumerate(states)]


@pytest.mark.parametrize(("states", "keep", "protect", "deleted"), [
    (("verified",) * 5, 2, set(), ["b3", "b2", "b1"]),
    (("verified",) * 5, 9, set(), []),
    # the newest verified one survives even past keep
    (("failed", "unverified", "verified", "verified"), 2, set(), ["b1"]),
    # pinned ones survive; unreadable ones are left for a person
    (("verified", "verified", "verified", "unreadable", "verified"), 1, {"b3"}, ["b4", "b1"]),
])  # fmt: skip
def test_prune_plan(states: tuple[str, ...], keep: int, protect: set[str], deleted: list[str]) -> None:
    delete, kept = store.prune_plan(rows(*states), keep=keep, protect=protect)
    assert delete == deleted
    assert set(kept) | set(delete) == {r["id"] for r in rows(*states)}


def test_prune_plan_reasons_and_bad_keep() -> None:
    _, kept = store.prune_plan(rows("failed", "verified", "verified"), keep=1, protect={"b1"})
    assert kept == {"b3": "one of the 1 newest", "b2": "the newest verified backup",
                    "b1": "pinned (still needed by an operation)"}
    with pytest.raises(store.BackupError, match="at least 1"):
        store.prune_plan([], keep=0, protect=set())


# ---------------------------------------------------------------- folders: list, pins, prune, leftovers


def fake_backup(spec: dict[str, Any], bid: str, *, verified: bool | None = True, payload: bytes = b"x") -> Path:
    """A backup folder as the engine leaves it (a SQLite item with a real file and sum)."""
    folder = Path(store.backups_dir(spec)) / bid
    folder.mkdir(parents=True)
    (folder / "db-0-web.sqlite3").write_bytes(payload)
    import hashlib

    manifest = {"kind": "spbe-share-backup", "format": 1, "id": bid, "app": spec["app"], "target": spec["target"],
                "release": {"version": "1.0.0", "bundle_digest": FAKE_DIGEST}, "created": "2026-11-22T10:15:00Z",
                "finished": "2026-11-22T10:15:01Z", "who": "t", "why": "manual", "note": None, "secrets": None,
                "items": [{"type": "sqlite", "component": "web", "container": "c", "path": "/data/pengaduan.db",
                           "volume": "data", "mount": "/data", "uid": 10001, "gid": 10001, "mode": 0o644,
                           "file": "db-0-web.sqlite3", "size": len(payload),
                           "sha256": hashlib.sha256(payload).hexdigest()}]}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if verified is not None:
        (folder / "verification.json").write_text(json.dumps({"id": bid, "ok": verified, "cause": None if verified
                                                              else "broken", "when": "2026-11-22T10:16:00Z"}))
    return folder


def test_list_pins_prune_and_leftovers(tmp_path: Path) -> None:
    spec = spec_for("pengaduan", tmp_path)
    ids = [f"20261122T10150{i}Z-manual-000{i}" for i in range(5)]
    for i, bid in enumerate(ids):
        fake_backup(spec, bid, verified=[True, True, None, False, None][i])
    folder = Path(store.backups_dir(spec))
    (folder / f"{ids[4]}X.partial").mkdir()  # a killed create
    (folder / ".deleting-old").mkdir()  # a killed prune
    (folder / "20261122T101509Z-manual-bad").mkdir()  # no manifest: not a backup
    listing = store.list_backups(spec)
    assert [r["id"] for r in listing["backups"]] == ids[::-1]
    assert [r["state"] for r in listing["backups"]] == ["unverified", "failed", "unverified", "verified", "verified"]
    assert listing["incomplete"] == [f"{ids[4]}X.partial"]

    assert store.pin(spec, ids[0], "upgrade-1") is True and store.pin(spec, ids[0], "upgrade-1") is False
    assert store.summary(spec, ids[0])["pinned_by"] == ["upgrade-1"]
    with pytest.raises(store.BackupError, match="pin holder"):
        store.pin(spec, ids[0], "../x")
    with pytest.raises(store.BackupError, match="no backup"):
        store.pin(spec, "20261122T111111Z-manual-none", "upgrade-2")

    result = store.prune(spec, keep=2)
    assert result["deleted"] == [ids[2]]  # ids[1] is the newest verified, ids[0] is pinned
    assert sorted(result["removed_incomplete"]) == sorted([".deleting-old", f"{ids[4]}X.partial"])
    assert sorted(os.listdir(folder)) == sorted([".pins", "20261122T101509Z-manual-bad", ids[0], ids[1], ids[3], ids[4]])
    assert store.unpin(spec, "upgrade-1") is True and store.unpin(spec, "upgrade-1") is False
    assert store.prune(spec, keep=2)["deleted"] == [ids[0]]


def test_a_damaged_or_foreign_manifest_is_not_trusted(tmp_path: Path) -> None:
    spec = spec_for("pengaduan", tmp_path)
    bid = "20261122T101500Z-manual-0001"
    folder = fake_backup(spec, bid)
    manifest = json.loads((folder / "manifest.json").read_text())
    for change, message in [({"app": "e-office"}, "belongs to app 'e-office'"),
                            ({"id": "20261122T101500Z-manual-0002"}, "its manifest names id"),
                            ({"kind": "other"}, "not an spbe-share backup manifest"),
                            ({"release": {"version": "1.0.0", "bundle_digest": "x"}}, "bundle_digest")]:
        (folder / "manifest.json").write_text(json.dumps({**manifest, **change}))
        with pytest.raises(store.BackupError, match=message):
            store.load_manifest(spec, bid)
    unknown = copy.deepcopy(manifest)
    unknown["items"].append({"type": "volume-raw", "name": "data"})
    (folder / "manifest.json").write_text(json.dumps(unknown))
    with pytest.raises(store.BackupError, match="an item this engine does not know"):
        store.load_manifest(spec, bid)
    bad_item = copy.deepcopy(manifest)
    bad_item["items"][0]["file"] = "../../../etc/shadow"
    (folder / "manifest.json").write_text(json.dumps(bad_item))
    with pytest.raises(store.BackupError, match="unexpected file"):
        store.load_manifest(spec, bid)
    (folder / "manifest.json").write_text("{not json")
    assert store.summary(spec, bid)["state"] == "unreadable"


def test_verify_reads_every_file_back(tmp_path: Path) -> None:
    """Sums are re-read from disk; a SQLite copy is checked by SQLite (no Docker needed)."""
    import sqlite3

    spec = spec_for("pengaduan", tmp_path)
    db = tmp_path / "real.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
    conn.close()
    bid = "20261122T101500Z-manual-0001"
    folder = fake_backup(spec, bid, verified=None, payload=db.read_bytes())
    result = engine.verify(spec, bid)
    assert result["ok"], result
    assert result["checks"][0]["detail"].startswith("sha256 ok; integrity_check ok, 1 tables")
    assert json.loads((folder / "verification.json").read_text())["ok"] is True

    data = bytearray(db.read_bytes())
    data[200] ^= 0xFF
    (folder / "db-0-web.sqlite3").write_bytes(bytes(data))
    result = engine.verify(spec, bid)
    assert not result["ok"] and "differ from the manifest" in result["cause"]
    assert store.summary(spec, bid)["state"] == "failed"
    (folder / "db-0-web.sqlite3").unlink()
    assert engine.verify(spec, bid)["cause"] == "db-0-web.sqlite3 is missing"

    # a copy damaged before it was summed: SQLite itself says so
    (tmp_path / "trunc.sqlite3").write_bytes(db.read_bytes()[:5000])
    with pytest.raises(store.BackupError, match="SQLite|integrity_check"):
        engine._check_sqlite(str(tmp_path / "trunc.sqlite3"))
    (tmp_path / "trunc.tar").write_bytes(b"\0" * 100 + b"garbage")
    with pytest.raises(store.BackupError, match="tar cannot read"):
        engine._check_tar(str(tmp_path / "trunc.tar"))


def test_create_refuses_without_a_serving_release(tmp_path: Path) -> None:
    spec = spec_for("pengaduan", tmp_path)
    with pytest.raises(store.BackupError, match="current.json does not exist"):
        engine.create(spec, why="manual", who="t")
    write_current(tmp_path, "pengaduan", "1.0.0", digest="sha256:nothex")
    with pytest.raises(store.BackupError, match="is not sha256"):
        engine.create(spec, why="manual", who="t")
    with pytest.raises(store.BackupError, match="why must be one of"):
        engine.create(spec, why="because", who="t")
    assert not Path(store.backups_dir(spec)).exists()  # nothing written


def test_another_host_of_a_data_center_names_the_release_of_its_part(tmp_path: Path) -> None:
    """The database host of an app across hosts keeps no current.json (the record is on the
    first host) but the part it runs (part.json): its backups name that release."""
    spec = spec_for("ppdb", tmp_path)
    folder = Path(store.app_dir(spec))
    folder.mkdir(parents=True)
    part = {"app": "ppdb", "version": "2.0.0", "target": "kota-sorong", "host": "kota-sorong--database",
            "containers": ["spbe-kota-sorong-ppdb-db"], "bundle_digest": FAKE_DIGEST, "values": {"pemda_name": "X"}}
    (folder / "part.json").write_text(json.dumps(part))
    assert store.serving_release(spec) == {"version": "2.0.0", "bundle_digest": FAKE_DIGEST,
                                           "values": {"pemda_name": "X"}}
    (folder / "current.json").write_text(json.dumps({**part, "version": "1.0.0"}))  # the record wins where it is
    assert store.serving_release(spec)["version"] == "1.0.0"


def test_the_lock_is_the_playbooks_lock(tmp_path: Path) -> None:
    spec = spec_for("pengaduan", tmp_path)
    owner = store.take_lock(spec, who="cron", operation="create pengaduan")
    held = json.loads(Path(store.lock_path(spec)).read_text())
    assert set(held) == {"who", "pid", "host", "since", "operation", "token"}  # = state.LockOwner
    with pytest.raises(store.BackupError, match=r"locked by cron \(pid \d+ on .*create pengaduan\) since"):
        store.take_lock(spec, who="other", operation="x")
    store.release_lock(spec, {"token": "not-mine"})
    assert Path(store.lock_path(spec)).exists()
    store.release_lock(spec, owner)
    assert not Path(store.lock_path(spec)).exists()


def test_only_a_dead_scheduled_runs_lock_is_broken(tmp_path: Path) -> None:
    import socket
    import subprocess

    spec = spec_for("pengaduan", tmp_path)
    gone = subprocess.Popen(["true"])  # noqa: S607 - a pid that is surely dead afterwards
    gone.wait()
    lock = Path(store.lock_path(spec))
    lock.parent.mkdir(parents=True)
    here = socket.gethostname()
    for holder, broken in [
        ({"who": "cron", "pid": gone.pid, "host": here, "operation": "scheduled create pengaduan"}, True),
        ({"who": "cron", "pid": os.getpid(), "host": here, "operation": "scheduled create pengaduan"}, False),
        ({"who": "cron", "pid": gone.pid, "host": "other-host", "operation": "scheduled create pengaduan"}, False),
        ({"who": "budi", "pid": gone.pid, "host": here, "operation": "upgrade pengaduan 1.1.0"}, False),
    ]:
        lock.write_text(json.dumps({**holder, "since": "2026-11-22T01:30:00Z", "token": "t"}))
        notes: list[str] = []
        if broken:
            owner = store.take_lock(spec, who="cron", operation="scheduled create pengaduan", notes=notes)
            assert notes == [f"broke the lock of a scheduled run that is gone: cron (pid {gone.pid} on {here}, "
                             "scheduled create pengaduan) since 2026-11-22T01:30:00Z"]
            store.release_lock(spec, owner)
        else:
            with pytest.raises(store.BackupError, match="locked by"):
                store.take_lock(spec, who="cron", operation="scheduled create pengaduan", notes=notes)
            assert notes == [] and json.loads(lock.read_text())["token"] == "t"


# ---------------------------------------------------------------- the volume archive filter


def test_volume_filter_rewrites_a_docker_cp_stream() -> None:
    src = io.BytesIO()
    with tarfile.open(fileobj=src, mode="w") as tar:
        for name, kind, data in [("data", tarfile.DIRTYPE, b""), ("data/pengaduan.db", tarfile.REGTYPE, b"db"),
                                 ("data/pengaduan.db-wal", tarfile.REGTYPE, b"wal"),
                                 ("data/lampiran", tarfile.DIRTYPE, b""),
                                 ("data/lampiran/1.txt", tarfile.REGTYPE, b"foto"),
                                 ("data/lampiran/1-link.txt", tarfile.LNKTYPE, b"")]:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.uid, info.gid, info.mode = kind, len(data), 10001, 10001, 0o640
            if kind == tarfile.LNKTYPE:
                info.linkname = "data/lampiran/1.txt"
            tar.addfile(info, io.BytesIO(data) if data else None)
    src.seek(0)
    import tempfile

    with tempfile.TemporaryFile() as f:
        sink = dk._Sink(f.fileno())
        seen: dict[str, Any] = {}
        engine._volume_filter("data", {"pengaduan.db", "pengaduan.db-wal", "pengaduan.db-shm"}, seen)(src, sink)
        f.seek(0)
        with tarfile.open(fileobj=f, mode="r:") as tar:
            members = [(m.name, m.uid, m.linkname) for m in tar.getmembers()]
            assert tar.extractfile("lampiran/1.txt").read() == b"foto"  # type: ignore[union-attr]
    assert members == [(".", 10001, ""), ("lampiran", 10001, ""), ("lampiran/1.txt", 10001, ""),
                       ("lampiran/1-link.txt", 10001, "lampiran/1.txt")]
    assert seen == {"pengaduan.db": {"uid": 10001, "gid": 10001, "mode": 0o640},
                    "pengaduan.db-wal": {"uid": 10001, "gid": 10001, "mode": 0o640}, "\0members": 4}
    assert sink.size > 0 and len(sink.sha.hexdigest()) == 64


# ---------------------------------------------------------------- restore plan (pure)


def test_restore_plan_takes_every_value_from_the_spec(tmp_path: Path) -> None:
    spec = spec_for("pengaduan", tmp_path)
    manifest = {"items": [
        {"type": "sqlite", "component": "web", "path": "/data/pengaduan.db", "volume": "data", "file": "db-0-web.sqlite3",
         "container": "someone-elses-container", "mount": "/etc"},
        {"type": "volume-archive", "name": "data", "component": "web", "mount": "/etc", "file": "vol-data.tar",
         "container": "someone-elses-container"},
    ]}  # fmt: skip
    (step,) = restorer.restore_plan(spec, manifest)
    assert (step["kind"], step["container"], step["mount"]) == ("volume", "spbe-kota-sorong-pengaduan-web", "/data")
    assert step["archive"]["file"] == "vol-data.tar" and [i["path"] for i in step["sqlite"]] == ["/data/pengaduan.db"]

    eo = spec_for("e-office", tmp_path)
    steps = restorer.restore_plan(eo, {"items": [
        {"type": "postgresql", "component": "db", "database": "eoffice", "file": "db-0-db.pgdump"},
        {"type": "volume-covered", "name": "pgdata", "component": "db"}]})  # fmt: skip
    assert [(s["kind"], s["container"], s["db"]["name"]) for s in steps] == [
        ("postgresql", "spbe-kota-sorong-e-office-db", "eoffice")]
    with pytest.raises(store.BackupError, match="which this app does not declare"):
        restorer.restore_plan(eo, {"items": [{"type": "postgresql", "component": "db", "database": "other"}]})
    with pytest.raises(store.BackupError, match="which this app does not back up"):
        restorer.restore_plan(spec, {"items": [{"type": "volume-archive", "name": "uploads", "component": "web"}]})
