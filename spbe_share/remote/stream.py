"""Run a playbook on an execution node: ansible-runner's ``transmit -> worker -> process``.

This is the protocol Receptor and AWX / Ansible Automation Platform use between a controller
and its execution nodes. Here the transport is one SSH connection to the node (its host key
pinned like any target's)::

    control node                               execution node (ssh, pinned host key)
    ansible_runner.run(streamer="transmit") --stdin-->  python3 -m ansible_runner worker
                                                          --private-data-dir /tmp/spbe-worker-<id> --delete
    ansible_runner.run(streamer="process")  <--stdout-- events, status, artifacts

The private data dir sent is self-contained, so the node needs nothing of the controller:
``project/`` (a copy of ``playbooks/``), ``inventory.json`` and ``env/`` (extravars, envvars),
``ssh/known_hosts`` (the pinned keys of the run's targets) and ``ssh/<target>.key`` (each
target's login key, mode 0600, removed with the folder when the worker ends: ``--delete``).
Paths in the inventory point into that folder on the node. The events come back to the same
collector as a local run, and the artifacts land in the local run folder, so a streamed run
leaves the same record as a local one.

Files a playbook copies from the controller (``src:`` of a copy task, e.g. a bundle's small
files) are read on the execution node: they must be there at the same path (the node shares
the operator's bundles folder, or the operation stages them).

Interrupts: the token stops the stream (the ssh process) and then asks the node, over a second
connection, to stop the processes of that run folder (SIGINT, then SIGKILL after a grace).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EnvironmentProblem, InvalidInput
from ..outside import run_capped
from .varsfile import dump_vars

if TYPE_CHECKING:
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .interrupts import CancelToken

REMOTE_PREFIX = "/tmp/spbe-worker-"  # noqa: S108 - on the execution node; random suffix, 0700, deleted
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_GRACE_S = 10
MAX_STDERR = 64 << 10  # bytes of the node's stderr read back (its last words)

# run on the node to stop the processes of one run folder (stdlib only; argv[1] = the folder)
STOP_SCRIPT = r"""
import os, signal, sys, time
marker = sys.argv[1].encode()
def pids():
    out = []
    for n in os.listdir('/proc'):
        if n.isdigit() and int(n) != os.getpid():
            try:
                if marker in open('/proc/%s/cmdline' % n, 'rb').read():
                    out.append(int(n))
            except OSError:
                pass
    return out
for sig, wait in ((signal.SIGINT, float(sys.argv[2])), (signal.SIGKILL, 0)):
    for p in pids():
        try:
            os.kill(p, sig)
        except OSError:
            pass
    end = time.time() + wait
    while pids() and time.time() < end:
        time.sleep(0.2)
