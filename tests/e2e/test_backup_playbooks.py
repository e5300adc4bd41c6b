"""End to end over SSH: ``playbooks/backup.yml`` and ``playbooks/restore.yml`` on a simulated
data center, run through ``spbe_share.remote.runner.run_playbook`` (the CLI commands come later).

Pengaduan is installed by the real ``spbe-share install`` into a fresh DC, complaints are made
through its API, then: backup.yml (create + verify + prune, under the lock), more data, and
restore.yml (safety backup, restore, health). Counts and checksums equal those at backup time,
and no complaint text ever reaches the operator's run folders.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from simdc import donor_kode, make_e2e_workspace, remove_docker_objects

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backuptest import appdata, published_url, store  # noqa: E402

from spbe_share.plans.backup import backup_spec  # noqa: E402
from spbe_share.plans.builders import lock_vars  # noqa: E402
from spbe_share.plans.opvars import backup_vars, restore_vars  # noqa: E402
from spbe_share.records import state  # noqa: E402
from spbe_share.records.backups import (  # noqa: E402
    BackupPlayResult,
    RestorePlayResult,
    parse_manifest,
    parse_verification,
)

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APP = "pengaduan"
TARGET = "kota-cadangan"




@pytest.fixture
def installed(simdc_factory: Any, tmp_path: Path) -> Any:
    from spbe_share.bundle.keys import export_public, generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    donor = Workspace.from_options(tmp_path / "donor")
    donor.ensure()
    key = generate_key(donor, donor_kode=donor_kode(APP))
    pub = tmp_path / "donor.pub"
    pub.write_text(export_public(donor, key.name))
    loaded = get_entry(donor, APP)
    bundle = build_bundle(donor, loaded, version=loaded.entry.latest.version, key=load_private_key(donor, key.name)).path

    dc = simdc_factory(TARGET, pemda="Kota Cadangan", kode_wilayah="96.73")
    w = make_e2e_workspace(tmp_path / "operator", {TARGET: dc})
    w.cli("keys", "trust", str(pub), "--donor-kode", donor_kode(APP))
    today = dt.date.today()
    w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", dc.pemda,
          "--adopter-kode", dc.kode_wilayah, "--number", "PKS/CADANGAN/2026", "--signed", today.isoformat(),
          "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
    prefix = f"spbe-{dc.name}-{APP}"
    remove_docker_objects(prefix + "-")
    try:
        w.cli("install", APP, "--target", dc.name, "--bundle", str(bundle), timeout=900)
        yield w, dc, loaded.entry
    finally:
        remove_docker_objects(prefix + "-")
        remove_docker_objects(prefix)


def test_backup_and_restore_playbooks_over_ssh(installed: Any) -> None:
    from spbe_share.remote.runner import run_playbook
    from spbe_share.targets.inventory import get_target

    w, dc, entry = installed
    ws = w.ws
    name = dc.name  # the target's name (unique to this test session); TARGET is the logical name
    target = get_target(ws, name)
    web = state.container_name(name, APP, "web")
    staff_password = (dc.root / "apps" / APP / "secrets" / "STAFF_PASSWORD").read_text().strip()
    base = published_url(web)
    appdata.pengaduan_seed(base, staff_password, complaints=12, tag="e2e")
    before = appdata.pengaduan_measure(web)
    spec = backup_spec(entry, target=name, root=target.root)

    owner = state.new_lock_owner(who="e2e-test", operation=f"backup {APP}")
    run = run_playbook(ws, op="backup", target=name, app=APP, playbook="backup.yml", targets=[target],
                       extravars={**backup_vars(spec, why="manual", who="e2e-test", keep=3),
                                  **lock_vars(owner, break_lock=False)})
    assert run.ok, f"{run.failed_task}: {run.failed_message}"
    print(f"\nbackup.yml over SSH: {run.seconds:.1f}s")
    out = run.stats[name]["spbe_backup"]
    BackupPlayResult.model_validate(out)  # what an operation on the core reads with host_data(...)
    manifest = parse_manifest(out["backup"], where=f"{name}: backup")
    verification = parse_verification(out["verification"], where=f"{name}: verification")
    assert verification.ok and verification.id == manifest.id
    current = json.loads((dc.root / "apps" / APP / "current.json").read_text())
    assert manifest.release.version == current["version"]
    assert manifest.release.bundle_digest == current["bundle_digest"]  # read from the target's record
    folder = dc.root / "apps" / APP / "backups" / manifest.id
    assert (folder / "manifest.json").is_file() and (folder / "verification.json").is_file()
    assert (dc.root / "lib" / "spbe_backup_engine.py").is_file()  # for scheduled runs
    assert json.loads((dc.root / "apps" / APP / "backup-spec.json").read_text()) == spec.as_data()
    assert not (dc.root / "locks" / f"{APP}.lock").exists()

    appdata.pengaduan_seed(base, staff_password, complaints=4, tag="later")
    assert not appdata.pengaduan_measure(web).same_data(before)

    owner = state.new_lock_owner(who="e2e-test", operation=f"restore {APP}")
    run = run_playbook(ws, op="restore", target=name, app=APP, playbook="restore.yml", targets=[target],
                       extravars={**restore_vars(spec, backup_id=manifest.id, who="e2e-test"),
                                  **lock_vars(owner, break_lock=False)})
    assert run.ok, f"{run.failed_task}: {run.failed_message}"
    print(f"restore.yml over SSH (safety backup, restore, health): {run.seconds:.1f}s")
    for t in sorted(run.timings, key=lambda t: -t.seconds)[:6]:
        print(f"  {t.seconds:6.1f}s {t.name}")
    out = run.stats[name]["spbe_restore"]
    RestorePlayResult.model_validate(out)
    assert out["restore"]["id"] == manifest.id and out["restore"]["started"] == [web]
    assert out["safety_backup"] != manifest.id
    after = appdata.pengaduan_measure(web)
    assert after.same_data(before), after.diff(before)

    # the safety backup holds the data as it was just before the restore (16 complaints)
    rows = {r["id"]: r for r in json.loads(json.dumps(_list(spec.as_data())))}
    assert rows[out["safety_backup"]]["why"] == "pre-restore" and rows[out["safety_backup"]]["state"] == "verified"

    # a restore of another version is refused before anything stops, and says why
    owner = state.new_lock_owner(who="e2e-test", operation=f"restore {APP}")
    run = run_playbook(ws, op="restore", target=name, app=APP, playbook="restore.yml", targets=[target],
                       extravars={**restore_vars(spec, backup_id=manifest.id, who="e2e-test", version="9.9.9",
                                               safety_backup=False), **lock_vars(owner, break_lock=False)})
    assert not run.ok and "the version that will run is 9.9.9" in (run.failed_message or "")
    assert appdata.pengaduan_measure(web).same_data(before)
    assert not (dc.root / "locks" / f"{APP}.lock").exists()

    # dumps and data never reach the operator's workspace (run folders, job events, audit log)
    for p in [ws.audit_log, *ws.runs_dir.rglob("*")]:
        if p.is_file():
            text = p.read_bytes()
            assert b"Uraian pengaduan nomor" not in text, p
            assert b"SQLite format 3" not in text, p


def _list(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return store.list_backups(spec)["backups"]
