"""Simulated Pemda data centers: one real sshd per DC on its own loopback address.

Each :class:`SimDC` has its own directory ``<base>/dc-<name>/`` holding an ed25519 host key,
a client key pair, an ``authorized_keys`` file, an ``sshd_config``, a log and the DC's
``root`` (the target's data directory, so release records, bundles and secrets of different
DCs live apart). sshd runs as this (root) user with ``-D`` as our child process, listening on
``address:port`` (127.0.0.N:22 by default). The machine's Docker engine is shared by all DCs;
containers are named per target and publish ports on the DC's address.

If the preferred address is taken (for instance another test session on the same machine),
another free 127.x.y.z address is used; read ``dc.address`` rather than assuming it. Taken
means sshd's port OR one of the apps' ports (:data:`APP_PORTS`) has a listener there: a
container left publishing on 127.0.0.3:8081 by another session (or a killed run) must not
become this DC's "port in use", nor answer this DC's health checks.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"
SFTP_SERVER_CANDIDATES = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")


def sshd_available() -> str | None:
    """None if sshd and the ssh tools can run here, else the reason they cannot."""
    if not os.path.exists(SSHD):
        return f"{SSHD} is not installed (Debian: apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen", "ssh-keyscan"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install openssh-client)"
    if os.geteuid() != 0:
        return "the simulated data centers run sshd as root on port 22 (run the e2e tests as root)"
    return None


# The ports the catalog's apps publish on a DC's address (e-office 8080, pengaduan 8081).
APP_PORTS = (8080, 8081)


def port_free(address: str, port: int) -> bool:
    """True when nobody listens on ``address:port`` (open sessions do not count: sshd
    binds with SO_REUSEADDR too, so it can listen again while old connections linger)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def wait_port(address: str, port: int, *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=0.5) as s:
                s.settimeout(2)
                if s.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def keygen_argv(path: Path, comment: str) -> list[str]:
    return ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]


def sshd_config_text(dc: SimDC) -> str:
    sftp = next((p for p in SFTP_SERVER_CANDIDATES if os.path.exists(p)), "internal-sftp")
    return "\n".join(
        [
            f"ListenAddress {dc.address}",
            f"Port {dc.port}",
            f"HostKey {dc.host_key}",
            f"PidFile {dc.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {dc.authorized_keys}" + (f" {dc.home}/.ssh/authorized_keys" if dc.own_home else ""),
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "LogLevel VERBOSE",
            "MaxSessions 50",
            "MaxStartups 50:30:100",
            "X11Forwarding no",
            "PrintMotd no",
            f"Subsystem sftp {sftp}",
            *(f"SetEnv {k}={v}" for k, v in sorted({**dc.session_env, **({"HOME": str(dc.home)} if dc.own_home
                                                                          else {})}.items())),
            "",
        ]
    )


def sshd_argv(dc: SimDC) -> list[str]:
    return [SSHD, "-D", "-f", str(dc.config), "-E", str(dc.log)]


