"""End to end over SSH: backup, backup list, restore, backup schedule, uninstall, secrets
travelling with data (issues 8 and 12) and the backup host (issue 19 item 5), through the real
CLI on two simulated data centers; A's has a second host, its backup host (its own sshd, host
key, data folder and home).

One module: e-office is installed once on DC A and letters, dispositions and signatures are
made through its API (tests/appdata.py). Tests run in file order and share that state:

1. ``backup --fetch``: verified, id and size printed, secrets sealed; no secret value in clear
   in the workspace, in the fetched copy, in the run logs, or in the backup on the target. The
   backup lands on the backup host and is checked there (sent host to host with the app host's
   own key, which opens no shell there and may not read or delete outside its folder).
2. A scheduled run (the engine's command line, as cron runs it) copies its backup too; ``backup
   list`` marks the local copy and says where each backup is (both hosts); ``backup schedule``
   writes a plain cron file, ``--off`` removes it. ``watch enable`` (issue 20 item 5) with a disk threshold below A's use: the check
   on A sends exactly one email to a real local SMTP server and one webhook (a second run sends
   none), ``fleet status`` and ``status`` show the warning; a record left 2 h old is "stale".
3. ``restore`` in place: refused without a terminal or ``--yes``; with it, the rows made after
   the backup are gone, every letter of the backup is back, signatures verify.
4. The wiped root (issue 12): A loses ``<root>/apps/e-office`` (secrets, records, backups); the
   data volume survives. ``install`` is refused before any container changes, with the clear
   message. Then A's host is lost (containers, volumes, whole root with its backup key):
   ``restore`` of the scheduled backup (never fetched) brings it back from the backup host, puts
   the sealed secrets back, installs again and restores: every letter and signature is back, the
   lost host's key no longer opens the backup host.
5. Disaster recovery: A is destroyed (containers, volumes, root, sshd); ``restore --to-target B``
   from the fetched copy brings every letter back on B and every signature verifies.
6. On B: ``secrets rotate`` refuses ``SECRET_KEY`` and rotates ``DB_PASSWORD`` (healthy after);
   a failed health check names its cause (the web's log line) without secrets.
7. ``uninstall`` on B keeps the data (installing again brings it back); ``uninstall
   --delete-data`` takes a final fetched backup, then removes the data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simdc import (
    TARGET_PYTHON,
    E2EWorkspace,
    SimDC,
    donor_kode,
    make_e2e_workspace,
    remove_docker_objects,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from alertsinks import http_receiver, smtp_server  # noqa: E402
from appdata import eoffice_measure, eoffice_seed  # noqa: E402
from backuptest import published_url, wait_http_ok  # noqa: E402

from spbe_share.errors import ExitCode  # noqa: E402

pytestmark = pytest.mark.e2e

APP = "e-office"
TODAY = dt.date.today()


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607




def containers(prefix: str) -> list[str]:
    """``name id state`` of every container whose name starts with ``prefix``."""
    return sorted(ln for ln in _docker("ps", "-a", "--format", "{{.Names}} {{.ID}} {{.State}}").splitlines()
                  if ln.startswith(prefix))


class World:
    """The module's shared state."""

    def __init__(self, w: E2EWorkspace, a: SimDC, b: SimDC, bh: SimDC, bundle: Path) -> None:
        self.w, self.a, self.b, self.bh, self.bundle = w, a, b, bh, bundle
        self.before: Any = None  # fingerprint of A's data at backup time
        self.backup_id = ""
        self.scheduled_id = ""  # a scheduled backup of the same data, never fetched
        self.key_line = ""  # the line letting A's backup key in on the backup host
        self.secrets: dict[str, bytes] = {}

    def url(self, dc: SimDC) -> str:
        return published_url(f"spbe-{dc.name}-{APP}-web")

    def db(self, dc: SimDC) -> str:
        return f"spbe-{dc.name}-{APP}-db"


