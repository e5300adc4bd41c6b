"""Unit tests of issue 12's pure parts: the entry's rotation flag, the day-2 variable builders
(``deploy/opvars``), sealing to the operator's key (``spbe_share/sealing``), the target's
redaction of health-failure logs (``playbooks/library/spbe_logs``). No engine, no target."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from spbe_share import sealing
from spbe_share.catalog.loader import load_entry
from spbe_share.catalog.models import Entry
from spbe_share.errors import InvalidInput, VerificationFailed
from spbe_share.plans import opvars
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 22, 10, 15, tzinfo=dt.UTC)


def entry(app: str) -> Entry:
    return load_entry(REPO / "catalog" / app / "spbe-app.yaml").entry


def target(name: str = "kota-sorong") -> Target:
    return Target(name=name, host="127.0.0.9", pemda="Kota Sorong", kode_wilayah="92.71", connection="ssh", user="root",
                  root="/var/lib/spbe-share", bind_address="127.0.0.9")


# ---------------------------------------------------------------- the entry's rotation flag


def test_entry_marks_which_secrets_may_rotate() -> None:
    e = {s.name: s for s in entry("e-office").secrets}
    assert e["SECRET_KEY"].rotation == "never"
    assert e["DB_PASSWORD"].rotation == "postgresql-role"
    assert (e["DB_PASSWORD"].postgresql_role.component, e["DB_PASSWORD"].postgresql_role.role) == ("db", "eoffice")
    assert e["ADMIN_PASSWORD"].rotation is None


@pytest.mark.parametrize(("change", "message"), [
    ({"rotation": "postgresql-role"}, "needs postgresql_role"),
    ({"rotation": "restart", "postgresql_role": {"component": "db", "role": "eoffice"}}, "only used with"),
    ({"rotation": "sometimes"}, "rotation"),
    ({"rotation": "postgresql-role", "postgresql_role": {"component": "db", "role": "Robert'); DROP"}}, "role"),
])
def test_entry_refuses_bad_rotation(change: dict[str, Any], message: str) -> None:
    data = entry("e-office").model_dump(mode="json", exclude_none=True)
    data = copy.deepcopy(data)
    s = next(s for s in data["secrets"] if s["name"] == "DB_PASSWORD")
    s.pop("postgresql_role", None)
    s.pop("rotation", None)
    s.update(change)
    with pytest.raises(ValidationError, match=message):
        Entry.model_validate(data)


def test_rotation_of_refuses_never_and_unmarked_secrets() -> None:
    e = entry("e-office")
    assert opvars.rotation_of(e, "DB_PASSWORD").name == "DB_PASSWORD"
    with pytest.raises(InvalidInput, match="SECRET_KEY must never change"):
        opvars.rotation_of(e, "SECRET_KEY")
    with pytest.raises(InvalidInput, match="does not say secret ADMIN_PASSWORD can be rotated"):
        opvars.rotation_of(e, "ADMIN_PASSWORD")
    with pytest.raises(InvalidInput, match="has no secret 'NOPE'"):
        opvars.rotation_of(e, "NOPE")


def test_rotate_vars_are_data_from_the_entry() -> None:
    v = opvars.rotate_vars(entry("e-office"), target=target(), name="DB_PASSWORD")
    assert v["spbe_rotate"] == {
        "name": "DB_PASSWORD", "length": 32,
        "method": {"type": "postgresql-role", "component": "db", "container": "spbe-kota-sorong-e-office-db",
                   "role": "eoffice"},
        "components": [{"component": "db", "container": "spbe-kota-sorong-e-office-db"},
                       {"component": "web", "container": "spbe-kota-sorong-e-office-web"}],
    }


# ---------------------------------------------------------------- day-2 variable builders


def test_data_volumes_of_e_office_are_its_database_volume() -> None:
    vols = opvars.data_volumes(entry("e-office"), target="kota-sorong", images={"db": "sha256:aa", "web": "sha256:bb"})
    assert vols == [{"name": "spbe-kota-sorong-e-office-pgdata", "volume": "pgdata", "component": "db",
                     "mount": "/var/lib/postgresql/data", "image": "sha256:aa"}]
    assert opvars.data_check_vars(entry("e-office"), target="kota-sorong", reset=True, may_be_new=["B", "A"]) == {
        "spbe_data_volumes": [{k: v for k, v in vols[0].items() if k != "image"}],
        "spbe_reset_data": True, "spbe_secrets_may_be_new": ["A", "B"]}


def test_backup_ids_and_keep_are_checked() -> None:
    assert opvars.check_backup_id("20261122T101500Z-manual-3fa2") == "20261122T101500Z-manual-3fa2"
    for bad in ("../x", "20261122T101500Z-../../etc", "", "20261122T101500Z-Manual"):
        with pytest.raises(InvalidInput, match="not a backup id"):
            opvars.check_backup_id(bad)
    with pytest.raises(InvalidInput, match="at least 1"):
        opvars.check_keep(0)
    with pytest.raises(InvalidInput, match="not a valid name"):
        opvars.fetch_dir(Path("/b"), target="../x", app="e-office")
    assert opvars.fetch_dir(Path("/b"), target="kota-sorong", app="e-office") == Path("/b/kota-sorong/e-office")


def test_uninstall_vars_keep_data_unless_purged() -> None:
    e, t = entry("e-office"), target()
    keep = opvars.uninstall_vars(e, target=t, purge=False, who="ops", stamp="20261122T101500Z")
    assert keep["spbe_containers"] == ["spbe-kota-sorong-e-office--proxy", "spbe-kota-sorong-e-office-web", "spbe-kota-sorong-e-office-db"]
    assert keep["spbe_volumes"] == [] and keep["spbe_purge"] is False and "spbe_fetch_dir" not in keep
    purge = opvars.uninstall_vars(e, target=t, purge=True, who="ops", stamp="20261122T101500Z",
                                  fetch_to=Path("/ws/backups/kota-sorong/e-office"))
    assert purge["spbe_volumes"] == ["spbe-kota-sorong-e-office-pgdata"]
    assert purge["spbe_backup_why"] == "pre-purge"
    assert purge["spbe_fetch_dir"] == "/ws/backups/kota-sorong/e-office"
    with pytest.raises(InvalidInput, match="fetch_to is required"):
        opvars.uninstall_vars(e, target=t, purge=True, who="ops", stamp="x")


# ---------------------------------------------------------------- sealing


def test_seal_opens_only_with_the_operators_key(tmp_path: Path) -> None:
    ws = Workspace.from_options(tmp_path / "ws")
    ws.ensure()
    key, created = sealing.ensure_identity(ws, now=NOW)
    assert created and oct(key.path.stat().st_mode & 0o777) == "0o600"
    values = {"DB_PASSWORD": "p" * 32, "SECRET_KEY": "k" * 48}
    sealed = sealing.seal(app="e-office", target="kota-sorong", values=values, to=sealing.recipients(ws), now=NOW)
    assert b"p" * 32 not in sealed.data and b"k" * 48 not in sealed.data
    assert sealed.data.startswith(b"age-encryption.org/v1")
    opened = sealing.unseal(sealed.data, keys=sealing.identities(ws), where="t", meta=sealed.meta)
    assert opened.secrets == values and "pppp" not in repr(opened)
    assert sealing.matches(sealed.meta, values, sealing.recipients(ws))
    assert not sealing.matches(sealed.meta, {**values, "DB_PASSWORD": "q" * 32}, sealing.recipients(ws))
    other = Workspace.from_options(tmp_path / "other")
    other.ensure()
    sealing.ensure_identity(other, now=NOW)
    with pytest.raises(VerificationFailed, match="none of the keys given opens"):
        sealing.unseal(sealed.data, keys=sealing.identities(other), where="t", meta=sealed.meta)
    with pytest.raises(VerificationFailed, match="size and SHA-256"):
        sealing.unseal(sealed.data + b"x", keys=sealing.identities(ws), where="t", meta=sealed.meta)


def test_recovery_key_opens_later_seals(tmp_path: Path) -> None:
    ws = Workspace.from_options(tmp_path / "ws")
    ws.ensure()
    sealing.add_recovery_key(ws, out=tmp_path / "recovery.txt", label="safe", now=NOW)
    sealed = sealing.seal(app="e-office", target="t", values={"A_B": "v" * 20}, to=sealing.recipients(ws), now=NOW)
    assert len(sealed.meta.sealed_to) == 2
    alone = Workspace.from_options(tmp_path / "fresh")
    opened = sealing.unseal(sealed.data, keys=sealing.identities(alone, [tmp_path / "recovery.txt"]), where="t")
    assert opened.secrets == {"A_B": "v" * 20}


def test_the_target_computes_the_same_fingerprint() -> None:
    salt = "00" * 16
    assert sealing.fingerprint(salt, "DB_PASSWORD", "abc") == hashlib.sha256(
        bytes(16) + b"\0DB_PASSWORD\0abc").hexdigest()


# ---------------------------------------------------------------- health failures: redacted logs


def _spbe_logs() -> Any:
    sys.path[:0] = [str(REPO / "playbooks" / "library"), str(REPO / "playbooks" / "module_utils")]
    try:
        import spbe_logs
    finally:
        del sys.path[:2]
    return spbe_logs


def test_logs_are_redacted_on_the_target(tmp_path: Path) -> None:
    logs = _spbe_logs()
    (tmp_path / "DB_PASSWORD").write_text("s3cr3t/Value+x\n")
    (tmp_path / "SHORT").write_text("abc")
    found = logs.secret_values(str(tmp_path))
    assert found == [("DB_PASSWORD", "s3cr3t/Value+x")]
    line = 'connect postgresql://eoffice:s3cr3t%2FValue%2Bx@db failed; pw=s3cr3t/Value+x abc'
    assert logs.redact(line, found) == ("connect postgresql://eoffice:[secret DB_PASSWORD]@db failed;"
                                        " pw=[secret DB_PASSWORD] abc")


def test_the_cause_is_the_last_error_line() -> None:
    logs = _spbe_logs()
    state = {"exists": True, "running": False, "status": "restarting", "exit_code": 1, "restarting": True,
             "restarts": 7}
    lines = ["starting web", 'FATAL:  password authentication failed for user "eoffice"', "retrying"]
    assert logs.describe("web", state, lines) == (
        'web: FATAL:  password authentication failed for user "eoffice"  [restarting (exit code 1), restarted 7 times]')
    assert logs.describe("db", {"exists": False}, []) == "db: the container does not exist"
