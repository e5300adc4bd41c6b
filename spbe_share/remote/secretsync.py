"""The deployment's secrets between a target and this machine, in memory only.

Secret values never pass through Ansible (its module arguments and results land in the run's
artifacts). They travel in the stdin/stdout of ``playbooks/module_utils/spbe_secrets.py``, run on the target over
the pinned-host-key SSH connection (:func:`spbe_share.remote.ssh.ssh_argv`; the ``local`` target
runs it without ssh), and are sealed here (:mod:`spbe_share.sealing`) before anything is
written: the target keeps ``<app dir>/sealed-secrets.age`` (+ ``.json``) beside the secrets,
and every backup copies it in (``manifest.secrets``).

* :func:`ensure_sealed` -- seal the target's current secrets to the operator's key(s) when
  the sealed copy there is missing or stale (a secret changed, a recovery key was added);
* :func:`put_secrets` -- put unsealed values back (missing ones only; a different value
  already there is a :class:`~spbe_share.errors.Conflict`);
* :func:`backup_sealed` -- a backup's manifest and sealed file, read from a target;
* :func:`share_secrets` -- a data center with several hosts: the deployment's secrets made (once)
  on its first host and put on each other host that mounts them, before the play starts them.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, EnvironmentProblem, RemoteFailed, Unreachable
from ..outside import OutsideJSONError, loads_json, run_capped, terminal_text
from .scripts import program

if TYPE_CHECKING:
    from ..sealing import SealedMeta
    from ..targets.inventory import Target
    from ..workspace import Workspace

SCRIPT = "spbe_secrets"  # playbooks/module_utils/spbe_secrets.py
TIMEOUT_S = 120
MAX_ANSWER = 4 << 20


def script_argv(ws: Workspace, target: Target, command: str, app: str) -> list[str]:
    """argv running ``module_utils/spbe_secrets.py`` ``command`` for ``app`` on ``target``."""
    source = program(SCRIPT)
    if target.connection == "local":
        return [target.python or sys.executable, "-c", source, command, target.root, app]
    from .ssh import ssh_argv

    return ssh_argv(ws, target, [target.python or "python3", "-c", source, command, target.root, app])


@dataclass
class Answer:
    rc: int
    data: dict[str, Any]


def call(ws: Workspace, target: Target, app: str, command: str, request: Mapping[str, Any], *,
         timeout: float = TIMEOUT_S) -> Answer:
    """Run one command of the target script; the request (maybe holding secrets) goes on stdin."""
    argv = script_argv(ws, target, command, app)
    try:
        proc = run_capped(argv, limit=MAX_ANSWER, timeout=timeout, input=json.dumps(dict(request)).encode("utf-8"))
    except OSError as exc:
        raise EnvironmentProblem(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    if proc.timed_out:
        raise Unreachable(f"target {target.name!r}: the secrets helper did not answer in {timeout:.0f}s")
    if proc.too_big:
        raise RemoteFailed(f"{target.name}: the secrets helper answered more than {MAX_ANSWER} bytes")
    err = proc.stderr_text
    rc = proc.returncode if proc.returncode is not None else -1  # None only when killed (handled above)
    if target.connection == "ssh" and rc == 255:
        from .ssh import classify_ssh_failure

        raise classify_ssh_failure(target, rc, err)
    if rc not in (0, 3):
        last = [ln for ln in err.strip().splitlines() if ln.strip()]
        raise RemoteFailed(f"{target.name}: secrets helper ({command}) failed: "
                           f"{terminal_text(last[-1], one_line=True)[:300] if last else rc}")
    if rc == 3 and not proc.stdout.strip():
        last = [ln for ln in err.strip().splitlines() if ln.strip()]
        return Answer(rc=3, data={"error": terminal_text(last[-1], one_line=True)[:300] if last else "refused"})
    try:
        data = loads_json(proc.stdout)
    except OutsideJSONError:
        raise RemoteFailed(f"{target.name}: the secrets helper ({command}) gave no valid answer") from None
    if not isinstance(data, dict):
        raise RemoteFailed(f"{target.name}: the secrets helper ({command}) gave no valid answer")
    return Answer(rc=rc, data=data)


@dataclass
class TargetSecrets:
    """The secrets read from a target (values: memory only; never logged or printed)."""

    values: dict[str, str] = field(repr=False)
    missing: list[str]
    sealed: SealedMeta | None

    def __repr__(self) -> str:
        return f"TargetSecrets(names={sorted(self.values)}, missing={self.missing})"


def read_secrets(ws: Workspace, target: Target, *, app: str, names: Sequence[str] | None) -> TargetSecrets:
    """The values of ``names`` (None: every secret the deployment has) and the sealed copy's record."""
    from ..sealing import parse_meta

    answer = call(ws, target, app, "read", {"names": None if names is None else list(names)}).data
    values = answer.get("values")
    missing = answer.get("missing")
    if not isinstance(values, dict) or not isinstance(missing, list):
        raise RemoteFailed(f"{target.name}: the secrets helper gave no valid answer")
    asked = set(values) | set(missing) if names is None else set(names)
    if set(values) | set(missing) != asked or not all(isinstance(v, str) for v in values.values()):
        raise RemoteFailed(f"{target.name}: the secrets helper answered for other secrets than asked")
    sealed = None
    if answer.get("sealed") is not None:
        try:
            sealed = parse_meta(answer["sealed"], where=f"{target.name}: sealed-secrets.json")
        except Exception:  # noqa: BLE001 - an unreadable record is resealed, not trusted
            sealed = None
    return TargetSecrets(values={str(k): v for k, v in values.items()}, missing=[str(m) for m in missing],
                         sealed=sealed)