@pytest.fixture(scope="module")
def world(sshd_ok: None, bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if APP not in bundles:
        pytest.skip("catalog/e-office is not there")
    base = tmp_path_factory.mktemp("opsdc")
    run = f"t{secrets.token_hex(2)}"  # target names unique to this run (the Docker engine is shared)
    a = SimDC(name=f"{run}-ops-a", base=base, address="127.0.0.250", pemda="Kota Sorong", kode_wilayah="96.71")
    b = SimDC(name=f"{run}-ops-b", base=base, address="127.0.0.251", pemda="Kota Sorong", kode_wilayah="96.71")
    # A's backup host: no app runs there (any free loopback address), its own home (~/.ssh)
    bh = SimDC(name=f"{run}-ops-bh", base=base, pemda="Kota Sorong", kode_wilayah="96.71", own_home=True,
               app_ports=())
    started: list[SimDC] = []
    try:
        started += [a.start(), b.start(), bh.start()]
        w = make_e2e_workspace(tmp_path_factory.mktemp("operator"), {"b": b})
        w.cli("target", "add", a.name, "--user", "root", "--pemda", a.pemda, "--kode-wilayah", a.kode_wilayah,
              "--python", TARGET_PYTHON, "--root", str(a.root), "--root", f"backup={bh.root}",
              "--host", f"app={a.address}", "--key", f"app={a.client_key}",
              "--host-key-fingerprint", f"app={a.host_key_fingerprint()}",
              "--host", f"backup={bh.address}", "--key", f"backup={bh.client_key}",
              "--host-key-fingerprint", f"backup={bh.host_key_fingerprint()}")  # fmt: skip
        w.dcs["a"] = a
        w.cli("keys", "trust", str(bundles[f"{APP}.pub"]), "--donor-kode", donor_kode(APP))
        w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", a.pemda,
              "--adopter-kode", a.kode_wilayah, "--number", "PKS/OPS/2026", "--signed", TODAY.isoformat(),
              "--valid-until", (TODAY + dt.timedelta(days=30)).isoformat(), "--scope", "install", "--scope",
              "support")
        w.cli("install", APP, "--target", a.name, "--bundle", str(bundles[APP]), "--set",
              "pemda_name=Pemerintah Kota Sorong", timeout=900)
        world = World(w, a, b, bh, bundles[APP])
        admin = (a.root / "apps" / APP / "secrets" / "ADMIN_PASSWORD").read_text()
        eoffice_seed(world.url(a), admin, letters=12, signed=3, tag="a")
        yield world
    finally:
        for dc in (a, b):
            remove_docker_objects(f"spbe-{dc.name}-")
            for path in [*Path("/etc/cron.d").glob(f"spbe-share-backup-{dc.name}-*"),
                         *Path("/etc/cron.d").glob(f"spbe-share-watch-{dc.name}")]:
                path.unlink()
        for dc in started:
            dc.stop()


def files_holding(folder: Path, values: list[bytes]) -> list[str]:
    out = []
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            out += [f"{p}" for v in values if v in data]
    return out


