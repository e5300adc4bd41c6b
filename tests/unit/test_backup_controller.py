"""Unit tests of the controller side of backups: spec builder, playbook variables, manifest
models and schedule files (pure; compared by equality)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
from catalog_fixtures import entry_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backuptest import store  # noqa: E402

from spbe_share.catalog.loader import load_entry  # noqa: E402
from spbe_share.catalog.models import Entry  # noqa: E402
from spbe_share.errors import InvalidInput, VerificationFailed  # noqa: E402
from spbe_share.plans.backup import backup_spec  # noqa: E402
from spbe_share.plans.opvars import backup_vars, restore_vars  # noqa: E402
from spbe_share.plans.schedule import (  # noqa: E402
    cron_file,
    engine_argv,
    parse_daily,
    schedule_files,
    systemd_files,
)
from spbe_share.records import state  # noqa: E402
from spbe_share.records.backups import (  # noqa: E402
    BackupManifest,
    parse_manifest,
    parse_rows,
    parse_verification,
)

REPO = Path(__file__).resolve().parents[2]
ROOT = "/var/lib/spbe-share"


def catalog_entry(app: str) -> Entry:
    return load_entry(REPO / "catalog" / app / "spbe-app.yaml").entry


def entry_with(components: list[dict[str, Any]], backup: dict[str, Any]) -> Entry:
    return Entry.model_validate(entry_data("demo", components=components, backup=backup))


def comp(name: str, volumes: list[tuple[str, str]] = (), depends_on: list[str] = ()) -> dict[str, Any]:
    return {"name": name, "image": f"spbe-share/demo-{name}", "build": {"context": f"shared_apps/demo/{name}"},
            "volumes": [{"name": n, "path": p} for n, p in volumes], "depends_on": list(depends_on)}


# ---------------------------------------------------------------- spec


def test_spec_of_e_office_dumps_postgres_and_never_archives_its_data_dir() -> None:
    spec = backup_spec(catalog_entry("e-office"), target="kota-sorong", root=ROOT)
    assert spec.as_data() == {
        "format": 1, "app": "e-office", "target": "kota-sorong", "root": ROOT,
        "components": [{"name": "db", "container": "spbe-kota-sorong-e-office-db"},
                       {"name": "web", "container": "spbe-kota-sorong-e-office-web"}],
        "databases": [{"component": "db", "engine": "postgresql", "name": "eoffice", "superuser": "postgres"}],
        "volumes": [{"name": "pgdata", "component": "db", "mount": "/var/lib/postgresql/data", "method": "covered",
                     "covered_by": "postgresql database eoffice of component db (pg_dump)"}],
    }  # fmt: skip
    assert spec.components[0].container == state.container_name("kota-sorong", "e-office", "db")


def test_spec_of_pengaduan_copies_sqlite_online_and_archives_the_rest_of_its_volume() -> None:
    spec = backup_spec(catalog_entry("pengaduan"), target="kabupaten-buleleng", root="/srv/spbe")
    assert spec.as_data() == {
        "format": 1, "app": "pengaduan", "target": "kabupaten-buleleng", "root": "/srv/spbe",
        "components": [{"name": "web", "container": "spbe-kabupaten-buleleng-pengaduan-web"}],
        "databases": [{"component": "web", "engine": "sqlite", "name": "/data/pengaduan.db", "volume": "data",
                       "mount": "/data"}],
        "volumes": [{"name": "data", "component": "web", "mount": "/data", "method": "archive",
                     "exclude": ["pengaduan.db", "pengaduan.db-wal", "pengaduan.db-shm", "pengaduan.db-journal"]}],
    }  # fmt: skip


def test_spec_orders_components_by_dependency_and_archives_plain_volumes() -> None:
    entry = entry_with(
        [comp("web", [("uploads", "/srv/uploads/")], depends_on=["db"]), comp("db", [("pg", "/pg")])],
        {"volumes": ["uploads", "pg"], "databases": [{"component": "db", "engine": "postgresql", "name": "demo"}]},
    )
    data = backup_spec(entry, target="t1", root="/r").as_data()
    assert [c["name"] for c in data["components"]] == ["db", "web"]
    assert data["volumes"] == [
        {"name": "uploads", "component": "web", "mount": "/srv/uploads", "method": "archive"},
        {"name": "pg", "component": "db", "mount": "/pg", "method": "covered",
         "covered_by": "postgresql database demo of component db (pg_dump)"},
    ]


@pytest.mark.parametrize(("db", "message"), [
    ({"component": "web", "engine": "postgresql", "name": "Bad-Name"}, "must be a plain PostgreSQL identifier"),
    ({"component": "web", "engine": "sqlite", "name": "/tmp/app.db"}, "is not on a volume of component web"),
    ({"component": "web", "engine": "sqlite", "name": "data/app.db"}, "must be the absolute path"),
    ({"component": "web", "engine": "sqlite", "name": "/data/../etc/x.db"}, "must be the absolute path"),
])  # fmt: skip
def test_spec_refuses_databases_it_cannot_back_up(db: dict[str, str], message: str) -> None:
    entry = entry_with([comp("web", [("data", "/data")])], {"databases": [db]})
    with pytest.raises(InvalidInput, match=message):
        backup_spec(entry, target="t1", root="/r")


def test_the_target_accepts_exactly_what_the_builder_makes() -> None:
    for app in ("e-office", "pengaduan"):
        data = backup_spec(catalog_entry(app), target="kota-sorong", root=ROOT).as_data()
        assert store.check_spec(copy.deepcopy(data)) == data
    good = backup_spec(catalog_entry("pengaduan"), target="kota-sorong", root=ROOT).as_data()
    for mutate, message in [
        (lambda d: d.update(extra=1), "unknown keys"),
        (lambda d: d.update(root="relative/path"), "root must be"),
        (lambda d: d.update(root="/srv/../etc"), "root must be"),
        (lambda d: d["components"][0].update(container="x; rm -rf /"), "container name"),
        (lambda d: d["databases"][0].update(name="/elsewhere/pengaduan.db"), "must lie under the volume's mount"),
        (lambda d: d["volumes"][0].update(exclude=["../../etc/passwd"]), "exclude entry"),
        (lambda d: d["databases"][0].update(engine="mysql"), "engine must be"),
    ]:
        bad = copy.deepcopy(good)
        mutate(bad)
        with pytest.raises(store.BackupError, match=message):
            store.check_spec(bad)


def test_playbook_variables(tmp_path: Path) -> None:
    """backup_vars is the one builder of backup.yml's variables (the core adds the lock's):
    issue 23 removed a second, test-only one."""
    spec = backup_spec(catalog_entry("pengaduan"), target="kota-sorong", root=ROOT)
    base = {"spbe_target": "kota-sorong", "spbe_root": ROOT, "spbe_app": "pengaduan", "spbe_backup_spec": spec.as_data()}
    assert backup_vars(spec, why="pre-upgrade", who="op", backup_id="20261122T101500Z-x",
                       release={"version": "1.0.0", "bundle_digest": "sha256:" + "a" * 64}) == {
        **base, "spbe_backup_why": "pre-upgrade", "spbe_backup_who": "op", "spbe_backup_keep": 14,
        "spbe_backup_id": "20261122T101500Z-x",
        "spbe_backup_release": {"version": "1.0.0", "bundle_digest": "sha256:" + "a" * 64},
    }  # fmt: skip
    assert backup_vars(spec, who="op", keep=3, fetch_to=tmp_path) == {
        **base, "spbe_backup_why": "manual", "spbe_backup_who": "op", "spbe_backup_keep": 3,
        "spbe_fetch_dir": str(tmp_path),
    }  # fmt: skip
    assert restore_vars(spec, backup_id="20261122T101500Z-manual-3fa2", who="op") == {
        **base, "spbe_backup_who": "op", "spbe_restore_id": "20261122T101500Z-manual-3fa2",
        "spbe_restore_safety": True, "spbe_restore_restart": True,
    }  # fmt: skip
    with pytest.raises(InvalidInput, match="why must be one of"):
        backup_vars(spec, why="because", who="op")
    with pytest.raises(InvalidInput, match="must be at least 1"):
        backup_vars(spec, who="op", keep=0)
    with pytest.raises(InvalidInput, match="not a backup id"):
        backup_vars(spec, who="op", backup_id="../../etc")
    with pytest.raises(InvalidInput, match="not a backup id"):
        restore_vars(spec, backup_id="../../etc", who="op")


# ---------------------------------------------------------------- manifest models

MANIFEST: dict[str, Any] = {
    "kind": "spbe-share-backup", "format": 1, "id": "20261122T101500Z-pre-upgrade-3fa2", "app": "e-office",
    "target": "kota-sorong", "release": {"version": "1.0.0", "bundle_digest": "sha256:" + "b" * 64},
    "created": "2026-11-22T10:15:00Z", "finished": "2026-11-22T10:15:04Z", "who": "budi@laptop",
    "why": "pre-upgrade", "note": None, "secrets": None,
    "items": [
        {"type": "postgresql", "component": "db", "container": "spbe-kota-sorong-e-office-db", "database": "eoffice",
         "superuser": "postgres", "owner": "eoffice", "encoding": "UTF8", "collate": "C.UTF-8", "ctype": "C.UTF-8",
         "server_version": "15.14 (Debian 15.14-0+deb12u1)", "file": "db-0-db.pgdump", "size": 27582,
         "sha256": "c" * 64},
        {"type": "volume-covered", "name": "pgdata", "component": "db", "container": "spbe-kota-sorong-e-office-db",
         "mount": "/var/lib/postgresql/data", "covered_by": "postgresql database eoffice of component db (pg_dump)"},
    ],
}  # fmt: skip


def test_manifest_model_reads_what_the_engine_writes() -> None:
    m = parse_manifest(copy.deepcopy(MANIFEST), where="kota-sorong")
    assert isinstance(m, BackupManifest) and m.size == 27582 and m.files() == ["db-0-db.pgdump"]
    # the target's own check agrees
    spec = backup_spec(catalog_entry("e-office"), target="kota-sorong", root=ROOT).as_data()
    assert store.check_manifest(copy.deepcopy(MANIFEST), backup_id=m.id, spec=spec)["id"] == m.id


@pytest.mark.parametrize(("path", "value", "problem"), [
    (("surprise",), 1, "surprise: Extra inputs are not permitted"),
    (("id",), "../../etc/passwd", "id: String should match pattern"),
    (("items", 0, "file"), "../../../root/.ssh/id_ed25519", "items[0].postgresql.file"),
    (("items", 0, "owner"), "eoffice; DROP TABLE x", "items[0].postgresql.owner"),
    (("why",), "because", "why: Input should be"),
    (("release", "bundle_digest"), "md5:1", "release.bundle_digest"),
    (("items", 1, "type"), "volume-raw", "items[1]: Input tag 'volume-raw'"),
])  # fmt: skip
def test_manifest_model_refuses_what_no_engine_writes(path: tuple[Any, ...], value: Any, problem: str) -> None:
    data = copy.deepcopy(MANIFEST)
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(VerificationFailed) as err:
        parse_manifest(data, where="kota-sorong: backup x")
    assert err.value.message.startswith("kota-sorong: backup x: not a valid backup manifest")
    assert any(problem in d for d in err.value.details), err.value.details


def test_verification_and_rows_models() -> None:
    v = parse_verification({"id": MANIFEST["id"], "ok": False, "cause": "db-0-db.pgdump: differ", "when":
                            "2026-11-22T10:16:00Z", "manifest_sha256": "d" * 64,
                            "checks": [{"item": "db-0-db.pgdump", "ok": False, "detail": "differ"}]}, where="t")
    assert not v.ok and v.checks[0].item == "db-0-db.pgdump"
    rows = parse_rows([{"id": MANIFEST["id"], "dir": "/x", "state": "unreadable", "cause": "not JSON"}], where="t")
    assert rows[0].state == "unreadable" and rows[0].version is None
    with pytest.raises(VerificationFailed, match=r"backups\[0\]"):
        parse_rows([{"id": "x/../y", "dir": "/x", "state": "verified"}], where="t")


# ---------------------------------------------------------------- schedule files


def test_cron_file_is_plain_and_runs_the_stdlib_engine() -> None:
    f = cron_file(app="e-office", root="/var/lib/spbe-share", daily="01:30", keep=14)
    assert f.path == "/etc/cron.d/spbe-share-backup-e-office" and f.mode == 0o644
    assert f.content == (
        "# spbe-share: daily backup of e-office at 01:30 (server time), keeping the newest 14.\n"
        "# Written by spbe-share (backup schedule); to change it, run that command again.\n"
        "# Each run: takes the app's lock (skipped while an upgrade runs), backs up, verifies, prunes.\n"
        "# Backups: /var/lib/spbe-share/apps/e-office/backups/   Log: /var/lib/spbe-share/apps/e-office/backups/schedule.log\n"
        "# List them: /usr/bin/python3 /var/lib/spbe-share/lib/spbe_backup_engine.py list --spec /var/lib/spbe-share/apps/e-office/backup-spec.json\n"
        "SHELL=/bin/sh\n"
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        "# minute hour day-of-month month day-of-week user command\n"
        "30 1 * * * root /usr/bin/python3 /var/lib/spbe-share/lib/spbe_backup_engine.py create --spec "
        "/var/lib/spbe-share/apps/e-office/backup-spec.json --why scheduled --who cron --keep 14 "
        ">> /var/lib/spbe-share/apps/e-office/backups/schedule.log 2>&1\n"
    )  # fmt: skip


def test_systemd_timer_and_service() -> None:
    service, timer = systemd_files(app="pengaduan", root="/srv/spbe/", daily="7:05", keep=3)
    assert (service.path, timer.path) == ("/etc/systemd/system/spbe-share-backup-pengaduan.service",
                                          "/etc/systemd/system/spbe-share-backup-pengaduan.timer")
    assert ("ExecStart=/usr/bin/python3 /srv/spbe/lib/spbe_backup_engine.py create --spec "
            "/srv/spbe/apps/pengaduan/backup-spec.json --why scheduled --who systemd-timer --keep 3\n") in service.content
    assert "Type=oneshot\n" in service.content and "SuccessExitStatus=75\n" in service.content
    assert "OnCalendar=*-*-* 07:05:00\nPersistent=true\nUnit=spbe-share-backup-pengaduan.service\n" in timer.content
    assert "WantedBy=timers.target" in timer.content
    assert schedule_files(kind="systemd", app="pengaduan", root="/srv/spbe/", daily="7:05", keep=3) == [service, timer]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"daily": "24:00"}, "expected HH:MM"),
    ({"daily": "1:5"}, "expected HH:MM"),
    ({"daily": "01:30; rm -rf /"}, "expected HH:MM"),
    ({"root": "/var/lib/spbe share"}, "plain absolute path"),
    ({"root": "/var/lib/%s"}, "plain absolute path"),
    ({"root": "relative"}, "plain absolute path"),
    ({"app": "E-Office"}, "not a slug"),
    ({"keep": 0}, "at least 1"),
])  # fmt: skip
def test_schedule_refuses_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args = {"app": "e-office", "root": ROOT, "daily": "01:30", "keep": 14} | kwargs
    with pytest.raises(InvalidInput, match=message):
        cron_file(**args)


def test_schedule_helpers() -> None:
    assert parse_daily(" 23:59 ") == (23, 59)
    assert engine_argv(app="e-office", root="/r", keep=2, who="cron", python="/opt/py/bin/python3") == [
        "/opt/py/bin/python3", "/r/lib/spbe_backup_engine.py", "create", "--spec", "/r/apps/e-office/backup-spec.json",
        "--why", "scheduled", "--who", "cron", "--keep", "2"]  # fmt: skip
    with pytest.raises(InvalidInput, match="cron or systemd"):
        schedule_files(kind="at", app="e-office", root=ROOT, daily="01:30")  # type: ignore[arg-type]