def stage_tls_key(ws: Workspace, target: Target, *, app: str, key_pem: bytes) -> None:
    """Stage the next TLS key of ``app``'s proxy on ``target`` (``secrets/_tls/staged.key``,
    0600): over the pinned connection's stdin, never in a playbook's variables or a log."""
    answer = call(ws, target, app, "stage-tls-key", {"value": key_pem.decode("ascii")})
    if answer.rc != 0 or answer.data.get("staged") is not True:
        raise RemoteFailed(f"{target.name}: the TLS key of {app} could not be staged")


@dataclass(frozen=True)
class PutResult:
    written: list[str]
    kept: list[str]


def put_secrets(ws: Workspace, target: Target, *, app: str, values: Mapping[str, str]) -> PutResult:
    """Write ``values`` as the app's secrets on ``target`` where they are missing; a secret
    already there with another value is a Conflict (nothing is written then)."""
    answer = call(ws, target, app, "put", {"values": dict(values)})
    conflicts = answer.data.get("conflicts") or []
    if answer.rc == 3 or conflicts:
        names = ", ".join(str(c) for c in conflicts)
        raise Conflict(
            f"{target.name}: {app} already has other values for the secrets {names}; nothing was written",
            details=["the data they open would not open with the backup's secrets: restore into that deployment"
                     " in place (spbe-share restore), or remove it first (spbe-share uninstall --purge)"],
        )
    written, kept = answer.data.get("written"), answer.data.get("kept")
    if not isinstance(written, list) or not isinstance(kept, list):
        raise RemoteFailed(f"{target.name}: the secrets helper gave no valid answer")
    return PutResult(written=[str(w) for w in written], kept=[str(k) for k in kept])


def backup_sealed(ws: Workspace, target: Target, *, app: str, backup_id: str) -> tuple[Any, bytes | None]:
    """(the raw manifest, the sealed secrets bytes or None) of a backup kept on ``target``."""
    from ..errors import NotFound

    answer = call(ws, target, app, "backup-sealed", {"id": backup_id})
    if answer.rc == 3:
        raise NotFound(f"{target.name}: no backup {backup_id} of {app}")
    data = answer.data.get("data")
    return answer.data.get("manifest"), (base64.b64decode(data) if isinstance(data, str) else None)


def share_secrets(ws: Workspace, first: Target, others: Sequence[tuple[Target, Sequence[str]]], *, app: str,
                  specs: Sequence[tuple[str, int]]) -> list[str]:  # fmt: skip
    """Make the secrets ``specs`` (name, length) on ``first`` where missing (generated there),
    then put on each host of ``others`` (host, names) the names it needs: one value per secret across the
    data center (the web's DB_PASSWORD is the database's). A host holding another value is a
    Conflict (nothing written there). Values stay in memory. Returns the names generated."""
    answer = call(ws, first, app, "ensure", {"secrets": [{"name": n, "length": ln} for n, ln in specs]})
    values, generated = answer.data.get("values"), answer.data.get("generated")
    if (answer.rc != 0 or not isinstance(values, dict) or not isinstance(generated, list)
            or set(values) != {n for n, _ in specs} or not all(isinstance(v, str) and v for v in values.values())):
        raise RemoteFailed(f"{first.name}: the secrets helper gave no valid answer (ensure)")
    for host, names in others:
        if names:
            put_secrets(ws, host, app=app, values={n: values[n] for n in names})
    return [str(g) for g in generated]


__all__ = [
    "PutResult",
    "TargetSecrets",
    "backup_sealed",
    "call",
    "put_secrets",
    "read_secrets",
    "script_argv",
    "share_secrets",
    "stage_tls_key",
]
