"""A simulated bare server: a fresh Debian 12 with its own root, sshd, network and (later) Docker.

What an adopter Pemda hands over: Debian 12 from ``debootstrap --variant=minbase
--include=openssh-server,python3`` and nothing else (no Docker, no python3-docker, no zstd,
no systemd). Each :class:`BareServer` gets

* its own root filesystem, unpacked from a cached tarball (built once per machine with
  debootstrap from this machine's apt mirror, read from the apt sources; see
  :func:`ensure_rootfs_tarball`), with a fresh ed25519 host key and the operator's key in
  ``/root/.ssh/authorized_keys``;
* its own network namespace ``spbe-bare-<id>``, reached from the host over a veth pair
  ``sbh-<id>`` (host) / ``sbb-<id>`` (server) on a free private /30 (10.213.x.y): no default
  route, so no package mirror is reachable from inside;
* its own sshd, in a private mount namespace whose root is that root (proc, /sys, /dev and a
  /run tmpfs are mounted there only, so nothing below the root is a mount point on the host
  and a teardown never reaches into the host's /dev or /sys). The root is made the
  namespace's root with ``pivot_root``, not ``chroot``: the kernel gives a process that joins
  a mount namespace that namespace's root, so in a chroot a ``docker exec`` (runc joining the
  container's namespace) would land in the host's filesystem, not the container's. The
  namespace is
  entered with ``nsenter --net=/var/run/netns/<ns>``: ``ip netns exec`` would remount /sys
  and hide the cgroups, and a dockerd started under it refuses ("Devices cgroup isn't
  mounted"). The root is bind-mounted onto itself, so it can be pivoted to.

A dockerd appears only when ``spbe-share target provision`` puts one there; its settings for
this server (:meth:`BareServer.docker_daemon_options`: overlay2, no iptables, a cgroup parent of
its own) are the target's inventory variables, not special cases in the playbook.

:meth:`BareServer.stop` removes everything (processes in the namespace and in the cgroup
parent, cgroups, veth, namespace, root) and is safe to call after any failure; a server whose
test process died is swept by the next :meth:`BareServer.start` (state files in
``/run/spbe-share-bare/``).

:meth:`BareServer.limit_link` makes the link slow for benchmarks (default 20 Mbit/s each way,
80 ms round trip): with ``tc netem`` on both veth ends where the kernel has it; where it does
not (``CONFIG_NET_SCH_NETEM`` unset, as on this project's machines), the server's traffic is
moved, same addresses, onto a pair of TUN devices joined by :mod:`linkemu` (rate and delay
per packet, in user space). :meth:`BareServer.unlimit_link` puts it back on the veth.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simdc import keygen_argv, wait_port

SUITE = "bookworm"
INCLUDE = ("openssh-server", "python3")
RECIPE = 1  # bump when the root filesystem recipe changes (invalidates cached tarballs)
CACHE_ENV = "SPBE_SHARE_TEST_CACHE"
DEFAULT_CACHE = Path("/var/cache/spbe-share-tests")
STATE_DIR = Path("/run/spbe-share-bare")
NETNS_DIR = Path("/var/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
SUBNET_POOL = ipaddress.ip_network("10.213.0.0/16")
TOOLS = ("debootstrap", "ip", "nsenter", "unshare", "pivot_root", "tar", "tc", "ssh-keygen", "ssh")

# Run as: sh -c ENTER_SCRIPT spbe-bare-enter ROOT CMD... (arguments, never formatted into the script)
ENTER_SCRIPT = """set -e
root="$1"; shift
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock" "$root/run/.host-root"
cd "$root"
pivot_root . run/.host-root
umount -l /run/.host-root
rmdir /run/.host-root
exec "$@"
"""


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None
    )


def bare_available() -> str | None:
    """None when a bare server can run here, else why not."""
    if os.geteuid() != 0:
        return "a bare server needs root (network namespaces, mounts, pivot_root)"
    for tool in TOOLS:
        if _which(tool) is None:
            return f"{tool} is not installed"
    if not (CGROUP_ROOT / "pids").is_dir() and not (CGROUP_ROOT / "cgroup.controllers").exists():
        return f"no cgroups under {CGROUP_ROOT}"
    return None


# ---------------------------------------------------------------- argv builders (pure)


def debootstrap_argv(root: Path, mirror: str, *, suite: str = SUITE, include: Sequence[str] = INCLUDE) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(include)}", suite, str(root), mirror]


def netns_argv(ns: str) -> list[str]:
    return ["ip", "netns", "add", ns]


def veth_argv(host_if: str, bare_if: str, ns: str) -> list[list[str]]:
    """Create the pair with the server's end already inside ``ns``."""
    return [["ip", "link", "add", host_if, "type", "veth", "peer", "name", bare_if, "netns", ns]]


