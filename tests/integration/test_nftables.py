"""``spbe_nft`` (the database host's access rule, issue 19 item 3) for real: this machine's
``nft`` and kernel, in network namespaces of the test's own (never the machine's, where the
simulated hosts of the e2e tests live). The module runs through ansible-playbook as the
playbooks run it (``tasks/firewall.yml`` as install.yml and uninstall.yml import it), inside
the database host's namespace (``nsenter --net``).

Two namespaces joined by a veth pair, a Pemda's LAN: the database host's (its private address,
a listener on 5432) and the other end, holding the web host's address and another host's. The
web connects, the other address is dropped, the database host itself still connects (lo); the
same rule again changes nothing; preflight's query says it is there; a new web address
replaces the rule; a rule that is not one is refused; removing one app's rule keeps another
app's, removing the last removes the table; the machine's own namespace is untouched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from needs import missing  # tests/ is on the path (tests/integration/conftest.py)

REPO = Path(__file__).resolve().parents[2]
DB, WEB, OTHER = "10.77.0.1", "10.77.0.2", "10.77.0.3"


def _holder() -> tuple[subprocess.Popen[bytes], str]:
    """A process holding a new network namespace, and that namespace's path under /proc."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])  # noqa: S603,S607
    path = f"/proc/{proc.pid}/ns/net"
    deadline = time.monotonic() + 10
    while os.readlink(path) == os.readlink("/proc/self/ns/net"):  # until unshare has switched
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("unshare --net did not start")
        time.sleep(0.05)
    return proc, path


