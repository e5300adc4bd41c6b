"""Backups of e-office (PostgreSQL 15) on the real Docker engine, engine run in-process:
letters, dispositions and signatures made through the API, backed up with pg_dump while the
app serves, verified, corrupted copies caught, data destroyed, restored, every row and
every signature back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backuptest import appdata, engine, restorer, store, wait_http_ok, write_current  # noqa: E402

from spbe_share.plans.backup import backup_spec  # noqa: E402
from spbe_share.records.backups import BackupManifest, PostgresItem, VolumeCoveredItem  # noqa: E402

pytestmark = pytest.mark.docker

APP = "e-office"
SETTINGS = {"pemda_name": "Pemerintah Kota Uji", "kode_unit": "DISKOMINFO"}


def psql(container: str, sql: str, database: str = "eoffice") -> str:
    p = subprocess.run(  # noqa: S603
        ["docker", "exec", "-i", "-u", "postgres", container, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
         "-d", database], input=sql, capture_output=True, text=True, check=True)  # noqa: S607
    return p.stdout.strip()


def test_eoffice_backup_verify_destroy_restore(built_app: Any, load_app: Any, app_runner: Any, test_prefix: str,
                                               tmp_path: Path) -> None:
    loaded = load_app(APP)
    version = loaded.entry.latest.version
    built_app(APP, version)
    app = app_runner(loaded, version, settings=SETTINGS, name=APP)
    root = tmp_path / "root"
    write_current(root, APP, version)
    spec = backup_spec(loaded.entry, target=test_prefix.removeprefix("spbe-"), root=str(root)).as_data()
    db, web = (c["container"] for c in spec["components"])
    assert (db, web) == (app.containers["db"].name, app.containers["web"].name)
    admin_pw = (app.workdir / "secrets" / "ADMIN_PASSWORD").read_text().strip()

    seeded = appdata.eoffice_seed(app.url, admin_pw, letters=24, signed=4)
    before = appdata.eoffice_measure(db, base_url=app.url)
    assert before.problems == [] and before.signatures == 4
    assert before.counts["letters"] == 24 and before.counts["dispositions"] == 3 * seeded["chains"] > 0

    t0 = time.monotonic()
    m = BackupManifest.model_validate(engine.create(spec, why="pre-upgrade", who="tester"))
    t_create = time.monotonic() - t0
    pg, covered = m.items
    assert isinstance(pg, PostgresItem) and isinstance(covered, VolumeCoveredItem)
    assert (pg.database, pg.owner, pg.encoding) == ("eoffice", "eoffice", "UTF8")
    assert pg.server_version.startswith("15") and pg.container == db
    assert covered.name == "pgdata" and "pg_dump" in covered.covered_by  # never a raw copy of a live data dir
    t0 = time.monotonic()
    checked = engine.verify(spec, m.id)
    t_verify = time.monotonic() - t0
    assert checked["ok"], checked["cause"]
    assert "tables with data" in checked["checks"][0]["detail"]

    # the engine's own tool catches what sums alone would not see (damage made before the sums)
    dump = Path(store.backups_dir(spec)) / m.id / pg.file
    damaged = tmp_path / "damaged.pgdump"
    data = bytearray(dump.read_bytes())
    at = int(len(data) * 0.9)
    data[at:at + 16] = bytes(b ^ 0x5A for b in data[at:at + 16])
    damaged.write_bytes(bytes(data))
    with pytest.raises(store.BackupError, match="pg_restore"):
        engine._check_pg(engine.Docker(), spec, pg.model_dump(), str(damaged))
    damaged.write_bytes(dump.read_bytes()[: int(len(data) * 0.6)])
    with pytest.raises(store.BackupError, match="pg_restore"):
        engine._check_pg(engine.Docker(), spec, pg.model_dump(), str(damaged))

    # with the database component stopped (e.g. during a rollback), pg_restore runs in a helper
    # container from the component's image
    subprocess.run(["docker", "stop", db], check=True, capture_output=True)  # noqa: S603,S607
    try:
        again = engine.verify(spec, m.id)
        assert again["ok"], again["cause"]
    finally:
        subprocess.run(["docker", "start", db], check=True, capture_output=True)  # noqa: S603,S607
    engine.Docker().wait_pg_ready(db, "postgres")

    # damage to the backup itself: flipped bytes, then a truncated file; verify says so, restore refuses
    original = dump.read_bytes()
    try:
        for broken in (bytes(data), original[: len(original) // 2]):
            dump.write_bytes(broken)
            bad = engine.verify(spec, m.id)
            assert not bad["ok"] and "differ from the manifest" in bad["cause"], bad
            assert store.summary(spec, m.id)["state"] == "failed"
            with pytest.raises(store.BackupError, match="failed verification, not restoring"):
                restorer.restore(spec, m.id, expect_version=version)
            assert engine.Docker().running(web)  # refused before anything stopped
    finally:
        dump.write_bytes(original)

    # after the backup: new letters through the API, then real damage in the database
    appdata.eoffice_seed(app.url, admin_pw, letters=6, signed=1, tag="b")
    psql(db, "DELETE FROM dispositions; UPDATE letters SET perihal = 'rusak'; DROP TABLE signatures CASCADE;")
    assert not appdata.eoffice_measure(db).same_data(before)

    t0 = time.monotonic()
    result = restorer.restore(spec, m.id, expect_version=version)
    t_restore = time.monotonic() - t0
    assert result["stopped"] == [web] and result["started"] == [web]
    base = wait_http_ok(web)
    after = appdata.eoffice_measure(db, base_url=base)
    assert after.same_data(before), after.diff(before)
    assert after.problems == [] and after.signatures == 4
    assert psql(db, "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'") == "eoffice"
    assert psql(db, "SELECT count(*) FROM pg_database WHERE datname LIKE 'eoffice\\_\\_spbe%'", "postgres") == "0"
    # the restored database takes new work: the numbering continues after the restored letters
    staff = appdata.Api(base).login("sekre-a", "sandi-sekre-a-123")
    new = staff.call("POST", "/api/v1/letters", {"jenis": "masuk", "perihal": "setelah pemulihan", "pengirim": "x",
                                                "kode_klasifikasi": "000", "kode": "UM"}, expect=201)
    assert new["id"] > int(psql(db, f"SELECT max(id) FROM letters WHERE id <> {int(new['id'])}"))
    print(f"\ne-office 24 letters: dump {pg.size} bytes, create {t_create:.1f}s, verify {t_verify:.1f}s, "
          f"restore {t_restore:.1f}s")


def test_fixtures_and_backup_on_e_office_1_0_0(built_app: Any, load_app: Any, app_runner: Any, test_prefix: str,
                                               tmp_path: Path) -> None:
    """The fault tests start from 1.0.0 (no klasifikasi fields): the fixtures work there too."""
    loaded = load_app(APP)
    oldest = min((r.version for r in loaded.entry.releases), key=lambda v: tuple(int(x) for x in v.split(".")))
    built_app(APP, oldest)
    app = app_runner(loaded, oldest, settings=SETTINGS, name=APP)
    root = tmp_path / "root"
    write_current(root, APP, oldest)
    spec = backup_spec(loaded.entry, target=test_prefix.removeprefix("spbe-"), root=str(root)).as_data()
    db = spec["components"][0]["container"]
    admin_pw = (app.workdir / "secrets" / "ADMIN_PASSWORD").read_text().strip()
    seeded = appdata.eoffice_seed(app.url, admin_pw, letters=6, signed=2)
    assert seeded["klasifikasi"] is False
    before = appdata.eoffice_measure(db, base_url=app.url)
    assert before.problems == [] and before.signatures == 2 and "klasifikasi_arsip" not in before.counts
    m = engine.create(spec, why="manual", who="tester")
    assert m["release"]["version"] == oldest and engine.verify(spec, m["id"])["ok"]
    # data of 1.0.0 never restores under another version (that is a rollback's job)
    with pytest.raises(store.BackupError, match=f"holds the data of e-office {oldest}"):
        restorer.restore(spec, m["id"], expect_version=loaded.entry.latest.version)
    assert appdata.eoffice_measure(db).same_data(before)
