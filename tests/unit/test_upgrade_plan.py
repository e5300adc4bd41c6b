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


# --- issue 21 item 2: the zero-downtime path (code-only release, stateless web, behind the proxy)

WEB_OLD, WEB_NEW, DB = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "d" * 64


def _release_vars(e: Any, version: str, *, web: str, db: str = DB, config: str = "{}",
                  db_layer: str = "sha256:" + "1" * 64) -> dict[str, Any]:
    """A release's variables; the db image's config differs per release (its version labels), its layers not."""
    from spbe_share.plans.containers import container_specs, health_specs

    if db == DB:
        db = "sha256:" + version.replace(".", "")[:3].ljust(64, "d")
    containers = container_specs(e, version=version, target="kota-uji", root="/srv/spbe", bind_address="127.0.0.1",
                                 images={"web": web, "db": db})
    return {
        "spbe_containers": containers,
        "spbe_health": [h.model_dump(mode="json") for h in health_specs(e, target="kota-uji", bind_address="127.0.0.1")],
        "spbe_configs": [{"component": "web", "file": "0-config.json", "content": config}],
        "spbe_images": [{"component": "web", "ref": "w", "config": web, "layers": [web]},
                        {"component": "db", "ref": "d", "config": db, "layers": [db_layer]}],
    }


def _spec(e: Any, version: str, **kw: Any) -> Any:
    from spbe_share.plans.backup import backup_spec
    from spbe_share.records.deployspec import DeploySpec

    v = _release_vars(e, version, **kw)
    return DeploySpec.model_validate({
        "app": "e-office", "target": "kota-uji", "version": version, "bundle_digest": "sha256:" + "c" * 64,
        "images": v["spbe_images"], "blobs": [], "configs": v["spbe_configs"], "network": "spbe-kota-uji-e-office",
        "volumes": ["spbe-kota-uji-e-office-pgdata"], "containers": v["spbe_containers"], "health": v["spbe_health"],
        "backup": backup_spec(e, target="kota-uji", root="/srv/spbe").as_data(),
    })


def test_a_code_only_release_behind_the_proxy_switches_and_anything_else_takes_the_safe_path() -> None:
    from spbe_share.ops.upgrade import upgrade_route
    from spbe_share.plans.switch import switch_plan

    e = eoffice()  # the real catalog entry: 1.1.1 is code only
    old = _spec(e, "1.1.0", web=WEB_OLD)
    new = _release_vars(e, "1.1.1", web=WEB_NEW, config='{"v": 2}')
    code_only = releases_between(e, from_version="1.1.0", to_version="1.1.1")
    way = upgrade_route(e, releases=code_only, domain="eoffice.kota-uji.go.id", old=old, new=new)
    assert way.zero_downtime, way.why
    assert way.as_dict()["path"] == "zero-downtime"
    assert "component web is stateless (no volumes) and behind the TLS proxy of eoffice.kota-uji.go.id" in way.why
    # 1.0.0 -> 1.1.1 goes through 1.1.0, which migrates data: the safe path, and the plan says why
    assert upgrade_path(e, from_version="1.0.0", to_version="1.1.1") == ["1.0.0", "1.1.0", "1.1.1"]
    crossing = releases_between(e, from_version="1.0.0", to_version="1.1.1")
    safe = upgrade_route(e, releases=crossing, domain="eoffice.kota-uji.go.id", old=old, new=new)
    assert (safe.zero_downtime, safe.why) == (False, "1.1.0 migrates data: backup, stop, migrate, start")
    # no proxy: nothing to switch
    assert upgrade_route(e, releases=code_only, domain=None, old=old, new=new).why == (
        "the app has no TLS proxy (installed without --domain): stop, start")
    # the database changes too: it would restart
    db_too = _release_vars(e, "1.1.1", web=WEB_NEW, db_layer="sha256:" + "e" * 64)
    assert upgrade_route(e, releases=code_only, domain="d.go.id", old=old, new=db_too).why == (
        "component db changes too (image): stop, start")
    # a web component with a volume is not stateless
    doc = e.model_dump(mode="json", by_alias=True, exclude_none=True)
    web = next(c for c in doc["components"] if c["name"] == "web")
    web["volumes"] = [{"name": "uploads", "path": "/srv/uploads"}]
    from spbe_share.catalog.models import Entry

    assert upgrade_route(Entry.model_validate(doc), releases=code_only, domain="d.go.id", old=old, new=new).why == (
        "component web keeps data in volumes (uploads): stop, start")

    # what the switch starts and records: db as it runs, web without a published port, checked inside
    containers, images, checks, switch = switch_plan(
        web="web", port=8080, stamp="20261207T063000Z", serving=old, containers=new["spbe_containers"],
        health=new["spbe_health"], images=new["spbe_images"], proxy_container="spbe-kota-uji-e-office--proxy",
        proxy_dir="/srv/p")
    assert containers[0] == old.containers[0].model_dump(mode="json")  # db: as it runs (1.1.0's image)
    assert images == [new["spbe_images"][0], old.images[1].model_dump(mode="json")]
    assert containers[1]["name"] == "spbe-kota-uji-e-office-web"
    assert (containers[1]["image"], containers[1]["ports"]) == (WEB_NEW, [])
    assert [(h["container"], h["url"]) for h in checks] == [("spbe-kota-uji-e-office-db", None),
                                                            ("spbe-kota-uji-e-office-web", None)]
    assert switch["next"]["name"] == "spbe-kota-uji-e-office-web--20261207t063000z"
    assert switch["health"][0]["container"] == switch["next"]["name"]
    # the proxy names containers, never the component's alias (both containers carry it meanwhile)
    assert switch["upstream_next"].splitlines()[-1] == (
        "set $spbe_upstream http://spbe-kota-uji-e-office-web--20261207t063000z:8080;")
    assert switch["upstream_final"].splitlines()[-1] == "set $spbe_upstream http://spbe-kota-uji-e-office-web:8080;"


