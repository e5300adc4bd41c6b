"""The lock's lease: renewed only by its holder, stale once it runs out, taken over only by the
token a journal names (the target-side module and the controller's renewal command, run here)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spbe_share.records import state
from spbe_share.remote.lease import LeaseKeeper, renew_command, renew_every

REPO = Path(__file__).resolve().parents[2]


def lock_module() -> Any:
    if str(REPO / "playbooks" / "module_utils") not in sys.path:  # the lock protocol it imports
        sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))
    spec = importlib.util.spec_from_file_location("spbe_lock_mod", REPO / "playbooks" / "library" / "spbe_lock.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_lock(path: Path, *, token: str, lease_s: int | None, age_s: int) -> dict[str, Any]:
    owner = state.new_lock_owner(who="op", operation="upgrade x", lease_s=lease_s).model_dump(mode="json")
    owner["token"] = token
    path.write_text(json.dumps(owner))
    old = time.time() - age_s
    os.utime(path, (old, old))
    return owner


def test_a_lease_runs_out_and_only_its_token_takes_it_over(tmp_path: Path) -> None:
    m = lock_module()
    lock = tmp_path / "e-office.lock"
    holder = write_lock(lock, token="a" * 32, lease_s=10, age_s=30)
    facts = m.lease_facts(str(lock), holder)
    assert facts["stale"] and facts["age_s"] >= 30
    assert "STALE" in m.describe(holder, facts)
    assert m.take_over(str(lock), "b" * 32) is None and lock.exists()  # another token: put back
    assert json.loads(lock.read_text())["token"] == "a" * 32
    taken = m.take_over(str(lock), "a" * 32)
    assert taken is not None and taken["token"] == "a" * 32 and not lock.exists()


def test_a_live_lease_or_a_lock_without_lease_is_never_stale(tmp_path: Path) -> None:
    m = lock_module()
    lock = tmp_path / "x.lock"
    holder = write_lock(lock, token="a" * 32, lease_s=60, age_s=5)
    assert not m.lease_facts(str(lock), holder)["stale"]
    assert "expires in" in m.describe(holder, m.lease_facts(str(lock), holder))
    holder = write_lock(lock, token="a" * 32, lease_s=None, age_s=100000)
    assert not m.lease_facts(str(lock), holder)["stale"]


def test_the_renewal_touches_only_its_own_lock(tmp_path: Path) -> None:
    from spbe_share.targets.inventory import Target

    lock = tmp_path / "x.lock"
    owner = state.LockOwner.model_validate(write_lock(lock, token="c" * 32, lease_s=40, age_s=100))
    keeper = LeaseKeeper(ws=None, target=Target.model_construct(name="local"), lock_path=str(lock), lock=owner)  # type: ignore[arg-type]
    assert keeper.renew_once(renew_command(sys.executable, str(lock), "c" * 32), timeout=10) == "ok"
    assert time.time() - lock.stat().st_mtime < 5 and keeper.renewals == 1
    os.utime(lock, (1, 1))
    assert keeper.renew_once(renew_command(sys.executable, str(lock), "d" * 32), timeout=10) == "other"
    assert lock.stat().st_mtime == 1 and keeper.lost
    lock.unlink()
    assert keeper.renew_once(renew_command(sys.executable, str(lock), "c" * 32), timeout=10) == "gone"
    assert renew_every(120) == 30.0 and renew_every(2) == 1.0


@pytest.mark.parametrize("text", ["5", "abc", "99999"])
def test_a_bad_lease_setting_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    from spbe_share.errors import InvalidInput
    from spbe_share.ops.context import lease_from_env

    monkeypatch.setenv("SPBE_SHARE_LEASE_S", text)
    with pytest.raises(InvalidInput, match="SPBE_SHARE_LEASE_S"):
        lease_from_env()


def test_one_lock_protocol_travels_with_each_script(tmp_path: Path) -> None:
    """Issue 23: the target side has one lock protocol (playbooks/module_utils/spbe_lockfile.py)
    and one write helper; a script run over SSH gets them inside its one ``python3 -c`` program,
    which runs in an interpreter that sees nothing else (``-I``)."""
    import subprocess

    from spbe_share.remote.scripts import dependencies, program

    assert dependencies("spbe_noop_check") == ["spbe_files", "spbe_lockfile"]
    assert dependencies("spbe_secrets") == ["spbe_files"]
    assert dependencies("spbe_receiver") == []  # installed alone in <root>/lib
    lock = tmp_path / "locks" / "x.lock"
    lock.parent.mkdir()
    owner = write_lock(lock, token="e" * 32, lease_s=30, age_s=100)
    argv = [sys.executable, "-I", "-c", program("spbe_lockfile"), "renew", str(lock), "e" * 32]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, check=True)  # noqa: S603
    assert out.stdout == "ok\n" and time.time() - lock.stat().st_mtime < 5
    check = [sys.executable, "-I", "-c", program("spbe_noop_check")]
    request = json.dumps({"lock": {"path": str(lock), "owner": {**owner, "token": "f" * 32}}})
    answer = json.loads(subprocess.run(check, input=request, capture_output=True, text=True, check=True).stdout)  # noqa: S603
    assert answer["locked"]["token"] == "e" * 32 and not answer["same"]  # the held lock, as spbe_lock sees it


def test_a_scheduled_backup_holds_the_lock_with_a_lease(tmp_path: Path) -> None:
    """The backup engine's scheduled run takes the same lock with a lease it renews while it
    works; killed otherwise than its dead-PID rule sees, its lock goes stale for the others."""
    sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))
    try:
        import spbe_backup_store as store
    finally:
        sys.path.pop(0)
    spec = {"app": "pengaduan", "root": str(tmp_path / "root")}
    owner = store.take_lock(spec, who="cron", operation="scheduled create pengaduan", lease_s=4)
    lock = Path(store.lock_path(spec))
    assert json.loads(lock.read_text())["lease_s"] == 4
    os.utime(lock, (1, 1))
    with store.lockfile.Renewer(str(lock), owner["token"], 4):  # renews every second
        time.sleep(1.6)
    assert time.time() - lock.stat().st_mtime < 5
    os.utime(lock, (1, 1))
    with pytest.raises(store.BackupError, match=r"^locked by cron .*STALE: its lease of 4 s ran out"):
        store.take_lock(spec, who="budi", operation="upgrade pengaduan")
    m = lock_module()  # the playbooks' spbe_lock reads it the same way
    assert m.lease_facts(str(lock), json.loads(lock.read_text()))["stale"]
    store.release_lock(spec, owner)
    assert not lock.exists()
