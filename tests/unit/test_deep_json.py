"""JSON nested 200,000 deep, wherever JSON from outside is read, is the documented error,
never a RecursionError traceback (issue 17, finding 9): the no-op check's answer, a backup copy
(``restore --from``), sealed secrets, the fleet state file, a ``fleet status --json`` file, the
secrets helper's answer, preflight facts; and YAML read through :mod:`spbe_share.yamlio`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput, RemoteFailed, VerificationFailed

REPO = Path(__file__).resolve().parents[2]
DEEP = b"[" * 200_000 + b"]" * 200_000
DEEP_IN_OBJECT = b'{"a": ' + DEEP + b"}"


def test_noop_answer() -> None:
    from spbe_share.ops.noop import parse_answer

    for raw in (DEEP, DEEP_IN_OBJECT):
        answer = parse_answer(raw.decode())
        assert not answer.same and answer.error == "no answer"


def test_backup_copy_for_restore_from(tmp_path: Path) -> None:
    from spbe_share.records.fetch import check_copy

    (tmp_path / "manifest.json").write_bytes(DEEP_IN_OBJECT)
    with pytest.raises(VerificationFailed, match="nested deeper than 64 levels"):
        check_copy(tmp_path)


def test_sealed_secrets(tmp_path: Path) -> None:
    import pyrage
    from pyrage import x25519

    from spbe_share.sealing import unseal

    key = x25519.Identity.generate()
    data = pyrage.encrypt(DEEP_IN_OBJECT, [key.to_public()])  # anyone can seal to the operator's key
    with pytest.raises(VerificationFailed, match="not an spbe-share secrets envelope"):
        unseal(data, keys=[key], where="backup x")


def test_fleet_state_file(tmp_path: Path) -> None:
    from spbe_share.fleet.rollout import load_state

    path = tmp_path / "upgrade-k.state.json"
    path.write_bytes(DEEP_IN_OBJECT)
    with pytest.raises(InvalidInput, match="not a rollout state file: nested deeper"):
        load_state(path)


def test_fleet_status_file(tmp_path: Path) -> None:
    from spbe_share.fleet.models import load_fleet_status

    path = tmp_path / "fleet.json"
    path.write_bytes(DEEP)
    with pytest.raises(InvalidInput, match="not a fleet status file: nested deeper"):
        load_fleet_status(path)


def test_preflight_facts() -> None:
    from spbe_share.ops.preflight import TargetFacts

    facts = TargetFacts.model_validate({"disk": {"path": "/", "free_mb": 1, "exists": True}, "docker_rc": 0,
                                        "docker_version": DEEP_IN_OBJECT.decode()})  # fmt: skip
    assert facts.docker_server_version() is None


def test_secrets_helper_answer(tmp_path: Path) -> None:
    from spbe_share.remote.secretsync import call
    from spbe_share.targets.inventory import Target
    from spbe_share.workspace import Workspace

    answer = tmp_path / "answer.json"
    answer.write_bytes(DEEP_IN_OBJECT)
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\nexec cat {answer}\n")
    fake.chmod(0o755)
    ws = Workspace(home=tmp_path / "ws", root=REPO)
    t = Target(name="local", connection="local", host="localhost", user="op", pemda="Kota Uji", kode_wilayah="96.72",
               bind_address="127.0.0.1", root=str(tmp_path / "root"), python=str(fake))  # fmt: skip
    with pytest.raises(RemoteFailed, match="gave no valid answer"):
        call(ws, t, "pengaduan", "read", {"names": None})


def test_yaml_files(tmp_path: Path) -> None:
    from spbe_share.yamlio import load_yaml

    path = tmp_path / "values.yaml"
    path.write_bytes(b"a: " + b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(InvalidInput, match="nested too deeply"):
        load_yaml(path)


def test_through_the_cli_exit_2_and_no_traceback(tmp_path: Path) -> None:
    """``site build --fleet FILE``, as the operator meets it."""
    fleet = tmp_path / "fleet.json"
    fleet.write_bytes(DEEP)
    proc = subprocess.run([sys.executable, "-m", "spbe_share", "--workspace", str(tmp_path / "ws"), "site", "build",  # noqa: S603
                           "--output", str(tmp_path / "site"), "--fleet", str(fleet)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "not a fleet status file: nested deeper than 64 levels" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
