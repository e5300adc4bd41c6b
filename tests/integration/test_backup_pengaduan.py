"""Backups of Pengaduan (SQLite + a plain volume) on the real Docker engine, engine run in-process.

The container names follow the deployment naming (``spbe-<target>-<app>-<component>``): the
app runner's prefix is ``spbe-it-<hex>-pengaduan``, so the target is ``it-<hex>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backuptest import (  # noqa: E402
    ENGINE_DIR,
    ENGINE_FILES,
    appdata,
    engine,
    restorer,
    store,
    wait_http_ok,
    write_current,
)

from spbe_share.plans.backup import backup_spec  # noqa: E402
from spbe_share.plans.schedule import cron_file  # noqa: E402
from spbe_share.records.backups import BackupManifest, Verification  # noqa: E402

pytestmark = pytest.mark.docker

APP = "pengaduan"
VERSION = "1.0.0"
PASSWORD = "kata-sandi-petugas-uji-123"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)  # noqa: S603


@pytest.fixture
def running(built_app: Any, load_app: Any, app_runner: Any, test_prefix: str, tmp_path: Path) -> dict[str, Any]:
    built_app(APP)
    loaded = load_app(APP)
    app = app_runner(loaded, VERSION, secrets={"STAFF_PASSWORD": PASSWORD}, name=APP)
    target = test_prefix.removeprefix("spbe-")
    root = tmp_path / "root"
    write_current(root, APP, VERSION)
    spec = backup_spec(loaded.entry, target=target, root=str(root)).as_data()
    web = spec["components"][0]["container"]
    assert web == f"{test_prefix}-{APP}-web" == app.containers["web"].name
    return {"app": app, "spec": spec, "root": root, "web": web, "entry": loaded.entry}


def test_backup_verify_change_restore(running: dict[str, Any]) -> None:
    spec, web, app = running["spec"], running["web"], running["app"]
    appdata.pengaduan_seed(app.url, PASSWORD, complaints=20, tag="a")
    # a plain file in the volume beside the database (an attachment), owned by the app's user
    sh("docker", "exec", web, "sh", "-c", "mkdir -p /data/lampiran && echo foto-1 > /data/lampiran/1.txt")
    before = appdata.pengaduan_measure(web)
    assert before.counts["complaints"] == 20 and before.counts["status_history"] > 20

    manifest = engine.create(spec, why="manual", who="tester")
    m = BackupManifest.model_validate(manifest)  # the controller's strict model accepts it
    assert [i.type for i in m.items] == ["sqlite", "volume-archive"]
    sqlite_item, volume_item = m.items
    assert sqlite_item.path == "/data/pengaduan.db" and (sqlite_item.uid, sqlite_item.gid) == (10001, 10001)
    # the live database (and its -wal/-shm while connections are open) is not in the archive
    assert "pengaduan.db" in volume_item.excluded
    assert set(volume_item.excluded) <= {"pengaduan.db", "pengaduan.db-shm", "pengaduan.db-wal"}
    assert m.release.version == VERSION and m.secrets is None
    folder = Path(store.backups_dir(spec)) / m.id
    assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json", *m.files()])
    assert not [p for p in folder.parent.iterdir() if p.name.endswith(".partial")]

    checked = Verification.model_validate(engine.verify(spec, m.id))
    assert checked.ok, checked.cause
    assert "integrity_check ok" in checked.checks[0].detail and "tar listing ok" in checked.checks[1].detail

    # the data changes after the backup: more complaints, a status change, a new file, a file gone
    appdata.pengaduan_seed(app.url, PASSWORD, complaints=5, tag="b")
    sh("docker", "exec", web, "sh", "-c", "echo sampah > /data/junk.txt && rm /data/lampiran/1.txt")
    changed = appdata.pengaduan_measure(web)
    assert not changed.same_data(before)

    # a backup of another version is refused, nothing stops
    with pytest.raises(store.BackupError, match="holds the data of pengaduan 1.0.0; the version that will run is 1.1.0"):
        restorer.restore(spec, m.id, expect_version="1.1.0")
    assert engine.Docker().running(web)

    result = restorer.restore(spec, m.id, expect_version=VERSION)
    assert result["stopped"] == [web] and result["started"] == [web]
    wait_http_ok(web)
    after = appdata.pengaduan_measure(web)
    assert after.same_data(before), after.diff(before)
    listing = sh("docker", "exec", web, "sh", "-c", "cd /data && find . | sort && stat -c '%u:%g %n' lampiran/1.txt").stdout
    assert "./junk.txt" not in listing and "./lampiran/1.txt" in listing
    assert "10001:10001 lampiran/1.txt" in listing  # owners kept
    # the app writes again on the restored database (the sequence continues)
    more = appdata.pengaduan_seed(wait_http_ok(web), PASSWORD, complaints=1, tag="c")
    assert more["tickets"][0].endswith("000021")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs as the backup folder needs root")
def test_disk_full_fails_cleanly(running: dict[str, Any], tmp_path: Path) -> None:
    spec, app = running["spec"], running["app"]
    appdata.pengaduan_seed(app.url, PASSWORD, complaints=30, tag="a")
    sh("docker", "exec", running["web"], "sh", "-c", "head -c 65536 /dev/urandom > /data/lampiran.bin")
    sizes = {i["type"]: i["size"] for i in engine.create(spec, why="manual", who="tester")["items"]}
    assert sizes["volume-archive"] > 65536
    store.remove_tree(store.backups_dir(spec), store.list_ids(spec)[0][0])
    backups = Path(store.backups_dir(spec))
    # nothing fits / the database copy fits, the volume archive does not
    room_for_db = (sizes["sqlite"] // 4096 + 2) * 4096
    for size, failing in (("8k", "db-0-web.sqlite3"), (str(room_for_db), "vol-data.tar")):
        sh("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(backups))
        try:
            with pytest.raises(store.BackupError) as err:
                engine.create(spec, why="manual", who="tester")
            msg = str(err.value)
            assert f"no space left on the device of {backups}" in msg, msg
            assert f"while writing {failing}" in msg and "the incomplete backup was removed" in msg, msg
            assert os.listdir(backups) == [], os.listdir(backups)  # no .partial, no half file
            assert store.list_backups(spec) == {"backups": [], "incomplete": []}
        finally:
            sh("umount", str(backups))
    # with room again, the same backup works
    ok = engine.create(spec, why="manual", who="tester")
    assert engine.verify(spec, ok["id"])["ok"]


def test_retention_and_a_scheduled_run(running: dict[str, Any]) -> None:
    spec, root, app = running["spec"], running["root"], running["app"]
    appdata.pengaduan_seed(app.url, PASSWORD, complaints=3)
    ids = [engine.create(spec, why="manual", who="tester")["id"] for _ in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    for bid in ids[:2]:
        assert engine.verify(spec, bid)["ok"]
    store.pin(spec, ids[0], "upgrade-test")
    # keep 1: the newest stays; the newest *verified* one (ids[1]) stays; the pinned one stays
    result = store.prune(spec, keep=1)
    assert result["deleted"] == [ids[2]]
    assert set(result["kept"]) == {ids[3], ids[1], ids[0]}
    store.unpin(spec, "upgrade-test")
    assert store.prune(spec, keep=1)["deleted"] == [ids[0]]

    # the cron file's command, run as cron would: lock, backup, verify, prune to keep 2
    lib = root / "lib"
    lib.mkdir()
    for name in ENGINE_FILES:
        (lib / name).write_bytes((ENGINE_DIR / name).read_bytes())
    (root / "apps" / APP / "backup-spec.json").write_text(__import__("json").dumps(spec))
    line = next(x for x in cron_file(app=APP, root=str(root), daily="01:30", keep=2).content.splitlines()
                if x.startswith("30 1 * * * root "))
    command = line.removeprefix("30 1 * * * root ")
    run = sh("sh", "-c", command.replace("/usr/bin/python3", sys.executable, 1), check=False)
    assert run.returncode == 0, run.stderr
    rows = store.list_backups(spec)["backups"]
    assert [r["why"] for r in rows] == ["scheduled", "manual"] and rows[0]["state"] == "verified"
    assert not Path(store.lock_path(spec)).exists()
    log = (root / "apps" / APP / "backups" / "schedule.log").read_text()
    assert rows[0]["id"] in log

    # a run killed while it writes leaves a .partial folder: never listed as a backup, never
    # restorable, removed by the next run
    sh("docker", "exec", running["web"], "sh", "-c", "head -c 40000000 /dev/urandom > /data/besar.bin")
    proc = subprocess.Popen([sys.executable, str(lib / "spbe_backup_engine.py"), "create", "--spec",  # noqa: S603
                             str(root / "apps" / APP / "backup-spec.json"), "--who", "killed"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backups = Path(store.backups_dir(spec))
    deadline = time.monotonic() + 60
    while not any(backups.glob("*.partial/vol-data.tar")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    (partial,) = [p.name for p in backups.glob("*.partial")]
    listing = store.list_backups(spec)
    assert listing["incomplete"] == [partial] and all(r["who"] != "killed" for r in listing["backups"])
    with pytest.raises(store.BackupError, match="no backup"):
        restorer.restore(spec, partial.removesuffix(".partial"), expect_version=VERSION)
    sh("docker", "exec", running["web"], "rm", "/data/besar.bin")
    # the next scheduled run breaks the dead run's lock (only that kind of lock), says so, cleans up
    again = sh(sys.executable, str(lib / "spbe_backup_engine.py"), "create", "--spec",
               str(root / "apps" / APP / "backup-spec.json"), check=False)
    assert again.returncode == 0, again.stderr
    assert "broke the lock of a scheduled run that is gone: killed (pid" in again.stderr
    assert not list(backups.glob("*.partial")) and not Path(store.lock_path(spec)).exists()

    # while an operation holds the lock, a scheduled run is skipped (exit 75) and says by whom
    owner = store.take_lock(spec, who="budi@laptop", operation="upgrade pengaduan")
    try:
        skipped = sh(sys.executable, str(lib / "spbe_backup_engine.py"), "create", "--spec",
                     str(root / "apps" / APP / "backup-spec.json"), check=False)
    finally:
        store.release_lock(spec, owner)
    assert skipped.returncode == 75 and "locked by budi@laptop" in skipped.stderr
