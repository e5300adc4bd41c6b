"""End to end: a bare Debian 12 server, provisioned offline, then e-office installed into it.

One module-scoped bare server (tests/e2e/baresrv.py: its own root, network namespace, sshd;
no Docker, no python3-docker, no zstd, no route to a mirror) and one operator workspace.
Tests run in file order, as an adopter would: add the target, preflight refuses and names
`target provision`, build the offline provision bundle, provision, provision again (nothing
changes), preflight passes, install e-office 1.0.0 (its own dockerd inside the namespace,
overlay2), reach /healthz from the host through the veth address, back it up (its dump runs in
the database container through the server's engine). Last, bench/bench_slowlink.py's smoke run
on the same server: the link made slow, a raw ``ssh cat``, the same install again (no-op) and
the upgrade to 1.1.0 through it (the fresh install is the one above, timed on the fast link).

The releases are e-office 1.0.0 and 1.1.0, each built from its recorded source commit
(:func:`test_upgrade.build_bundles`; the run's build cache is shared with test_upgrade.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from baresrv import BareServer
from simdc import REPO, E2EWorkspace, donor_kode, interrupt_cli
from test_upgrade import build_bundles

sys.path.insert(0, str(REPO / "bench"))
import bench_slowlink  # noqa: E402 - its smoke run is the slow-link test below

from spbe_share.errors import ExitCode  # noqa: E402
from spbe_share.targets.inventory import DEFAULT_ROOT  # noqa: E402

pytestmark = pytest.mark.e2e

APP = "e-office"
NEEDED = ("docker.io", "python3-docker", "python3-requests", "zstd", "apparmor")
TODAY = dt.date.today()
FROM, TO = "1.0.0", "1.1.0"
SETS = ("pemda_name=Pemerintah Kabupaten Uji",)
FRESH: dict[str, Any] = {}  # the fresh install's row and phases, timed on the fast link, for the slow-link test


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """e-office 1.0.0 and 1.1.0, each built from its recorded commit and signed by a throwaway
    donor key; ``"pub"``: that key's public file."""
    built, pub = build_bundles(tmp_path_factory.mktemp("bare-donor"), (FROM, TO))
    return {**built, "pub": pub}


@pytest.fixture(scope="module")
def bws(bare_server: BareServer, releases: dict[str, Path],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EWorkspace]:
    """The operator's workspace: the bare server added as a target (host key pinned), the
    donor's key trusted, an agreement for e-office (install, and support for its backups)."""
    home = tmp_path_factory.mktemp("bare-operator")
    w = E2EWorkspace(home=home, dcs={})
    w.cli("keys", "trust", str(releases["pub"]), "--donor-kode", donor_kode(APP))
    w.cli(*bare_server.target_add_args())
    w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", bare_server.pemda,
          "--adopter-kode", bare_server.kode_wilayah, "--number", "PKS/BARE/2026",
          "--signed", (TODAY - dt.timedelta(days=1)).isoformat(),
          "--valid-until", (TODAY + dt.timedelta(days=365)).isoformat(), "--scope", "install,support")
    yield w


# dpkg's and apt's locks are fcntl locks: one that cannot be taken is a dpkg or apt still running
_DPKG_BUSY = ("import fcntl, os, sys\n"
              "for p in ('/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock'):\n"
              "    try:\n"
              "        fd = os.open(p, os.O_RDWR)\n"
              "    except FileNotFoundError:\n"
              "        continue\n"
              "    try:\n"
              "        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
              "    except OSError:\n"
              "        sys.exit(1)\n")


