"""playbooks/module_utils/spbe_switchover.py: the zero-downtime switch's target side (issue 21),
with a recording docker runner and a fake /proc; the real engine and proxy are in
tests/e2e/test_zerodt.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))

import spbe_switchover as so  # noqa: E402

IMAGE = "sha256:" + "a" * 64
SPEC = {"name": "kota-x-e-office-web--20261207t1", "image": IMAGE, "command": ["gunicorn", "app:app"],
        "env": {"TZ": "Asia/Jayapura", "A": "b=c"}, "labels": {"id.go.spbe.app": "e-office"},
        "mounts": [{"type": "bind", "source": "/srv/spbe/apps/e-office/config/web/0-config.json",
                    "target": "/etc/eoffice/config.json", "read_only": True},
                   {"type": "volume", "source": "eoffice-files", "target": "/data", "read_only": False}]}


class Docker:
    """Records each command; answers from ``answers`` (first match of an argv prefix)."""

    def __init__(self, answers: dict[tuple[str, ...], list[tuple[int, str]]] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        for prefix, replies in self.answers.items():
            if tuple(argv[:len(prefix)]) == prefix:
                rc, out = replies.pop(0) if len(replies) > 1 else replies[0]
                return subprocess.CompletedProcess(list(argv), rc, out if rc == 0 else "", "" if rc == 0 else out)
        if tuple(argv[:3]) == ("docker", "container", "inspect"):  # every one asked exists
            return subprocess.CompletedProcess(list(argv), 0, "".join(f"/{n} true \n" for n in argv[argv.index("--") + 1:]), "")
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    def ran(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.calls if tuple(c[:len(prefix)]) == prefix]


def test_start_beside_writes_the_journal_steps_as_it_goes(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text(json.dumps({"id": "j1", "state": "running", "steps": [{"step": "begin", "at": "x"}]}))
    docker = Docker({("docker", "container", "inspect"): [(1, "no such container")], ("docker", "run"): [(0, "cid\n")]})
    check = {"component": "web", "container": SPEC["name"], "type": "http", "port": 8080, "path": "/", "retries": 0}
    assert so.start_beside(spec=SPEC, network="net", alias="web", checks=[check],
                           journal={"path": str(journal), "id": "j1"}, runner=docker) == "cid"
    steps = [s["step"] for s in json.loads(journal.read_text())["steps"]]
    assert steps == ["begin", "shipped", "starting-new", "started-new", "healthy"]
    assert not docker.ran("docker", "rm")  # no leftover of that name

    journal.write_text(json.dumps({"id": "j1", "state": "running", "steps": []}))
    sick = Docker({("docker", "exec"): [(1, "503")]})  # a leftover of a cut attempt exists: removed first
    with pytest.raises(so.SwitchError):
        so.start_beside(spec=SPEC, network="net", alias="web", checks=[check],
                        journal={"path": str(journal), "id": "j1"}, runner=sick, sleep=lambda _s: None)
    assert sick.ran("docker", "rm", "-f", "--", SPEC["name"])
    assert [s["step"] for s in json.loads(journal.read_text())["steps"]] == ["shipped", "starting-new", "started-new"]


def fake_proc(root: Path, procs: dict[int, tuple[int, int, str]]) -> Path:
    """/proc with pid -> (ppid, start time, cmdline)."""
    for pid, (ppid, start, cmd) in procs.items():
        d = root / str(pid)
        d.mkdir(parents=True)
        rest = ["S", str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 5
        (d / "stat").write_text(f"{pid} (nginx: a) b) " + " ".join(rest) + "\n")
        (d / "cmdline").write_bytes(cmd.encode() + b"\0")
    (root / "self").mkdir(exist_ok=True)
    return root


def test_the_proxy_workers_are_read_from_proc_under_the_container_and_a_reused_pid_is_not_one(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path / "proc", {
        100: (1, 10, "docker-init"), 101: (100, 11, "nginx: master process nginx -c /etc/spbe-proxy/nginx.conf"),
        102: (101, 12, "nginx: worker process"), 103: (101, 12, "nginx: worker process"),
        200: (1, 13, "nginx: worker process"),  # another nginx on the host: not the proxy's
    })
    old = so.workers(100, str(proc))
    assert old == {(102, 12), (103, 12)}
    assert so.alive(old, str(proc)) == old
    (proc / "102" / "stat").unlink()
    (proc / "102" / "cmdline").unlink()
    (proc / "102").rmdir()
    stat = proc / "103" / "stat"
    stat.write_text(stat.read_text().replace(" 12 0 0 0 0 0\n", " 99 0 0 0 0 0\n"))  # pid 103 reused
    assert so.alive(old, str(proc)) == set()
    assert so.workers(0, str(tmp_path / "nowhere")) == set()


def test_drain_ends_when_the_old_workers_are_gone_or_at_the_grace() -> None:
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    gone_after = {1: 3}  # pid 1 alive for 3 polls
    polls = [0]

    def alive(old: Any, proc: str) -> Any:
        polls[0] += 1
        return old if polls[0] <= gone_after[1] else set()

    orig = so.alive
    so.alive = alive  # type: ignore[assignment]
    try:
        how, waited = so.drain({(1, 1)}, grace_s=30, clock=lambda: t[0], sleep=sleep)
        assert how == "drained" and waited == pytest.approx(0.15)
        polls[0], t[0], gone_after[1] = 0, 0.0, 10**9
        how, waited = so.drain({(1, 1)}, grace_s=1, clock=lambda: t[0], sleep=sleep)
        assert how == "grace" and 1 <= waited < 1.1
    finally:
        so.alive = orig  # type: ignore[assignment]
    t[0] = 0.0
    assert so.drain(set(), grace_s=30, clock=lambda: t[0], sleep=sleep) == ("unknown", so.UNKNOWN_WAIT_S)


def switch(tmp_path: Path, docker: Docker) -> dict[str, Any]:
    return so.switch_over(serving="web", next_name="web--t1", proxy="proxy", proxy_dir=str(tmp_path),
                          upstream_next="next\n", upstream_final="final\n", grace_s=30, runner=docker,
                          proc=str(tmp_path / "noproc"), sleep=lambda _s: None)


def test_switch_order_reload_then_stop_then_rename_then_canonical_upstream(tmp_path: Path) -> None:
    docker = Docker()
    out = switch(tmp_path, docker)
    verbs = [c[1] if c[1] != "exec" else " ".join(c[3:5]) for c in docker.calls if c[1] != "container"]
    assert verbs == ["nginx -t", "nginx -s", "stop", "rm", "rename", "nginx -t", "nginx -s"]
    assert docker.ran("docker", "rename") == [["docker", "rename", "web--t1", "web"]]
    assert (tmp_path / "upstream.conf").read_text() == "final\n"
    assert out["drain"] == "unknown"


def test_a_refused_upstream_is_written_back_and_nothing_switched(tmp_path: Path) -> None:
    docker = Docker({("docker", "exec", "proxy", "nginx", "-t"): [(1, "nginx: [emerg] host not found")]})
    with pytest.raises(so.SwitchError, match="refused the new upstream") as e:
        switch(tmp_path, docker)
    assert not e.value.switched
    assert (tmp_path / "upstream.conf").read_text() == "final\n"
    assert not docker.ran("docker", "stop") and not docker.ran("docker", "rename")


def test_a_failure_after_the_reload_says_the_proxy_had_switched(tmp_path: Path) -> None:
    docker = Docker({("docker", "rename"): [(1, "Error: name in use")]})
    with pytest.raises(so.SwitchError, match="docker rename web--t1 web: Error: name in use") as e:
        switch(tmp_path, docker)
    assert e.value.switched


def test_undo_removes_the_new_container_and_writes_back_only_what_differs(tmp_path: Path) -> None:
    app = tmp_path / "app"
    same = app / "config" / "web" / "0-config.json"
    same.parent.mkdir(parents=True)
    same.write_text("old\n")
    inode = same.stat().st_ino
    (tmp_path / "proxy").mkdir()
    (tmp_path / "proxy" / "upstream.conf").write_text("next\n")
    docker = Docker()
    so.undo(next_name="web--t1", app_dir=str(app), configs=[
        {"component": "web", "file": "0-config.json", "content": "old\n"},
        {"component": "web", "file": "1-app.ini", "content": "[a]\n"}],
        proxy_dir=str(tmp_path / "proxy"), upstream_final="final\n", runner=docker)
    assert docker.ran("docker", "rm", "-f", "--", "web--t1")
    assert same.stat().st_ino == inode  # unchanged: not replaced
    assert (app / "config" / "web" / "1-app.ini").read_text() == "[a]\n"
    assert (tmp_path / "proxy" / "upstream.conf").read_text() == "final\n"
    with pytest.raises(so.SwitchError, match="config file name"):
        so.undo(next_name="web--t1", app_dir=str(app), configs=[{"component": "web", "file": "../x", "content": ""}],
                proxy_dir=None, upstream_final=None, runner=docker)