def test_backup_is_verified_fetched_and_carries_its_secrets_sealed(world: World) -> None:
    w, a = world.w, world.a
    world.before = eoffice_measure(world.db(a))
    assert world.before.counts["letters"] == 12 and world.before.signatures == 3, world.before
    proc = w.cli("backup", APP, "--target", a.name, "--fetch", timeout=600)
    first = proc.stdout.splitlines()[0]
    assert first.startswith("backup ") and f"on {a.name}" in first and "verified" in first, proc.stdout
    world.backup_id = first.split()[1].rstrip(":")
    assert "sealed to your key: ADMIN_PASSWORD, DB_PASSWORD, SECRET_KEY" in proc.stdout
    copy = w.home / "backups" / a.name / APP / world.backup_id
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["secrets"]["file"] == "secrets.age" and (copy / "secrets.age").read_bytes().startswith(b"age-")
    assert copy.stat().st_mode & 0o777 == 0o700 and (copy / "secrets.age").stat().st_mode & 0o777 == 0o600

    world.secrets = {p.name: p.read_bytes() for p in (a.root / "apps" / APP / "secrets").iterdir() if p.is_file()}
    values = list(world.secrets.values())
    assert all(len(v) >= 16 for v in values)
    # never in clear: in the workspace (copy, run logs, audit), nor in the target's backups
    assert files_holding(w.home, values) == []
    assert files_holding(a.root / "apps" / APP / "backups", values) == []
    assert not any(v.decode() in proc.stdout + proc.stderr for v in values)

    # the backup host: the copy was sent host to host and checked there
    assert f"copy on the backup host {a.name}--backup: sent host to host, checked there" in proc.stdout
    copies = world.bh.root / "backup-copies" / a.name
    received = json.loads((copies / world.backup_id / "received.json").read_text())
    assert received["ok"] is True and all(c["ok"] for c in received["checks"])
    assert any(c["detail"] == "sha256 ok; pg_dump custom format header" for c in received["checks"])
    assert (copies / world.backup_id / "manifest.json").read_bytes() == (
        a.root / "apps" / APP / "backups" / world.backup_id / "manifest.json").read_bytes()
    assert files_holding(copies, values) == []  # the secrets travel sealed there too
    link = a.root / "backup-host-link"
    assert (link / "id_ed25519").stat().st_mode & 0o777 == 0o600
    world.key_line = (world.bh.home / ".ssh" / "authorized_keys").read_text().splitlines()[-1]
    assert world.key_line.startswith(
        f'restrict,command="{TARGET_PYTHON} {world.bh.root}/lib/spbe_backup_host.py serve {copies}"')
    assert world.key_line.endswith(f"spbe-backup:{a.name}")

    # the app host's key opens no shell on the backup host, reads and deletes nothing outside its folder
    ssh = ["ssh", "-i", str(link / "id_ed25519"), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
           "-o", f"UserKnownHostsFile={link / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
           f"root@{world.bh.address}"]  # fmt: skip
    for command in (["cat", "/etc/hostname"], ["get", f"../../{world.backup_id}"], ["rm", "-rf", str(copies)]):
        run = subprocess.run([*ssh, *command], capture_output=True, text=True, timeout=60)  # noqa: S603
        assert run.returncode == 1 and "spbe-backup-host:" in run.stderr, (command, run.stderr)
    assert (copies / world.backup_id / "received.json").is_file()


