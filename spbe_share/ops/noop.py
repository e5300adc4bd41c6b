"""The no-op check of ``install``: when the target already runs exactly what was asked, say so
after one round trip instead of running the whole playbook.

After every check of the plan (host key, agreement, values, bundle signature and trust,
rendering), :func:`check_unchanged` sends one request over one SSH connection (pinned host
key; the built-in ``local`` target runs the same command without ssh) to
``playbooks/module_utils/spbe_noop_check.py`` (sent with the lock protocol it imports), which under the app's lock compares the target with the request: the
release record (same bundle digest, values, version), the files install writes (rendered
config, bundle files, archive tool: content, modes, owners), the secrets and their per-component
copies, the blobs, the images, network and volumes, each container (running, same image id,
command, environment, labels, ports, mounts, network, restart policy) and each health check.

``same`` only when nothing differs; then install records the no-op (cache + audit) and stops.
Anything else (a difference, a held lock, an error of the check itself) goes the full way:
preflight, ship, ``install.yml``, which reports a held lock and repairs what differs. The
request and the answer are kept in the run folder, like a playbook run's.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..outside import OutsideJSONError, loads_json, run_capped
from ..records import state

if TYPE_CHECKING:
    from ..records.state import LockOwner
    from ..targets.inventory import Target
    from ..workspace import Workspace

DOCKER_SOCKET = "/var/run/docker.sock"
TIMEOUT_S = 60
MAX_ANSWER = 4 << 20  # bytes of answer read from the target (a record and differences)


def noop_request(ev: dict[str, Any], *, lock: LockOwner, files_tar_sha256: str, tool_sha256: str) -> dict[str, Any]:
    """What the target must hold for an install with variables ``ev`` (install.yml's) to change
    nothing (pure; the folders, files and modes are those tasks/ship.yml, configure.yml write)."""
    root, app, version = ev["spbe_root"], ev["spbe_app"], ev["spbe_version"]
    adir = state.app_dir(root, app)
    blob_dir = f"{root.rstrip('/')}/blobs/sha256"
    dirs: list[dict[str, Any]] = [
        {"path": blob_dir, "mode": 0o755},
        {"path": f"{root.rstrip('/')}/lib", "mode": 0o755},
        {"path": f"{adir}/bundles/{version}", "mode": 0o755},
        {"path": f"{adir}/releases", "mode": 0o755},
        {"path": f"{adir}/config", "mode": 0o755},
        {"path": f"{adir}/secrets", "mode": 0o700},
    ]
    for component in sorted({c["component"] for c in ev["spbe_configs"]}):
        dirs.append({"path": f"{adir}/config/{component}", "mode": 0o755})
    seen: set[str] = set()
    for m in ev["spbe_secret_mounts"]:
        if m["component"] not in seen:
            seen.add(m["component"])
            dirs.append({"path": f"{adir}/secrets/{m['component']}", "mode": 0o500, "uid": m["owner"],
                         "gid": m["group"]})
    files: list[dict[str, Any]] = [
        {"path": f"{root.rstrip('/')}/lib/dockerarchive.py", "sha256": tool_sha256, "mode": 0o644},
        {"path": f"{adir}/bundles/{version}.tar.zst", "sha256": files_tar_sha256, "mode": 0o644},
    ]
    for c in ev["spbe_configs"]:
        files.append({"path": f"{adir}/config/{c['component']}/{c['file']}",
                      "sha256": hashlib.sha256(c["content"].encode()).hexdigest(), "mode": 0o644})
    release = ev["spbe_release"]
    return {
        "app_dir": adir,
        "lock": {"path": state.lock_path(root, app), "owner": lock.model_dump(mode="json")},
        "record": {k: release[k] for k in ("app", "target", "version", "bundle_digest", "values")},
        "dirs": dirs,
        "files": files,
        "secrets": [f"{adir}/secrets/{s['name']}" for s in ev["spbe_secrets"]],
        "secret_copies": [
            {"src": f"{adir}/secrets/{m['name']}", "path": f"{adir}/secrets/{m['component']}/{m['name']}",
             "uid": m["owner"], "gid": m["group"], "label": f"{m['component']}/{m['name']}"}
            for m in ev["spbe_secret_mounts"]
        ],
        "blob_dir": blob_dir,
        "blobs": list(ev["spbe_blobs"]),
        "images": [i["config"] for i in ev["spbe_images"]],
        "network": {"name": ev["spbe_network"], "labels": ev["spbe_labels"]},
        "volumes": [{"name": v["name"], "labels": ev["spbe_labels"]} for v in ev["spbe_volumes"]],
        "containers": [
            {k: c[k] for k in ("name", "component", "image", "command", "env", "ports", "mounts", "labels")}
            for c in ev["spbe_containers"]
        ],
        "health": list(ev["spbe_health"]),
        "docker_socket": DOCKER_SOCKET,
    }


def script_source(playbooks: Path | None = None) -> str:
    """The check as one ``python3 -c`` program (``module_utils/spbe_noop_check.py`` and the lock
    protocol it uses: :mod:`spbe_share.remote.scripts`)."""
    from ..remote.scripts import program

    return program("spbe_noop_check", playbooks)


def noop_argv(ws: Workspace, target: Target) -> list[str]:
    """argv on the controller: the check over ssh (pinned host key) or, for ``local``, directly."""
    from ..remote.scripts import program_argv

    return program_argv(ws, target, "spbe_noop_check")


@dataclass
class NoopAnswer:
    """What the check found; ``current`` is the target's record as read (untrusted)."""

    same: bool
    differences: list[str] = field(default_factory=list)
    locked: dict[str, Any] | None = None
    current: Any = None
    error: str | None = None
    seconds: float = 0.0
    run_dir: Path | None = None

    @property
    def why_not(self) -> str:
        if self.error:
            return f"the check could not run ({self.error})"
        if self.locked is not None:
            return "the app's lock is held"
        return "; ".join(self.differences[:3]) + (f" (+{len(self.differences) - 3} more)"
                                                  if len(self.differences) > 3 else "")


def parse_answer(text: str) -> NoopAnswer:
    """The target's answer (untrusted: anything malformed is an error, never 'same')."""
    try:
        doc = loads_json(text.strip().split("\n")[-1] if text.strip() else "")
    except OutsideJSONError:
        return NoopAnswer(same=False, error="no answer")
    if not isinstance(doc, dict):
        return NoopAnswer(same=False, error="no answer")
    diffs = doc.get("differences")
    locked = doc.get("locked")
    return NoopAnswer(
        same=doc.get("same") is True and diffs == [] and locked is None,
        differences=[str(d)[:300] for d in diffs[:50]] if isinstance(diffs, list) else ["(unreadable)"],
        locked=locked if isinstance(locked, dict) else None,
        current=doc.get("current"),
    )


def check_unchanged(ws: Workspace, *, target: Target, request: dict[str, Any], run_dir: Path) -> NoopAnswer:
    """Run the check on ``target`` (one connection); keep request and answer in ``run_dir``."""
    run_dir.mkdir(parents=True, mode=0o700)
    (run_dir / "request.json").write_text(json.dumps(request, indent=1, sort_keys=True))
    t0 = time.monotonic()
    try:
        proc = run_capped(noop_argv(ws, target), limit=MAX_ANSWER, timeout=TIMEOUT_S, input=json.dumps(request).encode())
    except OSError as exc:
        answer = NoopAnswer(same=False, error=type(exc).__name__)
    else:
        (run_dir / "answer.json").write_bytes(proc.stdout[-(1 << 20):])
        if proc.timed_out:
            answer = NoopAnswer(same=False, error=f"no answer within {TIMEOUT_S}s")
        elif proc.too_big:
            answer = NoopAnswer(same=False, error=f"an answer of more than {MAX_ANSWER} bytes")
        elif proc.returncode != 0:
            answer = NoopAnswer(same=False, error=f"exit {proc.returncode}: {proc.stderr_text[-200:]}")
        else:
            answer = parse_answer(proc.stdout.decode(errors="replace"))
    answer.seconds = time.monotonic() - t0
    answer.run_dir = run_dir
    return answer


__all__ = ["NoopAnswer", "check_unchanged", "noop_argv", "noop_request", "parse_answer", "script_source"]