@dataclass
class SimDC:
    """One simulated data center. ``start()`` it; ``stop()`` it (fixtures do both)."""

    name: str  # the target name, e.g. "kota-sorong"
    base: Path  # parent folder; this DC lives in base / f"dc-{name}"
    address: str = "127.0.0.2"
    port: int = 22
    pemda: str = "Kota Sorong"
    kode_wilayah: str = "96.71"
    user: str = "root"
    app_ports: tuple[int, ...] = APP_PORTS  # must be free on the address too
    # environment of every session (sshd's SetEnv): e.g. PYTHONPATH to a hook that models a
    # compromised server's own Python (tests/e2e/test_backup_fetch_hostile.py)
    session_env: dict[str, str] = field(default_factory=dict)
    # the login user's own home (<dir>/home; sshd also reads <home>/.ssh/authorized_keys), as a
    # real server's: what spbe-share writes into ~ stays apart from this machine's and other DCs'
    own_home: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # -- layout
    @property
    def dir(self) -> Path:
        return self.base / f"dc-{self.name}"

    @property
    def root(self) -> Path:
        """The target's data directory (``--root``)."""
        return self.dir / "root"

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def host_key_pub(self) -> Path:
        return self.dir / "ssh_host_ed25519_key.pub"

    @property
    def client_key(self) -> Path:
        """Private key the operator uses (``--key``)."""
        return self.dir / "client_ed25519"

    @property
    def client_key_pub(self) -> Path:
        return self.dir / "client_ed25519.pub"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    def host_key_fingerprint(self) -> str:
        """``SHA256:...`` of the current host key, as ``ssh-keygen -lf`` prints it."""
        out = subprocess.run(  # noqa: S603
            ["ssh-keygen", "-lf", str(self.host_key_pub)], capture_output=True, text=True, check=True
        ).stdout
        return out.split()[1]

    # -- lifecycle
    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        if self.own_home:
            self.home.mkdir(mode=0o700, exist_ok=True)
        if not self.host_key.exists():
            self.new_host_key()
        if not self.client_key.exists():
            subprocess.run(keygen_argv(self.client_key, f"operator@{self.name}"), check=True)  # noqa: S603
            os.chmod(self.client_key, 0o600)
        self.authorized_keys.write_text(self.client_key_pub.read_text())

    def new_host_key(self) -> None:
        for p in (self.host_key, self.host_key_pub):
            p.unlink(missing_ok=True)
        subprocess.run(keygen_argv(self.host_key, f"sshd@{self.name}"), check=True)  # noqa: S603
        os.chmod(self.host_key, 0o600)

    def start(self, *, tries: int = 5, own_apps_may_listen: bool = False) -> SimDC:
        """Start sshd; ``own_apps_may_listen`` (a restart): this DC's own containers may hold
        its app ports, only sshd's port must be free."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        self.prepare()
        last = ""
        for attempt in range(tries):
            needed = (self.port,) if own_apps_may_listen else (self.port, *self.app_ports)
            if attempt or not all(port_free(self.address, p) for p in needed):
                self.address = _free_loopback((self.port, *self.app_ports))
            self.config.write_text(sshd_config_text(self))
            test = subprocess.run(  # noqa: S603
                [SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True
            )
            if test.returncode != 0:
                raise RuntimeError(f"sshd_config of {self.name} is invalid: {test.stderr.strip()}")
            self.log.write_text("")
            self.proc = subprocess.Popen(  # noqa: S603
                sshd_argv(self), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if wait_port(self.address, self.port) and self._listening():
                return self
            self.stop()
            last = self.log.read_text(errors="replace")[-500:]
        raise RuntimeError(f"sshd for {self.name} did not start: {last}")

    def _listening(self, timeout: float = 10.0) -> bool:
        """Whether THIS sshd holds the port: another worker's DC started on the same address at
        the same moment also answers ``wait_port`` while ours failed to bind (its log says which)."""
        want = f"Server listening on {self.address} port {self.port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            if want in self.log.read_text(errors="replace"):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not port_free(self.address, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, *, new_host_key: bool = False) -> SimDC:
        """Restart sshd on the same address; with ``new_host_key`` as a reinstalled server."""
        self.stop()
        if new_host_key:
            self.new_host_key()
        address = self.address
        self.start(own_apps_may_listen=True)
        if self.address != address:
            raise RuntimeError(f"{self.name}: {address}:{self.port} was taken while restarting")
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def target_add_args(self, *, fingerprint: bool = True) -> list[str]:
        """Arguments for ``spbe-share target add`` that reach this DC.

        With ``fingerprint`` (the default) the DC's real host key fingerprint is passed as
        ``--host-key-fingerprint``, as an operator who asked the Pemda would; without it,
        the command needs a terminal or ``--trust-on-first-use``.
        """
        args = [
            "target", "add", self.name,
            "--host", self.address,
            "--port", str(self.port),
            "--user", self.user,
            "--key", str(self.client_key),
            "--pemda", self.pemda,
            "--kode-wilayah", self.kode_wilayah,
            "--root", str(self.root),
        ]  # fmt: skip
        if fingerprint:
            args += ["--host-key-fingerprint", self.host_key_fingerprint()]
        return args


def _free_loopback(ports: tuple[int, ...]) -> str:
    """A random 127.x.y.z (outside 127.0.0.0/24) where nobody listens on any of ``ports``."""
    rng = random.SystemRandom()
    for _ in range(200):
        addr = f"127.{rng.randint(100, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        if all(port_free(addr, p) for p in ports):
            return addr
    raise RuntimeError("no free loopback address found")



# ---------------------------------------------------------------- a Pemda data center of several hosts


def _private_address() -> str:
    """A free 10.250.x.y (not an address of this machine yet)."""
    taken = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607
    rng = random.SystemRandom()
    for _ in range(100):
        addr = f"10.250.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        if f" {addr}/" not in taken:
            return addr
    raise RuntimeError("no free 10.250.x.y address")


@contextmanager
def lo_private_address() -> Iterator[str]:
    """A database host's private address for the time of the block: a free 10.250.x.y on ``lo``
    (/32), reachable from a container on a bridge network, unlike the simulated hosts' 127.x
    addresses; removed at the end."""
    addr = _private_address()
    add = subprocess.run(["ip", "addr", "add", f"{addr}/32", "dev", "lo"], capture_output=True, text=True, check=False)  # noqa: S603,S607
    if add.returncode != 0:
        raise RuntimeError(f"cannot add {addr} to lo (the database host's private address): {add.stderr.strip()}")
    try:
        yield addr
    finally:
        subprocess.run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"], capture_output=True, check=False)  # noqa: S603,S607


def pemda_target_add_args(name: str, hosts: dict[str, SimDC], *, private_address: str, python: str) -> list[str]:
    """Arguments for ``spbe-share target add NAME`` with one host per role (``hosts``: role -> DC,
    the web host first), each with its own address, key, root (its own disk) and pinned host
    key; the database host's app ports on ``private_address``. Pemda and user: the first DC's."""
    first = next(iter(hosts.values()))
    args = ["target", "add", name, "--user", first.user, "--pemda", first.pemda, "--kode-wilayah", first.kode_wilayah,
            "--python", python, "--bind-address", f"database={private_address}"]  # fmt: skip
    for role, dc in hosts.items():
        args += ["--host", f"{role}={dc.address}", "--key", f"{role}={dc.client_key}", "--root", f"{role}={dc.root}",
                 "--host-key-fingerprint", f"{role}={dc.host_key_fingerprint()}"]  # fmt: skip
    return args


# ---------------------------------------------------------------- workspaces driven by the real CLI

REPO = Path(__file__).resolve().parents[2]


def catalog_clone(base: Path, app: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A catalog root ``base/<app>-repo`` that is a clone of this repository (objects shared:
    each release builds from its own commit) holding ``app``'s entry, templates and source as
    HEAD has them, its entry changed by ``edit`` (the parsed YAML, changed in place); the
    working tree's playbooks are run."""
    import yaml

    root = base / f"{app}-repo"
    subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(REPO), str(root)], check=True)  # noqa: S603,S607
    parts = [f"{part}/{app}" for part in ("catalog", "templates", "shared_apps") if (REPO / part / app).exists()]
    subprocess.run(["git", "-C", str(root), "checkout", "--quiet", "HEAD", "--", *parts], check=True)  # noqa: S603,S607
    (root / "playbooks").symlink_to(REPO / "playbooks")
    path = root / "catalog" / app / "spbe-app.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return root


