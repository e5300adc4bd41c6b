"""A data center with several hosts (issue 19): the inventory, the --host forms, preflight's
evaluation per host and role. Inventories written before roles existed load unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from spbe_share.catalog.models import Entry
from spbe_share.errors import InvalidInput, PreflightFailed, ValidationFailed
from spbe_share.ops.preflight import (
    DiskFacts,
    PreflightReport,
    TargetFacts,
    evaluate,
    host_plan,
    host_ports,
    missing_roles,
    preflight_host_vars,
    require_ok,
    role_checks,
    role_sizes,
)
from spbe_share.targets.hostkeys import HostKey, PinnedKey, write_known_hosts
from spbe_share.targets.inventory import (
    HostSpec,
    Target,
    TargetHost,
    load_targets,
    parse_host_spec,
    per_role,
    remove_target,
    save_targets,
)
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
ED_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

# Written by spbe-share before roles existed (main at 2b32d22), byte for byte.
OLD_INVENTORY = """\
# spbe-share targets: a standard Ansible inventory (ansible-playbook -i this-file).
# Edit with `spbe-share target add/remove`; hand edits are checked on every load.
all:
  children:
    spbe_targets:
      vars:
        ansible_ssh_common_args: -o StrictHostKeyChecking=yes -o UserKnownHostsFile={kh}
          -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no
        ansible_host_key_checking: true
      hosts:
        kabupaten-buleleng:
          ansible_host: 10.30.0.9
          ansible_port: 2222
          ansible_user: spbe
          ansible_ssh_private_key_file: /keys/id
          ansible_python_interpreter: /opt/py/bin/python3
          spbe_pemda: Kabupaten Buleleng
          spbe_kode_wilayah: '51.08'
          spbe_root: /var/lib/spbe-share
          spbe_bind_address: 10.30.0.10
          spbe_docker_daemon_options:
            iptables: false
        kota-sorong:
          ansible_host: 10.20.0.5
          ansible_port: 22
          ansible_user: spbe
          ansible_ssh_private_key_file: /keys/id
          spbe_pemda: Kota Sorong
          spbe_kode_wilayah: '96.71'
          spbe_root: /var/lib/spbe-share
          spbe_bind_address: 10.20.0.5
    papua:
      hosts:
        kota-sorong: null
    prov_51:
      hosts:
        kabupaten-buleleng: null
    prov_96:
      hosts:
        kota-sorong: null
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    w.ensure()
    return w


def test_an_inventory_written_before_roles_loads_and_saves_unchanged(ws: Workspace) -> None:
    text = OLD_INVENTORY.format(kh=ws.known_hosts_file)
    ws.inventory_file.write_text(text)
    targets = load_targets(ws)
    sorong, buleleng = targets["kota-sorong"], targets["kabupaten-buleleng"]
    assert (sorong.host, sorong.groups, sorong.roles, sorong.extra_hosts, sorong.multi_host) == (
        "10.20.0.5", ("papua",), (), (), False)
    assert (buleleng.port, buleleng.python, buleleng.docker_daemon_options) == (2222, "/opt/py/bin/python3",
                                                                                {"iptables": False})
    assert [h.name for h in sorong.hosts()] == ["kota-sorong"] and sorong.hosts()[0] == sorong
    save_targets(ws, targets.values())
    assert ws.inventory_file.read_text() == text


def dinas(**kw: object) -> Target:
    base: dict = dict(
        name="dinas-pendidikan-sorong", host="10.1.2.3", user="spbe", key=Path("/keys/id"), pemda="Kota Sorong",
        kode_wilayah="96.71", bind_address="10.1.2.3", roles=("web",), python="/opt/py/bin/python3",
        extra_hosts=(
            TargetHost(name="dinas-pendidikan-sorong--database", host="10.1.2.4", user="spbe",
                       key=Path("/keys/db"), bind_address="10.1.2.4", roles=("database",)),
            TargetHost(name="dinas-pendidikan-sorong--backup", host="10.1.2.5", port=2222, user="cadangan",
                       key=Path("/keys/id"), bind_address="10.1.2.5", roles=("backup",), root="/srv/cadangan"),
        ),
    )  # fmt: skip
    base.update(kw)
    return Target(**base)


