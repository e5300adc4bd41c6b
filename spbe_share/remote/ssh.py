"""SSH to a target: argument lists (pinned host keys only, strict checking, batch mode), the
keys a host offers (``ssh-keyscan``), failures of ssh itself classified into the right error,
short commands run with a capped answer, and the inventory ansible-runner gets for one target.

Argument lists are built by pure functions that unit tests compare by equality; what the other
end answers is read through :func:`spbe_share.outside.run_capped`."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    EnvironmentProblem,
    HostKeyMismatch,
    InvalidInput,
    RemoteFailed,
    SpbeError,
    Unreachable,
)
from ..outside import run_capped
from ..targets.hostkeys import HostKey, describe_keys, host_key_problem, parse_known_hosts
from ..targets.inventory import GROUP, ssh_common_args, target_hostvars
from ..targets.sshsettings import kex_options
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..targets.inventory import Target


KEY_TYPES = "ed25519,ecdsa,rsa"


SSH_CONNECT_TIMEOUT = 10


KEYSCAN_TIMEOUT = 5


MAX_SSH_ANSWER = 1 << 20  # bytes read from ssh-keyscan or a short command on a target


def keyscan_argv(host: str, port: int) -> list[str]:
    return ["ssh-keyscan", "-T", str(KEYSCAN_TIMEOUT), "-p", str(port), "-t", KEY_TYPES, host]


def ssh_base_args(ws: Workspace, target: Target, *, known_hosts: Path | None = None) -> list[str]:
    """Options for ``ssh``/``scp``/``sftp`` (all ``-o``, so they work with each of them).

    Always strict host-key checking against the workspace's pinned keys only. Use as
    ``["ssh", *ssh_base_args(ws, t), t.host, "--", remote_cmd]`` or see :func:`ssh_argv`;
    for ``rsync -e`` pass ``shlex.join(["ssh", *ssh_base_args(ws, t)])``.
    """
    if target.connection != "ssh":
        raise InvalidInput(f"target {target.name!r} uses the {target.connection} connection, not ssh")
    args = [
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts or ws.known_hosts_file}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT}",
        "-o", f"Port={target.port}",
        "-o", f"User={target.user}",
    ]  # fmt: skip
    if target.key is not None:
        args += ["-o", f"IdentityFile={target.key}", "-o", "IdentitiesOnly=yes"]
    return args + kex_options(ws)


def ssh_argv(
    ws: Workspace, target: Target, remote: Sequence[str], *, known_hosts: Path | None = None
) -> list[str]:
    """argv running ``remote`` (an argument list, quoted here for the remote shell)."""
    return [
        "ssh",
        *ssh_base_args(ws, target, known_hosts=known_hosts),
        target.host,
        "--",
        shlex.join(remote),
    ]


# Unix socket paths are limited to 108 bytes; ssh adds "/<10 hex>.<16 random>" to the dir.
MAX_CONTROL_DIR = 72


def short_control_path_dir(wanted: Path) -> str:
    """``wanted`` if short enough for a ControlMaster socket, else a per-run dir in /tmp.

    The fallback name is a hash of ``wanted``, so runs still never share a master connection.
    Ansible creates the directory (mode 0700).
    """
    text = str(wanted)
    if len(text.encode()) <= MAX_CONTROL_DIR:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return str(Path(tempfile.gettempdir()) / f"spbe-cp-{digest}")


def ansible_inventory_for(
    ws: Workspace, target: Target, *, control_path_dir: Path | None = None
) -> dict[str, Any]:
    """A runner-ready inventory dict holding only ``target`` (host name = target name).

    Pass ``control_path_dir`` (e.g. ``<private_data_dir>/cp``) so SSH ControlMaster sockets
    live in the run's private dir rather than ``~/.ansible/cp``: no master connection
    outlives the run's private data or is shared between workspaces with different pins.
    """
    hv = target_hostvars(target)
    hv.pop("ansible_connection", None)
    hv["ansible_connection"] = "local" if target.connection == "local" else "ssh"
    hv["spbe_target"] = target.name
    if target.connection == "ssh":
        hv["ansible_ssh_common_args"] = ssh_common_args(ws.known_hosts_file)
        if kex_options(ws):
            hv["ansible_ssh_extra_args"] = shlex.join(kex_options(ws))
        hv["ansible_host_key_checking"] = True
        hv["ansible_ssh_args"] = "-C -o ControlMaster=auto -o ControlPersist=30s -o BatchMode=yes"
        if control_path_dir is not None:
            hv["ansible_control_path_dir"] = short_control_path_dir(control_path_dir)
        if target.key is not None:
            hv["ansible_ssh_private_key_file"] = str(target.key)
    return {"all": {"children": {GROUP: {"hosts": {target.name: hv}}}}}


def _run(argv: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run an ssh tool; what the other end answers is read as a stream of at most
    :data:`MAX_SSH_ANSWER` bytes (:func:`spbe_share.outside.run_capped`)."""
    try:
        proc = run_capped(argv, limit=MAX_SSH_ANSWER, timeout=timeout)
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]} is not installed (Debian: openssh-client)") from None
    if proc.timed_out:
        raise Unreachable(f"{argv[0]} timed out after {timeout:.0f}s")
    if proc.too_big or proc.returncode is None:
        raise RemoteFailed(f"{argv[0]}: the other end answered more than {MAX_SSH_ANSWER} bytes; not read")
    return subprocess.CompletedProcess(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr_text)


