"""Shared helpers of the backup tests: the target-side engine imported from
``playbooks/module_utils`` (the files the Ansible module and ``<root>/lib`` use), and the
data fixtures of :mod:`appdata`."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENGINE_DIR = REPO / "playbooks" / "module_utils"
for p in (str(ENGINE_DIR), str(Path(__file__).resolve().parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

import appdata  # noqa: E402
import spbe_backup_docker as dk  # noqa: E402
import spbe_backup_engine as engine  # noqa: E402
import spbe_backup_host as offsite  # noqa: E402
import spbe_backup_restore as restorer  # noqa: E402
import spbe_backup_store as store  # noqa: E402

ENGINE_FILES = ("spbe_files.py", "spbe_lockfile.py", "spbe_backup_store.py", "spbe_backup_docker.py", "spbe_backup_engine.py",
                "spbe_backup_host.py", "spbe_backup_restore.py")  # = tasks/backup_tool.yml
FAKE_DIGEST = "sha256:" + "ab" * 32

__all__ = ["ENGINE_DIR", "ENGINE_FILES", "FAKE_DIGEST", "appdata", "dk", "engine", "offsite", "restorer", "store",
           "published_url", "wait_http_ok", "write_current"]


def write_current(root: Path, app: str, version: str, digest: str = FAKE_DIGEST) -> None:
    """A minimal ``current.json`` as install writes it (the engine reads version + digest)."""
    folder = root / "apps" / app
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "current.json").write_text(json.dumps({"app": app, "version": version, "bundle_digest": digest}))


def published_url(container: str, port: int = 8080) -> str:
    """The container's published address now (a restart may move a random host port)."""
    import subprocess

    out = subprocess.run(["docker", "port", container, f"{port}/tcp"], capture_output=True,  # noqa: S603,S607
                         text=True, check=True).stdout.split()[0]
    return f"http://{out}"


def wait_http_ok(container: str, path: str = "/healthz", *, seconds: float = 120) -> str:
    """Wait until ``container`` answers 200 on ``path``; returns its base URL."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            base = published_url(container)
            with urllib.request.urlopen(base + path, timeout=5) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return base
        except (OSError, urllib.error.URLError, IndexError, Exception) as exc:  # noqa: BLE001 - retried
            last = exc
        time.sleep(1)
    raise AssertionError(f"{container} not healthy on {path} after {seconds}s: {last}")