def test_several_hosts_in_role_groups_round_trip(ws: Workspace) -> None:
    t = dinas()
    save_targets(ws, [t])
    keytype, blob = ED_LINE.split()
    write_known_hosts(ws.known_hosts_file, [PinnedKey("10.1.2.4", HostKey(keytype, blob))])
    loaded = load_targets(ws)["dinas-pendidikan-sorong"]
    db = t.extra_hosts[0].model_copy(update={"host_keys": (f"10.1.2.4 {ED_LINE}",)})
    assert loaded == t.model_copy(update={"extra_hosts": (t.extra_hosts[1], db)})  # sorted by name
    data = yaml.safe_load(ws.inventory_file.read_text())["all"]["children"]
    assert data["spbe_role_web"] == {"hosts": {"dinas-pendidikan-sorong": None}}
    assert data["spbe_role_database"] == {"hosts": {"dinas-pendidikan-sorong--database": None}}
    assert data["spbe_hosts"]["hosts"]["dinas-pendidikan-sorong--backup"] == {
        "ansible_host": "10.1.2.5", "ansible_port": 2222, "ansible_user": "cadangan",
        "ansible_ssh_private_key_file": "/keys/id", "spbe_bind_address": "10.1.2.5",
        "spbe_target": "dinas-pendidikan-sorong", "spbe_root": "/srv/cadangan",  # its own data folder
    }  # fmt: skip
    assert data["spbe_hosts"]["vars"] == data["spbe_targets"]["vars"]  # pinned keys only, on every host
    views = {h.name: h for h in loaded.hosts()}
    assert views["dinas-pendidikan-sorong--database"].key == Path("/keys/db")
    assert views["dinas-pendidikan-sorong--database"].pemda == "Kota Sorong"
    assert views["dinas-pendidikan-sorong--database"].root == loaded.root == "/var/lib/spbe-share"
    assert views["dinas-pendidikan-sorong--backup"].root == "/srv/cadangan"
    assert loaded.host_with("backup").host == "10.1.2.5"  # type: ignore[union-attr]
    assert loaded.host_with("cache") is None
    # removing the target forgets every host's pins
    remove_target(ws, "dinas-pendidikan-sorong")
    assert ws.known_hosts_file.read_text().strip() == ""


@pytest.mark.skipif(shutil.which("ansible-inventory") is None, reason="ansible-inventory not installed")
def test_ansible_reads_the_role_groups(ws: Workspace) -> None:
    save_targets(ws, [dinas()])
    out = subprocess.run(["ansible-inventory", "-i", str(ws.inventory_file), "--list"],  # noqa: S603,S607
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    inv = json.loads(out)
    assert inv["spbe_role_database"]["hosts"] == ["dinas-pendidikan-sorong--database"]
    assert inv["_meta"]["hostvars"]["dinas-pendidikan-sorong--backup"]["ansible_port"] == 2222
    assert "StrictHostKeyChecking=yes" in inv["_meta"]["hostvars"]["dinas-pendidikan-sorong--backup"][
        "ansible_ssh_common_args"]


def _break(ws: Workspace, old: str, new: str) -> list[str]:
    text = ws.inventory_file.read_text()
    assert old in text, old
    ws.inventory_file.write_text(text.replace(old, new, 1))
    with pytest.raises(ValidationFailed) as err:
        load_targets(ws)
    return err.value.problems


def line_of(ws: Workspace, needle: str, after: str = "") -> int:
    lines = ws.inventory_file.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if after in ln) if after else 0
    return next(i for i, ln in enumerate(lines) if i >= start and needle in ln) + 1


def test_broken_several_hosts_name_file_line_field(ws: Workspace) -> None:
    f = ws.inventory_file
    save_targets(ws, [dinas()])
    problems = _break(ws, "spbe_target: dinas-pendidikan-sorong", "spbe_target: dinas-lain")
    assert problems == [f"{f}:{line_of(ws, 'spbe_target: dinas-lain')}: all.children.spbe_hosts.hosts."
                        "dinas-pendidikan-sorong--backup.spbe_target: 'dinas-lain' is not a target of spbe_targets"]
    save_targets(ws, [dinas()])
    problems = _break(ws, "    spbe_role_backup:\n      hosts:\n        dinas-pendidikan-sorong--backup: null\n", "")
    assert problems == [f"{f}:{line_of(ws, 'dinas-pendidikan-sorong--backup:')}: all.children.spbe_hosts.hosts."
                        "dinas-pendidikan-sorong--backup: carries no role: put it in a group spbe_role_<role>"]
    save_targets(ws, [dinas()])
    problems = _break(ws, "spbe_role_web:\n      hosts:\n", "spbe_role_web:\n      hosts:\n"
                      "        dinas-pendidikan-sorong--database: null\n")
    assert problems == [f"{f}:{line_of(ws, 'dinas-pendidikan-sorong--database: null', 'spbe_role_web')}:"
                        " all.children.spbe_role_web.hosts.dinas-pendidikan-sorong--database: role 'web' of target"
                        " 'dinas-pendidikan-sorong' is already carried by dinas-pendidikan-sorong"]
    save_targets(ws, [dinas()])
    problems = _break(ws, "spbe_role_web:\n      hosts:\n", "spbe_role_web:\n      hosts:\n        nobody: null\n")
    assert problems[0].endswith("all.children.spbe_role_web.hosts.nobody: not a host of spbe_targets or spbe_hosts")