def keyscan(host: str, port: int) -> list[HostKey]:
    """The host keys ``host:port`` offers now. Raises :class:`Unreachable`."""
    proc = _run(keyscan_argv(host, port), timeout=KEYSCAN_TIMEOUT * 3 + 5)
    keys: list[HostKey] = []
    for pin in parse_known_hosts(proc.stdout):
        if pin.key not in keys:
            keys.append(pin.key)
    if not keys:
        why = _last_line(proc.stderr) or "no answer"
        raise Unreachable(f"cannot read the SSH host key of {host}:{port}: {why}")
    return keys


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return lines[-1] if lines else ""


def classify_ssh_failure(target: Target, returncode: int, stderr: str) -> SpbeError:
    """The error for a failed ssh run (exit 255 = ssh itself failed)."""
    where = f"target {target.name!r} ({target.host}:{target.port})"
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr or "Host key verification failed" in stderr:
        offered = re.search(r"(SHA256:[A-Za-z0-9+/]{43})", stderr)
        pinned = ", ".join(HostKey(*ln.split()[1:3]).fingerprint for ln in target.host_keys)
        return HostKeyMismatch(
            f"{where}: host key does not match the pinned key"
            f" (pinned {pinned or 'none'}; offered {offered.group(1) if offered else 'unknown'})."
            " If the server was really reinstalled, check the new fingerprint with the Pemda"
            " and re-add the target with --replace --host-key-fingerprint."
        )
    if "UNPROTECTED PRIVATE KEY FILE" in stderr:
        return InvalidInput(f"{where}: key file {target.key} is readable by others; chmod 600 it")
    if "Permission denied" in stderr:
        return Unreachable(f"{where}: login refused for user {target.user!r} with key {target.key}")
    return Unreachable(f"{where}: ssh failed (exit {returncode}): {_last_line(stderr) or 'no message'}")


def run_ssh(
    ws: Workspace,
    target: Target,
    remote: Sequence[str],
    *,
    timeout: float = 120,
    known_hosts: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``remote`` on the target. ssh-level failures (exit 255) raise; others return."""
    proc = _run(ssh_argv(ws, target, remote, known_hosts=known_hosts), timeout=timeout)
    if proc.returncode == 255:
        raise classify_ssh_failure(target, proc.returncode, proc.stderr)
    return proc


def verify_connection(ws: Workspace, target: Target, *, known_hosts: Path | None = None) -> None:
    proc = run_ssh(ws, target, ["true"], timeout=SSH_CONNECT_TIMEOUT * 3, known_hosts=known_hosts)
    if proc.returncode != 0:
        raise classify_ssh_failure(target, proc.returncode, proc.stderr)


def check_host_key(ws: Workspace, target: Target) -> list[str]:
    """Compare the keys the target offers now with the pinned ones.

    Returns the matching fingerprints; raises :class:`HostKeyMismatch` (exit 6) naming both
    the pinned and the offered fingerprints, or :class:`Unreachable`.
    """
    if target.connection != "ssh":
        return []
    pinned = [HostKey(*ln.split()[1:3]) for ln in target.host_keys]
    offered = keyscan(target.host, target.port)
    problem = host_key_problem(pinned, offered)
    if problem:
        raise HostKeyMismatch(
            f"target {target.name!r} ({target.host}:{target.port}): host key mismatch, {problem}:"
            f" pinned {describe_keys(pinned)}; offered {describe_keys(offered)}"
        )
    return [k.fingerprint for k in offered if k in pinned]


__all__ = [
    "KEYSCAN_TIMEOUT",
    "KEY_TYPES",
    "MAX_CONTROL_DIR",
    "MAX_SSH_ANSWER",
    "SSH_CONNECT_TIMEOUT",
    "ansible_inventory_for",
    "check_host_key",
    "classify_ssh_failure",
    "keyscan",
    "keyscan_argv",
    "run_ssh",
    "short_control_path_dir",
    "ssh_argv",
    "ssh_base_args",
    "verify_connection",
]
