"""End to end: the README's set-up on a fresh Debian 12 that has only Debian's python3 (issue 18).

A bare server (tests/e2e/baresrv.py: ``debootstrap --variant=minbase
--include=openssh-server,python3``, its own network namespace with no route to a mirror) is
what a new operator has: no pip (``python3 -m pip`` fails), no ``venv`` module, no pyenv.
It gets this checkout (the files a fresh clone has) in ``/root/spbe-share`` and a local
mirror in ``/srv/spbe-offline``, the way an operator without internet points apt and pip at
one: an apt repository holding the ``.deb`` files ``python3-venv`` needs on that very root
(resolved against its own dpkg status) and a folder of the wheels ``requirements/runtime.lock``
pins. Both are made on this machine once per lock and root filesystem and cached beside the
root's tarball.

Then, inside the server, with nothing but a fresh root login's environment::

    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PIP_NO_INDEX=1 PIP_FIND_LINKS=/srv/spbe-offline/wheels \\
        bash /root/spbe-share/scripts/setup --cli

installs python3-venv with apt, makes ``/root/spbe-share/.venv`` from ``/usr/bin/python3``,
installs every pinned package into it (hash-checked), links ``/usr/local/bin/spbe-share``;
``spbe-share --version`` and ``spbe-share catalog list`` answer; nothing was installed into the
system Python; a second run changes nothing. The rest of the README's first command (Docker
engine, base image, ``install e-office --target local``) needs a mirror and a Docker engine in
the server: that part is tried on a real machine (the set-up is the same script).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from baresrv import RECIPE, BareServer, _flock, cache_dir, ensure_rootfs_tarball, rootfs_untar_argv

from spbe_share.provision import aptsolve

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "runtime.lock"
APT_PACKAGES = ("python3-venv",)  # what scripts/setup --cli installs with apt on a fresh Debian 12
OFFLINE = "/srv/spbe-offline"
CHECKOUT = "/root/spbe-share"
# a root login on Debian 12 (its /etc/profile PATH); scripts/setup itself runs with the system
# folders only, as the newcomer ran it
LOGIN_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8")
SETUP_ENV = ("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PIP_NO_INDEX=1", f"PIP_FIND_LINKS={OFFLINE}/wheels")


def _run(argv: list[str], *, timeout: float = 900, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,  # noqa: S603
                          stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:8])} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return proc.stdout


def apt_in_root_argv(root: Path, *args: str) -> list[str]:
    """This machine's apt-get working on ``root``'s configuration, sources, lists and dpkg status."""
    return ["apt-get", "-q", "-o", f"Dir={root}", "-o", f"Dir::State::status={root}/var/lib/dpkg/status",
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", *args]  # fmt: skip


def flat_repo_index(debs: list[Path], *, folder: Path) -> str:
    """A flat apt repository's ``Packages`` file for ``debs`` (paths relative to ``folder``)."""
    stanzas = []
    for deb in sorted(debs):
        record = aptsolve.parse_stanzas(_run(["dpkg-deb", "-f", str(deb)]))[0]
        data = deb.read_bytes()
        stanzas.append(aptsolve.index_stanza(record, filename=deb.relative_to(folder).as_posix(), size=len(data),
                                             sha256=hashlib.sha256(data).hexdigest()))  # fmt: skip
    return "".join(stanzas)


def offline_mirror(tarball: Path) -> Path:
    """``<cache>/newcomer-<key>/{apt,wheels}``: made once per root filesystem and lock."""
    key = hashlib.sha256(
        f"{RECIPE}|{tarball.name}|{','.join(APT_PACKAGES)}|".encode() + LOCK.read_bytes()
    ).hexdigest()[:12]
    out = cache_dir() / f"newcomer-{key}"
    if (out / ".done").is_file():
        return out
    with _flock(cache_dir() / ".newcomer.lock"):
        if (out / ".done").is_file():
            return out
        build = cache_dir() / f".newcomer-build-{key}"
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        try:
            root = build / "root"
            root.mkdir(parents=True)
            _run(rootfs_untar_argv(tarball, root))
            for d in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
                (root / d).mkdir(parents=True, exist_ok=True)
            _run(apt_in_root_argv(root, "update"))
            _run(apt_in_root_argv(root, "-y", "--no-install-recommends", "--download-only", "install", *APT_PACKAGES))
            apt_dir = build / "out" / "apt"
            apt_dir.mkdir(parents=True)
            for deb in (root / "var/cache/apt/archives").glob("*.deb"):
                shutil.move(str(deb), apt_dir / deb.name)
            (apt_dir / "Packages").write_text(flat_repo_index(list(apt_dir.glob("*.deb")), folder=apt_dir))
            _run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                  "--require-hashes", "--only-binary=:all:", "-r", str(LOCK), "-d", str(build / "out" / "wheels")])
            (build / "out" / ".done").write_text("")
            (build / "out").rename(out)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return out