def test_host_options() -> None:
    assert parse_host_spec("10.1.2.3") == HostSpec((), "10.1.2.3")
    assert parse_host_spec("web=10.1.2.3") == HostSpec(("web",), "10.1.2.3")
    assert parse_host_spec("database,backup=spbe@db.example.go.id:2222") == HostSpec(
        ("database", "backup"), "db.example.go.id", "spbe", 2222)
    assert parse_host_spec("web=[fd00::3]:22") == HostSpec(("web",), "fd00::3", None, 22)
    for bad in ("Web=10.1.2.3", "web,web=10.1.2.3", "web=a:b:c"):
        with pytest.raises(InvalidInput):
            parse_host_spec(bad)
    assert per_role(["/k/id", "database=/k/db"], "--key", ["web", "database"]) == ("/k/id", {"database": "/k/db"})
    with pytest.raises(InvalidInput, match="no --host carries the role 'cache'"):
        per_role(["cache=/k"], "--key", ["web"])
    with pytest.raises(InvalidInput, match="given twice without a role"):
        per_role(["/a", "/b"], "--key", ["web"])


def ppdb() -> Entry:
    return Entry.model_validate(yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text()))


def facts(cpu: int, mem: int, disk_gb: float) -> TargetFacts:
    return TargetFacts(
        cpu_cores=cpu, memory_mb=mem, os_family="debian", os_version="12.5", os_major="12",
        disk=DiskFacts(path="/var/lib/spbe-share", root_exists=True, free_mb=int(disk_gb * 1024)),
        ports={"8082": "free"}, bind_address="10.1.2.3", docker_rc=0,
        docker_version='{"Server": {"Version": "20.10.24"}}', root_writable=True,
        python={"executable": "/opt/py/bin/python3", "modules": {"docker": "5.0", "requests": "2.28"}},
        zstd="/usr/bin/zstd",
    )  # fmt: skip


def test_preflight_checks_each_host_against_its_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPBE_SHARE_NFTABLES", raising=False)  # the nftables rule checked (the default)
    e, t = ppdb(), dinas()
    plan = host_plan(t, e)
    assert [(h.name, roles) for h, roles in plan] == [
        ("dinas-pendidikan-sorong", ("web",)), ("dinas-pendidikan-sorong--database", ("database",)),
        ("dinas-pendidikan-sorong--backup", ("backup",))]  # fmt: skip
    # the database's 5432 is published on its host's address for the web host (serves)
    assert host_ports(e, ("web",)) == [8082] and host_ports(e, ("database",)) == [5432]
    extravars, host_vars = preflight_host_vars(t, e, plan)
    assert extravars["spbe_preflight_hosts"] == [h.name for h, _r in plan]
    assert "spbe_ports" not in extravars  # per host, or the extravar would win over every host's own
    assert "spbe_root" not in extravars  # each host's own root (target add --root ROLE=PATH)
    assert host_vars["dinas-pendidikan-sorong--database"] == {
        "spbe_root": "/var/lib/spbe-share", "spbe_bind_address": "10.1.2.4", "spbe_ports": [5432],
        "spbe_containers": ["spbe-dinas-pendidikan-sorong-ppdb-db"],
        # its nftables access rule, looked at (plans/firewall.py): 5432 only from the web host
        "spbe_firewall": [{"component": "db", "address": "10.1.2.4", "ports": [5432], "allow": ["10.1.2.3"]}]}  # fmt: skip
    minimum, wanted = role_sizes(e, ("database",))
    assert (minimum.memory_mb, wanted.cpu_cores) == (2048, 12)
    # the database host has too little memory: it fails, naming the host and the role
    f = facts(4, 1024, 100)
    req = e.requirements.model_copy(update=minimum.model_dump())
    checks = role_checks(e, ("database",), f, evaluate(req, f, bind_address="10.1.2.4"),
                         where="dinas-pendidikan-sorong--database (database)")  # fmt: skip
    report = PreflightReport(target=t.name, app="ppdb", checks=checks, run_dir="/tmp/x")
    with pytest.raises(PreflightFailed) as err:
        require_ok(report)
    assert err.value.details == [
        "  dinas-pendidikan-sorong--database (database): memory: required >= 2048 MB (database), found 1024 MB"]
    warned = {c.check for c in checks if c.warn}
    assert warned == {"cpu cores (recommended)", "memory (recommended)", "free disk (recommended)"}
    assert all(c.ok for c in checks if c.warn)
    # a target of one host (or an entry without roles): requirements, as before
    assert host_plan(t.model_copy(update={"extra_hosts": ()}), e) == [(t.model_copy(update={"extra_hosts": ()}),
                                                                        None)]  # fmt: skip
    # a role of the entry no host carries
    no_backup = t.model_copy(update={"extra_hosts": t.extra_hosts[:1]})
    [missing] = missing_roles(no_backup, e)
    assert (missing.check, missing.ok) == ("role backup", False)


def test_operations_refuse_an_app_with_roles_on_several_hosts() -> None:
    from spbe_share.ops.preflight import refuse_across_hosts

    with pytest.raises(InvalidInput, match="this version installs an app on one host only"):
        refuse_across_hosts(dinas(), ppdb())
    refuse_across_hosts(dinas(extra_hosts=()), ppdb())  # one host carries every role
    no_roles = ppdb().model_copy(update={"roles": []})
    refuse_across_hosts(dinas(), no_roles)  # a single-server entry runs on the first host
    with pytest.raises(InvalidInput, match="carries the role backup: an app is never installed on the backup host"):
        refuse_across_hosts(dinas(roles=("web", "backup")), no_roles)
