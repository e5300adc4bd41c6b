"""The Pemda's backup host (issue 19 item 5): every backup the app's host makes is copied host
to host onto the target's host carrying the role ``backup`` and checked there
(``playbooks/module_utils/spbe_backup_host.py``; the threat model is in docs/backups.md).

The controller only sets the link up and reads, each over its own pinned SSH link
(:func:`spbe_share.remote.scripts.program_argv`, a JSON request on stdin, the answer read
capped and validated as untrusted):

* :func:`ensure_link`: the app host makes (once) its backup key pair and pins the backup host's
  key from this workspace; the backup host lets that public key run only the receive-only
  command in the target's folder (the target's older key, e.g. of a lost host, is replaced);
* :func:`copies`: the copies the backup host holds (``backup list``);
* :func:`pull`: a backup missing on the app host brought back from the backup host (``restore``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ..errors import RemoteFailed
from ..records.backups import AuthorizeAnswer, HostCopies, HostCopy, LinkAnswer, PullAnswer

if TYPE_CHECKING:
    from ..targets.inventory import Target
    from ..workspace import Workspace

ROLE = "backup"
TOOL = "spbe_backup_host"
MAX_ANSWER = 4 << 20
TIMEOUT_S = 600.0
DEFAULT_PYTHON = "/usr/bin/python3"
M = TypeVar("M", bound=BaseModel)


def backup_host(target: Target) -> Target | None:
    """The host of ``target`` that keeps its backups: another host than the app's (the first)
    carrying the role ``backup``; None when the target has none (pure)."""
    found = target.host_with(ROLE)
    if found is None or found.name == target.name:
        return None
    return found


def _ask(ws: Workspace, host: Target, request: dict[str, Any], model: type[M], *, what: str) -> M:
    from ..remote.scripts import ask

    return ask(ws, host, TOOL, request, model, what=what, limit=MAX_ANSWER, timeout=TIMEOUT_S)


def ensure_links(ws: Workspace, target: Target, hosts: list[Target] | None) -> Target | None:
    """:func:`ensure_link` of each host in ``hosts`` that makes backups (an app across the hosts
    of a data center: the host of its data, e.g. the database host); ``None``: the app's one host."""
    if hosts is None:
        return ensure_link(ws, target)
    found = None
    for h in hosts:
        found = ensure_link(ws, target, app_host=h)
    return found


def ensure_link(ws: Workspace, target: Target, *, app_host: Target | None = None) -> Target | None:
    """Set up (idempotent) the link of the app host (``app_host``, default the target's first
    host) to the backup host; returns the backup host, or None when the target has none
    (nothing done). The backup host lets one key per app host of the target in (a replaced
    host's key is replaced; the target's other hosts keep theirs)."""
    from ..remote.scripts import dependencies, source

    bh = backup_host(target)
    if bh is None:
        return None
    if not bh.host_keys:
        raise RemoteFailed(f"{bh.name}: no host key pinned in this workspace; run `spbe-share target add` again")
    app_host = app_host or target.hosts()[0]
    link = _ask(ws, app_host, {
        "action": "link", "root": app_host.root, "target": target.name, "address": bh.host, "port": bh.port,
        "user": bh.user, "known_hosts": list(bh.host_keys),
    }, LinkAnswer, what="making the backup key and pinning the backup host's key")  # fmt: skip
    files = {f"{n}.py": source(n) for n in [*dependencies(TOOL), TOOL]}
    _ask(ws, bh, {
        "action": "authorize", "root": bh.root, "target": target.name, "host": app_host.name,
        "public_key": link.public_key, "python": bh.python or DEFAULT_PYTHON, "files": files,
    }, AuthorizeAnswer, what="letting the app host's backup key put backups (and nothing else)")  # fmt: skip
    return bh


def copies(ws: Workspace, target: Target) -> list[HostCopy] | None:
    """The copies of ``target``'s backups on its backup host (None: it has none)."""
    bh = backup_host(target)
    if bh is None:
        return None
    got = _ask(ws, bh, {"action": "copies", "root": bh.root, "target": target.name}, HostCopies,
               what="listing the copies on the backup host")
    return got.copies


def pull(ws: Workspace, target: Target, *, app: str, backup_id: str, app_host: Target | None = None) -> PullAnswer:
    """Bring backup ``backup_id`` of ``app`` back onto the app host (``app_host``, default the
    target's first) from the backup host, over the hosts' own link (checked there against its
    manifest; the restore verifies it again)."""
    app_host = app_host or target.hosts()[0]
    got = _ask(ws, app_host, {"action": "pull", "root": app_host.root, "app": app, "id": backup_id}, PullAnswer,
               what=f"bringing backup {backup_id} back from the backup host")
    if got.id != backup_id:
        raise RemoteFailed(f"{app_host.name}: answered for backup {got.id}, not {backup_id}")
    return got


__all__ = ["ROLE", "backup_host", "copies", "ensure_link", "ensure_links", "pull"]