def _wait_dpkg_idle(server: BareServer, *, seconds: float = 300) -> None:
    """Until no dpkg or apt runs on the server (one a cancelled run left finishes by itself)."""
    deadline = time.monotonic() + seconds
    while server.exec("python3", "-c", _DPKG_BUSY, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"dpkg still busy on {server.name} after {seconds} s"
        time.sleep(1)


def _dpkg_installed(server: BareServer, *names: str) -> set[str]:
    out = server.exec("dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\\n", *names, check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ii"]}


def test_the_server_is_bare_and_offline(bare_server: BareServer, bws: E2EWorkspace) -> None:
    assert _dpkg_installed(bare_server, "openssh-server", "python3") == {"openssh-server", "python3"}
    assert _dpkg_installed(bare_server, *NEEDED) == set()
    assert not bare_server.path("/usr/bin/docker").exists()
    assert bare_server.exec("systemctl", "--version", check=False).returncode != 0  # no systemd
    # its only route is the veth /30: no default route, so no mirror is reachable
    routes = subprocess.run(["ip", "-n", bare_server.ns, "route"], capture_output=True, text=True,  # noqa: S603,S607
                            check=True).stdout
    assert "default" not in routes and bare_server.address in routes
    # the pinned host key is this server's own
    shown = json.loads(bws.cli("target", "show", bare_server.name, "--json").stdout)
    assert shown["host_key_fingerprints"] == [bare_server.host_key_fingerprint()]


def test_preflight_fails_and_names_target_provision(bare_server: BareServer, bws: E2EWorkspace,
                                                    releases: dict[str, Path]) -> None:
    proc = bws.cli("preflight", APP, "--target", bare_server.name, check=False)
    assert proc.returncode == int(ExitCode.PREFLIGHT_FAILED), proc.stderr
    assert "Traceback" not in proc.stderr
    for check in ("docker engine", "python libraries", "zstd"):
        assert f"  {check}: required" in proc.stderr, proc.stderr
    assert "requests missing" in proc.stderr and "docker missing" in proc.stderr
    assert f"fix: spbe-share target provision {bare_server.name}" in proc.stderr

    # and install refuses at preflight, before it ships anything (it used to fail half way)
    blobs = bare_server.path("/var/lib/spbe-share/blobs")
    proc = bws.cli("install", APP, "--target", bare_server.name, "--bundle", str(releases[FROM]),
                   "--set", SETS[0], check=False)
    assert proc.returncode == int(ExitCode.PREFLIGHT_FAILED), proc.stderr
    assert f"fix: spbe-share target provision {bare_server.name}" in proc.stderr
    assert not blobs.exists()


@pytest.fixture(scope="module")
def provision_bundle(bws: E2EWorkspace) -> dict[str, Any]:
    """`provision-bundle build --os debian-12` in the operator's workspace (this machine's mirror)."""
    proc = bws.cli("provision-bundle", "build", "--os", "debian-12", "--json", timeout=1800)
    return json.loads(proc.stdout)


def test_provision_bundle_holds_what_a_fresh_server_lacks(bare_server: BareServer, bws: E2EWorkspace,
                                                           provision_bundle: dict[str, Any]) -> None:
    from spbe_share.bundle.keys import trusted_keys
    from spbe_share.provision.bundle import verify_bundle

    path = Path(provision_bundle["path"])
    assert path.name == "provision-debian-12-amd64.spbe-provision"
    manifest = verify_bundle(path, trusted_keys=trusted_keys(bws.ws))
    names = {p.name for p in manifest.packages}
    assert set(NEEDED) <= names
    # resolved against a minimal system, not this machine (which has all of NEEDED installed):
    # the libraries docker.io needs are in, and every package assumed present really is on a
    # freshly debootstrapped server
    assert {"containerd", "runc", "iptables", "python3-urllib3"} <= names
    real = _dpkg_installed(bare_server, *manifest.base_assumed)
    assert set(manifest.base_assumed) <= real, sorted(set(manifest.base_assumed) - real)
    verified = bws.cli("provision-bundle", "verify", str(path))
    assert verified.stdout.startswith(f"ok: {path}: debian-12/amd64")
    assert "trusted for provisioning: this workspace's own key" in verified.stdout


def test_a_provision_bundle_signed_by_a_donor_key_is_refused(bare_server: BareServer, bws: E2EWorkspace,
                                                             provision_bundle: dict[str, Any], tmp_path: Path) -> None:
    """Issue 17 finding 2: the same packages signed by a key the operator trusts only for a
    donor's app: `target provision` exits 6 and installs nothing (the .debs would run as root)."""
    import tarfile

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from spbe_share.bundle.keyformat import key_id_of, public_line
    from spbe_share.provision.bundle import MANIFEST_NAME, ProvisionManifest, write_bundle

    key = Ed25519PrivateKey.generate()
    kid = key_id_of(key.public_key())
    (tmp_path / "donor.pub").write_text(public_line(key.public_key(), name="donor-only"))
    with tarfile.open(provision_bundle["path"]) as tar:
        tar.extractall(tmp_path / "x")  # noqa: S202 - our own fixture (Debian 12's Python 3.11.2 has no filter=)
    manifest = ProvisionManifest.from_bytes((tmp_path / "x" / MANIFEST_NAME).read_bytes())
    resigned = tmp_path / "resigned.spbe-provision"
    write_bundle(resigned, manifest.model_copy(update={"signer": kid}),
                 files={f.path: tmp_path / "x" / f.path for f in manifest.files}, key=key)  # fmt: skip
    bws.cli("keys", "trust", str(tmp_path / "donor.pub"), "--donor-kode", donor_kode(APP), "--app", APP)
    try:
        proc = bws.cli("target", "provision", bare_server.name, "--bundle", str(resigned), check=False)
        assert proc.returncode == int(ExitCode.VERIFICATION_FAILED), proc.stderr
        assert f"provision bundle signed by key {kid} (donor-only), which is trusted for donor" in proc.stderr
        assert "not for provision bundles" in proc.stderr and "Traceback" not in proc.stderr
        assert _dpkg_installed(bare_server, *NEEDED) == set()  # nothing installed
    finally:
        bws.cli("keys", "untrust", kid)


def test_sigint_during_provisioning_releases_its_lock(bare_server: BareServer, bws: E2EWorkspace,
                                                     provision_bundle: dict[str, Any]) -> None:
    """Ctrl-C once provisioning holds the server's lock: exit 12, the lock released on the
    server, the audit line says cancelled; the next `target provision` (below) finishes."""
    code, stderr, sent = interrupt_cli(bws.home, "target", "provision", bare_server.name,
                                       at="Lock: take the provisioning lock")
    assert sent, f"provisioning never took its lock:\n{stderr}"
    assert code == ExitCode.CANCELLED, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert f"provisioning of {bare_server.name} stopped by SIGINT" in last, last
    assert f"{bare_server.name} cleaned up: lock released" in last, last
    assert not list(bare_server.path("/var/lib/spbe-share/locks").iterdir())
    audit = [json.loads(line) for line in (bws.home / "audit.log").read_text().splitlines()]
    assert [a["result"] for a in audit if a["what"] == "provision"][-1] == "cancelled"


def test_provision_from_the_offline_bundle(bare_server: BareServer, bws: E2EWorkspace,
                                           provision_bundle: dict[str, Any]) -> None:
    opts = [f"--docker-daemon-opt={k}={json.dumps(v) if not isinstance(v, str) else v}"
            for k, v in bare_server.docker_daemon_options().items()]
    # what the Ctrl-C'd provisioning above left: the signal can land once the package task runs,
    # whose dpkg on the server finishes by itself (test_a_provisioning_stopped_inside_dpkg_...):
    # counted once it has finished, not while it still installs
    _wait_dpkg_idle(bare_server)
    missing = set(NEEDED) - _dpkg_installed(bare_server, *NEEDED)
    proc = bws.cli("target", "provision", bare_server.name, *opts, "--json", timeout=1800)
    result = json.loads(proc.stdout)
    assert result["changed"] is True
    assert missing <= set(result["installed"])
    assert result["clock"]["level"] == "ok" and abs(result["clock"]["skew_seconds"]) < 60
    assert result["docker_version"].startswith("20.10")
    changed = result["changed_tasks"]
    if missing:
        assert "Packages: install from the bundle only (no network)" in changed
    assert "Docker: start the engine by hand (no systemd)" in changed
    assert any(t.startswith("Docker: daemon.json") for t in changed)

    assert _dpkg_installed(bare_server, *NEEDED) == set(NEEDED)
    daemon = json.loads(bare_server.path("/etc/docker/daemon.json").read_text())
    assert daemon["log-driver"] == "json-file" and daemon["log-opts"] == {"max-size": "10m", "max-file": "5"}
    assert daemon["storage-driver"] == "overlay2" and daemon["iptables"] is False
    info = json.loads(bare_server.exec("docker", "info", "--format", "{{json .}}").stdout)
    assert info["Driver"] == "overlay2" and info["LoggingDriver"] == "json-file"
    root = bare_server.path("/var/lib/spbe-share")
    for sub, mode in (("", 0o755), ("apps", 0o755), ("blobs/sha256", 0o755), ("locks", 0o755), ("provision", 0o700)):
        st = (root / sub).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, mode), sub
    assert not list((root / "locks").iterdir())  # the provisioning lock was released
    # the daemon settings live in the inventory, where a person running the playbook finds them
    inventory = (bws.home / "inventory.yml").read_text()
    assert "spbe_docker_daemon_options" in inventory and "storage-driver: overlay2" in inventory
    audit = [json.loads(line) for line in (bws.home / "audit.log").read_text().splitlines()]
    assert audit[-1]["what"] == "provision" and audit[-1]["result"] == "ok"


def test_provision_again_changes_nothing(bare_server: BareServer, bws: E2EWorkspace,
                                        provision_bundle: dict[str, Any]) -> None:
    sent_before = bare_server.link_bytes()[0]
    proc = bws.cli("target", "provision", bare_server.name, "--json", timeout=900)
    result = json.loads(proc.stdout)
    assert result["changed"] is False and result["changed_tasks"] == [] and result["installed"] == []
    # nothing re-shipped: far less than the bundle crossed the link
    assert bare_server.link_bytes()[0] - sent_before < 5_000_000
    # `target add --provision` (here: re-adding the provisioned server, which keeps its daemon
    # settings) takes the same path
    again = bws.cli(*bare_server.target_add_args(), "--replace", "--provision",
                    "--provision-bundle", provision_bundle["path"], timeout=900)
    assert f"already provisioned: {bare_server.name}" in again.stdout
    audit = [json.loads(line) for line in (bws.home / "audit.log").read_text().splitlines()]
    assert [a["result"] for a in audit if a["what"] == "provision"][-2:] == ["ok: nothing changed"] * 2


def test_a_provisioning_stopped_inside_dpkg_is_finished(bare_server: BareServer, bws: E2EWorkspace) -> None:
    """A run cut inside dpkg (Ctrl-C, a dropped link, a power cut) leaves a package unpacked but
    not configured, and apt then refuses everything until `dpkg --configure -a`: provisioning
    again finishes the job itself."""
    debs = sorted(bare_server.path("/var/lib/spbe-share/provision/debs").glob("zstd_*.deb"))
    assert debs, "the provision bundle's .deb files are kept on the server"
    bare_server.exec("dpkg", "--unpack", f"/var/lib/spbe-share/provision/debs/{debs[0].name}")
    status = bare_server.exec("dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "zstd").stdout.strip()
    assert status == "iU", status  # unpacked, not configured: what an interrupted dpkg leaves
    proc = bws.cli("target", "provision", bare_server.name, "--json", timeout=900)
    result = json.loads(proc.stdout)
    assert result["changed"] is True
    assert "Packages: install from the bundle only (no network)" in result["changed_tasks"]
    assert _dpkg_installed(bare_server, *NEEDED) == set(NEEDED)
    assert not bare_server.exec("dpkg", "--audit").stdout.strip()


def test_switching_the_storage_driver_is_refused(bare_server: BareServer, bws: E2EWorkspace) -> None:
    daemon_json = bare_server.path("/etc/docker/daemon.json").read_text()
    inventory = (bws.home / "inventory.yml").read_text()
    proc = bws.cli("target", "provision", bare_server.name, "--docker-daemon-opt", "storage-driver=vfs",
                   check=False, timeout=900)
    assert proc.returncode == int(ExitCode.REMOTE_FAILED), proc.stderr
    assert "storage-driver overlay2; this would switch it to vfs, which hides every image" in proc.stderr
    assert bare_server.path("/etc/docker/daemon.json").read_text() == daemon_json
    assert (bws.home / "inventory.yml").read_text() == inventory


def test_clock_check_fails_clearly_by_hand(bare_server: BareServer, bws: E2EWorkspace) -> None:
    """The playbook runs by hand from a run folder; a controller clock an hour off is refused."""
    run = sorted((bws.home / "runs").glob("*-provision-*"))[-1]
    epoch = dt.datetime.now(dt.UTC).timestamp() - 3600
    proc = subprocess.run(  # noqa: S603
        ["ansible-playbook", "-i", str(run / "inventory.json"), "playbooks/provision.yml",
         "-e", f"@{run / 'env' / 'extravars'}", "-e", f"spbe_controller_epoch={epoch}"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=300,
        env=_ansible_env(run),
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    m = re.search(r"the target's clock is (\d+) s ahead of this machine's \(more than 600 s\)", out)
    assert m and 3595 <= int(m[1]) <= 3700, out
    assert "set the target's clock" in out
    assert not list(bare_server.path("/var/lib/spbe-share/locks").iterdir())


def _ansible_env(run: Path) -> dict[str, str]:
    import os

    from spbe_share.remote.runner import collections_path

    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": collections_path(), "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_LOCAL_TEMP": str(run / ".by-hand-tmp"), "ANSIBLE_NOCOLOR": "1"}


def test_preflight_passes_after_provisioning(bare_server: BareServer, bws: E2EWorkspace) -> None:
    proc = bws.cli("preflight", APP, "--target", bare_server.name, "--json")
    report = json.loads(proc.stdout)
    assert report["ok"], report
    found = {c["check"]: c["found"] for c in report["checks"]}
    assert found["python libraries"].startswith("docker 5.") and "requests 2." in found["python libraries"]
    assert found["zstd"] == "/usr/bin/zstd"


def test_install_e_office_and_reach_healthz(bare_server: BareServer, bws: E2EWorkspace,
                                            releases: dict[str, Path]) -> None:
    """Also the first row of bench/bench_slowlink.py's table (its smoke run is the slow-link test):
    timed with the bytes that crossed the link, on the fast link."""
    row, proc = bench_slowlink.timed(
        bare_server, f"fresh install {FROM}", lambda: bws.cli(
            "install", APP, "--target", bare_server.name, "--bundle", str(releases[FROM]), *[a for s in SETS for a in ("--set", s)],
            "--json", timeout=1800),
        shipped=lambda p: json.loads(p.stdout)["bytes_sent"], slow=False)  # fmt: skip
    result = json.loads(proc.stdout)
    assert result["changed"] and result["new_release"] and result["version"] == FROM
    FRESH.update(row=row, phases=result["phase_seconds"])
    assert result["urls"] and all(u.startswith(f"http://{bare_server.address}:") for u in result["urls"])
    for url in result["urls"]:
        with urllib.request.urlopen(url + "healthz", timeout=10) as r:  # noqa: S310 - test URL on the veth
            assert r.status == 200
            assert json.loads(r.read())["status"] == "ok"
    # the containers run in the server's own engine, with rotated logs
    names = bare_server.exec("docker", "ps", "--format", "{{.Names}}").stdout.split()
    assert any(n.startswith(f"spbe-{bare_server.name}-{APP}-") for n in names), names
    log_config = json.loads(bare_server.exec("docker", "inspect", "--format", "{{json .HostConfig.LogConfig}}",
                                             names[0]).stdout)
    assert log_config == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "10m"}}
    host_names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                                check=True).stdout.split()  # fmt: skip
    assert not [n for n in host_names if n.startswith(f"spbe-{bare_server.name}-")]


def test_backup_on_the_provisioned_server(bare_server: BareServer, bws: E2EWorkspace) -> None:
    """A backup runs the database's own dump tool inside its container (`docker exec`), through
    the server's engine: it must reach the database there and verify."""
    proc = bws.cli("backup", APP, "--target", bare_server.name, timeout=900)
    first = proc.stdout.splitlines()[0]
    assert first.startswith("backup ") and "verified" in first, proc.stdout
    backup_id = first.split()[1].rstrip(":")
    listing = json.loads(bws.cli("backup", "list", APP, "--target", bare_server.name, "--json").stdout)
    assert [(r["id"], r["state"]) for r in listing["backups"]] == [(backup_id, "verified")]


def test_slow_link_no_op_install_and_upgrade(bare_server: BareServer, bws: E2EWorkspace,
                                             releases: dict[str, Path]) -> None:
    """bench/bench_slowlink.py's smoke run, on this server with e-office 1.0.0 installed above:
    :func:`bench_slowlink.measure` makes the link slow (the smoke's 200 Mbit/s, 4 ms RTT), times
    a raw ``ssh cat`` of 2 MB, the same install again (nothing changes) and the upgrade to
    1.1.0 through it, then puts the link back; :func:`bench_slowlink.report` prints the table."""
    assert FRESH, "the install test above did not run"
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        print(line, flush=True)

    figures = bench_slowlink.measure(bare_server, bws.ws, releases, from_version=FROM, to_version=TO, sets=SETS,
                                     rate_mbit=200, rtt_ms=4, sample_mb=2, fresh=(FRESH["row"], FRESH["phases"]),
                                     say=say)  # fmt: skip
    lines = bench_slowlink.report(figures)
    print("\n" + "\n".join(lines))
    out = "\n".join(said + lines)
    for pattern in (r"link: (netem|linkemu)", r"raw ssh cat", r"upgrade"):
        assert re.search(pattern, out), (pattern, out)
    assert "upgrade FAILED" not in out, out
    assert [r.step for r in figures.rows] == [f"fresh install {FROM}", "the same install again (no-op)",
                                              f"upgrade {FROM} -> {TO}"]  # fmt: skip
    assert [r.slow for r in figures.rows] == [False, True, True]
    assert figures.noop_changed is False and figures.rows[1].shipped == 0
    up = figures.up
    assert up is not None and figures.failed is None
    assert (up.outcome, up.from_version, up.to_version) == ("upgraded", FROM, TO)
    assert 0 < up.bytes_sent <= up.bytes_missing  # only the blobs 1.1.0 adds
    # the link is back to normal, and 1.1.0 serves through it
    assert bare_server.emulator is None
    for url in up.urls:
        with urllib.request.urlopen(url + "api/v1/info", timeout=10) as r:  # noqa: S310 - test URL on the veth
            assert json.loads(r.read())["version"] == TO
    history = json.loads(bws.cli("history", APP, "--target", bare_server.name, "--json").stdout)
    assert history["current"] == TO and history["lock"] is None


def test_prune_gives_back_the_old_release_in_the_servers_own_engine(bare_server: BareServer, bws: E2EWorkspace
                                                                   ) -> None:  # fmt: skip
    """After the upgrade above 1.1.0 serves and 1.0.0 is the release to roll back to. `prune
    --keep 1` (here, where the engine is the server's own and no other test's images live):
    the dry run changes nothing; then 1.0.0's deploy spec, bundle files and the images only it
    named leave the engine, with their blobs; 1.1.0's stay and serve; history still shows the
    1.0.0 install; a rollback to it is refused, naming prune."""
    app_dir = bare_server.path(f"{DEFAULT_ROOT}/apps/{APP}")
    blobs = bare_server.path(f"{DEFAULT_ROOT}/blobs/sha256")
    old_deploy = next((app_dir / "deploys").glob(f"*-{FROM}.json"))
    new_deploy = next((app_dir / "deploys").glob(f"*-{TO}.json"))
    old_ids = {i["config"] for i in json.loads(old_deploy.read_text())["images"]}
    new_images = json.loads(new_deploy.read_text())["images"]
    new_ids = {i["config"] for i in new_images}
    only_old = old_ids - new_ids
    assert only_old, "1.0.0 and 1.1.0 share every image: nothing for prune to show"

    def present(image: str) -> bool:
        return bare_server.exec("docker", "image", "inspect", image, check=False).returncode == 0

    assert all(present(i) for i in old_ids | new_ids)
    said = bws.cli("prune", APP, "--target", bare_server.name, "--keep", "1", "--dry-run").stdout
    assert f"kept {TO}; would free up to " in said and f"versions {FROM}:" in said, said
    dry = json.loads(bws.cli("prune", APP, "--target", bare_server.name, "--keep", "1", "--blob-grace", "0",
                             "--dry-run", "--json").stdout)
    assert (dry["dry_run"], dry["keep"], dry["versions_gone"]) == (True, [TO], [FROM])
    assert {i["id"] for i in dry["images"]} == only_old and dry["bytes"] > 0
    assert old_deploy.exists() and (app_dir / "bundles" / FROM).is_dir() and all(present(i) for i in only_old)

    done = json.loads(bws.cli("prune", APP, "--target", bare_server.name, "--keep", "1", "--blob-grace", "0",
                              "--yes", "--json").stdout)
    assert {i["id"] for i in done["images"]} == only_old and done["blobs"] > 0
    # measured on the target (free space before and after): other writers on the same disk (in CI
    # the other tests) blur it, so only that it is measured is checked, not its size
    assert isinstance(done["disk_freed"], int) and done["disk_freed"] >= 0 and dry["disk_freed"] is None
    assert f"deploys/{old_deploy.name}" in done["files"] and f"bundles/{FROM}" in done["files"]
    assert not old_deploy.exists() and not (app_dir / "bundles" / FROM).exists()
    assert not any(present(i) for i in only_old) and all(present(i) for i in new_ids)
    for i in only_old:  # the config blob of each image that went
        assert not [p for p in blobs.iterdir() if p.name.startswith(i.split(":", 1)[1])]
    for img in new_images:  # 1.1.0 could be loaded again from what stays
        for d in [img["config"], *img["layers"]]:
            assert [p for p in blobs.iterdir() if p.name.startswith(d.split(":", 1)[1])], d
    row = next(r for r in json.loads(bws.cli("status", "--target", bare_server.name, "--json").stdout)
               if r["app"] == APP)
    assert (row["version"], row["health"]) == (TO, "healthy"), row
    history = json.loads(bws.cli("history", APP, "--target", bare_server.name, "--json").stdout)
    assert [(a["operation"], a["version"]) for a in history["attempts"]][:1] == [("install", FROM)]
    refused = bws.cli("rollback", APP, "--target", bare_server.name, "--dry-run", check=False)
    assert refused.returncode == 8 and "spbe-share prune" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