def test_backup_list_and_schedule(world: World) -> None:
    w, a = world.w, world.a
    # a scheduled run (the command line the cron file calls) copies its backup onto the backup host too
    proc = subprocess.run([TARGET_PYTHON, str(a.root / "lib" / "spbe_backup_engine.py"), "create", "--spec",  # noqa: S603
                           str(a.root / "apps" / APP / "backup-spec.json"), "--why", "scheduled"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    scheduled = json.loads(proc.stdout)
    world.scheduled_id = scheduled["id"]
    assert scheduled["offsite"]["ok"] is True
    copy = world.bh.root / "backup-copies" / a.name / world.scheduled_id
    assert (copy / "received.json").is_file()
    assert json.loads((copy / "manifest.json").read_text())["secrets"] is not None  # sealed: restorable anywhere

    listing = json.loads(w.cli("backup", "list", APP, "--target", a.name, "--json").stdout)
    row = next(r for r in listing["backups"] if r["id"] == world.backup_id)
    assert row["state"] == "verified" and row["secrets"] is True and row["local_copy"]
    assert listing["serving"]
    assert listing["backup_host"] == f"{a.name}--backup"
    assert {r["id"]: r["where"] for r in listing["backups"]} == {world.backup_id: "both", world.scheduled_id: "both"}

    proc = w.cli("backup", "schedule", APP, "--target", a.name, "--daily", "02:30", "--keep", "5")
    cron = Path(f"/etc/cron.d/spbe-share-backup-{a.name}-{APP}")
    assert f"wrote {cron}" in proc.stdout
    text = cron.read_text()
    assert "30 2 * * * root" in text and "--keep 5" in text and "--why scheduled" in text
    listing = json.loads(w.cli("backup", "list", APP, "--target", a.name, "--json").stdout)
    assert listing["schedule"] == [str(cron)]
    assert f"removed {cron}" in w.cli("backup", "schedule", APP, "--target", a.name, "--off").stdout
    assert not cron.exists()


def test_watch_alerts_once_and_warns_in_fleet_status(world: World) -> None:
    w, a = world.w, world.a
    cron = Path(f"/etc/cron.d/spbe-share-watch-{a.name}")
    with smtp_server() as (port, mails), http_receiver() as (url, hooks):
        settings = {"defaults": {"every_minutes": 10, "webhook": {"url": url},
                                 "email": {"host": "127.0.0.1", "port": port, "sender": "spbe@pemda.go.id",
                                           "to": ["tik@pemda.go.id"]}},
                    "targets": {a.name: {"thresholds": {"disk_percent": 1}}}}  # below A's use: a real warning
        (w.home / "watch.yml").write_text(json.dumps(settings))  # JSON is YAML
        proc = w.cli("watch", "enable", "--target", a.name)
        assert f"wrote {cron}" in proc.stdout and "*/10 * * * * root" in cron.read_text()
        assert f"checked {a.name}: 1 warning(s)" in proc.stdout and "warning: disk of" in proc.stdout, proc.stdout
        again = w.cli("watch", "run", "--target", a.name)  # the condition lasts: no second alert
        assert f"checked {a.name}: 1 warning(s)" in again.stdout and cron.exists()  # run leaves the schedule
        assert len(mails) == 1 and len(hooks) == 1, (mails, hooks)
    assert str(mails[0]["Subject"]).startswith(f"[spbe-share] {a.name}: disk of {a.root}")
    assert mails[0]["To"] == "tik@pemda.go.id" and hooks[0]["key"] == "disk" and hooks[0]["target"] == a.name
    record = json.loads((a.root / "watch" / "last.json").read_text())
    assert record["apps"][0]["health"] == "healthy" and record["apps"][0]["last_verified_backup"]

    fleet = w.cli("fleet", "status", "--target", a.name)
    assert "WARNING" in fleet.stdout and f"warning: {a.name}/{APP}: disk of {a.root}" in fleet.stderr

    # a check that stopped running is itself a warning (older than 2 intervals)
    record["checked_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (a.root / "watch" / "last.json").write_text(json.dumps(record))
    status = json.loads(w.cli("status", "--target", a.name, "--json").stdout)
    assert any("the watch has not run for 120 min" in m for m in status[0]["warnings"]), status
    assert f"removed {cron}" in w.cli("watch", "off", "--target", a.name).stdout and not cron.exists()


def test_restore_in_place_asks_then_brings_the_backup_back(world: World) -> None:
    w, a = world.w, world.a
    admin = world.secrets["ADMIN_PASSWORD"].decode()
    eoffice_seed(world.url(a), admin, letters=4, signed=1, tag="b")  # written after the backup
    changed = eoffice_measure(world.db(a))
    assert changed.counts["letters"] == 16

    proc = w.cli("restore", APP, world.backup_id, "--target", a.name, check=False)  # no terminal, no --yes
    assert proc.returncode == int(ExitCode.INVALID_INPUT) and "give --yes" in proc.stderr
    assert eoffice_measure(world.db(a)).same_data(changed)

    proc = w.cli("restore", APP, world.backup_id, "--target", a.name, "--yes", timeout=600)
    assert f"restored {world.backup_id}" in proc.stdout and "safety backup of the data before:" in proc.stdout
    after = eoffice_measure(world.db(a), base_url=world.url(a))
    assert after.same_data(world.before), after.diff(world.before)
    assert after.signatures == 3 and after.problems == []


def test_wiped_root_is_refused_before_start(world: World) -> None:
    w, a = world.w, world.a
    app_dir = a.root / "apps" / APP
    shutil.rmtree(app_dir)  # secrets, records, backups on the target: gone; the volume stays
    before = containers(f"spbe-{a.name}-")
    proc = w.cli("install", APP, "--target", a.name, "--bundle", str(world.bundle), "--set",
                 "pemda_name=Pemerintah Kota Sorong", check=False, timeout=600)
    assert proc.returncode == int(ExitCode.CONFLICT), proc.stderr
    assert "found existing data (volume spbe-" in proc.stderr and "Nothing was started" in proc.stderr
    assert "DB_PASSWORD" in proc.stderr and f"spbe-share restore {APP} BACKUP_ID --target {a.name}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert containers(f"spbe-{a.name}-") == before  # no container was recreated or started
    assert not (app_dir / "secrets" / "DB_PASSWORD").exists()



def test_a_lost_app_host_comes_back_from_its_backup_host(world: World) -> None:
    w, a = world.w, world.a
    # A's host is lost: its containers, volumes, network and every file spbe-share kept there
    # (secrets, records, backups, its backup key); the scheduled backup was never fetched
    remove_docker_objects(f"spbe-{a.name}-")
    shutil.rmtree(a.root)
    assert not (w.home / "backups" / a.name / APP / world.scheduled_id).exists()
    proc = w.cli("restore", APP, world.scheduled_id, "--target", a.name, "--yes", "--bundle", str(world.bundle),
                 timeout=900)
    assert f"backup {world.scheduled_id} brought back onto {a.name} from its backup host" in proc.stdout + proc.stderr
    assert f"restored {world.scheduled_id}" in proc.stdout
    after = eoffice_measure(world.db(a), base_url=world.url(a))
    assert after.same_data(world.before), after.diff(world.before)
    assert after.counts["letters"] == 12 and after.signatures == 3 and after.problems == []
    assert {p.name: p.read_bytes() for p in (a.root / "apps" / APP / "secrets").iterdir() if p.is_file()} == world.secrets
    # the new host has a new key; the lost host's key no longer opens the backup host
    keys = [ln for ln in (world.bh.home / ".ssh" / "authorized_keys").read_text().splitlines() if a.name in ln]
    assert len(keys) == 1 and world.key_line not in keys


def test_disaster_recovery_onto_another_data_center(world: World) -> None:
    w, a, b = world.w, world.a, world.b
    # data center A is lost: its containers, volumes, network, spbe-share root and server
    remove_docker_objects(f"spbe-{a.name}-")
    shutil.rmtree(a.root)
    a.stop()
    proc = w.cli("restore", APP, world.backup_id, "--target", a.name, "--to-target", b.name, "--yes", "--bundle",
                 str(world.bundle), timeout=900)
    assert f"restored {world.backup_id} into {APP}" in proc.stdout and f"on {b.name}" in proc.stdout
    after = eoffice_measure(world.db(b), base_url=world.url(b))
    assert after.same_data(world.before), after.diff(world.before)
    assert after.counts["letters"] == 12 and after.signatures == 3 and after.problems == []
    assert {p.name: p.read_bytes() for p in (b.root / "apps" / APP / "secrets").iterdir() if p.is_file()} == world.secrets
    current = json.loads((b.root / "apps" / APP / "current.json").read_text())
    assert current["values"]["pemda_name"] == "Pemerintah Kota Sorong"
    assert files_holding(w.home, list(world.secrets.values())) == []


def test_rotate_the_database_password_keeps_the_app_healthy(world: World) -> None:
    w, b = world.w, world.b
    secrets_dir = b.root / "apps" / APP / "secrets"
    proc = w.cli("secrets", "rotate", APP, "SECRET_KEY", "--target", b.name, check=False)
    assert proc.returncode == int(ExitCode.INVALID_INPUT) and "must never change" in proc.stderr
    assert (secrets_dir / "SECRET_KEY").read_bytes() == world.secrets["SECRET_KEY"]

    proc = w.cli("secrets", "rotate", APP, "DB_PASSWORD", "--target", b.name, timeout=600)
    assert "rotated DB_PASSWORD" in proc.stdout and "healthy" in proc.stdout
    assert "sealed copy for backups: sealed" in proc.stdout
    new = (secrets_dir / "DB_PASSWORD").read_bytes()
    assert new != world.secrets["DB_PASSWORD"] and len(new) == 32
    assert (secrets_dir / "web" / "DB_PASSWORD").read_bytes() == new
    assert not (secrets_dir / ".rotate-DB_PASSWORD").exists()
    after = eoffice_measure(world.db(b), base_url=world.url(b))  # the app serves, on the new password
    assert after.same_data(world.before) and after.signatures == 3 and after.problems == []
    assert new.decode() not in proc.stdout + proc.stderr and files_holding(w.home, [new]) == []


def _psql(container: str, sql: str) -> None:
    subprocess.run(["docker", "exec", "-i", "-u", "postgres", container, "psql", "-X", "-q", "-v",  # noqa: S603,S607
                    "ON_ERROR_STOP=1", "-d", "postgres"], input=sql.encode(), capture_output=True, check=True)


def test_a_failed_health_check_names_its_cause_without_secrets(world: World, tmp_path: Path) -> None:
    """``tasks/health.yml`` as the playbooks import it, against B's real e-office whose web now
    crash-loops on a wrong database password (retries cut to keep the test short)."""
    b = world.b
    repo = Path(__file__).resolve().parents[2]
    app_dir = b.root / "apps" / APP
    password = (app_dir / "secrets" / "DB_PASSWORD").read_text()
    web = f"spbe-{b.name}-{APP}-web"
    health = [{**h, "retries": 3, "delay": 2} for h in json.loads((app_dir / "current.json").read_text())["health"]
              if h["component"] == "web"]
    _psql(world.db(b), "ALTER ROLE eoffice PASSWORD 'not-the-deployments-password';")
    try:
        subprocess.run(["docker", "restart", "-t", "5", web], capture_output=True, check=True)  # noqa: S603,S607
        play = tmp_path / "health.yml"
        play.write_text(json.dumps([{"name": "health", "hosts": "localhost", "gather_facts": False,
                                     "vars": {"spbe_app_dir": str(app_dir), "spbe_health": health},
                                     "tasks": [{"ansible.builtin.import_tasks": str(repo / "playbooks/tasks/health.yml")}]}]))
        env = {**os.environ, "ANSIBLE_LIBRARY": str(repo / "playbooks/library"),
               "ANSIBLE_MODULE_UTILS": str(repo / "playbooks/module_utils"), "ANSIBLE_NOCOLOR": "1"}
        proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",  # noqa: S603,S607
                               "ansible_python_interpreter=/usr/bin/python3", str(play)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode != 0
        failure = next((ln for ln in proc.stdout.splitlines() if "gave up: " in ln), proc.stdout[-3000:])
        assert "gave up: web: " in failure and "password authentication failed for user" in failure, failure
        assert password not in proc.stdout
    finally:
        _psql(world.db(b), f"ALTER ROLE eoffice PASSWORD '{password}';")  # generated: letters and digits only
        subprocess.run(["docker", "restart", "-t", "5", web], capture_output=True, check=True)  # noqa: S603,S607
    wait_http_ok(web)


def test_uninstall_keeps_data_unless_asked_after_a_final_backup(world: World) -> None:
    w, b = world.w, world.b
    volume = f"spbe-{b.name}-{APP}-pgdata"
    proc = w.cli("uninstall", APP, "--target", b.name, check=False)
    assert proc.returncode == int(ExitCode.INVALID_INPUT) and containers(f"spbe-{b.name}-")
    # what an upgrade interrupted before its stop leaves: the new web container, created ahead
    web = f"spbe-{b.name}-{APP}-web"
    _docker("create", "--name", web + "--next", _docker("inspect", "--format", "{{.Image}}", web).strip())
    assert [c for c in containers(f"spbe-{b.name}-") if c.startswith(web + "--next ")]
    proc = w.cli("uninstall", APP, "--target", b.name, "--yes")
    assert "its data, secrets and backups stay" in proc.stdout
    assert containers(f"spbe-{b.name}-") == []
    assert volume in _docker("volume", "ls", "--format", "{{.Name}}").split()
    assert (b.root / "apps" / APP / "secrets" / "SECRET_KEY").exists()

    proc = w.cli("uninstall", APP, "--target", b.name, "--delete-data", "--yes", check=False, timeout=600)
    assert proc.returncode == int(ExitCode.REMOTE_FAILED) and "is not serving on this target" in proc.stderr
    assert volume in _docker("volume", "ls", "--format", "{{.Name}}").split()  # nothing removed

    w.cli("install", APP, "--target", b.name, "--bundle", str(world.bundle), "--set",
          "pemda_name=Pemerintah Kota Sorong", timeout=900)
    again = eoffice_measure(world.db(b))
    assert again.same_data(world.before), again.diff(world.before)

    proc = w.cli("uninstall", APP, "--target", b.name, "--delete-data", "--yes", timeout=600)
    assert "data deleted after final backup" in proc.stdout
    copy = Path(proc.stdout.split("the only copy left: ")[1].split()[0])
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["why"] == "pre-purge" and manifest["secrets"] is not None
    assert volume not in _docker("volume", "ls", "--format", "{{.Name}}").split()
    assert not (b.root / "apps" / APP).exists() and containers(f"spbe-{b.name}-") == []
