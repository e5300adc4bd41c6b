"""An app with roles across the hosts of one data center (issue 19 item 3): which host runs
which component, what it publishes and where, what starts first (plans/placement.py, pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_targets_hosts import dinas

from spbe_share.catalog.models import Entry
from spbe_share.errors import InvalidInput
from spbe_share.ops.preflight import host_ports
from spbe_share.plans.containers import container_specs
from spbe_share.plans.placement import behind_proxy, host_entry, part_health, part_urls, placement
from spbe_share.targets.inventory import TargetHost

REPO = Path(__file__).resolve().parents[2]


def ppdb() -> Entry:
    return Entry.model_validate(yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text()))


def test_ppdb_on_web_and_database_hosts() -> None:
    entry, target = ppdb(), dinas()
    parts = placement(entry, target)
    assert parts is not None
    # the backup host runs nothing of ppdb (its role's work is the backups); the first host
    # (web) keeps the lock and the record
    assert [(p.host.name, p.names, p.first, p.lock_host) for p in parts] == [
        ("dinas-pendidikan-sorong", ("web",), (), True),
        ("dinas-pendidikan-sorong--database", ("db",), ("db",), False),
    ]
    web, db = (host_entry(entry, p) for p in parts)
    specs = {c["component"]: c for p, e in zip(parts, (web, db), strict=True)
             for c in container_specs(e, version="1.0.0", target=target.name, root=p.host.root,
                                      bind_address=p.host.bind_address, images={"web": "sha256:w", "db": "sha256:d"})}
    # the database published on its own host's address only; the web reaches it there
    assert specs["db"]["ports"] == ["10.1.2.4:5432:5432/tcp"]
    assert specs["web"]["ports"] == ["10.1.2.3:8082:8080/tcp"]
    assert specs["web"]["env"] == {"DB_HOST": "10.1.2.4"}
    assert web.components[0].depends_on == [] and db.backup is not None and db.backup.databases[0].component == "db"
    assert web.backup is not None and web.backup.databases == [] and web.backup.volumes == []
    assert [(h.component, h.url) for h in part_health(entry, parts, target=target.name)] == [
        ("web", "http://10.1.2.3:8082/healthz"), ("db", None)]
    assert part_urls(entry, parts) == ["http://10.1.2.3:8082/"]  # not the database's port
    # preflight: 5432 must be free on the database host, 8082 on the web host
    assert host_ports(entry, ("database",)) == [5432]
    assert host_ports(entry, ("web",)) == [8082]


def test_one_host_runs_everything_as_before() -> None:
    entry = ppdb()
    assert placement(entry, dinas(extra_hosts=())) is None
    spec = container_specs(entry, version="1.0.0", target="t", root="/r", bind_address="10.1.2.3",
                           images={"web": "sha256:w", "db": "sha256:d"})  # fmt: skip
    assert [(c["component"], c["ports"], c["env"]) for c in spec] == [
        ("db", [], {}), ("web", ["10.1.2.3:8082:8080/tcp"], {"DB_HOST": "db"})]  # serves: not published


def test_a_dependency_on_another_host_needs_a_port() -> None:
    data = yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text())
    del data["components"][0]["serves"]
    with pytest.raises(InvalidInput, match="web .role web. depends on db .role database.*no 'serves' port"):
        placement(Entry.model_validate(data), dinas())


def test_the_lock_host_is_in_the_play_even_without_a_component() -> None:
    entry = ppdb()
    target = dinas(roles=("backup",), extra_hosts=(dinas().extra_hosts[0],
                   dinas().extra_hosts[1].model_copy(update={"roles": ("web",), "name": "dinas-pendidikan-sorong--web"})))
    parts = placement(entry, target)
    assert parts is not None
    assert [(p.host.name, p.names, p.lock_host) for p in parts] == [
        ("dinas-pendidikan-sorong", (), True), ("dinas-pendidikan-sorong--database", ("db",), False),
        ("dinas-pendidikan-sorong--web", ("web",), False)]


def test_status_takes_each_container_from_the_host_that_runs_it() -> None:
    from spbe_share.ops.status import health_of, merge_hosts, rows_for_host
    from spbe_share.records.state import parse_record

    t = dinas()
    record = {"format": 1, "app": "ppdb", "version": "1.0.0", "target": t.name, "pemda": "Kota Sorong",
              "kode_wilayah": "96.71", "bundle_digest": "sha256:" + "a" * 64, "signer": "k", "who": "op",
              "when": "2026-12-07T06:00:00Z", "containers": [f"spbe-{t.name}-ppdb-db", f"spbe-{t.name}-ppdb-web"]}
    running = {"Running": True, "Status": "running"}
    first = {"records": [record], "containers": [[f"spbe-{t.name}-ppdb-db", {}], [f"spbe-{t.name}-ppdb-web", running]]}
    db_host = {"parts": [{"app": "ppdb", "target": t.name, "containers": [f"spbe-{t.name}-ppdb-db"]}],
               "containers": [[f"spbe-{t.name}-ppdb-db", running]]}
    # the web host's engine has no database container: on its own, the app looks broken
    assert rows_for_host(t, first)[0].health == "missing" or rows_for_host(t, first)[0].health == "stopped"
    merged = merge_hosts(t, first, [db_host])
    assert [r.health for r in rows_for_host(t, merged)] == ["healthy"]
    # another target's part (or a container its part does not name) changes nothing
    stranger = {"parts": [{"app": "ppdb", "target": "elsewhere", "containers": [f"spbe-{t.name}-ppdb-db"]}],
                "containers": [[f"spbe-{t.name}-ppdb-db", running]]}
    rec = parse_record(record)
    assert rec is not None
    assert health_of(rec, dict(merge_hosts(t, first, [stranger])["containers"]), {})[0] != "healthy"


def test_a_host_keeps_its_own_root(tmp_path: Path) -> None:
    from spbe_share.targets.inventory import load_targets, save_targets
    from spbe_share.workspace import Workspace

    ws = Workspace.from_options(tmp_path / "ws")
    ws.ensure()
    t = dinas()
    db = t.extra_hosts[0].model_copy(update={"root": "/srv/spbe"})
    t = t.model_copy(update={"extra_hosts": (db, t.extra_hosts[1])})
    save_targets(ws, [t])
    members = yaml.safe_load(ws.inventory_file.read_text())["all"]["children"]["spbe_hosts"]["hosts"]
    assert members["dinas-pendidikan-sorong--database"]["spbe_root"] == "/srv/spbe"
    assert members["dinas-pendidikan-sorong--backup"]["spbe_root"] == "/srv/cadangan"  # dinas()'s own
    loaded = load_targets(ws)["dinas-pendidikan-sorong"]
    assert {h.name: h.root for h in loaded.hosts()} == {
        "dinas-pendidikan-sorong": t.root, "dinas-pendidikan-sorong--backup": "/srv/cadangan",
        "dinas-pendidikan-sorong--database": "/srv/spbe"}


def test_domain_puts_the_proxy_on_the_web_host_and_its_ports_on_loopback() -> None:
    """--domain across hosts (issue 19 item 4): the web host's app ports on loopback (its public
    address is the proxy's 443 and 80), the database still on its host's private address."""
    entry, target = ppdb(), dinas()
    parts = placement(entry, target)
    assert parts is not None
    fronted = behind_proxy(entry, parts, target=target.name)
    assert [(p.host.name, p.host.bind_address, p.names, p.lock_host) for p in fronted] == [
        ("dinas-pendidikan-sorong", "127.0.0.1", ("web",), True),
        ("dinas-pendidikan-sorong--database", "10.1.2.4", ("db",), False),
    ]
    specs = {c["component"]: c for p in fronted
             for c in container_specs(host_entry(entry, p), version="1.0.0", target=target.name, root=p.host.root,
                                      bind_address=p.host.bind_address, images={"web": "sha256:w", "db": "sha256:d"})}
    assert specs["web"]["ports"] == ["127.0.0.1:8082:8080/tcp"]  # never the public 10.1.2.3
    assert specs["db"]["ports"] == ["10.1.2.4:5432:5432/tcp"] and specs["web"]["env"] == {"DB_HOST": "10.1.2.4"}
    assert [(h.component, h.url) for h in part_health(entry, fronted, target=target.name)] == [
        ("web", "http://127.0.0.1:8082/healthz"), ("db", None)]
    # preflight: 443 and 80 must be free on the web host (the proxy's), not on the database host
    assert host_ports(entry, ("web",), proxy=True) == [80, 443, 8082]
    assert host_ports(entry, ("database",), proxy=True) == [5432]


def test_domain_refused_when_the_web_host_is_not_the_first() -> None:
    entry = ppdb()
    first_db = dinas(roles=("database",), extra_hosts=(
        TargetHost(name="dinas-pendidikan-sorong--web", host="10.1.2.3", user="spbe", key=Path("/keys/id"),
                   bind_address="10.1.2.3", roles=("web",)),))  # fmt: skip
    parts = placement(entry, first_db)
    assert parts is not None
    with pytest.raises(InvalidInput, match=r"runs on dinas-pendidikan-sorong--web, not on the first host"):
        behind_proxy(entry, parts, target=first_db.name)


def test_the_host_of_the_data_makes_the_backups() -> None:
    """Backups of an app across hosts are made where its data is (the database host); an app
    whose data is on two hosts is refused by what backs up, before anything changes."""
    from spbe_share.ops.backups import SpreadBackup
    from spbe_share.ops.checks import data_parts, spread_data_host

    entry, target = ppdb(), dinas()
    parts = placement(entry, target)
    assert parts is not None
    db = "dinas-pendidikan-sorong--database"
    assert [p.host.name for p in data_parts(entry, parts)] == [db]
    host = spread_data_host(target, entry, parts, what="backup")
    assert host.name == db and host.bind_address == "10.1.2.4"
    spread = SpreadBackup(target=target, host=host, entry=host_entry(entry, parts[1]))
    assert [h.name for h in spread.hosts] == ["dinas-pendidikan-sorong", db]  # the lock's host, the data's
    assert spread.host_vars == {"dinas-pendidikan-sorong": {"spbe_root": target.root, "spbe_backup_here": False},
                                db: {"spbe_root": target.root, "spbe_backup_here": True}}
    assert spread.play_vars({"spbe_root": "/x", "spbe_app": "ppdb"}) == {
        "spbe_app": "ppdb", "spbe_play_hosts": ["dinas-pendidikan-sorong", db]}  # host vars win only if not extra

    # the web keeps uploads of its own: data on both hosts
    data = yaml.safe_load((REPO / "catalog" / "ppdb" / "spbe-app.yaml").read_text())
    web = next(c for c in data["components"] if c["name"] == "web")
    web["volumes"] = [{"name": "uploads", "path": "/srv/uploads"}]
    data["backup"]["volumes"] = ["pgdata", "uploads"]
    two = Entry.model_validate(data)
    both = placement(two, target)
    assert both is not None and len(data_parts(two, both)) == 2
    with pytest.raises(InvalidInput, match="its data is on several hosts .*dinas-pendidikan-sorong, "):
        spread_data_host(target, two, both, what="backup")
    assert spread_data_host(target, two, both, what=None).name == "dinas-pendidikan-sorong"  # listing: the first
