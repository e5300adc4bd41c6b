"""``spbe_data_check`` (tasks/data_secrets.yml) with the real Docker engine: data without its
secrets is refused naming what was found; with ``reset`` it is archived (read back against
its SHA-256), then the volume is removed. Run through ansible-playbook, as the playbooks do."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


def _docker(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, **kw)  # noqa: S603,S607


def check(tmp_path: Path, **args: Any) -> tuple[int, dict[str, Any]]:
    play = tmp_path / f"check-{uuid.uuid4().hex[:6]}.yml"
    play.write_text(json.dumps([{"name": "check", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "check", "spbe_data_check": args, "register": "out"},
    ]}]))
    env = {**os.environ, "ANSIBLE_LIBRARY": str(REPO / "playbooks/library"),
           "ANSIBLE_MODULE_UTILS": str(REPO / "playbooks/module_utils"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",  # noqa: S603,S607
                           "ansible_python_interpreter=/usr/bin/python3", str(play)],
                          capture_output=True, text=True, env=env, timeout=300)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc.returncode, result


@pytest.fixture
def volume(base_image: str) -> Any:
    name = f"spbe-t{uuid.uuid4().hex[:6]}-datacheck-pgdata"
    _docker("volume", "create", name)
    _docker("run", "--rm", "--network", "none", "-v", f"{name}:/d", "--entrypoint", "sh", base_image, "-c",
            "mkdir -p /d/base && echo surat > /d/base/1 && echo disposisi > /d/base/2")
    image = _docker("image", "inspect", "--format", "{{.Id}}", base_image).stdout.strip()
    try:
        yield name, image
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", name], capture_output=True, check=False)  # noqa: S603,S607


def test_data_without_secrets_is_refused_then_reset_archives_it(volume: tuple[str, str], tmp_path: Path) -> None:
    name, image = volume
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    args = {"app": "e-office", "volumes": [{"name": name, "volume": "pgdata", "component": "db",
                                              "mount": "/var/lib/postgresql/data", "image": image}],
            "secrets_dir": str(secrets_dir), "secrets": ["DB_PASSWORD", "SECRET_KEY", "NEW_ONE"],
            "may_be_new": ["NEW_ONE"], "reset_dir": str(tmp_path / "reset-1")}

    (secrets_dir / "DB_PASSWORD").write_text("x" * 32)
    (secrets_dir / "SECRET_KEY").write_text("y" * 48)
    rc, out = check(tmp_path, **args)  # data and its secrets (a secret new in this release is fine)
    assert rc == 0 and out["spbe_data_without_secrets"] is False and out["found"][0]["name"] == name

    (secrets_dir / "SECRET_KEY").unlink()
    rc, out = check(tmp_path, **args)
    assert rc != 0 and out["spbe_data_without_secrets"] is True and out["missing"] == ["SECRET_KEY"]
    assert f"found existing data (volume {name} (" in out["msg"] and "Nothing was started" in out["msg"]
    assert "y" * 48 not in json.dumps(out)

    rc, out = check(tmp_path, **args, reset=True)
    assert rc == 0 and out["changed"] and out["spbe_data_without_secrets"] is False
    archive = tmp_path / "reset-1" / f"vol-{name}.tar"
    sums = (tmp_path / "reset-1" / "SHA256SUMS").read_text()
    assert sums == f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {archive.name}\n"
    with tarfile.open(archive) as tar:
        assert tar.extractfile("./base/1").read() == b"surat\n"  # type: ignore[union-attr]
    assert name not in _docker("volume", "ls", "--format", "{{.Name}}").stdout.split()

    rc, out = check(tmp_path, **{**args, "reset_dir": str(tmp_path / "reset-2")})  # nothing left to refuse
    assert rc == 0 and out["found"] == []