def test_a_rollback_of_a_code_only_upgrade_is_a_switch_back_and_of_a_migrating_one_the_safe_path() -> None:
    from spbe_share.ops.rollback import Choice, rollback_route
    from spbe_share.plans.switch import switched_component

    e = eoffice()  # the real catalog entry: 1.1.1 is code only
    back = _spec(e, "1.1.0", web=WEB_OLD)
    serving = _spec(e, "1.1.1", web=WEB_NEW, db="sha256:" + "110".ljust(64, "d"))  # db as 1.1.0 ran it
    assert switched_component(serving, back) == ("web", 8080, [])
    _, r110 = record("1.1.0", "20261201T000000Z")
    _, r111 = record("1.1.1", "20261202T000000Z")
    current = r111.model_copy(update={"domain": "eoffice.kota-uji.go.id"})
    code_only = Choice(name="x", record=r110, restore=None, undone=[r111], since=None)
    way = rollback_route(current, current_spec=serving, back_spec=back, choice=code_only)
    assert way.zero_downtime, way.why
    migrated = Choice(name="x", record=r110, restore="20261202T000000Z-pre-upgrade-abcdef",
                      undone=[r111.model_copy(update={"migrates_data": True})], since=None)
    assert rollback_route(current, current_spec=serving, back_spec=back, choice=migrated).why == (
        "1.1.1 migrates data: backup, stop, migrate, start")
    # both components differ: not a switch of one
    both = _spec(e, "1.1.1", web=WEB_NEW, db="sha256:" + "e" * 64, db_layer="sha256:" + "e" * 64)
    assert switched_component(both, back) == ("", None, [])
    assert rollback_route(current, current_spec=both, back_spec=back, choice=code_only).why == (
        "not exactly one component changes: stop, start")


def test_the_deploy_spec_of_an_app_behind_its_proxy_is_read_back_with_its_ports_on_loopback() -> None:
    """install --domain publishes the app's ports on 127.0.0.1, not the target's address: the
    upgrade of such an app read its deploy spec as 'not one spbe-share wrote' (exit 8)."""
    from spbe_share.errors import SpbeError
    from spbe_share.records.deployspec import validated_deploy

    e = eoffice()
    data = _spec(e, "1.1.0", web=WEB_OLD).model_dump(mode="json")
    spec = validated_deploy(data, app="e-office", target="kota-uji", root="/srv/spbe", bind_address="127.0.0.9",
                            source="t")
    assert spec.containers[1].ports == ["127.0.0.1:8080:8080/tcp"]
    data["containers"][1]["ports"] = ["10.0.0.9:8080:8080/tcp"]  # another address: still refused
    with pytest.raises(SpbeError, match="port '10.0.0.9:8080:8080/tcp'"):
        validated_deploy(data, app="e-office", target="kota-uji", root="/srv/spbe", bind_address="127.0.0.9",
                         source="t")
