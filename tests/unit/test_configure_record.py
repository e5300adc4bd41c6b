"""Issue 21, one round trip per phase: tasks/configure.yml is ONE call of the module
spbe_configure and tasks/record.yml writes its files in ONE call of spbe_record (the work:
playbooks/module_utils/spbe_configure.py). The logic with a fake docker CLI; record.yml run
for real with ``ansible-playbook`` on this machine (connection local), its files compared byte
for byte with Ansible's own ``to_nice_json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.plugins.filter.core import to_nice_json

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))
import spbe_configure as conf  # noqa: E402

LABELS = {"id.go.spbe.app": "e-office", "id.go.spbe.version": "1.2.0", "id.go.spbe.target": "kota-sorong"}


class FakeDocker:
    """The docker CLI's answers for networks and volumes, and the argument lists it was given."""

    def __init__(self, networks: dict[str, dict[str, Any]] | None = None, volumes: set[str] | None = None) -> None:
        self.networks = networks or {}
        self.volumes = volumes or set()
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        ok = subprocess.CompletedProcess(args, 0, "", "")
        gone = subprocess.CompletedProcess(args, 1, "[]\n", f"Error: {args[-1]} not found")
        kind, verb, names = args[0], args[1], args[args.index("--") + 1:]  # every name after --
        name = names[-1]
        labels = dict(a.removeprefix("--label=").split("=", 1) for a in args if a.startswith("--label="))
        if kind == "network" and verb == "inspect":
            if name not in self.networks:
                return gone
            return subprocess.CompletedProcess(args, 0, json.dumps([self.networks[name]]), "")
        if kind == "network" and verb == "create":
            self.networks[name] = {"Name": name, "Labels": labels, "Containers": {}}
        elif kind == "network" and verb == "rm":
            assert not self.networks[name]["Containers"]
            del self.networks[name]
        elif kind == "network" and verb == "connect":
            self.networks[names[0]]["Containers"][name] = {"Name": name}
        elif kind == "network" and verb == "disconnect":
            net = self.networks[names[0]]
            net["Containers"] = {k: c for k, c in net["Containers"].items() if c["Name"] != name}
        elif kind == "volume" and verb == "inspect":
            return ok if name in self.volumes else gone
        elif kind == "volume" and verb == "create":
            self.volumes.add(name)
        return ok


def _configure(app_dir: Path, docker: FakeDocker, **over: Any) -> dict[str, Any]:
    uid, gid = os.getuid(), os.getgid()
    args: dict[str, Any] = {
        "configs": [{"component": "web", "file": "0-app.ini", "content": "port = 8080\n"},
                    {"component": "web", "file": "1-nginx.conf", "content": "server {}\n"},
                    {"component": "db", "file": "0-pg.conf", "content": "max_connections = 50\n"}],
        "secrets_": [{"name": "DB_PASSWORD", "length": 40}, {"name": "SESSION_KEY", "length": 16}],
        "secret_mounts": [{"component": "web", "name": "DB_PASSWORD", "owner": uid, "group": gid},
                          {"component": "web", "name": "SESSION_KEY", "owner": str(uid), "group": str(gid)},
                          {"component": "db", "name": "DB_PASSWORD", "owner": uid, "group": gid}],
        "network": "spbe-kota-sorong-e-office", "volumes": [{"name": "spbe-kota-sorong-e-office-db"}],
        "labels": LABELS,
    }
    args.update(over)
    return conf.configure(str(app_dir), docker=docker, **args)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o7777