def copy_checkout(dest: Path) -> int:
    """The files a fresh clone of this checkout has (tracked, as they are in the working tree,
    and new files not ignored)."""
    names = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).split("\0")
    n = 0
    for name in filter(None, names):
        src = REPO / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
            n += 1
    return n


class Login:
    """Commands in the server as a fresh root login runs them: only the login's environment."""

    def __init__(self, server: BareServer) -> None:
        self.server = server

    def __call__(self, *command: str, env: tuple[str, ...] = (), check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return self.server.exec("env", "-i", *LOGIN_ENV, *env, *command, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def fresh(bare_server: BareServer) -> Login:
    mirror = offline_mirror(ensure_rootfs_tarball())
    shutil.copytree(mirror, bare_server.path(OFFLINE))
    sources = bare_server.path("/etc/apt/sources.list")
    sources.write_text(f"# the local mirror of an operator without internet\ndeb [trusted=yes] file:{OFFLINE}/apt ./\n")
    assert copy_checkout(bare_server.path(CHECKOUT)) > 100
    return Login(bare_server)



def test_the_server_has_only_debians_python3(fresh: Login) -> None:
    assert fresh("python3", "-c", "import sys; print(sys.executable, sys.version_info[:2])").stdout.split() == [
        "/usr/bin/python3", "(3,", "11)"
    ]
    assert fresh("python3", "-m", "pip", "--version", check=False).returncode != 0  # no pip
    assert fresh("python3", "-c", "import ensurepip", check=False).returncode != 0  # no venv support
    assert fresh("sh", "-c", "command -v pyenv pip pip3 spbe-share", check=False).stdout == ""
    routes = subprocess.run(["ip", "-n", fresh.server.ns, "route"], capture_output=True, text=True,  # noqa: S603,S607
                            check=True).stdout  # fmt: skip
    assert "default" not in routes  # no mirror reachable: apt and pip have only the local one


def test_setup_cli_installs_from_the_lock_into_its_own_environment(fresh: Login) -> None:
    t = time.monotonic()
    proc = fresh("bash", f"{CHECKOUT}/scripts/setup", "--cli", env=SETUP_ENV, check=False, timeout=1200)
    seconds = time.monotonic() - t
    print(f"\nnewcomer: scripts/setup --cli on a fresh Debian 12 (offline mirror): {seconds:.0f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "installing Debian packages: python3-venv" in proc.stderr
    assert f"making {CHECKOUT}/.venv from /usr/bin/python3 with requirements/runtime.lock" in proc.stderr
    # the environment is Debian's python3's, with exactly the pinned versions
    cfg = fresh.server.path(f"{CHECKOUT}/.venv/pyvenv.cfg").read_text()
    assert "home = /usr/bin" in cfg
    frozen = fresh(f"{CHECKOUT}/.venv/bin/python", "-m", "pip", "list", "--format", "json").stdout
    installed = {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in json.loads(frozen)}
    pins = {
        line.split("==")[0]: line.split("==")[1].split()[0]
        for line in LOCK.read_text().splitlines() if "==" in line and not line.startswith(("#", " "))
    }  # fmt: skip
    assert {k: installed.get(k) for k in pins} == pins
    assert installed["spbe-share"] == "0.1.0"
    # on PATH, through the link
    link = fresh.server.path("/usr/local/bin/spbe-share")
    assert link.is_symlink() and str(link.readlink()) == f"{CHECKOUT}/.venv/bin/spbe-share"
    assert fresh("spbe-share", "--version").stdout.strip() == "spbe-share, version 0.1.0"
    # nothing went into the system Python
    assert fresh("python3", "-c", "import click", check=False).returncode != 0
    assert fresh("python3", "-m", "pip", "--version", check=False).returncode != 0


def test_the_cli_reads_the_catalog(fresh: Login) -> None:
    out = fresh("spbe-share", "catalog", "list", "--json").stdout
    ids = {e["id"] for e in json.loads(out)}
    assert {"e-office", "pengaduan"} <= ids
    shown = fresh("spbe-share", "catalog", "show", "e-office").stdout
    assert "e-office" in shown


def test_setup_again_changes_nothing(fresh: Login) -> None:
    venv = fresh.server.path(f"{CHECKOUT}/.venv/pyvenv.cfg")
    before = venv.stat().st_mtime_ns
    proc = fresh("bash", f"{CHECKOUT}/scripts/setup", "--cli", env=SETUP_ENV, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "is up to date with runtime.lock" in proc.stderr
    assert "installing Debian packages" not in proc.stderr
    assert venv.stat().st_mtime_ns == before
