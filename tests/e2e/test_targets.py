"""End to end: targets against real sshd data centers (host-key pinning, ssh, Ansible ping)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from simdc import E2EWorkspace, SimDC, donor_kode, run_cli

from spbe_share.errors import ExitCode, HostKeyMismatch
from spbe_share.remote.ssh import ansible_inventory_for, check_host_key, ssh_argv, ssh_base_args
from spbe_share.targets.inventory import get_target, read_known_hosts
from spbe_share.workspace import Workspace

pytestmark = pytest.mark.e2e


def test_target_add_pins_key_and_shows_ssh_keygen_fingerprint(
    datacenters: dict[str, SimDC], tmp_path: Path
) -> None:
    dc = datacenters["kota-sorong"]
    home = tmp_path / "ws"
    proc = run_cli(home, *dc.target_add_args())
    expected = dc.host_key_fingerprint()
    assert expected in proc.stdout
    assert f"256 {expected} {dc.address} (ED25519)" in proc.stdout

    ws = Workspace.from_options(home)
    pins = read_known_hosts(ws.known_hosts_file)
    assert [p.key.fingerprint for p in pins] == [expected]
    assert pins[0].name == dc.address  # port 22: plain host, no [host]:port
    # the file is OpenSSH's format: ssh-keygen -F finds the pinned key
    found = subprocess.run(  # noqa: S603
        ["ssh-keygen", "-F", dc.address, "-f", str(ws.known_hosts_file)], capture_output=True, text=True
    )
    assert found.returncode == 0 and dc.host_key_pub.read_text().split()[1] in found.stdout

    t = get_target(ws, dc.name)
    assert (t.host, t.port, t.user, t.root, t.kode_wilayah) == (
        dc.address, 22, "root", str(dc.root), "96.71",
    )  # fmt: skip

    shown = run_cli(home, "target", "show", dc.name, "--json")
    assert expected in shown.stdout
    again = run_cli(home, *dc.target_add_args(), check=False)
    assert again.returncode == ExitCode.CONFLICT


def test_ssh_through_base_args_reaches_the_dc(e2e_workspace: E2EWorkspace) -> None:
    ws = e2e_workspace.ws
    for dc in e2e_workspace.dcs.values():
        t = get_target(ws, dc.name)
        marker = dc.root / "hello"
        argv = ["ssh", *ssh_base_args(ws, t), t.host, "--", f"touch {marker} && hostname"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)  # noqa: S603
        assert proc.returncode == 0, proc.stderr
        assert marker.exists()
        # the DC's own sshd log saw our key
        assert "Accepted publickey for root" in dc.log.read_text()
        out = subprocess.run(  # noqa: S603
            ssh_argv(ws, t, ["echo", "a b", "$HOME"]), capture_output=True, text=True
        )
        assert out.stdout == "a b $HOME\n"


def test_changed_host_key_is_refused(simdc_factory, bundles: dict[str, Path], tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-berubah")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args())
    ws = Workspace.from_options(home)
    pinned_before = ws.known_hosts_file.read_text()
    old_fp = dc.host_key_fingerprint()
    assert check_host_key(ws, get_target(ws, dc.name)) == [old_fp]

    dc.restart(new_host_key=True)
    new_fp = dc.host_key_fingerprint()
    assert new_fp != old_fp

    with pytest.raises(HostKeyMismatch) as err:
        check_host_key(ws, get_target(ws, dc.name))
    assert old_fp in err.value.message and new_fp in err.value.message

    t = get_target(ws, dc.name)
    proc = subprocess.run(  # noqa: S603
        ["ssh", *ssh_base_args(ws, t), t.host, "true"], capture_output=True, text=True
    )
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr

    cli = run_cli(home, "target", "check", dc.name, check=False)
    assert cli.returncode == ExitCode.VERIFICATION_FAILED == 6, cli.stderr
    assert old_fp in cli.stderr and new_fp in cli.stderr
    assert ws.known_hosts_file.read_text() == pinned_before

    # install compares the key through its no-op check's own ssh connection first (no
    # ssh-keyscan before it); refused there, it compares with keyscan and stops: exit 6, both
    # keys named, nothing asked of the server (no login accepted since the restart)
    app = "pengaduan"
    run_cli(home, "keys", "trust", str(bundles[f"{app}.pub"]), "--donor-kode", donor_kode(app))
    run_cli(home, "mou", "add", "--app", app, "--donor", "Donor", "--donor-kode", donor_kode(app), "--adopter",
            dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", "PKS/KUNCI/2026", "--signed", "2026-01-01",
            "--valid-until", "2099-01-01", "--scope", "install")
    logins_before = dc.log.read_text().count("Accepted publickey")
    cli = run_cli(home, "install", app, "--target", dc.name, "--bundle", str(bundles[app]), check=False)
    assert cli.returncode == ExitCode.VERIFICATION_FAILED == 6, cli.stderr
    assert "Traceback" not in cli.stderr and "host key mismatch" in cli.stderr.splitlines()[-1]
    assert old_fp in cli.stderr and new_fp in cli.stderr
    assert dc.log.read_text().count("Accepted publickey") == logins_before
    # upgrade and rollback compare it through their first read's own ssh connection (no keyscan)
    for command in (["upgrade", app, "--bundle", str(bundles[app]), "--yes"], ["rollback", app, "--yes"]):
        connections = dc.log.read_text().count("Connection from ")
        cli = run_cli(home, command[0], *command[1:], "--target", dc.name, check=False)
        assert dc.log.read_text().count("Connection from ") == connections + 1, command  # the read's: no keyscan
        assert cli.returncode == ExitCode.VERIFICATION_FAILED, (command, cli.stderr)
        assert "Traceback" not in cli.stderr and "host key does not match" in cli.stderr.splitlines()[-1]
        assert old_fp in cli.stderr and new_fp in cli.stderr
    assert dc.log.read_text().count("Accepted publickey") == logins_before
    assert ws.known_hosts_file.read_text() == pinned_before


def test_fingerprint_mismatch_refused_nothing_saved(simdc_factory, tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-salah")
    other: SimDC = simdc_factory("kota-lain")
    home = tmp_path / "ws"
    wrong = other.host_key_fingerprint()
    proc = run_cli(home, *dc.target_add_args(fingerprint=False), "--host-key-fingerprint", wrong, check=False)
    assert proc.returncode == ExitCode.VERIFICATION_FAILED, proc.stderr
    assert dc.host_key_fingerprint() in proc.stderr and wrong in proc.stderr
    ws = Workspace.from_options(home)
    assert not ws.inventory_file.exists()
    assert not ws.known_hosts_file.exists()

    ok = run_cli(home, *dc.target_add_args())
    assert dc.host_key_fingerprint() in ok.stdout and "(fingerprint)" in ok.stdout


def test_pin_from_host_key_file_and_unreachable_saves_nothing(simdc_factory, tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-offline")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args(fingerprint=False), "--host-key-file", str(dc.host_key_pub))
    ws = Workspace.from_options(home)
    assert [p.key.fingerprint for p in read_known_hosts(ws.known_hosts_file)] == [dc.host_key_fingerprint()]

    # wrong client key: the login is refused, nothing is saved for the new name
    args = dc.target_add_args()
    args[2] = "kota-ditolak"
    args[args.index("--key") + 1] = str(dc.host_key)  # not an authorized key
    before = ws.inventory_file.read_text()
    proc = run_cli(home, *args, check=False)
    assert proc.returncode == ExitCode.UNREACHABLE, proc.stderr
    assert "login refused" in proc.stderr
    assert ws.inventory_file.read_text() == before

    dc.stop()
    gone = run_cli(home, *dc.target_add_args(), "--replace", check=False)
    assert gone.returncode == ExitCode.UNREACHABLE, gone.stderr

    run_cli(home, "target", "remove", dc.name)
    assert read_known_hosts(ws.known_hosts_file) == []
    assert "kota-offline" not in ws.inventory_file.read_text()


def test_ansible_ping_through_runner(e2e_workspace: E2EWorkspace, tmp_path: Path) -> None:
    """ansible-runner + ansible_inventory_for reach every DC over SSH (the harness H7 uses)."""
    import ansible_runner

    ws = e2e_workspace.ws
    pdd = tmp_path / "runner"
    pdd.mkdir()
    hosts: dict = {}
    for dc in e2e_workspace.dcs.values():
        inv = ansible_inventory_for(ws, get_target(ws, dc.name), control_path_dir=pdd / "cp")
        hosts.update(inv["all"]["children"]["spbe_targets"]["hosts"])
    r = ansible_runner.run(
        private_data_dir=str(pdd),
        inventory={"all": {"children": {"spbe_targets": {"hosts": hosts}}}},
        host_pattern="spbe_targets",
        module="ansible.builtin.ping",
        quiet=True,
    )
    assert (r.status, r.rc) == ("successful", 0), r.stdout.read()
    oks = [e for e in r.events if e.get("event") == "runner_on_ok"]
    assert sorted(e["event_data"]["host"] for e in oks) == sorted(dc.name for dc in e2e_workspace.dcs.values())
    assert {e["event_data"]["res"]["ping"] for e in oks} == {"pong"}


def test_plain_ansible_uses_the_workspace_inventory(e2e_workspace: E2EWorkspace) -> None:
    """The inventory file works by hand: `ansible -i inventory.yml spbe_targets -m ping`."""
    ws = e2e_workspace.ws
    proc = subprocess.run(  # noqa: S603
        ["ansible", "-i", str(ws.inventory_file), "spbe_targets", "-m", "ansible.builtin.ping", "-o"],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for dc in e2e_workspace.dcs.values():
        assert f"{dc.name} | SUCCESS" in proc.stdout


def test_target_add_in_a_script_needs_a_checked_key(simdc_factory, tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-skrip")
    home = tmp_path / "ws"
    proc = run_cli(home, *dc.target_add_args(fingerprint=False), check=False)
    assert proc.returncode == ExitCode.INVALID_INPUT, proc.stderr
    assert dc.host_key_fingerprint() in proc.stderr and "--host-key-fingerprint" in proc.stderr
    assert "Traceback" not in proc.stderr
    ws = Workspace.from_options(home)
    assert not ws.inventory_file.exists() and not ws.known_hosts_file.exists()

    tofu = run_cli(home, *dc.target_add_args(fingerprint=False), "--trust-on-first-use")
    assert "(trust-on-first-use)" in tofu.stdout and dc.host_key_fingerprint() in tofu.stdout
    audit = [json.loads(line) for line in ws.audit_log.read_text().splitlines()]
    assert audit[-1]["what"] == "target add" and audit[-1]["details"]["pinned_by"] == "trust-on-first-use"


def _run_on_a_terminal(home: Path, args: list[str], answer: str) -> tuple[int, str]:
    """Run the real CLI with a pseudo-terminal as stdin/stdout and type ``answer``."""
    import pty
    import select
    import sys

    from simdc import REPO

    master, slave = pty.openpty()
    env = {**os.environ, "SPBE_SHARE_OPERATOR": "e2e-test"}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "spbe_share", "--workspace", str(home), *args],
        stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    out = b""
    answered = False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"match?" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")


def test_target_add_asks_on_a_terminal(simdc_factory, tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-tanya")
    home = tmp_path / "ws"
    code, out = _run_on_a_terminal(home, dc.target_add_args(fingerprint=False), "n")
    assert code == ExitCode.VERIFICATION_FAILED, out
    assert dc.host_key_fingerprint() in out and "was not accepted" in out
    assert not Workspace.from_options(home).known_hosts_file.exists()
    code, out = _run_on_a_terminal(home, dc.target_add_args(fingerprint=False), "y")
    assert code == 0, out
    assert "(confirmed)" in out
    ws = Workspace.from_options(home)
    assert [p.key.fingerprint for p in read_known_hosts(ws.known_hosts_file)] == [dc.host_key_fingerprint()]


def test_a_changed_host_key_is_never_repinned_silently(simdc_factory, tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-baru")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args())
    ws = Workspace.from_options(home)
    old_fp = dc.host_key_fingerprint()
    dc.restart(new_host_key=True)
    new_fp = dc.host_key_fingerprint()
    pinned = ws.known_hosts_file.read_text()

    # before: --replace re-pinned the new key without showing or asking
    for extra in ([], ["--trust-on-first-use"], ["--host-key-fingerprint", new_fp]):
        proc = run_cli(home, *dc.target_add_args(fingerprint=False), "--replace", *extra, check=False)
        assert proc.returncode == ExitCode.VERIFICATION_FAILED, proc.stderr
        assert old_fp in proc.stderr and new_fp in proc.stderr and "--accept-new-host-key" in proc.stderr
        assert ws.known_hosts_file.read_text() == pinned

    # status names the mismatch and exits 6 (before: "unreachable", exit 0)
    st = run_cli(home, "status", "--target", dc.name, check=False)
    assert st.returncode == ExitCode.VERIFICATION_FAILED, st.stdout + st.stderr
    assert "host-key-mismatch" in st.stdout and f"host key mismatch on target(s) {dc.name}" in st.stderr
    assert new_fp in st.stderr

    wrong = run_cli(home, *dc.target_add_args(fingerprint=False), "--replace", "--accept-new-host-key", old_fp,
                    check=False)  # fmt: skip
    assert wrong.returncode == ExitCode.VERIFICATION_FAILED and ws.known_hosts_file.read_text() == pinned
    ok = run_cli(home, *dc.target_add_args(fingerprint=False), "--replace", "--accept-new-host-key", new_fp)
    assert "(accepted-new-key)" in ok.stdout
    assert [p.key.fingerprint for p in read_known_hosts(ws.known_hosts_file)] == [new_fp]
    assert check_host_key(ws, get_target(ws, dc.name)) == [new_fp]


def test_bind_address_must_be_an_ip_and_preflight_checks_the_one_used(simdc_factory, tmp_path: Path) -> None:
    import sys

    import yaml

    dc: SimDC = simdc_factory("kota-ikat")
    home = tmp_path / "ws"
    bad = run_cli(home, *dc.target_add_args(), "--bind-address", "dc.kota-ikat.go.id", check=False)
    assert bad.returncode == ExitCode.INVALID_INPUT and "--bind-address: 'dc.kota-ikat.go.id' is not an IPv4" in bad.stderr
    run_cli(home, *dc.target_add_args(), "--python", sys.executable)
    ws = Workspace.from_options(home)
    assert get_target(ws, dc.name).bind_address == dc.address
    # an inventory written by hand (or by an older version) with a host name: preflight refuses it
    inv = yaml.safe_load(ws.inventory_file.read_text())
    inv["all"]["children"]["spbe_targets"]["hosts"][dc.name]["spbe_bind_address"] = "localhost"
    ws.inventory_file.write_text(yaml.safe_dump(inv))
    proc = run_cli(home, "preflight", "pengaduan", "--target", dc.name, check=False)
    assert proc.returncode == ExitCode.PREFLIGHT_FAILED, proc.stdout + proc.stderr
    assert "bind address" in proc.stdout + proc.stderr and "host name 'localhost'" in proc.stdout + proc.stderr


def test_fleet_status_rows_for_a_changed_key_a_stopped_server_and_a_hung_one(simdc_factory, tmp_path: Path) -> None:
    """One SSH round trip per target: each failure is its own row, none holds up the others, and
    the ssh of a target that does not answer in --timeout is killed (none is left running)."""
    from spbe_share.remote.interrupts import processes_with

    changed, stopped, hung = (simdc_factory(n) for n in ("kota-kunci", "kota-mati", "kota-diam"))
    home = tmp_path / "ws"
    hang = tmp_path / "hang.sh"  # the hung server's "python": never answers
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    for dc in (changed, stopped):
        run_cli(home, *dc.target_add_args())
    run_cli(home, *hung.target_add_args(), "--python", str(hang))
    new_fp = changed.restart(new_host_key=True).host_key_fingerprint()
    stopped.stop()

    names = ",".join(dc.name for dc in (changed, stopped, hung))
    proc = run_cli(home, "fleet", "status", "--target", names, "--timeout", "3", "--json")
    rows = {r["target"]: r for r in json.loads(proc.stdout)["rows"]}
    assert all(r["reachable"] is False and r["health"] == "unknown" for r in rows.values()), rows
    key_error = rows[changed.name]["error"]
    assert key_error.startswith("host key does not match the pinned one; not read (") and new_fp in key_error
    assert "Connection refused" in rows[stopped.name]["error"], rows[stopped.name]
    assert rows[hung.name]["error"] == "no answer within 3s"
    assert processes_with(f" {hung.address} -- ") == []  # its ssh was killed at the timeout

    runs = sorted((home / "runs").glob("*-fleet-status-fleet"))
    assert runs and set(json.loads((runs[-1] / "result.json").read_text())) == {changed.name, stopped.name, hung.name}
    asked = json.loads((runs[-1] / "request.json").read_text())["targets"][hung.name]
    assert asked[0] == "ssh" and asked[-1].startswith(f"{hang} -c <script> --spbe-share-status ")  # no copies


def test_preflight_of_one_host_is_one_ssh_round_trip_with_the_playbooks_facts(simdc_factory, tmp_path: Path) -> None:
    """Issue 21: preflight of a target of one host reads its facts with
    module_utils/spbe_preflight.py over ONE ssh connection (no Ansible run: over a slow link its
    start-up and round trips cost seconds); those facts equal what preflight.yml publishes on the
    same host, one of this deployment's containers publishing a port included."""
    import io
    import sys
    import tarfile

    from spbe_share.catalog.loader import get_entry
    from spbe_share.ops import preflight as pf
    from spbe_share.ops.preflight import TargetFacts, preflight_vars
    from spbe_share.remote.runner import run_playbook

    dc: SimDC = simdc_factory("kota-kilat")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args(), "--python", sys.executable)
    ws = Workspace.from_options(home)
    target = get_target(ws, dc.name)
    entry = get_entry(ws, "pengaduan").entry
    own = preflight_vars(target, entry)["spbe_containers"][0]
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    image = subprocess.run(["docker", "import", "-", f"spbe-test/empty:{dc.name}"], input=empty.getvalue(),  # noqa: S603,S607
                           capture_output=True, check=True).stdout.decode().strip()
    try:
        subprocess.run(["docker", "create", "--name", own, "-p", f"{dc.address}:18931:80", image, "none"],  # noqa: S603,S607
                       capture_output=True, check=True)
        proc = run_cli(home, "preflight", "pengaduan", "--target", dc.name, "--json", check=False)
        report = json.loads(proc.stdout)
        run_dir = Path(report["run_dir"])
        assert sorted(p.name for p in run_dir.iterdir()) == ["answer.json", "request.json"]  # no ansible-runner run
        assert json.loads((run_dir / "request.json").read_text())["containers"] == preflight_vars(target, entry)[
            "spbe_containers"]
        fast, _ = pf.ask_facts(ws, target=target, entry=entry)
        played = run_playbook(ws, op="preflight", target=dc.name, app=entry.id, playbook="preflight.yml",
                              targets=[target], extravars=preflight_vars(target, entry))
        assert played.ok, played.run_dir
        slow = TargetFacts.model_validate(played.stats[dc.name]["spbe_preflight"])
        assert fast.own_ports == slow.own_ports == [18931]
        assert abs(fast.disk.free_mb - slow.disk.free_mb) < 512
        assert fast.docker_server_version() == slow.docker_server_version() is not None
        ignore = {"disk": {"free_mb"}, "docker_version": True}
        assert fast.model_dump(exclude=ignore) == slow.model_dump(exclude=ignore)
        assert (fast.os_family, fast.os_major) != ("unknown", "") and fast.cpu_cores > 0 and fast.memory_mb > 0
    finally:
        subprocess.run(["docker", "rm", "-f", own], capture_output=True)  # noqa: S603,S607
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)  # noqa: S603,S607