def address_argvs(ns: str, host_if: str, bare_if: str, host_addr: str, bare_addr: str, prefix: int) -> list[list[str]]:
    return [
        ["ip", "addr", "add", f"{host_addr}/{prefix}", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "-n", ns, "addr", "add", f"{bare_addr}/{prefix}", "dev", bare_if],
        ["ip", "-n", ns, "link", "set", bare_if, "up"],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
    ]


def enter_argv(ns: str, root: Path, command: Sequence[str]) -> list[str]:
    """Start ``command`` in netns ``ns`` and a private mount namespace whose root is ``root``."""
    return [
        "nsenter", f"--net={NETNS_DIR / ns}",
        "unshare", "--mount", "--propagation", "private",
        "sh", "-c", ENTER_SCRIPT, "spbe-bare-enter", str(root), *command,
    ]  # fmt: skip


def exec_argv(pid: int, command: Sequence[str]) -> list[str]:
    """Run ``command`` inside the server (its mount and network namespaces and its root)."""
    return ["nsenter", "-t", str(pid), "-m", "-n", "-r", "-w", *command]


def netem_argv(dev: str, *, rate_mbit: float, delay_ms: float, ns: str | None = None) -> list[str]:
    """Shape one direction of the link (egress of ``dev``): a rate limit and a one-way delay."""
    where = ["-n", ns] if ns else []
    return ["tc", *where, "qdisc", "replace", "dev", dev, "root", "netem",
            "rate", f"{rate_mbit:g}mbit", "delay", f"{delay_ms:g}ms"]  # fmt: skip


def netem_clear_argv(dev: str, *, ns: str | None = None) -> list[str]:
    where = ["-n", ns] if ns else []
    return ["tc", *where, "qdisc", "del", "dev", dev, "root"]


def linkemu_argv(tun_host: str, tun_bare: str, *, rate_mbit: float, delay_ms: float) -> list[str]:
    return [sys.executable, str(Path(__file__).with_name("linkemu.py")), "--a", tun_host, "--b", tun_bare,
            "--rate-mbit", f"{rate_mbit:g}", "--delay-ms", f"{delay_ms:g}"]  # fmt: skip


def move_to_tun_argvs(srv: BareServer, *, to_tun: bool) -> list[list[str]]:
    """Move the server's addresses from the veth pair to the TUN pair (or back): same addresses,
    so pinned host keys, listening sockets and open connections stay valid."""
    veth_h, veth_b = f"{srv.host_addr}/{srv.prefix}", f"{srv.address}/{srv.prefix}"
    if to_tun:
        return [
            ["ip", "addr", "del", veth_h, "dev", srv.host_if],
            ["ip", "-n", srv.ns, "addr", "del", veth_b, "dev", srv.bare_if],
            ["ip", "link", "set", srv.tun_bare, "netns", srv.ns],
            ["ip", "addr", "add", srv.host_addr, "peer", srv.address, "dev", srv.tun_host],
            ["ip", "link", "set", srv.tun_host, "up"],
            ["ip", "-n", srv.ns, "addr", "add", srv.address, "peer", srv.host_addr, "dev", srv.tun_bare],
            ["ip", "-n", srv.ns, "link", "set", srv.tun_bare, "up"],
        ]
    return [
        ["ip", "addr", "add", veth_h, "dev", srv.host_if],
        ["ip", "-n", srv.ns, "addr", "add", veth_b, "dev", srv.bare_if],
    ]


def rootfs_tar_argv(root: Path, out: Path) -> list[str]:
    return ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(out), "."]


def rootfs_untar_argv(tarball: Path, root: Path) -> list[str]:
    return ["tar", "--numeric-owner", "--xattrs", "-xpf", str(tarball), "-C", str(root)]


def sshd_dropin_text(address: str) -> str:
    return f"# spbe-share test server\nListenAddress {address}\nHostKey /etc/ssh/ssh_host_ed25519_key\n"


