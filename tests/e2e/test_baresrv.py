"""The bare server leaves nothing behind: not after a failed start, not after its test process died."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from baresrv import STATE_DIR, BareServer, bare_available, ensure_rootfs_tarball, sweep_stale
from needs import missing

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def tarball() -> Path:
    reason = bare_available()
    if reason:
        missing("bare server", f"simulated bare server unavailable: {reason}")
    return ensure_rootfs_tarball()


def _traces(server_id: str, folder: Path) -> list[str]:
    out = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout  # noqa: S607
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout  # noqa: S607
    if f"spbe-bare-{server_id}" in netns:
        out.append("netns")
    if server_id in links:
        out.append("link")
    if list(Path("/sys/fs/cgroup").glob(f"*/spbe-bare-{server_id}")):
        out.append("cgroup")
    if (STATE_DIR / f"{server_id}.json").exists():
        out.append("state file")
    if folder.exists() and any(folder.iterdir()):
        out.append("files")
    return out


def test_a_failed_start_cleans_up(tarball: Path, tmp_path: Path) -> None:
    server = BareServer(base=tmp_path)
    with pytest.raises(RuntimeError):
        server.start(tarball=tmp_path / "no-such.tar")
    assert _traces(server.id, tmp_path) == []


def test_a_killed_test_run_is_swept(tarball: Path, tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; sys.path[:0] = [sys.argv[2], sys.argv[3]];"
        " from baresrv import BareServer; s = BareServer(base=Path(sys.argv[1])).start();"
        " print(s.id, s.proc.pid, flush=True); time.sleep(600)"
    )
    repo = str(HERE.parents[1])
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code, str(tmp_path), str(HERE), repo], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    server_id, sshd = proc.stdout.readline().split()
    proc.kill()  # no finally, no fixture teardown: what a crashed or killed pytest leaves
    proc.wait()
    assert _traces(server_id, tmp_path) == ["netns", "link", "state file", "files"]
    assert Path(f"/proc/{sshd}").exists()  # its sshd still runs, in the namespace
    assert server_id in sweep_stale()
    assert _traces(server_id, tmp_path) == []
    assert not Path(f"/proc/{sshd}").exists() or "zombie" in Path(f"/proc/{sshd}/status").read_text()


def test_joining_its_mount_namespace_lands_in_its_root(tarball: Path, tmp_path: Path) -> None:
    """What runc does for `docker exec`: join the mount namespace, with no chroot after. The
    kernel then gives the process the namespace's root, which must be the server's root, not
    this host's (with a chroot it was the host's, and psql in a container found no socket)."""
    server = BareServer(base=tmp_path).start(tarball=tarball)
    try:
        assert server.proc is not None
        proc = subprocess.run(  # noqa: S603
            ["nsenter", "-t", str(server.proc.pid), "-m", "cat", "/etc/ssh/sshd_config.d/spbe-test.conf"],  # noqa: S607
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert f"ListenAddress {server.address}" in proc.stdout
    finally:
        server.stop()
    assert _traces(server.id, tmp_path) == []
