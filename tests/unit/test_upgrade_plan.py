"""Pure parts of upgrade and rollback: the path, the refusals, the diff, which release and which
backup a rollback brings back, what a journal left behind means for the next command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spbe_share.errors import InvalidInput, NotFound, RemoteFailed
from spbe_share.ops.rollback import choose
from spbe_share.plans.upgradeplan import (
    blobs_to_ship,
    config_changes,
    downgrade_refusal,
    migrating_between,
    older_refusals,
    releases_between,
    upgrade_path,
    values_changes,
)
from spbe_share.records import state
from spbe_share.records.journal import Journal, resume_plan

REPO = Path(__file__).resolve().parents[2]


def eoffice(extra: list[dict[str, Any]] | None = None) -> Any:
    import yaml

    doc = yaml.safe_load((REPO / "catalog" / "e-office" / "spbe-app.yaml").read_text())
    doc["releases"] += extra or []
    from spbe_share.catalog.models import Entry

    return Entry.model_validate(doc)


def rel(version: str, **over: Any) -> dict[str, Any]:
    return {"version": version, "date": "2026-11-21", **over}


def test_the_real_eoffice_path_is_one_step_that_migrates_data() -> None:
    e = eoffice()
    assert [r.version for r in releases_between(e, from_version="1.0.0", to_version="1.1.0")] == ["1.1.0"]
    assert upgrade_path(e, from_version="1.0.0", to_version="1.1.0") == ["1.0.0", "1.1.0"]
    assert migrating_between(e, older="1.0.0", newer="1.1.0") == ["1.1.0"]


def test_upgrades_from_chains_steps_and_refuses_an_unreachable_release() -> None:
    e = eoffice([rel("1.2.0", upgrades_from="1.1.0"), rel("2.0.0", upgrades_from="1.2.0", migrates_data=True)])
    assert upgrade_path(e, from_version="1.0.0", to_version="2.0.0") == ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
    assert upgrade_path(e, from_version="1.1.0", to_version="1.2.0") == ["1.1.0", "1.2.0"]
    with pytest.raises(InvalidInput, match="no release 9.9.9"):
        upgrade_path(e, from_version="1.0.0", to_version="9.9.9")


def test_going_back_across_a_migration_is_refused_pointing_to_rollback() -> None:
    e = eoffice()  # the real 1.1.1: code only, no migration
    why = downgrade_refusal(e, app="e-office", target="kota-sorong", current="1.1.0", wanted="1.0.0")
    assert why is not None and "1.1.0" in why and "spbe-share rollback e-office --target kota-sorong" in why
    assert downgrade_refusal(e, app="e-office", target="t", current="1.1.1", wanted="1.1.0") is None  # no migration
    assert downgrade_refusal(e, app="e-office", target="t", current="1.0.0", wanted="1.1.0") is None  # not older
    # install of 1.0.0: the target refuses it over 1.1.0 and 1.1.1 (their data), not over 1.0.0
    assert sorted(older_refusals(e, app="e-office", target="t", version="1.0.0")) == ["1.1.0", "1.1.1"]
    assert older_refusals(e, app="e-office", target="t", version="1.1.0") == {}


def test_config_and_values_diff_and_blobs_to_ship() -> None:
    old = [{"component": "web", "file": "0-a.conf", "content": "x=1\ny=2\n"},
           {"component": "web", "file": "1-gone.conf", "content": "z\n"}]
    new = [{"component": "web", "file": "0-a.conf", "content": "x=1\ny=3\n"},
           {"component": "db", "file": "0-new.conf", "content": "n\n"}]
    changes = config_changes(old, new)
    assert [(c.component, c.file, c.change) for c in changes] == [
        ("db", "0-new.conf", "added"), ("web", "0-a.conf", "changed"), ("web", "1-gone.conf", "removed")]
    assert "-y=2" in changes[1].diff and "+y=3" in changes[1].diff
    assert values_changes({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == ["b: '2' -> '3'", "c: '(unset)' -> '4'"]
    assert blobs_to_ship({"aa": 10, "bb": 20, "cc": 5}, {"bb"}) == {"aa": 10, "cc": 5}


def record(version: str, stamp: str, **over: Any) -> tuple[str, state.ReleaseRecord]:
    deploy = f"{stamp}-{version}"
    data: dict[str, Any] = {
        "app": "e-office", "version": version, "target": "t", "pemda": "P", "kode_wilayah": "96.71",
        "bundle_digest": "sha256:" + "0" * 64, "signer": "0123456789abcdef", "who": "op",
        "when": f"2026-11-2{stamp[7]}T00:00:00Z", "deploy": deploy, **over,
    }
    return deploy, state.ReleaseRecord.model_validate(data)


def test_rollback_brings_back_the_previous_release_with_the_backup_taken_before_the_migrating_upgrade() -> None:
    installed = record("1.0.0", "20261120T000000Z", operation="install")
    upgraded = record("1.1.0", "20261121T000000Z", operation="upgrade", from_version="1.0.0", migrates_data=True,
                      backup="20261121T000000Z-pre-upgrade-abc123")
    failed = record("1.2.0", "20261122T000000Z", result="rolled_back")
    c = choose([installed, upgraded, failed], upgraded[1], to=None)
    assert (c.record.version, c.restore, c.since) == ("1.0.0", "20261121T000000Z-pre-upgrade-abc123", upgraded[1].when)
    assert [r.version for r in c.undone] == ["1.1.0"]


def test_rollback_keeps_the_data_when_nothing_migrated_and_refuses_without_the_backup() -> None:
    installed = record("1.0.0", "20261120T000000Z")
    plain = record("1.0.1", "20261121T000000Z", from_version="1.0.0")
    assert choose([installed, plain], plain[1], to=None).restore is None
    nobackup = record("1.1.0", "20261121T000000Z", from_version="1.0.0", migrates_data=True)
    with pytest.raises(RemoteFailed, match="no backup of 1.0.0"):
        choose([installed, nobackup], nobackup[1], to=None)
    with pytest.raises(NotFound, match="no release 0.9.0"):
        choose([installed, plain], plain[1], to="0.9.0")
    with pytest.raises(NotFound, match="no earlier release"):
        choose([installed], installed[1], to=None)


def journal(steps: list[str], state_: str = "running") -> Journal:
    return Journal.model_validate({
        "id": "20261122T101500Z-5f3a", "operation": "upgrade", "app": "e-office", "target": "t", "who": "op",
        "host": "laptop", "pid": 1, "started": "2026-11-22T10:15:00Z", "lock_token": "ab" * 16,
        "from": {"version": "1.0.0", "bundle_digest": "sha256:" + "1" * 64, "deploy": "20261101T080000Z-1.0.0"},
        "to": {"version": "1.1.0", "bundle_digest": "sha256:" + "2" * 64, "deploy": "20261122T101500Z-1.1.0"},
        "attempt": "20261122T101500Z-1.1.0", "backup": "20261122T101502Z-pre-upgrade-3fa2",
        "steps": [{"step": s, "at": "2026-11-22T10:15:00Z"} for s in steps], "state": state_,
    })


@pytest.mark.parametrize(("steps", "action", "restore"), [
    (["begin", "shipped"], "abandon", None),
    (["begin", "shipped", "backed-up", "stopping-old"], "restart-old", None),
    (["begin", "shipped", "backed-up", "stopping-old", "starting-new"], "undo", "20261122T101502Z-pre-upgrade-3fa2"),
    (["begin", "shipped", "backed-up", "stopping-old", "starting-new", "started-new"], "undo",
     "20261122T101502Z-pre-upgrade-3fa2"),
    (["begin", "shipped", "backed-up", "stopping-old", "starting-new", "undo-begin"], "undo",
     "20261122T101502Z-pre-upgrade-3fa2"),
])
def test_what_the_next_command_does_with_an_unfinished_journal(steps: list[str], action: str, restore: str | None) -> None:
    r = resume_plan(journal(steps), command="rollback")
    assert (r.action, r.restore) == (action, restore)
    assert resume_plan(journal(steps, "done"), command="rollback").action == "none"


def test_an_invalid_journal_from_the_target_is_refused() -> None:
    from spbe_share.records.journal import parse_journal

    data = journal(["begin"]).as_data()
    with pytest.raises(RemoteFailed, match="invalid journal: lock_token"):
        parse_journal({**data, "lock_token": "../../x"}, app="e-office", target="t", source="t:journal.json")
    with pytest.raises(RemoteFailed, match="not e-office on other"):
        parse_journal(data, app="e-office", target="other", source="t:journal.json")



def target() -> Any:
    from spbe_share.targets.inventory import Target

    return Target.model_construct(name="t", root="/var/lib/spbe-share", bind_address="10.0.0.5", connection="ssh")


def test_app_state_from_a_target_is_untrusted_data() -> None:
    """A bad record is an unreadable history row, a planted deploy spec is never usable, a bad
    journal or lock is reported, not used."""
    from spbe_share.ops.history import history_rows
    from spbe_share.records.appstate import parse_state

    _, good = record("1.0.0", "20261120T000000Z", operation="install")
    planted = {"format": 1, "app": "e-office", "target": "t", "version": "1.0.0", "bundle_digest": "sha256:" + "0" * 64,
               "images": [], "blobs": [], "network": "spbe-t-e-office", "containers": [
                   {"name": "victim", "component": "web", "image": "sha256:" + "1" * 64}],
               "backup": {"format": 1, "app": "e-office", "target": "t", "root": "/var/lib/spbe-share",
                          "components": [], "databases": [], "volumes": []}}
    st = parse_state({
        "current": good.model_dump(mode="json"),
        "releases": [{"name": "20261120T000000Z-1.0.0", "record": good.model_dump(mode="json")},
                     {"name": "20261121T000000Z-9.9.9", "record": {"app": "other", "version": "9.9.9"}}],
        "journal": {"format": 1, "id": "../../etc"}, "lock": {"holder": {"who": "x"}, "age_s": -1, "stale": True},
        "deploys": {"20261120T000000Z-1.0.0": planted}, "blobs": ["a" * 64], "backups": [], "now": 0,
    }, target=target(), app="e-office")
    assert [n for n, _ in st.releases] == ["20261120T000000Z-1.0.0"]
    assert st.unreadable and st.unreadable[0].name == "20261121T000000Z-9.9.9"
    assert st.journal is None and st.journal_problem and "invalid journal" in st.journal_problem
    assert st.lock is None and st.lock_problem
    assert "20261120T000000Z-1.0.0" not in st.deploys
    with pytest.raises(RemoteFailed, match="deploy spec"):
        st.deploy("20261120T000000Z-1.0.0", what="e-office 1.0.0")
    rows = history_rows(st)
    assert [(r["version"], r["result"]) for r in rows] == [("1.0.0", "ok"), (None, "unreadable")]


def test_a_secret_the_new_release_introduces_may_be_new_but_the_old_ones_must_exist() -> None:
    from spbe_share.ops.upgrade import new_secret_names
    from spbe_share.records.deployspec import DeploySecret, DeploySpec

    old = DeploySpec.model_construct(secrets=[DeploySecret(name="DB_PASSWORD", length=32)])
    new = [{"name": "DB_PASSWORD", "length": 32}, {"name": "SIGNING_KEY", "length": 64}]
    assert new_secret_names(new, old) == ["SIGNING_KEY"]
    assert new_secret_names(new[:1], old) == []
