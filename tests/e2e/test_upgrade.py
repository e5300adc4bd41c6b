"""End to end over SSH: e-office 1.0.0 -> 1.1.0 on a simulated data center, and back.

One module-scoped install of e-office 1.0.0 (the real release, built from its recorded source
commit) with letters, dispositions and signatures made through its API. Then, in order:

* ``upgrade --dry-run --json``: the plan (releases between, regulations, data migration, bytes
  to ship only the blobs the target lacks, config diff) and nothing changes;
* ``upgrade --yes``: every letter kept with the migrated fields filled, every signature verifies;
* ``rollback``: exactly the 1.0.0 rows again (counts and checksums), 1.0.0 serving;
* ``history``: the attempts, read from the target.

Then the fault matrix (issue 8 item 8) on the same install, each case from 1.0.0 serving back to
1.0.0 serving: (f) a backup failing verification, (e) the disk full while the backup is
written, (d) the SSH connection cut during ship, (a) a migration failing half way (resuming
(d)'s ship), (b) a release never healthy, (c) the CLI killed after the old release stopped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import unique
from simdc import REPO, SimDC, donor_kode, make_e2e_workspace, remove_docker_objects

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import appdata  # noqa: E402
from backuptest import published_url  # noqa: E402
from needs import missing  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import bench_upgrade  # noqa: E402 - its smoke run is the upgrade test below

from spbe_share.records import state  # noqa: E402

pytestmark = pytest.mark.e2e

APP = "e-office"




def build_bundles(home: Path, versions: tuple[str, ...]) -> tuple[dict[str, Path], Path]:
    """Signed e-office bundles of ``versions`` (built from their recorded commits) and the key."""
    from spbe_share.bundle.keys import export_public, generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    donor = Workspace.from_options(home)
    donor.ensure()
    key = generate_key(donor, donor_kode=donor_kode(APP))
    loaded = get_entry(donor, APP)
    out = {v: build_bundle(donor, loaded, version=v, key=load_private_key(donor, key.name)).path for v in versions}
    pub = home / "donor.pub"
    pub.write_text(export_public(donor, key.name))
    return out, pub


class Site:
    """The installed app on its DC, with helpers to read it."""

    def __init__(self, w: Any, dc: SimDC, bundles: dict[str, Path], donor: Path) -> None:
        self.w, self.dc, self.bundles, self.donor = w, dc, bundles, donor
        self.web = state.container_name(dc.name, APP, "web")
        self.db = state.container_name(dc.name, APP, "db")

    @property
    def app_dir(self) -> Path:
        return self.dc.root / "apps" / APP

    def current(self) -> dict[str, Any]:
        return json.loads((self.app_dir / "current.json").read_text())

    def url(self) -> str:
        return published_url(self.web)

    def measure(self) -> appdata.Fingerprint:
        return appdata.eoffice_measure(self.db, base_url=self.url())

    def serving_version(self) -> str:
        return str(appdata.Api(self.url()).call("GET", "/api/v1/info", expect=200)["version"])

    def lock_free(self) -> bool:
        return not (self.dc.root / "locks" / f"{APP}.lock").exists()


@contextlib.contextmanager
def installed_eoffice(tmp: Path, *, name: str, address: str, pemda: str, kode_wilayah: str, number: str,
                      letters: int, signed: int, tag: str) -> Iterator[Site]:
    """e-office 1.0.0 installed over SSH on a new simulated DC (``unique(name)``), with ``letters``
    letters (``signed`` of them signed) made through its API; both releases' bundles built from
    their recorded commits, signed by a donor key the operator trusts. Removed on exit. The
    module fixture below and bench/bench_upgrade.py start from the same site."""
    bundles, pub = build_bundles(tmp / "donor", ("1.0.0", "1.1.0"))
    dc = SimDC(name=unique(name), base=tmp / "dcs", address=address, pemda=pemda, kode_wilayah=kode_wilayah).start()
    prefix = f"spbe-{dc.name}-{APP}"
    try:
        w = make_e2e_workspace(tmp / "operator", {name: dc})
        w.cli("keys", "trust", str(pub), "--donor-kode", donor_kode(APP))
        today = dt.date.today()
        w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", dc.pemda,
              "--adopter-kode", dc.kode_wilayah, "--number", number, "--signed", today.isoformat(),
              "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
        remove_docker_objects(prefix)  # its containers, volumes and its network (named exactly the prefix)
        w.cli("install", APP, "--target", dc.name, "--bundle", str(bundles["1.0.0"]), "--set",
              f"pemda_name=Pemerintah {pemda}", timeout=1800)
        s = Site(w, dc, bundles, tmp / "donor")
        admin = (s.app_dir / "secrets" / "ADMIN_PASSWORD").read_text().strip()
        appdata.eoffice_seed(s.url(), admin, letters=letters, signed=signed, tag=tag)
        yield s
    finally:
        remove_docker_objects(prefix)  # its containers, volumes and its network (named exactly the prefix)
        dc.stop()


@pytest.fixture(scope="module")
def site(sshd_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with installed_eoffice(tmp_path_factory.mktemp("upgrade"), name="kota-upgrade", address="127.0.0.251",
                           pemda="Kota Upgrade", kode_wilayah="96.74", number="PKS/UPGRADE/2026", letters=24,
                           signed=4, tag="v100") as s:
        yield s


def test_upgrade_1_0_0_to_1_1_0_keeps_every_letter_and_rollback_gives_back_the_1_0_0_rows(site: Site) -> None:
    """Also bench/bench_upgrade.py's smoke run: its restart baseline, upgrade and rollback
    (:func:`bench_upgrade.measure`) are this test's, its figures printed with their ratios."""
    w, dc = site.w, site.dc
    assert site.serving_version() == "1.0.0"
    before = site.measure()
    assert before.counts["letters"] == 24 and before.signatures >= 4 and not before.problems

    # the plan, alone: nothing changes; the app's state and preflight's facts in ONE ssh connection
    connections = dc.log.read_text().count("Connection from ")
    plan = json.loads(w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(site.bundles["1.1.0"]),
                            "--dry-run", "--json").stdout)["plan"]
    assert dc.log.read_text().count("Connection from ") == connections + 1
    assert (plan["from"], plan["to"], plan["path"]) == ("1.0.0", "1.1.0", ["1.0.0", "1.1.0"])
    assert plan["migrates_data"] is True
    assert [r["version"] for r in plan["releases"]] == ["1.1.0"]
    assert any("Permendagri" in g["name"] or "83 Tahun 2022" in g["name"] for g in plan["releases"][0]["regulations"])
    assert 0 < plan["bytes_to_ship"] < plan["bytes_total"]  # only the blobs the target lacks (shared base layers)
    assert site.current()["version"] == "1.0.0" and site.lock_free()
    seen: dict[str, Any] = {}

    def at_1_1_0(out: dict[str, Any]) -> None:
        """The upgrade (``upgrade --yes --json``, run by the benchmark) and the 1.1.0 deployment."""
        assert out["outcome"] == "upgraded" and out["to"] == "1.1.0"
        assert out["bytes_sent"] <= plan["bytes_to_ship"] * 1.05
        phases = out["phase_seconds"]
        assert all(phases[p] > 0 for p in ("Lock", "Ship", "Load", "Backup", "Stop", "Start", "Health", "Record")), phases
        assert sum(phases.values()) <= out["seconds"]
        assert site.serving_version() == "1.1.0"
        record = seen["record"] = site.current()
        assert (record["version"], record["operation"], record["from_version"]) == ("1.1.0", "upgrade", "1.0.0")
        assert record["backup"] == out["backup"] and record["migrates_data"] is True
        after = site.measure()
        assert after.counts["letters"] == before.counts["letters"]
        assert not after.problems and after.signatures == before.signatures  # every signature still verifies
        unfilled = appdata.psql_json(site.db, "SELECT count(*) FROM letters WHERE kode_klasifikasi IS NULL"
                                     " OR klasifikasi_keamanan IS NULL OR klasifikasi_sumber IS NULL;")
        assert unfilled == 0
        journal = json.loads((site.app_dir / "journal.json").read_text())
        assert journal["state"] == "done" and journal["steps"][-1]["step"] == "recorded"
        assert site.lock_free()

        # install of 1.0.0 over the migrated data is refused, pointing to rollback; nothing changes
        refused = w.cli("install", APP, "--target", dc.name, "--bundle", str(site.bundles["1.0.0"]), "--set",
                        "pemda_name=Pemerintah Kota Upgrade", check=False)
        assert refused.returncode == 2 and f"spbe-share rollback {APP} --target {dc.name}" in refused.stderr
        assert site.serving_version() == "1.1.0" and site.current()["version"] == "1.1.0" and site.lock_free()

        # the rollback's plan, alone: what it restores and discards
        plan_back = json.loads(w.cli("rollback", APP, "--target", dc.name, "--dry-run", "--json").stdout)["plan"]
        assert (plan_back["from"], plan_back["to"], plan_back["restore"]) == ("1.1.0", "1.0.0", record["backup"])
        assert "kept in the backup taken first" in plan_back["discards"]

    # the upgrade, then the rollback (``rollback --yes --json``): exactly the 1.0.0 rows again
    figures = bench_upgrade.measure(site, 24, at_1_1_0=at_1_1_0)
    lines = bench_upgrade.report(figures)
    print("\n" + "\n".join(lines))
    for pattern in (r"RATIO shipped / lacked +\d+\.\d+", r"RATIO downtime / restart \d+\.\d+",
                    r"RATIO rollback / restart \d+\.\d+"):
        assert re.search(pattern, "\n".join(lines)), (pattern, lines)
    assert figures.before.same_data(before), figures.before.diff(before)
    out, record = figures.back, seen["record"]
    assert (out["from"], out["to"], out["restored"]) == ("1.1.0", "1.0.0", record["backup"])
    assert figures.equal
    assert site.serving_version() == "1.0.0"
    back = site.measure()
    assert back.same_data(before), back.diff(before)
    assert not back.problems and back.signatures == before.signatures
    assert site.current()["operation"] == "rollback" and site.lock_free()
    safety = out["safety_backup"]
    assert (site.app_dir / "backups" / safety / "manifest.json").is_file()  # the 1.1.0 data is kept

    # history, read from the target
    h = json.loads(w.cli("history", APP, "--target", dc.name, "--json").stdout)
    assert [(a["operation"], a["version"], a["result"]) for a in h["attempts"]] == [
        ("install", "1.0.0", "ok"), ("upgrade", "1.1.0", "ok"), ("rollback", "1.0.0", "ok")]
    assert h["current"] == "1.0.0" and h["lock"] is None and h["journal"]["state"] == "done"


