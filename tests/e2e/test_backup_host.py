"""End to end over SSH (issue 19 item 5): a Pemda data center of two simulated hosts, the app's
host and a backup host (its own sshd, host key, data folder and home). e-office is installed on
the app host; letters and signatures are made through its API.

One test, one set-up (an install is the expensive part): ``backup`` lands on the backup host
and is checked there (sent host to host with the app host's own key, which may only put, get
and list); a scheduled run (the engine's command line, as cron runs it) copies its backup too;
``backup list`` says where each is. Then the app host is lost (its containers, volumes and whole
data folder: secrets, records, backups, key): ``restore`` brings the backup back from the backup
host, puts the sealed secrets back, installs the release again and restores: every letter and
every signature is back.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from simdc import TARGET_PYTHON, SimDC, donor_kode, remove_docker_objects, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from appdata import eoffice_measure, eoffice_seed  # noqa: E402
from backuptest import published_url  # noqa: E402
from conftest import unique  # noqa: E402

pytestmark = pytest.mark.e2e

APP = "e-office"
TODAY = dt.date.today()


@pytest.fixture
def two_hosts(sshd_ok: None, tmp_path: Path) -> Iterator[tuple[SimDC, SimDC]]:
    app = SimDC(name=unique("bh-app"), base=tmp_path / "dcs", address="127.0.0.250", pemda="Kota Sorong",
                kode_wilayah="96.71")
    bak = SimDC(name=unique("bh-backup"), base=tmp_path / "dcs", address="127.0.0.251", pemda="Kota Sorong",
                kode_wilayah="96.71", own_home=True, app_ports=())
    started: list[SimDC] = []
    try:
        started += [app.start(), bak.start()]
        yield app, bak
    finally:
        for dc in started:
            dc.stop()


def test_backups_land_on_the_backup_host_and_restore_a_lost_app_host(
    two_hosts: tuple[SimDC, SimDC], bundles: dict[str, Path], tmp_path: Path
) -> None:
    if APP not in bundles:
        pytest.skip("catalog/e-office is not there")
    a, b = two_hosts
    name = unique("bh-dinas")
    home = tmp_path / "ws"

    def cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_cli(home, *args, check=check, timeout=timeout)

    try:
        cli("target", "add", name, "--user", "root", "--pemda", a.pemda, "--kode-wilayah", a.kode_wilayah,
            "--python", TARGET_PYTHON, "--root", str(a.root), "--root", f"backup={b.root}",
            "--host", f"app={a.address}", "--key", f"app={a.client_key}",
            "--host-key-fingerprint", f"app={a.host_key_fingerprint()}",
            "--host", f"backup={b.address}", "--key", f"backup={b.client_key}",
            "--host-key-fingerprint", f"backup={b.host_key_fingerprint()}")  # fmt: skip
        cli("keys", "trust", str(bundles[f"{APP}.pub"]), "--donor-kode", donor_kode(APP))
        cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", a.pemda,
            "--adopter-kode", a.kode_wilayah, "--number", "PKS/BH/2026", "--signed", TODAY.isoformat(),
            "--valid-until", (TODAY + dt.timedelta(days=30)).isoformat(), "--scope", "install", "--scope",
            "support")  # fmt: skip
        cli("install", APP, "--target", name, "--bundle", str(bundles[APP]), "--set",
            "pemda_name=Pemerintah Kota Sorong", timeout=900)
        url, db = published_url(f"spbe-{name}-{APP}-web"), f"spbe-{name}-{APP}-db"
        admin = (a.root / "apps" / APP / "secrets" / "ADMIN_PASSWORD").read_text()
        eoffice_seed(url, admin, letters=8, signed=2, tag="a")
        before = eoffice_measure(db)

        # 1. an on-demand backup: made on the app host, copied host to host, checked on the backup host
        out = json.loads(cli("backup", APP, "--target", name, "--json", timeout=600).stdout)
        bid = out["id"]
        assert out["backup_host"] == f"{name}--backup" and out["verified"] is True
        copies = b.root / "backup-copies" / name
        received = json.loads((copies / bid / "received.json").read_text())
        assert received["ok"] is True
        assert all(c["ok"] for c in received["checks"])
        assert any(c["detail"] == "sha256 ok; pg_dump custom format header" for c in received["checks"])
        assert (copies / bid / "manifest.json").read_bytes() == (
            a.root / "apps" / APP / "backups" / bid / "manifest.json").read_bytes()
        link = a.root / "backup-host-link"
        assert (link / "id_ed25519").stat().st_mode & 0o777 == 0o600
        line = (b.home / ".ssh" / "authorized_keys").read_text().splitlines()[-1]
        assert line.startswith(f'restrict,command="{TARGET_PYTHON} {b.root}/lib/spbe_backup_host.py serve {copies}"')
        assert line.endswith(f"spbe-backup:{name}")

        # the app host's key opens no shell on the backup host, and reads nothing outside its folder
        ssh = ["ssh", "-i", str(link / "id_ed25519"), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
               "-o", f"UserKnownHostsFile={link / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
               f"root@{b.address}"]  # fmt: skip
        for command in (["cat", "/etc/hostname"], ["get", f"../../{bid}"], ["rm", "-rf", str(copies)]):
            proc = subprocess.run([*ssh, *command], capture_output=True, text=True, timeout=60)  # noqa: S603
            assert proc.returncode == 1 and "spbe-backup-host:" in proc.stderr, (command, proc.stderr)
        assert (copies / bid / "received.json").is_file()

        # 2. a scheduled run (the command line the cron file calls) copies its backup too
        proc = subprocess.run([TARGET_PYTHON, str(a.root / "lib" / "spbe_backup_engine.py"), "create", "--spec",  # noqa: S603
                               str(a.root / "apps" / APP / "backup-spec.json"), "--why", "scheduled"],
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        scheduled = json.loads(proc.stdout)
        assert scheduled["offsite"]["ok"] is True and (copies / scheduled["id"] / "received.json").is_file()

        listing = json.loads(cli("backup", "list", APP, "--target", name, "--json").stdout)
        assert listing["backup_host"] == f"{name}--backup"
        assert {r["id"]: r["where"] for r in listing["backups"]} == {bid: "both", scheduled["id"]: "both"}

        # 3. the app host is lost: its containers, volumes, network and every file spbe-share kept there
        remove_docker_objects(f"spbe-{name}-")
        shutil.rmtree(a.root)
        proc = cli("restore", APP, bid, "--target", name, "--yes", "--bundle", str(bundles[APP]), timeout=900)
        assert f"backup {bid} brought back onto {name} from its backup host" in proc.stderr + proc.stdout
        assert f"restored {bid}" in proc.stdout
        after = eoffice_measure(db, base_url=published_url(f"spbe-{name}-{APP}-web"))
        assert after.same_data(before), after.diff(before)
        assert after.counts["letters"] == 8 and after.signatures == 2 and after.problems == []
        # the new host has a new key; the lost host's key no longer opens the backup host
        keys = [ln for ln in (b.home / ".ssh" / "authorized_keys").read_text().splitlines() if name in ln]
        assert len(keys) == 1 and line not in keys
    finally:
        remove_docker_objects(f"spbe-{name}-")
        for path in Path("/etc/cron.d").glob(f"spbe-share-backup-{name}-*"):
            path.unlink()