def test_the_app_state_is_read_in_one_ssh_round_trip_as_app_state_yml_reads_it(simdc_factory, tmp_path: Path) -> None:
    """Issue 21: what a target keeps about an app is read before upgrade, rollback, history and
    unlock decide anything, with module_utils/spbe_appstate.py over ONE ssh connection (no
    Ansible run); it reads exactly what app_state.yml (kept for running by hand) publishes."""
    import sys

    from spbe_share.ops.checks import read_state
    from spbe_share.ops.context import OpContext
    from spbe_share.remote.runner import run_playbook
    from spbe_share.remote.scripts import ask

    dc: SimDC = simdc_factory("kota-kilat")
    home = tmp_path / "ws"
    run_cli(home, *dc.target_add_args(), "--python", sys.executable)
    ws = Workspace.from_options(home)
    target = get_target(ws, dc.name)
    app = dc.root / "apps" / "e-office"
    (app / "releases").mkdir(parents=True)
    (app / "deploys").mkdir()
    (app / "releases" / "20261201T000000Z-1.0.0.json").write_text(json.dumps(
        {"version": "1.0.0", "result": "ok", "deploy": "20261201T000000Z-1.0.0"}))
    (app / "releases" / "20261202T000000Z-1.1.0.json").write_text("{not json")
    (app / "deploys" / "20261201T000000Z-1.0.0.json").write_text(json.dumps({"version": "1.0.0"}))
    (app / "journal.json").write_text("[1, 2]")
    (dc.root / "locks").mkdir()
    (dc.root / "locks" / "e-office.lock").write_text(json.dumps({"owner": "someone", "lease_s": 60}))
    (dc.root / "blobs" / "sha256").mkdir(parents=True)
    (dc.root / "blobs" / "sha256" / ("ab" * 32)).write_text("")

    runs_before = set(ws.runs_dir.iterdir()) if ws.runs_dir.exists() else set()
    st = read_state(OpContext.create(ws), target=target, app="pengaduan")  # nothing of it there
    assert st.current is None and st.journal is None
    assert (set(ws.runs_dir.iterdir()) if ws.runs_dir.exists() else set()) == runs_before  # no Ansible run

    request = {"root": target.root, "app": "e-office", "deploys": [], "history": 200, "blobs": True}
    from pydantic import BaseModel, ConfigDict

    class Raw(BaseModel):
        model_config = ConfigDict(extra="allow")

    fast = ask(ws, target, "spbe_appstate", request, Raw, what="state").model_dump()
    played = run_playbook(ws, op="state", target=dc.name, app="e-office", playbook="app_state.yml", targets=[target],
                          extravars={"spbe_target": dc.name, "spbe_root": target.root, "spbe_app": "e-office"})
    assert played.ok, played.run_dir
    slow = played.stats[dc.name]["spbe_app_state"]
    assert abs(fast.pop("now") - slow.pop("now")) < 60
    fast["lock"].pop("age_s"), slow["lock"].pop("age_s")
    assert fast == slow
    assert [r["name"] for r in fast["releases"]] == ["20261201T000000Z-1.0.0", "20261202T000000Z-1.1.0"]
    assert "unreadable" in fast["releases"][1]["record"] and "unreadable" in fast["journal"]
    assert fast["deploys"] == {"20261201T000000Z-1.0.0": {"version": "1.0.0"}} and fast["blobs"] == ["ab" * 32]