# ---------------------------------------------------------------- the fault matrix
# Each case starts with 1.0.0 serving (the test above ends there) and must end with 1.0.0
# serving, its data equal (row counts and checksums), the lock free, and the history telling
# what happened. Here the cases that stop before anything stops, on the module's one install:
# (f) (e) (d). The cases that undo a started upgrade, (a) (b) (c), are in
# test_upgrade_undo.py (its own install, so that xdist runs them beside these). Fault releases
# answer their health checks within seconds (short timeouts), so a case spends its time on the
# real work (backup, stop, restore, start), not on waiting. The table is printed at the end of
# each module.
MATRIX: list[tuple[str, ...]] = []
CUT: dict[str, Any] = {}  # what (d) left on the target for (a) to resume: part file, offset


@pytest.fixture(scope="module", autouse=True)
def print_matrix(request: pytest.FixtureRequest) -> Iterator[None]:
    """At the end of the module: its rows of the matrix as a table, printed and written to
    ``.test-artifacts/<module>.matrix.txt`` (xdist workers' prints are not shown: the root
    conftest's terminal summary prints the tables written during the run)."""
    first = len(MATRIX)
    yield
    rows = MATRIX[first:]
    if not rows:
        return
    head = ("case", "exit", "serving", "data", "lock", "history (last attempt on the target)", "seconds")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["upgrade fault matrix (e-office 1.0.0 -> faulty release, over SSH on a simulated data center)"]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    out = Path(os.environ.get("SPBE_SHARE_ARTIFACTS", REPO / ".test-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{request.module.__name__}.matrix.txt").write_text("\n".join(lines) + "\n")
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    say = tr.write_line if tr is not None else print
    for line in ["", *lines]:
        say(line)


def matrix_row(site: Site, case: str, code: int, before: appdata.Fingerprint, started: float,
               history: str) -> tuple[str, appdata.Fingerprint]:
    """Measure the four promises after a case, add its row; returns (serving, data after)."""
    serving = site.serving_version()
    after = site.measure()
    MATRIX.append((case, str(code), serving, "equal" if after.same_data(before) else "DIFFERENT",
                   "free" if site.lock_free() else "HELD", history[:70], f"{time.monotonic() - started:.0f}"))
    return serving, after


def last_attempt(site: Site) -> tuple[dict[str, Any], dict[str, Any]]:
    h = json.loads(site.w.cli("history", APP, "--target", site.dc.name, "--json").stdout)
    return h, h["attempts"][-1]


def fault_bundle(site: Site, tmp: Path, *, version: str, edit: Any) -> Path:
    """A signed bundle of a test release built from a copy of the catalog entry, ``edit(doc)``
    changing it; signed by the same donor key (trusted by the operator)."""
    import yaml

    from spbe_share.bundle.keys import list_keys, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    repo = tmp / "repo"
    shutil.copytree(REPO / "catalog" / APP, repo / "catalog" / APP)
    shutil.copytree(REPO / "templates" / APP, repo / "templates" / APP)
    shutil.copytree(REPO / "playbooks", repo / "playbooks")
    # a copy, not a link: a donor repository holds no symlinks (issue 17 finding 4)
    shutil.copytree(REPO / "shared_apps" / APP, repo / "shared_apps" / APP)
    entry_file = repo / "catalog" / APP / "spbe-app.yaml"
    doc = yaml.safe_load(entry_file.read_text())
    edit(doc)
    entry_file.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    donor = Workspace.from_options(site.donor, root=repo)
    key = list_keys(donor)[0]
    return build_bundle(donor, get_entry(donor, APP), version=version, key=load_private_key(donor, key.name),
                        output=tmp / f"{APP}-{version}-fault.spbe").path


def short_health(component: dict[str, Any], *, timeout_s: int, **change: Any) -> None:
    """A fault release's health check gives up after ``timeout_s`` (checked every second)."""
    component["health"] = {**component["health"], **change, "timeout_s": timeout_s, "interval_s": 1}


def run_fault(site: Site, case: str, bundle: Path, *, expect_cause: str, code: int = 13,
              result: str = "rolled_back") -> subprocess.CompletedProcess[str]:
    """Upgrade to ``bundle`` (which fails), then check the four promises: 1.0.0 serving, data
    equal, lock free, history saying what happened (``result`` with ``expect_cause``)."""
    w, dc = site.w, site.dc
    started = time.monotonic()
    assert site.serving_version() == "1.0.0"
    before = site.measure()
    proc = w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(bundle), "--yes", check=False, timeout=1800)
    h, last = last_attempt(site)
    serving, after = matrix_row(site, case, proc.returncode, before, started,
                                f"{last['result']}: {last['cause'] or ''}")
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert ("rolled back" if code == 13 else "1.0.0 still serves") in proc.stderr, proc.stderr
    assert expect_cause in proc.stderr, proc.stderr  # the error names the cause
    assert serving == "1.0.0"
    assert after.same_data(before), after.diff(before)
    assert not after.problems and after.signatures == before.signatures
    assert site.lock_free()
    assert last["result"] == result and expect_cause in (last["cause"] or ""), last
    assert h["journal"]["state"] == ("rolled_back" if code == 13 else "failed") and h["current"] == "1.0.0"
    assert site.current()["version"] == "1.0.0"
    return proc