def _run(argv: list[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # noqa: S603
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}... failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc


# ---------------------------------------------------------------- the cached root filesystem


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def rootfs_key(suite: str = SUITE, include: Sequence[str] = INCLUDE) -> str:
    return hashlib.sha256(f"{RECIPE}|{suite}|{','.join(include)}".encode()).hexdigest()[:12]


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_rootfs_tarball(*, mirror: str | None = None, say=print) -> Path:  # noqa: ANN001
    """The cached tarball of a fresh server's root; debootstrapped on first use (a few minutes).

    The mirror is this machine's (apt sources, or ``$SPBE_SHARE_DEBIAN_MIRROR``). Removed
    before packing: ssh host keys (each server makes its own) and apt's downloaded .deb files
    (a fresh server has none, and apt must not find the packages there instead of in the
    provision bundle).
    """
    from spbe_share.imaging.apt import host_debian_mirror

    out = cache_dir() / f"bare-{SUITE}-{rootfs_key()}.tar"
    if out.is_file():
        return out
    with _flock(cache_dir() / ".bare-rootfs.lock"):
        if out.is_file():
            return out
        build = cache_dir() / f".build-{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        root = build / "root"
        try:
            mirror = mirror or host_debian_mirror()
            say(f"debootstrap {SUITE} minbase + {', '.join(INCLUDE)} (cached as {out.name})")
            argv = debootstrap_argv(root, mirror)
            argv[0] = _which("debootstrap") or "debootstrap"
            _run(argv, timeout=1800)
            for key in (root / "etc" / "ssh").glob("ssh_host_*"):
                key.unlink()
            for deb in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
                deb.unlink()
            part = out.with_suffix(".part")
            _run(rootfs_tar_argv(root, part), timeout=600)
            part.replace(out)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return out


# ---------------------------------------------------------------- addresses and names


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    nets = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    return nets


def free_subnet() -> ipaddress.IPv4Network:
    """A /30 of 10.213.0.0/16 that no interface of the host uses."""
    used = _used_networks()
    rng = random.SystemRandom()
    subnets = SUBNET_POOL.num_addresses // 4
    for _ in range(500):
        net = ipaddress.ip_network(f"{SUBNET_POOL.network_address + 4 * rng.randrange(subnets)}/30")
        if not any(net.overlaps(u) for u in used):
            return net  # type: ignore[return-value]
    raise RuntimeError(f"no free /30 in {SUBNET_POOL}")


# ---------------------------------------------------------------- the server


@dataclass
class BareServer:
    """One simulated bare server. ``start()`` it; ``stop()`` it (always: fixtures do)."""

    base: Path  # this server lives in base / f"bare-{id}"
    name: str = "bare-dc"  # its target name
    pemda: str = "Kabupaten Uji Bare"
    kode_wilayah: str = "91.01"
    id: str = field(default_factory=lambda: os.urandom(3).hex())
    host_addr: str = ""
    address: str = ""  # the server's address (on the veth, inside its namespace)
    prefix: int = 30
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    emulator: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # -- names and layout
    @property
    def ns(self) -> str:
        return f"spbe-bare-{self.id}"

    @property
    def host_if(self) -> str:
        return f"sbh-{self.id}"

    @property
    def bare_if(self) -> str:
        return f"sbb-{self.id}"

    @property
    def tun_host(self) -> str:
        return f"sbth-{self.id}"

    @property
    def tun_bare(self) -> str:
        return f"sbtb-{self.id}"

    @property
    def cgroup_parent(self) -> str:
        return f"spbe-bare-{self.id}"

    @property
    def dir(self) -> Path:
        return self.base / f"bare-{self.id}"

    @property
    def root(self) -> Path:
        """The server's ``/`` as seen from the host."""
        return self.dir / "root"

    @property
    def client_key(self) -> Path:
        return self.dir / "client_ed25519"

    @property
    def host_key_pub(self) -> Path:
        return self.root / "etc" / "ssh" / "ssh_host_ed25519_key.pub"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f"{self.id}.json"

    def path(self, inside: str) -> Path:
        """A path of the server (``/var/lib/spbe-share``) as seen from the host."""
        return self.root / inside.lstrip("/")

    def docker_daemon_options(self) -> dict[str, object]:
        """daemon.json settings this server needs (inventory variables of its target)."""
        # overlay2, as on a Debian 12 server (its root is on the host's ext4; the overlay mounts
        # live in the server's own mount namespace); vfs copied every layer for each container
        return {"storage-driver": "overlay2", "iptables": False, "cgroup-parent": self.cgroup_parent}

    def target_add_args(self) -> list[str]:
        return [
            "target", "add", self.name,
            "--host", self.address,
            "--user", "root",
            "--key", str(self.client_key),
            "--pemda", self.pemda,
            "--kode-wilayah", self.kode_wilayah,
            "--host-key-fingerprint", self.host_key_fingerprint(),
        ]  # fmt: skip

    # -- lifecycle
    def start(self, *, tarball: Path | None = None) -> BareServer:
        sweep_stale()
        tarball = tarball or ensure_rootfs_tarball()
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self._save_state()  # before creating anything, so a crash is swept later
        try:
            self.root.mkdir(parents=True)
            _run(rootfs_untar_argv(tarball, self.root), timeout=600)
            self._keys()
            net = free_subnet()
            hosts = list(net.hosts())
            self.host_addr, self.address, self.prefix = str(hosts[0]), str(hosts[1]), net.prefixlen
            _run(netns_argv(self.ns))
            for argv in veth_argv(self.host_if, self.bare_if, self.ns):
                _run(argv)
            for argv in address_argvs(self.ns, self.host_if, self.bare_if, self.host_addr, self.address, net.prefixlen):
                _run(argv)
            self.path("/etc/ssh/sshd_config.d/spbe-test.conf").write_text(sshd_dropin_text(self.address))
            with self.log.open("wb") as log:
                self.proc = subprocess.Popen(  # noqa: S603 - argv list
                    enter_argv(self.ns, self.root, ["/usr/sbin/sshd", "-D", "-e"]),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )  # fmt: skip
            self._save_state()
            if not wait_port(self.address, 22, timeout=20):
                raise RuntimeError(f"sshd of {self.name} did not start: {self.log.read_text(errors='replace')[-800:]}")
        except BaseException:
            self.stop()
            raise
        return self

    def _keys(self) -> None:
        ssh = self.path("/etc/ssh")
        subprocess.run(keygen_argv(ssh / "ssh_host_ed25519_key", f"sshd@{self.name}"), check=True)  # noqa: S603
        subprocess.run(keygen_argv(self.client_key, f"operator@{self.name}"), check=True)  # noqa: S603
        dot_ssh = self.path("/root/.ssh")
        dot_ssh.mkdir(mode=0o700, exist_ok=True)
        (dot_ssh / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        os.chmod(dot_ssh / "authorized_keys", 0o600)

    def _save_state(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({
            "owner": os.getpid(), "id": self.id, "ns": self.ns, "host_if": self.host_if,
            "dir": str(self.dir), "cgroup": self.cgroup_parent,
            "sshd": self.proc.pid if self.proc else None,
            "emulator": self.emulator.pid if self.emulator else None,
        }))  # fmt: skip

    def stop(self) -> None:
        """Remove every trace of the server; safe to call twice and after any failure."""
        proc, self.proc = self.proc, None
        emulator, self.emulator = self.emulator, None
        teardown(
            {"id": self.id, "ns": self.ns, "host_if": self.host_if, "dir": str(self.dir),
             "cgroup": self.cgroup_parent, "sshd": proc.pid if proc else None,
             "emulator": emulator.pid if emulator else None}
        )  # fmt: skip
        for p in (proc, emulator):
            if p is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=5)

    # -- using it
    def exec(self, *command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside the server as root, without SSH (test inspection only)."""
        if self.proc is None:
            raise RuntimeError("the server is not running")
        return _run(exec_argv(self.proc.pid, command), timeout=timeout, check=check)

    def host_key_fingerprint(self) -> str:
        out = subprocess.run(  # noqa: S603
            ["ssh-keygen", "-lf", str(self.host_key_pub)], capture_output=True, text=True, check=True  # noqa: S607
        ).stdout
        return out.split()[1]

    def limit_link(self, *, rate_mbit: float = 20, rtt_ms: float = 80) -> str:
        """Make the link slow: ``rate_mbit`` each way, ``rtt_ms`` round trip. Returns how:
        ``"netem"`` (tc on both veth ends) or ``"linkemu"`` (user-space TUN pair)."""
        self.unlimit_link()
        probe = _run(netem_argv(self.host_if, rate_mbit=rate_mbit, delay_ms=rtt_ms / 2), check=False)
        if probe.returncode == 0:
            _run(netem_argv(self.bare_if, rate_mbit=rate_mbit, delay_ms=rtt_ms / 2, ns=self.ns))
            return "netem"
        with (self.dir / "linkemu.log").open("ab") as log:
            self.emulator = subprocess.Popen(  # noqa: S603 - argv list
                linkemu_argv(self.tun_host, self.tun_bare, rate_mbit=rate_mbit, delay_ms=rtt_ms / 2),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            )  # fmt: skip
        self._save_state()
        assert self.emulator.stdout is not None
        if self.emulator.stdout.readline().strip() != b"ready":
            raise RuntimeError("the link emulator did not start")
        for argv in move_to_tun_argvs(self, to_tun=True):
            _run(argv)
        return "linkemu"

    def unlimit_link(self) -> None:
        """Back to the plain veth (no rate limit, no delay)."""
        _run(netem_clear_argv(self.host_if), check=False)
        _run(netem_clear_argv(self.bare_if, ns=self.ns), check=False)
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
            for argv in move_to_tun_argvs(self, to_tun=False):
                _run(argv, check=False)
            self._save_state()

    def link_bytes(self) -> tuple[int, int]:
        """(bytes sent to the server, bytes received from it) so far, on the host's end of the
        link in use (the veth, or the TUN device while :mod:`linkemu` carries the traffic)."""
        dev = self.tun_host if self.emulator is not None else self.host_if
        stats = Path("/sys/class/net") / dev / "statistics"
        return int((stats / "tx_bytes").read_text()), int((stats / "rx_bytes").read_text())




# ---------------------------------------------------------------- teardown (also of dead runs)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _netns_pids(ns: str) -> set[int]:
    if not (NETNS_DIR / ns).exists():
        return set()
    out = _run(["ip", "netns", "pids", ns], check=False).stdout
    return {int(p) for p in out.split() if p.isdigit()}


def _cgroup_dirs(parent: str) -> list[Path]:
    return [d for d in CGROUP_ROOT.glob(f"*/{parent}") if d.is_dir()]


def _cgroup_pids(parent: str) -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs(parent):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids |= {int(p) for p in procs.read_text().split() if p.isdigit()}
    return pids


def _kill_all(pids: set[int], *, grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) and not _zombie(p) for p in pids):
            time.sleep(0.2)
        pids = {p for p in pids if _alive(p) and not _zombie(p)}
        if not pids:
            return


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def teardown(state: dict[str, object]) -> None:
    """Stop and remove one server from its state: processes, cgroups, veth, namespace, files."""
    ns, parent = str(state["ns"]), str(state["cgroup"])
    emulator = state.get("emulator")
    if isinstance(emulator, int) and _alive(emulator) and "linkemu" in _cmdline(emulator):
        _kill_all({emulator}, grace=5)
    sshd = state.get("sshd")
    # a throwaway server: no graceful shutdown of its engine or containers, just a short grace
    for _ in range(3):
        pids = _netns_pids(ns) | _cgroup_pids(parent)
        if isinstance(sshd, int) and _alive(sshd) and "sshd" in _cmdline(sshd):
            pids.add(sshd)
        if not pids:
            break
        _kill_all(pids, grace=3)
    for top in _cgroup_dirs(parent):
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
    _run(["ip", "link", "del", str(state["host_if"])], check=False)
    _run(["ip", "netns", "del", ns], check=False)
    folder = Path(str(state["dir"]))
    # nothing below the folder is a mount point on the host (the mounts live in the server's
    # private mount namespace); refuse to delete if one is, rather than reach into it
    mounts = [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines()]
    if any(m == str(folder) or m.startswith(str(folder) + "/") for m in mounts):
        raise RuntimeError(f"{folder} still has mounts on the host; not deleting it")
    if folder.exists():  # rm is faster than shutil.rmtree on an engine's layers, and stays on one fs
        _run(["rm", "-rf", "--one-file-system", "--", str(folder)], timeout=1800, check=False)
    (STATE_DIR / f"{state['id']}.json").unlink(missing_ok=True)


def sweep_stale() -> list[str]:
    """Tear down servers whose test process is gone (killed runs); returns their ids."""
    swept = []
    if not STATE_DIR.is_dir():
        return swept
    for path in sorted(STATE_DIR.glob("*.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not _alive(state.get("owner")):
            teardown(state)
            swept.append(str(state.get("id")))
    return swept
