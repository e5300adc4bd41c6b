"""The README's first command: install on the built-in `local` target (no inventory, no --bundle).

The workspace key, trust, bundle and install all come from the command itself, as for a
newcomer. The local root and bind address point into this test, so a demo install on the
same machine is left alone.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from buildlock import image_build_lock, local_target_lock
from simdc import run_cli

pytestmark = pytest.mark.e2e

BIND = "127.0.0.9"


def _rm_local(app: str) -> None:
    prefix = f"spbe-local-{app}"
    for kind, ls in (("container", ["ps", "-a"]), ("volume", ["volume", "ls"]), ("network", ["network", "ls"])):
        out = subprocess.run(["docker", *ls, "--format", "{{.Names}}" if kind == "container" else "{{.Name}}"],  # noqa: S603,S607
                             capture_output=True, text=True, check=True).stdout.split()
        names = [n for n in out if n.startswith(prefix)]
        if names:
            rm = ["rm", "-f"] if kind == "container" else [kind, "rm"]
            subprocess.run(["docker", *rm, *names], capture_output=True, check=False)  # noqa: S603,S607


def test_install_on_local_target_like_the_readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with local_target_lock():  # another test run may use the `local` target right now
        app = "pengaduan"
        _rm_local(app)
        monkeypatch.setenv("SPBE_SHARE_LOCAL_ROOT", str(tmp_path / "root"))
        monkeypatch.setenv("SPBE_SHARE_LOCAL_BIND_ADDRESS", BIND)
        home = tmp_path / "ws"
        try:
            with image_build_lock():  # builds the images when missing (tests/buildlock.py)
                proc = run_cli(home, "install", app, "--target", "local", timeout=900)
            out = proc.stdout + proc.stderr
            assert f"http://{BIND}:8081" in out, out
            with urllib.request.urlopen(f"http://{BIND}:8081/healthz", timeout=10) as resp:  # noqa: S310
                assert resp.status == 200
                assert json.load(resp)["status"] == "ok"
            status = json.loads(run_cli(home, "status", "--target", "local", "--json").stdout)
            assert any(app in json.dumps(row) for row in status), status
            assert list((tmp_path / "root" / "apps" / app).rglob("current.json")), "no release record on the target"
        finally:
            _rm_local(app)