def test_fault_f_backup_fails_verification(site: Site) -> None:
    """The engine's own tool rejects the pre-upgrade dump (pg_restore in the db component made to
    fail): the upgrade stops before anything stops, exit 8, 1.0.0 never stopped."""
    shadow = ("set -e; p=$(command -v pg_restore); mv \"$p\" \"$p.real\";"
              " printf '#!/bin/sh\\necho pg_restore: input file appears to be corrupt >&2\\nexit 1\\n' > \"$p\";"
              " chmod 755 \"$p\"")
    unshadow = 'p=$(command -v pg_restore.real) && mv "$p" "${p%.real}"'
    subprocess.run(["docker", "exec", "-u", "0", site.db, "sh", "-c", shadow], check=True)  # noqa: S603,S607
    try:
        run_fault(site, "(f) backup fails verification", site.bundles["1.1.0"], expect_cause="corrupt", code=8,
                  result="failed")
    finally:
        subprocess.run(["docker", "exec", "-u", "0", site.db, "sh", "-c", unshadow], check=False)  # noqa: S603,S607
    assert not [p for p in (site.app_dir / "backups").iterdir() if p.name.endswith(".partial")]


def test_fault_e_disk_full_while_the_backup_is_written(site: Site) -> None:
    """The target's backups live on a small filesystem with 8 KiB left (the dump is ~25 KiB):
    the backup fails with ENOSPC, leaves nothing that looks like a backup, and the upgrade stops
    before anything stops (exit 8), naming the cause."""
    backups = site.app_dir / "backups"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "spbe-fault-e",  # noqa: S603,S607
                              str(backups)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        missing("mount -t tmpfs", f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        st = os.statvfs(backups)
        (backups / "ballast").write_bytes(b"\1" * (st.f_bavail * st.f_frsize - 8192))
        run_fault(site, "(e) disk full while backing up", site.bundles["1.1.0"], expect_cause="no space left",
                  code=8, result="failed")
        assert sorted(p.name for p in backups.iterdir()) == ["ballast"]  # no partial backup, none listed
    finally:
        subprocess.run(["umount", str(backups)], check=False)  # noqa: S603,S607


FAILING_MIGRATION = """-- introduced: 1.2.0
-- A test release whose migration fails half way: it alters a table, fills the new column, then raises.
ALTER TABLE letters ADD COLUMN uji_gagal integer;
UPDATE letters SET uji_gagal = 1;
DO $$ BEGIN RAISE EXCEPTION 'migrasi uji 0003 gagal di tengah jalan'; END $$;
"""
BALLAST = 12 << 20  # an incompressible file in 1.2.0's web image: a blob big enough to cut its ship


@pytest.fixture(scope="module")
def failing_release(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """e-office 1.2.0, signed: its web image adds a migration that raises half way (after
    altering ``letters``) and a 12 MiB ballast layer; health gives up after 4 s (it can never pass)."""
    tmp = tmp_path_factory.mktemp("release-1.2.0")
    web_ref, db_ref = f"spbe-share/{unique('e-office-web')}:1.2.0", f"spbe-share/{unique('e-office-db')}:1.2.0"
    ctx = tmp / "image"
    ctx.mkdir()
    # 1.1.0's own __init__.py (the image below is 1.1.0's; the working tree is a later release)
    from spbe_share.catalog.loader import load_entry

    pin = load_entry(REPO / "catalog" / APP / "spbe-app.yaml").entry.release("1.1.0").commit
    init = subprocess.run(["git", "-C", str(REPO), "show", f"{pin}:shared_apps/{APP}/web/eoffice/__init__.py"],  # noqa: S603,S607
                          capture_output=True, text=True, check=True).stdout
    assert '__version__ = "1.1.0"' in init
    (ctx / "__init__.py").write_text(init.replace('__version__ = "1.1.0"', '__version__ = "1.2.0"'))
    (ctx / "0003_uji_gagal.sql").write_text(FAILING_MIGRATION)
    (ctx / "ballast").write_bytes(os.urandom(BALLAST))
    (ctx / "Dockerfile").write_text(
        "FROM spbe-share/e-office-web:1.1.0\nUSER 0:0\nCOPY ballast /opt/ballast\nCOPY __init__.py /app/eoffice/__init__.py\n"
        "COPY 0003_uji_gagal.sql /app/eoffice/migrations/0003_uji_gagal.sql\nUSER 10001:10001\n")
    try:
        subprocess.run(["docker", "build", "-q", "-t", web_ref, str(ctx)], check=True, capture_output=True,  # noqa: S603,S607
                       timeout=600)
        subprocess.run(["docker", "tag", "spbe-share/e-office-db:1.1.0", db_ref], check=True)  # noqa: S603,S607

        def failing(doc: dict[str, Any]) -> None:
            for c in doc["components"]:
                c["image"] = (web_ref if c["name"] == "web" else db_ref).split(":")[0]
                if c["name"] == "web":
                    short_health(c, timeout_s=4)
            doc["releases"].append({"version": "1.2.0", "date": "2026-11-22", "migrates_data": True,
                                    "upgrades_from": "1.0.0", "changelog": ["uji: migrasi yang gagal di tengah"]})

        yield fault_bundle(site, tmp, version="1.2.0", edit=failing)
    finally:
        subprocess.run(["docker", "rmi", web_ref, db_ref], capture_output=True, check=False)  # noqa: S603,S607


def receiver_sshd(root: Path) -> int | None:
    """The pid of the sshd session process serving the ship stream into ``root`` (the parent of
    the receiver, ``python3 -c BOOTSTRAP <root>``), if one runs."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if len(argv) < 4 or argv[1] != b"-c" or b"spbe_receiver" not in argv[2] or argv[3] != bytes(root):
                continue
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if Path(f"/proc/{ppid}/comm").read_text().strip() == "sshd":
                return ppid
        except (OSError, ValueError, IndexError):
            continue
    return None


def test_fault_d_ssh_connection_cut_during_ship(site: Site, failing_release: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The sshd session carrying the blob stream is killed once 3 MiB of the 12 MiB blob arrived
    (the link held at 4 MiB/s so the cut lands inside the blob): the upgrade stops before the
    lock is even taken, 1.0.0 serves, nothing is recorded on the target, the part stays for the
    next upgrade to resume (resuming inside a blob: tests/e2e/test_ship.py)."""
    import signal
    import threading

    w, dc = site.w, site.dc
    started = time.monotonic()
    before = site.measure()
    h0, last0 = last_attempt(site)
    partial = dc.root / "blobs" / "sha256" / ".partial"
    cut: dict[str, Any] = {}
    stop = threading.Event()

    def cutter() -> None:
        while not stop.wait(0.05):
            for part in partial.glob("*.part") if partial.is_dir() else []:
                try:
                    size = part.stat().st_size
                except OSError:
                    continue
                if size >= 3 << 20:
                    pid = receiver_sshd(dc.root)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                        cut.update(part=part.name, pid=pid)
                        return

    monkeypatch.setenv("SPBE_SHARE_BWLIMIT", str(4 << 20))
    thread = threading.Thread(target=cutter, daemon=True)
    thread.start()
    try:
        proc = w.cli("upgrade", APP, "--target", dc.name, "--bundle", str(failing_release), "--yes", check=False,
                     timeout=1800)
    finally:
        stop.set()
        thread.join()
    h, last = last_attempt(site)
    from spbe_share.audit import read as read_audit

    audited = [e for e in read_audit(w.ws) if e.get("what") == "upgrade"][-1]
    serving, after = matrix_row(site, "(d) SSH cut during ship", proc.returncode, before, started,
                                f"no new attempt (ship precedes the lock); audit: {audited['result']}")
    assert cut, f"the ship ended before it could be cut: {proc.stdout}{proc.stderr}"
    assert proc.returncode == 10, proc.stdout + proc.stderr  # Unreachable
    assert "run the command again to resume" in proc.stderr, proc.stderr
    assert serving == "1.0.0" and after.same_data(before), after.diff(before)
    assert site.lock_free() and h["lock"] is None
    assert h["attempts"] == h0["attempts"] and last == last0 and site.current()["version"] == "1.0.0"
    assert audited["result"] != "ok" and "closed by remote host" in audited["details"]["reason"], audited
    part = partial / cut["part"]
    assert part.is_file() and 0 < part.stat().st_size < BALLAST  # kept, for the next ship to resume
    CUT.update(part=cut["part"], offset=part.stat().st_size)