def test_configure_does_the_whole_phase_and_again_changes_nothing(tmp_path: Path) -> None:
    app, docker = tmp_path / "app", FakeDocker()
    got = _configure(app, docker)
    assert got == {"changed": True, "config_changed": ["web", "db"], "secrets_changed": ["web", "db"],
                   "secrets_generated": ["DB_PASSWORD", "SESSION_KEY"], "network": "created",
                   "volumes_created": ["spbe-kota-sorong-e-office-db"]}
    assert (app / "config/web/0-app.ini").read_text() == "port = 8080\n"
    assert _mode(app / "config/web") == 0o755 and _mode(app / "config/web/1-nginx.conf") == 0o644
    secret = (app / "secrets/DB_PASSWORD").read_text()
    assert len(secret) == 40 and secret.isalnum() and _mode(app / "secrets/DB_PASSWORD") == 0o600
    assert secret not in json.dumps(got)  # never returned
    assert _mode(app / "secrets/web") == 0o500 and _mode(app / "secrets/db") == 0o500
    copy = app / "secrets/web/DB_PASSWORD"
    assert copy.read_text() == secret and _mode(copy) == 0o400 and copy.stat().st_uid == os.getuid()
    # the docker CLI as argument lists: inspect, then create with the labels
    assert docker.calls == [
        ["network", "inspect", "--", "spbe-kota-sorong-e-office"],
        ["network", "create", "--label=id.go.spbe.app=e-office", "--label=id.go.spbe.target=kota-sorong",
         "--label=id.go.spbe.version=1.2.0", "--", "spbe-kota-sorong-e-office"],
        ["volume", "inspect", "--", "spbe-kota-sorong-e-office-db"],
        ["volume", "create", "--label=id.go.spbe.app=e-office", "--label=id.go.spbe.target=kota-sorong",
         "--label=id.go.spbe.version=1.2.0", "--", "spbe-kota-sorong-e-office-db"],
    ]
    inodes = {p: p.stat().st_ino for p in app.rglob("*") if p.is_file()}
    again = _configure(app, docker)
    assert again == {"changed": False, "config_changed": [], "secrets_changed": [], "secrets_generated": [],
                     "network": None, "volumes_created": []}
    assert {p: p.stat().st_ino for p in app.rglob("*") if p.is_file()} == inodes  # nothing rewritten
    assert (app / "secrets/DB_PASSWORD").read_text() == secret  # kept across reinstalls
    assert sorted(p.name for p in (app / "config/web").iterdir()) == ["0-app.ini", "1-nginx.conf"]  # no temp file


def test_a_changed_file_is_replaced_not_edited_and_only_its_component_restarts(tmp_path: Path) -> None:
    app, docker = tmp_path / "app", FakeDocker()
    _configure(app, docker)
    ini = app / "config/web/0-app.ini"
    before = ini.stat().st_ino
    configs = [{"component": "web", "file": "0-app.ini", "content": "port = 9090\n"},
               {"component": "web", "file": "1-nginx.conf", "content": "server {}\n"},
               {"component": "db", "file": "0-pg.conf", "content": "max_connections = 50\n"}]
    got = _configure(app, docker, configs=configs)
    assert got["config_changed"] == ["web"] and got["secrets_changed"] == [] and got["changed"]
    assert ini.read_text() == "port = 9090\n" and ini.stat().st_ino != before  # a new inode (bind mounts)
    # a wrong mode is fixed (and counts as a change, as copy's did); a tampered copy is rewritten
    (app / "config/db/0-pg.conf").chmod(0o600)
    copy = app / "secrets/db/DB_PASSWORD"
    copy.chmod(0o600)
    copy.write_text("tampered")
    copy.chmod(0o400)
    got = _configure(app, docker, configs=configs)
    assert got["config_changed"] == ["db"] and got["secrets_changed"] == ["db"]
    assert _mode(app / "config/db/0-pg.conf") == 0o644
    assert copy.read_text() == (app / "secrets/DB_PASSWORD").read_text()
    # a secret folder's mode is put back too, without marking a component changed
    (app / "secrets/web").chmod(0o700)
    got = _configure(app, docker, configs=configs)
    assert got["changed"] and got["secrets_changed"] == [] and _mode(app / "secrets/web") == 0o500


def test_check_mode_changes_nothing(tmp_path: Path) -> None:
    app, docker = tmp_path / "app", FakeDocker()
    got = _configure(app, docker, check=True)
    assert got["changed"] and got["config_changed"] == ["web", "db"] and got["secrets_changed"] == ["web", "db"]
    assert not app.exists() and docker.calls == [["network", "inspect", "--", "spbe-kota-sorong-e-office"],
                                                 ["volume", "inspect", "--", "spbe-kota-sorong-e-office-db"]]