"""


@dataclass(frozen=True)
class ExecutionNode:
    """A machine that runs playbooks for this controller: a target of the inventory (host key
    pinned by ``target add``) whose ``python`` has ansible-runner and ansible installed."""

    target: Target

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def python(self) -> str:
        return self.target.python or "python3"


def execution_node(ws: Workspace, name: str) -> ExecutionNode:
    """The execution node called ``name`` (an ssh target of the inventory)."""
    from ..targets.inventory import get_target

    target = get_target(ws, name)
    if target.connection != "ssh":
        raise InvalidInput(f"--execution-node {name}: an execution node is reached over ssh, not {target.connection}")
    return ExecutionNode(target=target)


# ---------------------------------------------------------------- pure builders


def remote_dir(run_id: str) -> str:
    return f"{REMOTE_PREFIX}{run_id}"


def worker_command(node: ExecutionNode, remote: str) -> list[str]:
    """What runs on the node (an argument list; quoted for the remote shell by ssh_argv)."""
    return [node.python, "-m", "ansible_runner", "worker", "--private-data-dir", remote, "--delete"]


def stop_command(node: ExecutionNode, remote: str) -> list[str]:
    return [node.python, "-c", STOP_SCRIPT, remote, str(STOP_GRACE_S)]


def node_envvars(env: Mapping[str, str], *, node: ExecutionNode, remote: str) -> dict[str, str]:
    """The run's environment as it must be on the node: its own paths, its own collections."""
    out = {k: v for k, v in env.items() if k not in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH")}
    out["ANSIBLE_HOME"] = f"{remote}/.ansible"
    out["ANSIBLE_LOCAL_TEMP"] = f"{remote}/.ansible/tmp"
    out["ANSIBLE_SSH_CONTROL_PATH_DIR"] = f"{remote}/cp"
    python_dir = os.path.dirname(node.python)
    out["PATH"] = f"{python_dir}:{SYSTEM_PATH}" if python_dir else SYSTEM_PATH
    return out


def node_inventory(inventory: Mapping[str, Any], *, remote: str, keys: Mapping[str, Path]) -> dict[str, Any]:
    """``inventory`` (one group, host -> vars) with every controller path replaced by one in
    the folder sent to the node: known_hosts, each host's key, the control socket dir."""
    from ..targets.inventory import GROUP, ssh_common_args

    hosts_in = inventory["all"]["children"][GROUP]["hosts"]
    hosts: dict[str, Any] = {}
    for name, hv in hosts_in.items():
        if hv.get("ansible_connection") != "ssh":
            raise InvalidInput(f"target {name!r} uses the {hv.get('ansible_connection')} connection: it cannot run"
                               " through an execution node")
        new = dict(hv)
        new["ansible_ssh_common_args"] = ssh_common_args(Path(f"{remote}/ssh/known_hosts"))
        new["ansible_control_path_dir"] = f"{remote}/cp"
        if name in keys:
            new["ansible_ssh_private_key_file"] = f"{remote}/ssh/{name}.key"
        else:
            new.pop("ansible_ssh_private_key_file", None)
        hosts[name] = new
    return {"all": {"children": {GROUP: {"hosts": hosts}}}}


# ---------------------------------------------------------------- the stage sent to the node


def stage_private_data(
    ws: Workspace,
    *,
    stage: Path,
    targets: Sequence[Target],
    inventory: Mapping[str, Any],
    extravars_text: str,
    remote: str,
) -> Path:
    """Lay out the private data dir sent to the node; returns the inventory file in it."""
    from ..targets.inventory import read_known_hosts, write_known_hosts

    shutil.copytree(ws.playbooks_dir, stage / "project", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    (stage / "env").mkdir(mode=0o700)
    (stage / "env" / "extravars").write_text(extravars_text)
    ssh = stage / "ssh"
    ssh.mkdir(mode=0o700)
    wanted = {t.known_hosts_name for t in targets}
    write_known_hosts(ssh / "known_hosts", [p for p in read_known_hosts(ws.known_hosts_file) if p.name in wanted])
    keys: dict[str, Path] = {}
    for t in targets:
        if t.key is not None:
            dest = ssh / f"{t.name}.key"
            shutil.copyfile(t.key, dest)
            os.chmod(dest, 0o600)
            keys[t.name] = dest
    inv = stage / "inventory.json"
    inv.write_text(dump_vars(node_inventory(inventory, remote=remote, keys=keys)))
    return inv


# ---------------------------------------------------------------- transmit -> worker -> process


@dataclass
class StreamOutcome:
    status: str
    rc: int


def run_streamed(
    ws: Workspace,
    *,
    node: ExecutionNode,
    run_dir: Path,
    playbook: str,
    targets: Sequence[Target],
    inventory: Mapping[str, Any],
    extravars_text: str,
    envvars: Mapping[str, str],
    event_handler: Callable[[Mapping[str, Any]], bool],
    status_handler: Callable[..., None],
    cancel: CancelToken,
    timeout: int | None = None,
    forks: int | None = None,
    limit: str | None = None,
) -> StreamOutcome:
    """Run ``playbook`` on ``node``; events go to ``event_handler``, artifacts to ``run_dir``.

    Raises :class:`~spbe_share.errors.Unreachable` / :class:`~spbe_share.errors.HostKeyMismatch` when the node
    cannot be reached, :class:`EnvironmentProblem` when its worker cannot start.
    """
    import ansible_runner

    from .ssh import classify_ssh_failure, ssh_argv

    run_id = uuid.uuid4().hex[:16]
    remote = remote_dir(run_id)
    stage = Path(tempfile.mkdtemp(prefix="spbe-stage-"))
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    try:
        inv_file = stage_private_data(ws, stage=stage, targets=targets, inventory=inventory,
                                      extravars_text=extravars_text, remote=remote)  # fmt: skip
        argv = ssh_argv(ws, node.target, worker_command(node, remote))
        argv[1:1] = ["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        proc = subprocess.Popen(  # noqa: S603 - argv list; remote command quoted by ssh_argv
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file
        )
        assert proc.stdin is not None and proc.stdout is not None
        transmit_error: list[BaseException] = []

        def transmit() -> None:
            try:
                ansible_runner.run(
                    streamer="transmit", _output=proc.stdin, private_data_dir=str(stage), playbook=playbook,
                    inventory=str(inv_file), envvars=node_envvars(envvars, node=node, remote=remote),
                    ident="run", quiet=True, timeout=timeout, forks=forks, limit=limit,
                    cancel_callback=lambda: False,
                )  # fmt: skip
            except (OSError, ValueError) as exc:  # the node hung up early: reported from its stderr
                transmit_error.append(exc)
            finally:
                try:
                    proc.stdin.close()  # type: ignore[union-attr]
                except OSError:
                    pass

        sender = threading.Thread(target=transmit, name=f"transmit-{run_id}", daemon=True)
        sender.start()
        stopped = threading.Event()

        def watch_cancel() -> None:
            while not stopped.wait(0.2):
                if cancel.requested:
                    proc.terminate()
                    _stop_remote(ws, node, remote)
                    return

        watcher = threading.Thread(target=watch_cancel, name=f"cancel-{run_id}", daemon=True)
        watcher.start()
        status = {"status": "unstarted"}

        def on_status(data: Mapping[str, Any], runner_config: Any = None) -> None:
            status["status"] = str(data.get("status"))
            status_handler(data, runner_config)

        processor = ansible_runner.run(
            streamer="process", _input=proc.stdout, private_data_dir=str(run_dir), ident="run", quiet=True,
            event_handler=event_handler, status_handler=on_status, cancel_callback=lambda: False,
        )  # fmt: skip
        stopped.set()
        sender.join(timeout=30)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        watcher.join(timeout=5)
        size = stderr_file.seek(0, os.SEEK_END)
        stderr_file.seek(max(0, size - MAX_STDERR))  # the node's last words only
        err = stderr_file.read(MAX_STDERR).decode("utf-8", "replace")
        final = str(processor.status or status["status"])
        if rc == 255 and not cancel.requested:
            problem = classify_ssh_failure(node.target, rc, err)
            problem.message = f"execution node {node.name}: {problem.message}"
            problem.args = (problem.message,)
            raise problem
        if final in ("error", "unstarted") and not cancel.requested:
            why = [ln for ln in err.splitlines() if ln.strip()][-3:] or [str(e) for e in transmit_error] or ["no output"]
            raise EnvironmentProblem(
                f"execution node {node.name}: the ansible-runner worker did not run the playbook"
                f" (ssh exit {rc}): {' | '.join(why)[:500]}; it needs ansible-runner and ansible under {node.python}"
            )
        return StreamOutcome(status=final, rc=0 if final == "successful" else 1)
    finally:
        stderr_file.close()
        shutil.rmtree(stage, ignore_errors=True)


def _stop_remote(ws: Workspace, node: ExecutionNode, remote: str) -> None:
    """Ask the node to stop the processes of run folder ``remote`` (best effort)."""
    from .ssh import ssh_argv

    try:  # its answer is not used: read capped, then dropped
        run_capped(ssh_argv(ws, node.target, stop_command(node, remote)), limit=MAX_STDERR,
                   timeout=STOP_GRACE_S + 30, stderr_limit=MAX_STDERR)  # fmt: skip
    except OSError:
        pass


__all__ = [
    "ExecutionNode",
    "StreamOutcome",
    "execution_node",
    "node_envvars",
    "node_inventory",
    "remote_dir",
    "run_streamed",
    "stage_private_data",
    "stop_command",
    "worker_command",
]
