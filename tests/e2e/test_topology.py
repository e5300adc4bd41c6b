"""End to end: a Pemda data center of three hosts (issue 19), each a simulated server (its own
sshd on its own loopback address, its own host key and client key): ``target add`` with the
hosts and their roles, every host's key pinned, preflight passing, then failing and naming the
host and the role (a role's minimum the host does not meet; an interpreter given with
``--python`` that lacks ``requests``, which preflight used to miss by probing /usr/bin/python3)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from simdc import REPO, TARGET_PYTHON, run_cli

from spbe_share.errors import ExitCode
from spbe_share.targets.inventory import load_targets, read_known_hosts
from spbe_share.workspace import Workspace

pytestmark = pytest.mark.e2e


def _catalog(base: Path, *, db_memory_mb: int) -> Path:
    """A catalog root holding ppdb, its roles' minimums set small (the passing case works on any
    CI machine) but for the database's memory."""
    root = base / "catalog-root"
    if not root.exists():
        shutil.copytree(REPO / "catalog" / "ppdb", root / "catalog" / "ppdb")
        shutil.copytree(REPO / "shared_apps" / "ppdb", root / "shared_apps" / "ppdb")
        shutil.copytree(REPO / "templates" / "ppdb", root / "templates" / "ppdb")
        (root / "playbooks").symlink_to(REPO / "playbooks")  # the root's playbooks are run
    path = root / "catalog" / "ppdb" / "spbe-app.yaml"
    data = yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text())
    for role in data["roles"]:
        role["minimum"] = {"cpu_cores": 1, "memory_mb": 64, "disk_gb": 1}
        if role["name"] == "database":
            role["minimum"]["memory_mb"] = db_memory_mb
            role["recommended"]["memory_mb"] = max(role["recommended"]["memory_mb"], db_memory_mb)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return root


def test_three_hosts_pinned_and_preflight_names_host_and_role(
    simdc_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web, db, backup = (simdc_factory(n, pemda="Kota Sorong", kode_wilayah="96.71")
                       for n in ("sorong-web", "sorong-db", "sorong-backup"))  # fmt: skip
    name = web.name.replace("sorong-web", "dinas-pendidikan-sorong")
    home = tmp_path / "ws"
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(_catalog(tmp_path, db_memory_mb=64)))
    hosts = {"web": web, "database": db, "backup": backup}

    def add(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ["target", "add", name, "--user", "root", "--pemda", "Kota Sorong", "--kode-wilayah", "96.71",
                "--root", str(web.root), "--python", TARGET_PYTHON]  # fmt: skip
        for role, dc in hosts.items():
            args += ["--host", f"{role}={dc.address}", "--key", f"{role}={dc.client_key}",
                     "--host-key-fingerprint", f"{role}={dc.host_key_fingerprint()}"]  # fmt: skip
        return run_cli(home, *args, *extra)

    out = add().stdout
    assert f"host {name}--database: root@{db.address} port 22, roles database" in out
    ws = Workspace.from_options(home)
    t = load_targets(ws)[name]
    assert [(h.name, h.host, h.roles) for h in t.hosts()] == [
        (name, web.address, ("web",)), (f"{name}--backup", backup.address, ("backup",)),
        (f"{name}--database", db.address, ("database",))]  # fmt: skip
    pins = {p.name: p.key.fingerprint for p in read_known_hosts(ws.known_hosts_file)}
    assert pins == {dc.address: dc.host_key_fingerprint() for dc in hosts.values()}  # each host its own key
    shown = json.loads(run_cli(home, "target", "show", name, "--json").stdout)
    assert {h["name"]: h["host_key_fingerprints"] for h in shown["extra_hosts"]} == {
        f"{name}--backup": [backup.host_key_fingerprint()], f"{name}--database": [db.host_key_fingerprint()]}
    assert run_cli(home, "target", "check", name).stdout.strip().endswith("2 more host(s) ok")

    # every host meets its role: preflight passes (warning under the PPDB specification's figures)
    proc = run_cli(home, "preflight", "ppdb", "--target", name, "--json")
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    where = {c["host"] for c in report["checks"]}
    assert where == {f"{name} (web)", f"{name}--database (database)", f"{name}--backup (backup)"}
    assert any(c["warn"] and c["check"] == "cpu cores (recommended)" for c in report["checks"])
    ports = [c for c in report["checks"] if c["check"].startswith("port ")]
    assert [(c["host"], c["check"]) for c in ports] == [(f"{name} (web)", "port 8082")]  # web's port, on web

    # one failing run, two hosts that fall short, each named with its role: the database role
    # needs more memory than its host has; the backup host's --python lacks requests (preflight
    # probes THAT interpreter, the one the operations use: it used to probe /usr/bin/python3)
    venv = tmp_path / "bare-venv"
    subprocess.run([TARGET_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)  # noqa: S603
    inv = yaml.safe_load(ws.inventory_file.read_text())  # as `add --replace --python backup=...` writes it
    inv["all"]["children"]["spbe_hosts"]["hosts"][f"{name}--backup"]["ansible_python_interpreter"] = (
        f"{venv}/bin/python3")
    ws.inventory_file.write_text(yaml.safe_dump(inv))
    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(_catalog(tmp_path, db_memory_mb=64 * 1024 * 1024)))
    proc = run_cli(home, "preflight", "ppdb", "--target", name, check=False)
    assert proc.returncode == ExitCode.PREFLIGHT_FAILED, proc.stdout + proc.stderr
    assert f"{name}--database (database): memory: required >= {64 * 1024 * 1024} MB (database)" in proc.stderr
    assert (f"{name}--backup (backup): python libraries: required docker, requests importable by"
            f" {venv}/bin/python3, found docker missing, requests missing") in proc.stderr
    failed = [ln for ln in proc.stderr.splitlines() if ": required " in ln]
    assert len(failed) == 2, proc.stderr  # only the hosts that fall short