def test_an_existing_network_is_kept_whatever_its_labels_so_nothing_on_it_is_cut_off(tmp_path: Path) -> None:
    net = "spbe-kota-sorong-e-office"
    docker = FakeDocker(networks={net: {"Name": net, "Labels": {**LABELS, "id.go.spbe.version": "1.1.0"},
                                        "Containers": {"abc": {"Name": "spbe-kota-sorong-e-office-web"}}}},
                        volumes={"spbe-kota-sorong-e-office-db"})
    got = _configure(tmp_path / "app", docker)
    assert got["network"] is None and got["volumes_created"] == []
    assert [c[:2] for c in docker.calls] == [["network", "inspect"], ["volume", "inspect"]]  # no disconnect, no rm
    assert [c["Name"] for c in docker.networks[net]["Containers"].values()] == ["spbe-kota-sorong-e-office-web"]
    # absent: created with the labels
    del docker.networks[net]
    assert _configure(tmp_path / "app", docker)["network"] == "created"
    assert docker.networks[net]["Labels"] == LABELS
    # config.yml: no network given, none touched
    docker.calls.clear()
    assert _configure(tmp_path / "app", docker, network=None, volumes=[])["network"] is None and docker.calls == []


def test_a_docker_error_stops_it_with_docker_s_answer(tmp_path: Path) -> None:
    def broken(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 1, "", "Cannot connect to the Docker daemon")

    with pytest.raises(conf.ConfigureError, match="docker network create spbe-x: Cannot connect"):
        conf.configure(str(tmp_path / "app"), configs=[], secrets_=[], secret_mounts=[], network="spbe-x",
                       volumes=[], labels=LABELS, docker=broken)


@pytest.mark.parametrize(("over", "cause"), [
    ({"configs": [{"component": "..", "file": "x", "content": ""}]}, "not a component"),
    ({"configs": [{"component": "web", "file": "../../etc/passwd", "content": ""}]}, "not a config file name"),
    ({"secrets_": [{"name": "a/b", "length": 8}]}, "not a secret name"),
    ({"network": "--help"}, "not a network name"),
    ({"volumes": [{"name": "-v"}]}, "not a volume name"),
])  # fmt: skip
def test_names_are_checked_before_use(tmp_path: Path, over: dict[str, Any], cause: str) -> None:
    with pytest.raises(conf.ConfigureError, match=cause):
        _configure(tmp_path / "app", FakeDocker(), **over)


def test_a_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "KEY"
    assert conf.new_secret(str(path), 12, check=True) and not path.exists()
    assert conf.new_secret(str(path), 12) and len(path.read_text()) == 12
    assert not conf.new_secret(str(path), 99) and len(path.read_text()) == 12
    assert _mode(path.parent) == 0o700


RECORDS: list[Any] = [
    {"app": "e-office", "version": "1.2.0", "values": {"nama": "Dinas Pendidikan — Sorong", "n": 3, "on": True},
     "previous": None, "when": "2026-12-07T10:00:00Z", "ratio": 0.5, "list": [1, "ä", {"b": None, "a": []}]},
    {}, [], "x", None,
]


@pytest.mark.parametrize("value", RECORDS)
def test_nice_json_is_ansible_s_to_nice_json(value: Any) -> None:
    assert conf.nice_json(value) == (to_nice_json(value) + "\n").encode()


