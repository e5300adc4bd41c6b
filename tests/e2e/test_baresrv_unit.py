"""The bare-server and slow-link helpers' pure parts (argv builders, link model); no root needed."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import baresrv
import linkemu
from baresrv import BareServer


def test_argv_builders() -> None:
    assert baresrv.debootstrap_argv(Path("/r"), "http://m/debian") == [
        "debootstrap", "--variant=minbase", "--include=openssh-server,python3", "bookworm", "/r", "http://m/debian"]
    assert baresrv.veth_argv("sbh-1", "sbb-1", "ns1") == [
        ["ip", "link", "add", "sbh-1", "type", "veth", "peer", "name", "sbb-1", "netns", "ns1"]]
    assert baresrv.address_argvs("ns1", "sbh-1", "sbb-1", "10.213.0.1", "10.213.0.2", 30)[2] == [
        "ip", "-n", "ns1", "addr", "add", "10.213.0.2/30", "dev", "sbb-1"]
    enter = baresrv.enter_argv("ns1", Path("/srv/root"), ["/usr/sbin/sshd", "-D", "-e"])
    assert enter[:7] == ["nsenter", "--net=/var/run/netns/ns1", "unshare", "--mount", "--propagation", "private",
                         "sh"]
    # the root and the command are arguments of a fixed script, never formatted into it
    assert enter[7:] == ["-c", baresrv.ENTER_SCRIPT, "spbe-bare-enter", "/srv/root", "/usr/sbin/sshd", "-D", "-e"]
    assert "/srv/root" not in baresrv.ENTER_SCRIPT
    assert baresrv.exec_argv(42, ["docker", "ps"]) == ["nsenter", "-t", "42", "-m", "-n", "-r", "-w", "docker", "ps"]
    assert baresrv.netem_argv("sbh-1", rate_mbit=20, delay_ms=40) == [
        "tc", "qdisc", "replace", "dev", "sbh-1", "root", "netem", "rate", "20mbit", "delay", "40ms"]
    assert baresrv.netem_argv("sbb-1", rate_mbit=2.5, delay_ms=40, ns="ns1")[:3] == ["tc", "-n", "ns1"]
    assert baresrv.netem_clear_argv("sbb-1", ns="ns1") == ["tc", "-n", "ns1", "qdisc", "del", "dev", "sbb-1", "root"]


def test_server_names_and_daemon_options(tmp_path: Path) -> None:
    srv = BareServer(base=tmp_path, id="abc123", host_addr="10.213.9.1", address="10.213.9.2")
    assert (srv.ns, srv.host_if, srv.bare_if) == ("spbe-bare-abc123", "sbh-abc123", "sbb-abc123")
    assert all(len(n) <= 15 for n in (srv.host_if, srv.bare_if, srv.tun_host, srv.tun_bare))  # IFNAMSIZ
    assert srv.path("/var/lib/spbe-share") == tmp_path / "bare-abc123" / "root" / "var/lib/spbe-share"
    assert srv.docker_daemon_options() == {"storage-driver": "overlay2", "iptables": False,
                                           "cgroup-parent": "spbe-bare-abc123"}
    moves = baresrv.move_to_tun_argvs(srv, to_tun=True)
    assert ["ip", "addr", "del", "10.213.9.1/30", "dev", "sbh-abc123"] in moves
    assert ["ip", "-n", "spbe-bare-abc123", "addr", "add", "10.213.9.2", "peer", "10.213.9.1", "dev",
            "sbtb-abc123"] in moves
    assert baresrv.move_to_tun_argvs(srv, to_tun=False) == [
        ["ip", "addr", "add", "10.213.9.1/30", "dev", "sbh-abc123"],
        ["ip", "-n", "spbe-bare-abc123", "addr", "add", "10.213.9.2/30", "dev", "sbb-abc123"]]


def test_free_subnet_is_private_and_unused(monkeypatch) -> None:  # noqa: ANN001
    used = ipaddress.ip_network("10.213.0.0/17")
    monkeypatch.setattr(baresrv, "_used_networks", lambda: [used])
    for _ in range(20):
        net = baresrv.free_subnet()
        assert net.prefixlen == 30 and net.subnet_of(baresrv.SUBNET_POOL) and not net.overlaps(used)


def test_link_model_rate_delay_and_tail_drop() -> None:
    d = linkemu.Direction(0, 1, rate_bps=8_000_000, delay_s=0.04, queue_bytes=3000)
    d.offer(b"x" * 1000, now=10.0)  # 1 ms on the wire at 8 Mbit/s, then 40 ms
    d.offer(b"y" * 1000, now=10.0)  # queued behind the first
    d.offer(b"z" * 1500, now=10.0)  # over the queue limit: dropped
    assert [round(t, 4) for t, _ in d.queue] == [10.041, 10.042]
    assert (d.backlog, d.dropped) == (2000, 1)
    assert d.next_due() == d.queue[0][0]
