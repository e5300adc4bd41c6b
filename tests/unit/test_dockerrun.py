"""playbooks/module_utils/spbe_dockerrun.py: an app's containers from their specs with the
docker CLI in one module call (issue 21), with a recording runner; the real engine runs it in
every integration and e2e test that installs an app."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))

import spbe_dockerrun as dr  # noqa: E402

IMAGE = "sha256:" + "a" * 64
SPEC = {"name": "kota-x-e-office-web", "component": "web", "image": IMAGE, "command": ["gunicorn", "app:app"],
        "env": {"TZ": "Asia/Jayapura", "A": "b=c"}, "labels": {"id.go.spbe.app": "e-office"},
        "ports": ["127.0.0.1:18080:8080/tcp"],
        "mounts": [{"type": "bind", "source": "/srv/spbe/apps/e-office/config/web/0-config.json",
                    "target": "/etc/eoffice/config.json", "read_only": True},
                   {"type": "volume", "source": "eoffice-files", "target": "/data", "read_only": False}]}
DB = {"name": "kota-x-e-office-db", "component": "db", "image": IMAGE, "command": [], "env": {}, "labels": {},
      "ports": [], "mounts": []}


def test_docker_run_is_an_argument_list_with_the_whole_spec() -> None:
    argv = dr.run_argv(SPEC, network="kota-x-e-office", alias="web")
    assert argv[:9] == ["docker", "run", "--detach", "--pull", "never", "--name", SPEC["name"], "--network",
                        "kota-x-e-office"]
    assert argv[argv.index("--") + 1:] == [IMAGE, "gunicorn", "app:app"]
    for pair in (["--network-alias", "web"], ["--restart", "unless-stopped"], ["--publish", "127.0.0.1:18080:8080/tcp"],
                 ["--env", "A=b=c"], ["--log-opt", "max-size=10m"], ["--label", "id.go.spbe.app=e-office"]):
        i = argv.index(pair[1])
        assert argv[i - 1:i + 1] == pair
    assert "--init" in argv
    assert "type=bind,source=/srv/spbe/apps/e-office/config/web/0-config.json,target=/etc/eoffice/config.json,readonly" in argv
    assert "type=volume,source=eoffice-files,target=/data" in argv
    assert f"{dr.SPEC_LABEL}={dr.spec_digest(SPEC, network='kota-x-e-office', alias='web')}" in argv
    assert dr.run_argv(SPEC, network="n", alias="web", create_only=True)[:3] == ["docker", "create", "--pull"]


@pytest.mark.parametrize(("field", "value", "why"), [
    ("name", "-rm", "container name"),
    ("image", "nginx:latest", "image id"),
    ("mounts", [{"type": "bind", "source": "/a,type=bind", "target": "/b"}], "mount"),
    ("mounts", [{"type": "tmpfs", "source": "x", "target": "/b"}], "mount"),
    ("env", {"A=B": "c"}, "environment variable"),
    ("ports", ["0.0.0.0:80:80 -v /:/host"], "published port"),
    ("labels", {dr.SPEC_LABEL: "sha256:0"}, "label"),
])
def test_docker_run_refuses_what_it_cannot_pass_as_one_argument(field: str, value: Any, why: str) -> None:
    with pytest.raises(dr.DockerRunError, match=why):
        dr.run_argv({**SPEC, field: value}, network="n", alias="web")


def test_the_spec_digest_leaves_out_the_name_and_follows_everything_else() -> None:
    d = dr.spec_digest(SPEC, network="n", alias="web")
    assert dr.spec_digest({**SPEC, "name": "kota-x-e-office-web--20261207t1"}, network="n", alias="web") == d
    for change in ({"image": "sha256:" + "b" * 64}, {"env": {"TZ": "UTC"}}, {"ports": []}, {"command": ["x"]},
                   {"labels": {"id.go.spbe.version": "1.1.1"}}, {"mounts": SPEC["mounts"][:1]}):
        assert dr.spec_digest({**SPEC, **change}, network="n", alias="web") != d, change
    assert dr.spec_digest(SPEC, network="n2", alias="web") != d


class Engine:
    """Containers by name -> (running, spec digest); records each docker command but inspect."""

    def __init__(self, containers: dict[str, tuple[bool, str]]) -> None:
        self.containers = dict(containers)
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        verb = argv[1]
        if verb == "container":  # inspect, several names at once
            names = argv[argv.index("--") + 1:]
            lines = [f"/{n} {'true' if self.containers[n][0] else 'false'} {self.containers[n][1]}"
                     for n in names if n in self.containers]
            missing = [n for n in names if n not in self.containers]
            return subprocess.CompletedProcess(argv, 1 if missing else 0, "\n".join(lines) + "\n",
                                               "".join(f"Error: No such object: {n}\n" for n in missing))
        self.calls.append(argv)
        if verb == "rename":
            self.containers[argv[3]] = self.containers.pop(argv[2])
        elif verb == "rm":
            self.containers.pop(argv[-1], None)
        elif verb == "create":
            name = argv[argv.index("--name") + 1]
            label = next(a for a in argv if a.startswith(dr.SPEC_LABEL + "="))
            self.containers[name] = (False, label.split("=", 1)[1])
        return subprocess.CompletedProcess(argv, 0, "", "")

    def verbs(self) -> list[str]:
        return [" ".join(c[1:2] + ([c[-1]] if c[1] in ("start", "restart", "rm") else [])) for c in self.calls]


def test_each_container_is_kept_started_restarted_or_created_anew_as_its_spec_says() -> None:
    same = dr.spec_digest(SPEC, network="n", alias="web")
    db_same = dr.spec_digest(DB, network="n", alias="db")

    e = Engine({SPEC["name"]: (True, same), DB["name"]: (False, db_same)})
    out = dr.ensure([DB, SPEC], network="n", runner=e)
    assert [(r["name"], r["action"], r["changed"]) for r in out] == [(DB["name"], "started", True),
                                                                   (SPEC["name"], "kept", False)]
    assert e.verbs() == [f"start {DB['name']}"]

    e = Engine({SPEC["name"]: (True, same)})
    assert dr.ensure([SPEC], network="n", restart=["web"], runner=e)[0]["action"] == "restarted"
    e = Engine({SPEC["name"]: (True, same)})
    assert dr.ensure([SPEC], network="n", restart_all=True, runner=e)[0]["action"] == "restarted"

    e = Engine({SPEC["name"]: (True, "")})  # created before the label, or from another spec
    assert dr.ensure([SPEC], network="n", runner=e)[0]["action"] == "recreated"
    assert e.verbs() == [f"rm {SPEC['name']}", "run"]

    e = Engine({})
    assert dr.ensure([DB], network="n", runner=e)[0]["action"] == "created" and e.verbs() == ["run"]

    e = Engine({DB["name"]: (True, db_same)})  # bring_back: recreate, stopped
    assert dr.ensure([DB], network="n", state="present", recreate=True, runner=e)[0]["action"] == "recreated"
    assert e.verbs() == [f"rm {DB['name']}", "create"]


def test_an_upgrade_creates_ahead_and_only_swaps_in_the_outage() -> None:
    old = {**SPEC, "labels": {"id.go.spbe.version": "1.0.0"}}
    new = {**SPEC, "labels": {"id.go.spbe.version": "1.1.0"}}
    e = Engine({SPEC["name"]: (True, dr.spec_digest(old, network="n", alias="web"))})
    assert dr.prepare([new], network="n", runner=e) == [SPEC["name"] + dr.NEXT]
    assert e.verbs() == ["create"] and e.containers[SPEC["name"]][0]  # the serving one untouched
    assert dr.prepare([new], network="n", runner=e) == [SPEC["name"] + dr.NEXT]  # a repeated step: nothing new
    assert e.verbs() == ["create"]
    e.containers[SPEC["name"]] = (False, e.containers[SPEC["name"]][1])  # the outage: the old one stopped
    e.calls.clear()
    out = dr.ensure([new], network="n", runner=e)
    assert out[0]["action"] == "recreated"
    assert e.verbs() == [f"rm {SPEC['name']}", "rename", f"start {SPEC['name']}"]  # no create inside the outage
    assert set(e.containers) == {SPEC["name"]}

    # the undo brings the old spec back: a --next made for the new one is removed, the old recreated
    e = Engine({SPEC["name"]: (False, dr.spec_digest(old, network="n", alias="web"))})
    dr.prepare([new], network="n", runner=e)
    e.calls.clear()
    assert dr.ensure([old], network="n", runner=e)[0]["action"] == "started"
    assert e.verbs() == [f"rm {SPEC['name'] + dr.NEXT}", f"start {SPEC['name']}"]
    assert set(e.containers) == {SPEC["name"]}

    # a container that runs its spec already: nothing to prepare
    e = Engine({SPEC["name"]: (True, dr.spec_digest(new, network="n", alias="web"))})
    assert dr.prepare([new], network="n", runner=e) == [] and e.calls == []


def test_a_failed_docker_command_names_the_container_and_the_engines_words() -> None:
    def runner(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        if argv[1] == "container":
            return subprocess.CompletedProcess(list(argv), 1, "", "No such container")
        return subprocess.CompletedProcess(list(argv), 125, "", "docker: Error response from daemon: No such image")

    with pytest.raises(dr.DockerRunError, match=f"docker run {DB['name']}: docker: Error response from daemon: No such image"):
        dr.ensure([DB], network="n", runner=runner)