def remove_docker_objects(*prefixes: str) -> None:
    """Remove the containers, volumes and networks whose names start with one of ``prefixes``
    (a test's own objects on the shared engine; best effort, never raises)."""
    for ls, fmt, rm in ((["ps", "-a"], "{{.Names}}", ["rm", "-f"]),
                        (["volume", "ls"], "{{.Name}}", ["volume", "rm", "-f"]),
                        (["network", "ls"], "{{.Name}}", ["network", "rm"])):  # fmt: skip
        out = subprocess.run(["docker", *ls, "--format", fmt], capture_output=True, text=True, check=False).stdout  # noqa: S603,S607
        mine = [n for n in out.split() if n.startswith(prefixes)]
        if mine:
            subprocess.run(["docker", *rm, *mine], capture_output=True, check=False)  # noqa: S603,S607

def donor_kode(app: str) -> str:
    """The kode wilayah of the donor that ``catalog/<app>`` names (bundles are signed for it)."""
    import yaml

    return str(yaml.safe_load((REPO / "catalog" / app / "spbe-app.yaml").read_text())["donor"]["kode_wilayah"])


def run_cli(home: Path, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real ``spbe-share`` (``python -m spbe_share``) against workspace ``home``."""
    import sys

    env = {**os.environ, "SPBE_SHARE_OPERATOR": "e2e-test"}
    env.pop("SPBE_SHARE_HOME", None)
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "spbe_share", "--workspace", str(home), *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(
            f"spbe-share {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def interrupt_cli(home: Path, *args: str, at: str, sig: int = 2, timeout: float = 600) -> tuple[int, str, bool]:
    """Run the real ``spbe-share`` against workspace ``home`` and send it signal ``sig`` (SIGINT)
    when a line of its stderr contains ``at``, as an operator's Ctrl-C would. Returns the exit
    code, the whole stderr, and whether the signal was sent. Kills it after ``timeout``."""
    import sys
    import threading

    env = {**os.environ, "SPBE_SHARE_OPERATOR": "e2e-test"}
    env.pop("SPBE_SHARE_HOME", None)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "spbe_share", "--workspace", str(home), *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    sent = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if at in line and not sent.is_set():
                proc.send_signal(sig)
                sent.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
    return proc.returncode, "".join(lines), sent.is_set()


@dataclass
class E2EWorkspace:
    """A temp operator workspace whose targets are the simulated DCs (added via the CLI)."""

    home: Path
    dcs: dict[str, SimDC]  # logical name (fixture key) -> DC; the target name is dc.name

    @property
    def ws(self):  # -> spbe_share.workspace.Workspace
        from spbe_share.workspace import Workspace

        return Workspace.from_options(self.home)

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_cli(self.home, *args, check=check, timeout=timeout)


# The interpreter of a provisioned Debian server: the loopback DCs share this machine's files,
# so they model *provisioned* servers honestly with the distribution's python3 and the Debian
# packages `target provision` installs (python3-docker, python3-requests, zstd: scripts/setup
# installs them here). Never this checkout's interpreter: it has libraries an adopter's server
# lacks. The unprovisioned case is tests/e2e/baresrv.py.
TARGET_PYTHON = "/usr/bin/python3"



def container_names(prefix: str) -> list[str]:
    """The names of this engine's containers (running or not) that start with ``prefix``, sorted."""
    names = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,  # noqa: S607
                           check=True).stdout.split()  # fmt: skip
    return sorted(n for n in names if n.startswith(prefix))


def tls_socket(address: str, ca: Path, *, domain: str, version: ssl.TLSVersion | None = None) -> ssl.SSLSocket:
    """A TLS connection to ``address``:443 for ``domain``, its certificate verified against ``ca``;
    ``version``: this client offers only that TLS version (an old one the server must refuse)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if version is not None:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    return ctx.wrap_socket(socket.create_connection((address, 443), timeout=10), server_hostname=domain)


def make_e2e_workspace(home: Path, dcs: dict[str, SimDC], *, python: str = TARGET_PYTHON) -> E2EWorkspace:
    """Create workspace ``home`` and ``target add`` every DC through the real CLI.

    ``python`` becomes the targets' ``ansible_python_interpreter`` (see :data:`TARGET_PYTHON`).
    """
    home.mkdir(parents=True, exist_ok=True)
    for dc in dcs.values():
        run_cli(home, *dc.target_add_args(), "--python", python)
    return E2EWorkspace(home=home, dcs=dict(dcs))
