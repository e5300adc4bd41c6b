"""Unit tests of spbe_share.deploy: pure builders, compared by equality."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from spbe_share.catalog.models import Entry, Requirements
from spbe_share.errors import InvalidInput, ValidationFailed
from spbe_share.ops.install import phase_seconds
from spbe_share.ops.preflight import Check, DiskFacts, TargetFacts, evaluate, required_ports
from spbe_share.ops.status import health_of
from spbe_share.plans.containers import app_urls, container_specs, health_specs, start_order
from spbe_share.plans.imageuser import resolve_user
from spbe_share.plans.render import render_configs
from spbe_share.plans.values import parse_set, resolve_values, secret_specs
from spbe_share.records import state
from spbe_share.remote.runner import RunResult, TaskTiming, run_dir_name
from spbe_share.remote.varsfile import UNSAFE, dump_vars, load_vars


def make_entry(**over: Any) -> Entry:
    doc: dict[str, Any] = {
        "id": "demo",
        "name": "Demo",
        "summary": {"id": "Demo", "en": "Demo"},
        "description": {"id": "Demo", "en": "Demo"},
        "source_url": "https://example.go.id/demo",
        "donor": {
            "pemda": "Kota Contoh",
            "kode_wilayah": "96.71",
            "unit": "Diskominfo",
            "contacts": [{"name": "Admin"}],
        },
        "license": "EUPL-1.2",
        "classification": {"jenis": "umum", "layanan": "publik", "domain": "Persuratan"},
        "sharing": {"mou_required": True, "scope": ["install"], "support_months": 12},
        "requirements": {
            "cpu_cores": 2,
            "memory_mb": 1024,
            "disk_gb": 10,
            "os": [{"name": "debian", "versions": ["12"]}, {"name": "ubuntu", "versions": ["22.04"]}],
            "ports": [9000],
            "concurrent_users": 10,
        },
        "secrets": [{"name": "DB_PASSWORD", "length": 24}, {"name": "UNUSED"}],
        "settings": [
            {"name": "pemda_name", "description": "Nama Pemda", "required": True},
            {"name": "color", "description": "Warna", "default": "biru"},
        ],
        "components": [
            {
                "name": "web",
                "image": "spbe-share/demo-web",
                "build": {"context": "shared_apps/demo/web"},
                "ports": [{"container": 8080, "published": 8090}],
                "health": {"type": "http", "port": 8080, "path": "/healthz", "interval_s": 2, "timeout_s": 60},
                "env": {"DB_HOST": "db"},
                "secrets": ["DB_PASSWORD"],
                "config": [{"template": "templates/demo/app.ini.j2", "path": "/etc/demo/app.ini"}],
                "depends_on": ["db"],
            },
            {
                "name": "db",
                "image": "spbe-share/demo-db",
                "build": {"context": "shared_apps/demo/db"},
                "volumes": [{"name": "pgdata", "path": "/var/lib/postgresql"}],
                "health": {"type": "command", "command": ["pg_isready"], "interval_s": 3, "timeout_s": 30},
                "secrets": ["DB_PASSWORD"],
            },
        ],
        "releases": [{"version": "1.0.0", "date": "2026-11-01"}, {"version": "1.1.0", "date": "2026-11-20"}],
        "docs": {
            "install": "docs/install.md",
            "user_manual": "docs/manual.md",
            "sop": {
                "hak_akses": "a.md",
                "backup": "b.md",
                "eskalasi": "c.md",
                "manajemen_perubahan": "d.md",
                "risiko_keamanan": "e.md",
            },
        },
        "manifests": {"compose": "compose.yaml"},
    }
    doc.update(over)
    return Entry.model_validate(doc)


# ------------------------------------------------------------------ values


def test_parse_set_splits_on_first_equals() -> None:
    assert parse_set(["a=1", "b=x=y", "c="]) == [("a", "1"), ("b", "x=y"), ("c", "")]


def test_parse_set_rejects_missing_equals() -> None:
    with pytest.raises(InvalidInput, match="expected NAME=value"):
        parse_set(["novalue"])


def test_values_precedence_default_file_set(tmp_path: Path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("pemda_name: Kota Sorong\ncolor: merah\n")
    got = resolve_values(make_entry(), sets=["color=hijau"], values_file=f)
    assert got.as_dict() == {"pemda_name": "Kota Sorong", "color": "hijau"}
    assert [v.source for v in got.values] == ["file", "set"]


def test_unknown_setting_is_named_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("pemda_name: X\n\nwarna: merah\n")
    with pytest.raises(ValidationFailed) as err:
        resolve_values(make_entry(), sets=["bogus=1"], values_file=f)
    assert err.value.problems == [
        f"{f}:3: warna: unknown setting of demo (known: color, pemda_name)",
        "--set bogus: unknown setting of demo (known: color, pemda_name)",
    ]


def test_missing_required_setting() -> None:
    with pytest.raises(ValidationFailed) as err:
        resolve_values(make_entry())
    assert err.value.problems == ["setting pemda_name is required (Nama Pemda): pass --set pemda_name=..."]


def test_secret_specs_only_used_secrets() -> None:
    assert [(s.name, s.length) for s in secret_specs(make_entry())] == [("DB_PASSWORD", 24)]


# ------------------------------------------------------------------ preflight


def facts(**over: Any) -> TargetFacts:
    base: dict[str, Any] = {
        "cpu_cores": 4,
        "memory_mb": 8000,
        "os_family": "debian",
        "os_version": "12.11",
        "os_major": "12",
        "disk": DiskFacts(path="/var/lib", root_exists=False, free_mb=50 * 1024),
        "ports": {"8090": "free", "9000": "free"},
        "bind_address": "127.0.0.2",
        "docker_rc": 0,
        "docker_version": json.dumps({"Client": {}, "Server": {"Version": "20.10.24"}}),
        "own_ports": [],
        "python": {"executable": "/usr/bin/python3", "version": "3.11.2",
                   "modules": {"docker": "5.0.3", "requests": "2.28.1"}},
        "zstd": "/usr/bin/zstd",
        "root_writable": True,
    }
    base.update(over)
    return TargetFacts(**base)


def test_required_ports_include_published() -> None:
    assert required_ports(make_entry()) == [8090, 9000]


def test_evaluate_all_ok() -> None:
    req = make_entry().requirements
    assert evaluate(req, facts(), ports=[8090, 9000]) == [
        Check("cpu cores", ">= 2", "4", True),
        Check("memory", ">= 1024 MB", "8000 MB", True),
        Check("free disk", ">= 10 GB on /var/lib", "50.0 GB", True),
        Check("operating system", "debian 12 or ubuntu 22.04", "debian 12.11", True),
        Check("docker engine", "running", "engine 20.10.24", True),
        Check("bind address", "an IP address of the target", "127.0.0.2", True),
        Check("python libraries", "docker, requests importable by /usr/bin/python3", "docker 5.0.3, requests 2.28.1",
              True),
        Check("zstd", "zstd on the PATH", "/usr/bin/zstd", True),
        Check("spbe-share root", "creatable under /var/lib", "writable", True),
        Check("port 8090", "free on 127.0.0.2", "free", True),
        Check("port 9000", "free on 127.0.0.2", "free", True),
    ]


def test_evaluate_a_bare_server_names_the_fix() -> None:
    """What a fresh Debian 12 reports: no engine, none of the libraries, no zstd."""
    req = make_entry().requirements
    bare = facts(docker_rc=-1, docker_version="", python={"executable": "/usr/bin/python3", "version": "3.11.2",
                                                          "modules": {"docker": None, "requests": None}},
                 zstd="", root_writable=True)
    got = {c.check: c for c in evaluate(req, bare, ports=[8090, 9000], fix="spbe-share target provision kab")}
    assert got["docker engine"] == Check("docker engine", "running", "docker not found", False,
                                         "spbe-share target provision kab")
    assert got["python libraries"] == Check(
        "python libraries", "docker, requests importable by /usr/bin/python3", "docker missing, requests missing",
        False, "spbe-share target provision kab")
    assert got["zstd"].found == "missing" and not got["zstd"].ok and got["zstd"].fix
    assert got["spbe-share root"].ok and got["spbe-share root"].fix == ""
    assert got["cpu cores"].fix == ""  # provisioning does not add cores
    # only requests missing (the failure adopters met half way through install)
    half = facts(python={"executable": "/usr/bin/python3", "modules": {"docker": "5.0.3", "requests": None}})
    check = next(c for c in evaluate(req, half, ports=[]) if c.check == "python libraries")
    assert (check.found, check.ok) == ("docker 5.0.3, requests missing", False)
    # a kernel enforcing AppArmor needs the parser (dockerd loads its profile with it)
    enforcing = facts(apparmor={"kernel": True, "parser": None})
    check = next(c for c in evaluate(req, enforcing, ports=[], fix="f") if c.check == "apparmor")
    assert (check.found, check.ok, check.fix) == ("missing", False, "f")
    fine = facts(apparmor={"kernel": True, "parser": "/usr/sbin/apparmor_parser"})
    assert next(c for c in evaluate(req, fine, ports=[]) if c.check == "apparmor").ok
    # an older playbook that reports nothing about the libraries does not pass
    assert not next(c for c in evaluate(req, facts(python=None), ports=[]) if c.check == "python libraries").ok


def test_require_ok_names_the_fix_once() -> None:
    from spbe_share.errors import PreflightFailed
    from spbe_share.ops.preflight import PreflightReport, require_ok

    fix = "spbe-share target provision kab"
    checks = [Check("docker engine", "running", "docker not found", False, fix),
              Check("zstd", "zstd on the PATH", "missing", False, fix), Check("memory", ">= 1", "0", False)]
    with pytest.raises(PreflightFailed) as exc:
        require_ok(PreflightReport(target="kab", app="demo", checks=checks, run_dir="/r"))
    assert exc.value.details == ["  docker engine: required running, found docker not found",
                                 "  zstd: required zstd on the PATH, found missing",
                                 "  memory: required >= 1, found 0", f"fix: {fix}"]


def test_evaluate_failures() -> None:
    req = Requirements.model_validate(
        {"cpu_cores": 8, "memory_mb": 9000, "disk_gb": 100, "os": [{"name": "ubuntu", "versions": ["24.04"]}],
         "ports": [], "concurrent_users": 1}
    )
    got = evaluate(
        req,
        facts(docker_rc=1, docker_version="", docker_error="Cannot connect to the Docker daemon",
              ports={"8090": "in use"}),
        ports=[8090],
    )
    assert [(c.check, c.ok) for c in got] == [
        ("cpu cores", False),
        ("memory", False),
        ("free disk", False),
        ("operating system", False),
        ("docker engine", False),
        ("bind address", True),
        ("python libraries", True),
        ("zstd", True),
        ("spbe-share root", True),
        ("port 8090", False),
    ]
    assert got[4].found == "Cannot connect to the Docker daemon"


def test_bind_address_must_be_an_ip_address_of_the_target() -> None:
    """A host name passed the port probe (it resolves) and failed only at Start (issue 7 item 9)."""
    req = make_entry().requirements
    by_name = {c.check: c for c in evaluate(req, facts(bind_address="dc1.example.go.id"), ports=[8090])}
    assert not by_name["bind address"].ok and "host name 'dc1.example.go.id'" in by_name["bind address"].found
    # the address the install will use wins over what the probe echoes
    used = {c.check: c for c in evaluate(req, facts(), ports=[8090], bind_address="sorong.local")}
    assert not used["bind address"].ok
    foreign = {c.check: c for c in evaluate(req, facts(ports={"8090": "address not available"}), ports=[8090])}
    assert foreign["bind address"] == Check(
        "bind address", "an IP address of the target", "127.0.0.2 is not an address of the target", False
    )
    v6 = {c.check: c for c in evaluate(req, facts(bind_address="2001:db8::5"), ports=[8090])}
    assert v6["bind address"].ok


def test_ipv6_bind_address_is_bracketed_for_docker() -> None:
    ids = {"db": "sha256:" + "d" * 64, "web": "sha256:" + "e" * 64}
    specs = container_specs(make_entry(), version="1.1.0", target="t", root="/srv", bind_address="2001:db8::5",
                            images=ids)
    assert [p for s in specs for p in s["ports"]] == ["[2001:db8::5]:8090:8080/tcp"]


def test_port_used_by_this_app_is_fine() -> None:
    got = evaluate(make_entry().requirements, facts(ports={"8090": "in use"}, own_ports=[8090]), ports=[8090])
    assert got[-1] == Check("port 8090", "free on 127.0.0.2", "in use by this app", True)


# ------------------------------------------------------------------ install builders


def test_start_order_respects_depends_on() -> None:
    assert [c.name for c in start_order(make_entry().components)] == ["db", "web"]


def test_container_specs() -> None:
    ids = {"db": "sha256:" + "d" * 64, "web": "sha256:" + "e" * 64}
    specs = container_specs(make_entry(), version="1.1.0", target="kota-sorong", root="/srv/dc1/",
                            bind_address="127.0.0.2", images=ids)
    labels = {"id.go.spbe.app": "demo", "id.go.spbe.version": "1.1.0", "id.go.spbe.target": "kota-sorong"}
    assert specs == [
        {
            "name": "spbe-kota-sorong-demo-db",
            "component": "db",
            "image": ids["db"],
            "command": [],
            "env": {},
            "ports": [],
            "mounts": [
                {"type": "bind", "source": "/srv/dc1/apps/demo/secrets/db/DB_PASSWORD",
                 "target": "/run/secrets/DB_PASSWORD", "read_only": True},
                {"type": "volume", "source": "spbe-kota-sorong-demo-pgdata", "target": "/var/lib/postgresql"},
            ],
            "labels": {**labels, "id.go.spbe.component": "db", "id.go.spbe.image": "spbe-share/demo-db:1.1.0"},
        },
        {
            "name": "spbe-kota-sorong-demo-web",
            "component": "web",
            "image": ids["web"],
            "command": [],
            "env": {"DB_HOST": "db"},
            "ports": ["127.0.0.2:8090:8080/tcp"],
            "mounts": [
                {"type": "bind", "source": "/srv/dc1/apps/demo/secrets/web/DB_PASSWORD",
                 "target": "/run/secrets/DB_PASSWORD", "read_only": True},
                {"type": "bind", "source": "/srv/dc1/apps/demo/config/web/0-app.ini",
                 "target": "/etc/demo/app.ini", "read_only": True},
            ],
            "labels": {**labels, "id.go.spbe.component": "web", "id.go.spbe.image": "spbe-share/demo-web:1.1.0"},
        },
    ]


def test_health_specs_and_urls() -> None:
    entry = make_entry()
    got = [h.model_dump() for h in health_specs(entry, target="t", bind_address="127.0.0.3")]
    assert got == [
        {"component": "db", "container": "spbe-t-demo-db", "type": "command", "url": None, "port": None,
         "path": None, "command": ["pg_isready"], "retries": 10, "delay": 3},
        {"component": "web", "container": "spbe-t-demo-web", "type": "http",
         "url": "http://127.0.0.3:8090/healthz", "port": 8080, "path": "/healthz", "command": None,
         "retries": 30, "delay": 2},
    ]
    assert app_urls(entry, bind_address="127.0.0.3") == ["http://127.0.0.3:8090/"]


def test_render_configs_strict(tmp_path: Path) -> None:
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / "templates" / "demo" / "app.ini.j2").write_text("name={{ pemda_name }}\nv={{ spbe_version }}\n")
    entry = make_entry()
    got = render_configs(entry, template_root=tmp_path, variables={"pemda_name": "Kota {{x}}", "spbe_version": "1"})
    assert got == [{"component": "web", "file": "0-app.ini", "content": "name=Kota {{x}}\nv=1\n"}]
    with pytest.raises(InvalidInput, match="'spbe_version' is undefined"):
        render_configs(entry, template_root=tmp_path, variables={"pemda_name": "x"})


def test_resolve_user() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\npostgres:x:101:103::/var/lib/postgresql:/bin/bash\n"
    group = "root:x:0:\npostgres:x:103:\nssl-cert:x:104:postgres\n"
    r = {"passwd": lambda: passwd, "group": lambda: group}
    assert resolve_user("", **r) == (0, 0)
    assert resolve_user("10001:10001", **r) == (10001, 10001)
    assert resolve_user("101", **r) == (101, 103)
    assert resolve_user("postgres", **r) == (101, 103)
    assert resolve_user("postgres:ssl-cert", **r) == (101, 104)
    with pytest.raises(InvalidInput, match="nobody"):
        resolve_user("nobody", **r)


def test_phase_seconds_from_task_names() -> None:
    result = RunResult(status="successful", rc=0, run_dir=Path("/x"), timings=[
        TaskTiming("Ship: copy the blobs the target lacks", (), 3.0, True),
        TaskTiming("Ship: copy the archive tool", (), 0.5, False),
        TaskTiming("Load: load the app images the engine lacks", (), 2.0, True),
        TaskTiming("Gathering Facts", (), 1.0, False),
    ])
    assert phase_seconds(result) == {"Lock": 0.0, "Ship": 3.5, "Load": 2.0, "Configure": 0.0,
                                      "Start": 0.0, "Health": 0.0, "Record": 0.0}


# ------------------------------------------------------------------ runner, vars, state, status


def test_run_dir_name() -> None:
    now = dt.datetime(2026, 11, 22, 10, 15, 0, 123456, tzinfo=dt.UTC)
    assert run_dir_name("install", "kota-sorong", "e-office", now) == "20261122T101500123456-install-kota-sorong-e-office"
    assert run_dir_name("status", "a b", None, now) == "20261122T101500123456-status-a_b"


def test_vars_file_marks_every_string_untrusted() -> None:
    data = {"b": [{"content": "x {{ y }}\nz"}], "a": 1, "c": True, "k": "00", "f": "96.71", "n": None,
            "t": ("x",), "plain": "Kota Sorong"}
    text = dump_vars(data)
    assert json.loads(text) == {
        "a": 1, "b": [{"content": {UNSAFE: "x {{ y }}\nz"}}], "c": True, "k": {UNSAFE: "00"},
        "f": {UNSAFE: "96.71"}, "n": None, "t": [{UNSAFE: "x"}], "plain": {UNSAFE: "Kota Sorong"}}
    assert load_vars(text) == {**data, "t": ["x"]}
    with pytest.raises(TypeError, match="Path"):
        dump_vars({"p": Path("/x")})


def test_names() -> None:
    assert state.container_name("kota-sorong", "e-office", "web") == "spbe-kota-sorong-e-office-web"
    assert state.network_name("kota-sorong", "e-office") == "spbe-kota-sorong-e-office"
    assert state.lock_path("/srv/dc1/", "e-office") == "/srv/dc1/locks/e-office.lock"
    assert state.stamp(dt.datetime(2026, 11, 22, 1, 2, 3, tzinfo=dt.UTC)) == "20261122T010203Z"


def _record(**over: Any) -> state.ReleaseRecord:
    base: dict[str, Any] = {
        "app": "demo", "version": "1.1.0", "target": "t", "pemda": "P", "kode_wilayah": "96.71",
        "bundle_digest": "sha256:" + "0" * 64, "signer": "0123456789abcdef", "who": "op", "when": "2026-11-22T00:00:00Z",
        "containers": ["c1", "c2"],
        "health": [{"component": "web", "container": "c2", "type": "http", "url": "http://h:1/healthz"}],
    }
    base.update(over)
    return state.ReleaseRecord.model_validate(base)


def test_health_of() -> None:
    rec = _record()
    running = {"Running": True, "Status": "running"}
    assert health_of(rec, {"c1": running, "c2": running}, {"http://h:1/healthz": 200}) == ("healthy", "")
    assert health_of(rec, {"c1": running, "c2": running}, {"http://h:1/healthz": 500}) == (
        "unhealthy", "http://h:1/healthz -> 500")
    assert health_of(rec, {"c1": running}, {})[0] == "stopped"
    assert health_of(rec, {}, {"http://h:1/healthz": 200})[0] == "missing"


def test_release_record_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError):
        _record(password="x")


def test_event_collector_turns_runner_events_into_a_result() -> None:
    from spbe_share.remote.runner import ProgressEvent, _EventCollector

    seen: list[ProgressEvent] = []
    c = _EventCollector(seen.append)
    events: list[dict[str, Any]] = [
        {"event": "playbook_on_task_start", "event_data": {"task": "Ship: copy", "task_uuid": "1"}},
        {"event": "runner_on_ok", "event_data": {"task": "Ship: copy", "task_uuid": "1", "host": "dc1",
                                                 "res": {"changed": True}}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Publish", "task_uuid": "2"}},
        {"event": "runner_on_ok", "event_data": {"task": "Publish", "task_uuid": "2", "host": "dc1",
                                                 "res": {"ansible_stats": {"data": {"spbe_x": {"a": 1}}}}}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Lock: take", "task_uuid": "3"}},
        {"event": "runner_on_failed", "event_data": {"task": "Lock: take", "task_uuid": "3", "host": "dc1",
                                                     "res": {"msg": "locked by budi", "spbe_locked": True}}},
        {"event": "playbook_on_stats", "event_data": {"ok": {"dc1": 2}, "changed": {"dc1": 1},
                                                      "failures": {"dc1": 1}}},
    ]
    for e in events:
        c(e)
    assert c.stats == {"dc1": {"spbe_x": {"a": 1}}}
    assert (c.failed_task, c.failed_host, c.failed_message) == ("Lock: take", "dc1", "locked by budi")
    assert c.failed_result["spbe_locked"] is True
    assert c.changed_tasks == ["Ship: copy"]
    assert (c.result_hosts["dc1"].ok, c.result_hosts["dc1"].changed, c.result_hosts["dc1"].failed) == (2, 1, 1)
    assert [(e.kind, e.task, e.outcome) for e in seen] == [
        ("task", "Ship: copy", None), ("result", "Ship: copy", "changed"),
        ("task", "Publish", None), ("result", "Publish", "ok"),
        ("task", "Lock: take", None), ("result", "Lock: take", "failed"),
    ]


def test_host_key_failure_is_recognised() -> None:
    r = RunResult(status="failed", rc=4, run_dir=Path("/x"),
                  unreachable_message="Failed to connect: Host key verification failed.")
    assert r.host_key_failed
    assert not RunResult(status="failed", rc=4, run_dir=Path("/x"), unreachable_message="timed out").host_key_failed