def _record_play(tmp_path: Path, app_dir: Path, **extra: Any) -> subprocess.CompletedProcess[str]:
    play = tmp_path / "record.yml"
    play.write_text(yaml.safe_dump([{"name": "record", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.import_tasks": str(REPO / "playbooks/tasks/record.yml")}]}]))
    release = {"app": "e-office", "version": "1.2.0", "bundle_digest": "sha256:" + "a" * 64, "target": "kota-sorong",
               "values": {"nama": "Dinas Pendidikan — Sorong", "port": 8080}, "who": "ops", "when": "2026-12-07"}
    evars = {"spbe_app_dir": str(app_dir), "spbe_app": "e-office", "spbe_target": "kota-sorong",
             "spbe_version": "1.2.0", "spbe_stamp": "20261207T100000Z", "spbe_release": release,
             "spbe_start_result": {"results": [{"changed": True}]},
             "spbe_containers": [{"name": "spbe-kota-sorong-e-office-web"}],
             "spbe_deploy_name": "20261207T100000Z-1.2.0", "spbe_deploy_spec": {"format": 1, "labels": {"ü": "x"}},
             **extra}
    (tmp_path / "vars.json").write_text(json.dumps(evars))
    env = {**os.environ, "ANSIBLE_LIBRARY": str(REPO / "playbooks/library"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_MODULE_UTILS": str(REPO / "playbooks/module_utils")}
    return subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",  # noqa: S603,S607
                           "-e", "ansible_python_interpreter=" + sys.executable, "-e", f"@{tmp_path / 'vars.json'}",
                           str(play)], capture_output=True, text=True, env=env, timeout=300)


def test_record_writes_its_files_in_one_call_as_to_nice_json_wrote_them(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "releases").mkdir(parents=True)
    proc = _record_play(tmp_path, app)
    assert proc.returncode == 0, proc.stdout[-3000:]
    writes = [t for t in proc.stdout.split("TASK [")[1:] if "changed:" in t or "ok:" in t]
    assert [t.split("]")[0] for t in writes if "changed:" in t] == [
        "Record: write the deploy spec, the release file and current.json (or part.json)"]
    current = json.loads((app / "current.json").read_text())
    assert current["result"] == "ok" and current["previous"] is None and current["values"]["port"] == 8080
    for path, value in [(app / "current.json", current), (app / "releases/20261207T100000Z-1.2.0.json", current),
                        (app / "deploys/20261207T100000Z-1.2.0.json", {"format": 1, "labels": {"ü": "x"}})]:
        assert path.read_bytes() == (to_nice_json(value) + "\n").encode(), path
        assert _mode(path) == 0o644
    assert "\\u2014" in (app / "current.json").read_text()  # ASCII, as to_nice_json
    assert not (app / "part.json").exists()

    # another host of a data center: part.json only (and its deploy spec)
    other = tmp_path / "other"
    proc = _record_play(tmp_path, other, spbe_record_here=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(str(p.relative_to(other)) for p in other.rglob("*.json")) == [
        "deploys/20261207T100000Z-1.2.0.json", "part.json"]
    part = json.loads((other / "part.json").read_text())
    assert part == {"app": "e-office", "version": "1.2.0", "target": "kota-sorong", "host": "localhost",
                    "containers": ["spbe-kota-sorong-e-office-web"], "bundle_digest": "sha256:" + "a" * 64,
                    "values": {"nama": "Dinas Pendidikan — Sorong", "port": 8080}}
    assert (other / "part.json").read_bytes() == (to_nice_json(part) + "\n").encode()


def test_configure_yml_is_one_module_call_and_start_reads_its_result() -> None:
    tasks = yaml.safe_load((REPO / "playbooks/tasks/configure.yml").read_text())
    assert [next(k for k in t if k != "name") for t in tasks][1:] == ["spbe_configure"]
    assert tasks[1]["register"] == "spbe_configure_result" and tasks[1]["name"].startswith("Configure: ")
    for f in ("tasks/start.yml", "tasks/record.yml", "config.yml"):
        text = (REPO / "playbooks" / f).read_text()
        assert "spbe_configure_result" in text and "spbe_config_result" not in text, f
    record = yaml.safe_load((REPO / "playbooks/tasks/record.yml").read_text())
    remote = [t["name"] for t in record if not {"ansible.builtin.set_fact", "ansible.builtin.set_stats"} & set(t)]
    assert remote == ["Record: read the current release",
                      "Record: write the deploy spec, the release file and current.json (or part.json)"]