@pytest.fixture
def lan() -> Iterator[tuple[str, str]]:
    """Two network namespaces of the test's own, a veth pair between them (a Pemda's LAN): the
    database host's (``DB`` on its end) and the other hosts' (``WEB`` and ``OTHER`` on theirs)."""
    if shutil.which("nft") is None and not Path("/usr/sbin/nft").exists():
        missing("nft", "the database host's access rule is tested with it (bash scripts/setup --dev: nftables)")
    if os.geteuid() != 0:
        missing("root", "network namespaces with their own nftables need root (CAP_NET_ADMIN)")
    holders = []
    try:
        for _ in range(2):
            holders.append(_holder())
        (_, db), (lan_proc, others) = holders
        inside(db, "ip", "link", "add", "spbe-db", "type", "veth", "peer", "name", "spbe-lan", "netns", str(lan_proc.pid))
        for ns, dev, addrs in ((db, "spbe-db", (DB,)), (others, "spbe-lan", (WEB, OTHER))):
            inside(ns, "ip", "link", "set", "lo", "up")
            for addr in addrs:
                inside(ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
            inside(ns, "ip", "link", "set", dev, "up")
        yield db, others
    finally:
        for proc, _path in holders:
            proc.kill()
            proc.wait()


def inside(ns: str, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={ns}", *argv], capture_output=True, text=True,  # noqa: S603,S607
                          check=kw.pop("check", True), **kw)  # fmt: skip


def nft_module(ns: str, tmp_path: Path, *calls: dict[str, Any]) -> list[dict[str, Any]]:
    """``spbe_nft`` tasks in the namespace, in one play; each one's result (failed included)."""
    return _play(ns, tmp_path, [nft_task(a) for a in calls])


def nft_task(args: dict[str, Any]) -> dict[str, Any]:
    return {"name": "nft", "spbe_nft": args, "ignore_errors": True}


FIREWALL_TASKS = {"ansible.builtin.import_tasks": str(REPO / "playbooks/tasks/firewall.yml")}


def _play(ns: str, tmp_path: Path, tasks: list[dict[str, Any]], variables: dict[str, Any] | None = None,
          ) -> list[dict[str, Any]]:  # fmt: skip
    """One play on localhost in the namespace (ansible-playbook, the repository's modules)."""
    play = tmp_path / f"nft-{uuid.uuid4().hex[:6]}.yml"
    play.write_text(json.dumps([{"name": "nft", "hosts": "localhost", "gather_facts": False,
                                 "vars": variables or {}, "tasks": tasks}]))  # fmt: skip
    env = {**os.environ, "ANSIBLE_LIBRARY": str(REPO / "playbooks/library"),
           "ANSIBLE_MODULE_UTILS": str(REPO / "playbooks/module_utils"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_NOCOLOR": "1"}  # fmt: skip
    proc = inside(ns, "ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                  f"ansible_python_interpreter={sys.executable}", str(play), env=env, timeout=120, check=False)
    return [t["hosts"]["localhost"] for t in json.loads(proc.stdout)["plays"][0]["tasks"]]


def connects(ns: str, source: str) -> bool:
    """Can ``source`` (an address in namespace ``ns``) open a TCP connection to the database's 5432?"""
    code = ("import socket,sys\ns=socket.socket();s.settimeout(1.5);s.bind((sys.argv[1],0))\n"
            f"try:\n s.connect(({DB!r},5432));print('yes')\nexcept OSError:\n print('no')")
    return inside(ns, sys.executable, "-c", code, source, timeout=30).stdout.strip() == "yes"


def _machine_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout  # noqa: S603,S607


def test_only_the_web_host_reaches_the_database_port(lan: tuple[str, str], tmp_path: Path) -> None:
    netns, others = lan  # the database host's namespace (the module runs there), the LAN's other end
    before = _machine_tables()
    server = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c",  # noqa: S603,S607
                               "import socket\ns=socket.create_server(('10.77.0.1',5432))\n"
                               "while True:\n c,_=s.accept();c.close()"])  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not connects(others, OTHER):  # before the rule, anyone may connect
            assert time.monotonic() < deadline, "the listener did not start"
        rule = {"component": "db", "address": DB, "ports": [5432], "allow": [WEB]}
        common = {"target": "dinas-pendidikan-sorong", "app": "ppdb"}
        root = tmp_path / "root"
        (root / "apps" / "ppdb").mkdir(parents=True)
        [out] = nft_module(netns, tmp_path, {**common, "rules": [rule], "root": str(root), "state": "query"})
        assert (out["present"], out["installed"], len(out["missing"])) == (False, True, 1), out

        # as install.yml writes it on the database host (tasks/firewall.yml)
        out = _play(netns, tmp_path, [FIREWALL_TASKS], {"spbe_target": common["target"], "spbe_app": "ppdb",
                                                       "spbe_firewall": [rule]})[0]  # fmt: skip
        assert out["changed"] is True and out["nft"], out
        assert connects(others, WEB) and not connects(others, OTHER)
        assert connects(netns, DB)  # the database host itself (lo): its own processes, Docker's proxy
        listed = inside(netns, "nft", "list", "table", "inet", "spbe_share").stdout
        assert "type filter hook prerouting priority mangle; policy accept;" in listed, listed
        assert f"iifname != \"lo\" ip daddr {DB} tcp dport 5432 ip saddr != {WEB} drop comment \"spbe-share dinas-pendidikan-sorong ppdb " \
            in listed, listed
        # the same rule again: nothing changes; preflight's query finds it
        again, found = nft_module(netns, tmp_path, {**common, "rules": [rule]},
                                  {**common, "rules": [rule], "root": str(root), "state": "query"})  # fmt: skip
        assert again["changed"] is False, again
        assert (found["present"], found["missing"], found["extra"]) == (True, [], []), found
        # another web address (the inventory changed): the rule is replaced, not added to; then a
        # rule that is not one (an address that is not an address): refused, nothing changed
        moved, bad = nft_module(netns, tmp_path, {**common, "rules": [{**rule, "allow": [OTHER]}]},
                                {**common, "rules": [{**rule, "address": "10.77.0.1; flush ruleset"}]})  # fmt: skip
        assert moved["changed"] is True, moved
        assert bad["failed"] and "not a valid access rule" in bad["msg"], bad
        assert connects(others, OTHER) and not connects(others, WEB)
        assert inside(netns, "nft", "list", "table", "inet", "spbe_share").stdout.count("spbe-share ") == 1

        # another app's rule stays when this app's goes (as uninstall.yml removes it: tasks/firewall.yml);
        # the last one takes the table
        other_app = {"target": "dinas-pendidikan-sorong", "app": "e-office"}
        added, out = _play(netns, tmp_path, [nft_task({**other_app, "rules": [{**rule, "ports": [5433]}]}), FIREWALL_TASKS],
                           {"spbe_target": common["target"], "spbe_app": "ppdb", "spbe_firewall_state": "absent"})[:2]
        assert added["changed"] is True and out["changed"] is True, (added, out)
        assert connects(others, WEB) and connects(others, OTHER)
        assert "e-office" in inside(netns, "nft", "list", "table", "inet", "spbe_share").stdout
        twice, last = nft_module(netns, tmp_path, {**common, "state": "absent"}, {**other_app, "state": "absent"})
        assert (twice["changed"], last["changed"]) == (False, True), (twice, last)
        gone = inside(netns, "nft", "list", "table", "inet", "spbe_share", check=False)
        assert gone.returncode != 0, gone.stdout
    finally:
        server.kill()
        server.wait()
    assert _machine_tables() == before  # the machine's own namespace untouched (the e2e hosts live there)
