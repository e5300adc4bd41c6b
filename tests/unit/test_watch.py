"""``spbe-share watch`` without targets (issue 20 item 5): the target-side check's thresholds and
alert dedupe (playbooks/module_utils/spbe_watch.py), one real run on a folder with a real SMTP
server and HTTP receiver, the record read back as untrusted (spbe_share.records.watch), the
settings file, the schedule files, and what status, fleet status and the site show."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))
sys.path.insert(0, str(REPO / "playbooks" / "library"))
sys.path.insert(0, str(REPO / "tests"))
import spbe_watch  # noqa: E402
from alertsinks import http_receiver, smtp_server  # noqa: E402

from spbe_share.errors import InvalidInput, ValidationFailed  # noqa: E402
from spbe_share.plans.watch import WatchSettings, check_config, schedule_files, watch_vars  # noqa: E402
from spbe_share.records.watch import view_of  # noqa: E402

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
T = dict(spbe_watch.DEFAULTS)


def rec(**over: Any) -> dict[str, Any]:
    """A record as the check writes it: one healthy app, backed up an hour ago, disk 40%."""
    r: dict[str, Any] = {
        "format": 1, "kind": "spbe-share-watch", "target": "sorong", "checked_at": "2026-12-01T08:00:00Z",
        "every_minutes": 15, "thresholds": T, "disk": {"path": "/srv/spbe", "total": 100, "free": 60,
                                                        "used_percent": 40.0},
        "apps": [{"app": "e-office", "version": "1.1.0", "health": "healthy", "detail": "",
                  "restarts": {"spbe-sorong-e-office-web": 0}, "restarts_since_last_check": 0,
                  "last_verified_backup": "2026-12-01T07:00:00Z", "certificate": None}],
        "warnings": [], "alerts": {"channels": [], "sent": [], "errors": []},
    }  # fmt: skip
    r.update(over)
    return r


def keys(record: dict[str, Any], thresholds: dict[str, Any] = T) -> list[str]:
    return [c["key"] for c in spbe_watch.conditions(record, thresholds, NOW)]


# ---------------------------------------------------------------- thresholds (target side, pure)


def test_thresholds() -> None:
    assert keys(rec()) == []
    assert keys(rec(disk={"path": "/", "used_percent": 85.0})) == ["disk"]  # at the threshold
    assert keys(rec(disk={"path": "/", "used_percent": 84.9})) == []
    assert keys(rec(disk={"path": "/", "used_percent": 50.0}), {**T, "disk_percent": 10}) == ["disk"]
    app = rec()["apps"][0]
    old = {**app, "last_verified_backup": "2026-11-30T05:59:00Z"}  # 26 h 1 min
    assert keys(rec(apps=[old])) == ["backup:e-office"]
    assert keys(rec(apps=[{**app, "last_verified_backup": "2026-11-30T06:01:00Z"}])) == []
    assert keys(rec(apps=[{**app, "last_verified_backup": None}])) == ["backup:e-office"]  # none at all
    assert keys(rec(apps=[{**app, "health": "unhealthy", "detail": "x exited"}])) == ["health:e-office"]
    assert keys(rec(apps=[{**app, "health": "busy"}])) == []  # an operation holds the lock
    assert keys(rec(apps=[{**app, "restarts_since_last_check": 3}])) == ["restarts:e-office"]
    assert keys(rec(apps=[{**app, "restarts_since_last_check": 2}])) == []
    soon = {**app, "certificate": {"path": "/c.pem", "not_after": "2026-12-20T00:00:00Z"}}
    later = {**app, "certificate": {"path": "/c.pem", "not_after": "2027-02-01T00:00:00Z"}}
    bad = {**app, "certificate": {"path": "/c.pem", "error": "no certificate file"}}
    assert keys(rec(apps=[soon])) == ["certificate:e-office"] and keys(rec(apps=[later])) == []
    assert keys(rec(apps=[bad])) == ["certificate:e-office"]


def test_certificate_reader(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "e-office.pemda.go.id")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2026, 12, 20, 12, 0, tzinfo=dt.UTC)).sign(key, hashes.SHA256()))  # fmt: skip
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert spbe_watch.certificate_expiry(str(path)) == {"path": str(path), "not_after": "2026-12-20T12:00:00Z"}
    (tmp_path / "junk.pem").write_text("not a certificate")
    assert "unreadable" in spbe_watch.certificate_expiry(str(tmp_path / "junk.pem"))["error"]
    assert spbe_watch.certificate_expiry(str(tmp_path / "none.pem"))["error"] == "no certificate file"


def test_the_tls_proxys_certificate_is_watched_without_naming_its_file(tmp_path: Path) -> None:
    """An app installed with --domain: its proxy's certificate (proxy/tls.json) is watched by
    itself; a file that watch.yml names for the app wins; a record that does not parse is said."""
    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    rec = {"app": "e-office", "version": "1.1.0", "containers": [], "health": []}
    tls = {"domain": "e-office.pemda.go.id", "not_after": "2026-12-20T12:00:00+00:00", "sha256": "ab" * 32}
    status = {"records": [rec], "containers": [], "http": [], "tls": [["e-office", tls]]}
    [row] = spbe_watch.read_apps(str(tmp_path), status, {}, {}, now)
    assert row["certificate"] == {"path": "apps/e-office/proxy/tls.json", "not_after": "2026-12-20T12:00:00Z"}
    [named] = spbe_watch.read_apps(str(tmp_path), status, {}, {"e-office": str(tmp_path / "none.pem")}, now)
    assert named["certificate"]["error"] == "no certificate file"
    bad = {**status, "tls": [["e-office", {"not_after": "soon"}]]}
    assert spbe_watch.read_apps(str(tmp_path), bad, {}, {}, now)[0]["certificate"]["error"] == \
        "unreadable certificate record"


# ---------------------------------------------------------------- one alert per condition


def test_dedupe() -> None:
    disk = {"key": "disk", "app": None, "message": "disk 90%"}
    backup = {"key": "backup:e-office", "app": "e-office", "message": "old"}
    state, send = spbe_watch.due({}, [disk], ["email", "webhook"])
    assert [(ch, c["key"]) for ch, c in send] == [("email", "disk"), ("webhook", "disk")]
    state["disk"]["sent"] = {"email": "t", "webhook": "t"}
    state, send = spbe_watch.due(state, [disk, backup], ["email", "webhook"])
    assert [(ch, c["key"]) for ch, c in send] == [("email", "backup:e-office"), ("webhook", "backup:e-office")]
    state["backup:e-office"]["sent"] = {"email": "t"}  # the webhook failed: tried again next run
    state, send = spbe_watch.due(state, [disk, backup], ["email", "webhook"])
    assert [(ch, c["key"]) for ch, c in send] == [("webhook", "backup:e-office")]
    state, send = spbe_watch.due(state, [backup], ["email", "webhook"])  # the disk cleared: forgotten
    assert "disk" not in state
    state, send = spbe_watch.due(state, [disk, backup], ["email", "webhook"])  # ... and is new again
    assert ("email", disk) in send


def _app_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "apps" / "e-office").mkdir(parents=True)
    (root / "apps" / "e-office" / "current.json").write_text(json.dumps(
        {"app": "e-office", "version": "1.1.0", "target": "sorong", "containers": [], "health": []}))
    return root


def test_one_run_sends_each_new_condition_once(tmp_path: Path) -> None:
    """Real parts: the check reads a root (no containers: no engine needed), writes its record,
    and sends through a real SMTP server and a real HTTP receiver; the second run sends nothing."""
    root = _app_root(tmp_path)
    with smtp_server() as (port, mails), http_receiver() as (url, hooks):
        config = spbe_watch.check_config({
            "format": 1, "kind": "spbe-share-watch", "target": "sorong", "root": str(root), "every_minutes": 15,
            "thresholds": {"disk_percent": 0}, "certificates": {},
            "email": {"host": "127.0.0.1", "port": port, "sender": "watch@pemda.go.id", "to": ["tik@pemda.go.id"]},
            "webhook": {"url": url},
        })  # fmt: skip
        first = spbe_watch.run(config)
        second = spbe_watch.run(config)
    assert sorted(w["key"] for w in first["warnings"]) == ["backup:e-office", "disk"]
    assert sorted(first["alerts"]["sent"]) == ["email: backup:e-office", "email: disk", "webhook: backup:e-office",
                                               "webhook: disk"]  # fmt: skip
    assert second["alerts"]["sent"] == [] and len(second["warnings"]) == 2
    assert len(mails) == 2 and len(hooks) == 2
    assert any("[spbe-share] sorong: disk of" in str(m["Subject"]) for m in mails)
    assert {h["key"] for h in hooks} == {"disk", "backup:e-office"} and hooks[0]["target"] == "sorong"
    on_disk = json.loads((root / "watch" / "last.json").read_text())
    assert view_of(on_disk, target="sorong", now=dt.datetime.now(dt.UTC)).record is not None
    assert (root / "watch" / "alerts.json").stat().st_mode & 0o777 == 0o600


def test_unreachable_relay_is_recorded_and_retried(tmp_path: Path) -> None:
    from alertsinks import free_port

    root = _app_root(tmp_path)
    config = spbe_watch.check_config({
        "format": 1, "kind": "spbe-share-watch", "target": "sorong", "root": str(root),
        "thresholds": {"disk_percent": 0, "backup_hours": 1e9},
        "email": {"host": "127.0.0.1", "port": free_port(), "sender": "w@p.go.id", "to": ["t@p.go.id"], "timeout": 2},
    })  # fmt: skip
    r = spbe_watch.run(config)
    assert r["alerts"]["sent"] == [] and r["alerts"]["errors"][0].startswith("email: disk: ")
    state = json.loads((root / "watch" / "alerts.json").read_text())["active"]
    assert state["disk"]["sent"] == {}  # not marked: the next run tries again


def test_bad_config() -> None:
    with pytest.raises(spbe_watch.ConfigError, match="not a spbe-share-watch config"):
        spbe_watch.check_config({"format": 2})
    with pytest.raises(spbe_watch.ConfigError, match="thresholds.disk_percent"):
        spbe_watch.check_config({"format": 1, "kind": "spbe-share-watch", "target": "t", "root": "/r",
                                 "thresholds": {"disk_percent": "x"}})  # fmt: skip


# ---------------------------------------------------------------- the record, read back (controller)


def test_record_validation_and_staleness() -> None:
    ok = view_of(rec(), target="sorong", now=NOW + dt.timedelta(minutes=5))
    assert ok.age_minutes == 5 and ok.warnings == [] and ok.disk_used_percent == 40.0
    stale = view_of(rec(), target="sorong", now=NOW + dt.timedelta(minutes=31))  # > 2 intervals
    assert [w.key for w in stale.warnings] == ["stale"] and "has not run for 31 min" in stale.warnings[0].message
    assert view_of(rec(), target="sorong", now=NOW + dt.timedelta(minutes=30)).warnings == []
    warned = rec(warnings=[{"key": "disk", "app": None, "message": "disk 91%", "since": "2026-12-01T07:00:00Z"},
                           {"key": "backup:e-office", "app": "e-office", "message": "old", "since": None}])
    v = view_of(warned, target="sorong", now=NOW)
    assert [w.key for w in v.for_app("e-office")] == ["disk", "backup:e-office"]
    assert [w.key for w in v.for_app("pengaduan")] == ["disk"]
    for bad, where in [(rec(target="other"), "names target 'other'"), (rec(format=2), "format"),
                       (rec(warnings=[{"key": "disk", "message": "x" * 301}]), "warnings.0.message"),
                       (rec(warnings=[{"key": "../x", "message": "x"}]), "warnings.0.key"),
                       (rec(surprise=1), "surprise"), ("not a record", "invalid watch record")]:  # fmt: skip
        v = view_of(bad, target="sorong", now=NOW)
        assert [w.key for w in v.warnings] == ["invalid"] and where in v.warnings[0].message, (bad, v)
        assert v.checked_at is None


def test_status_and_fleet_rows_show_the_watch() -> None:
    from test_fleet_status import ENTRIES, T1, record

    from spbe_share.fleet.reads import parse_read
    from spbe_share.fleet.status import CSV_COLUMNS, build_rows, csv_rows
    from spbe_share.ops.status import rows_for_host

    warned = rec(warnings=[{"key": "disk", "message": "disk of /srv/spbe 91% used (threshold 85%)"}])
    probe = {"records": [record()], "containers": [["spbe-sorong-e-office-web", {"Running": True}]],
             "http": [["http://10.0.0.1:8080/healthz", 200]], "watch": warned}  # fmt: skip
    later = NOW + dt.timedelta(minutes=10)
    rows = build_rows({"sorong": parse_read(T1, probe)}, entries=ENTRIES, agreements=[], today=later.date(), now=later)
    w = rows.rows[0].watch
    assert w is not None and w.age_minutes == 10 and w.warnings == ["disk of /srv/spbe 91% used (threshold 85%)"]
    csv = dict(zip(CSV_COLUMNS, csv_rows(rows)[0], strict=True))
    assert csv["watch_warnings"] == "disk of /srv/spbe 91% used (threshold 85%)"
    assert csv["watch_checked_at"] == "2026-12-01T08:00:00Z".replace("Z", "+00:00")
    (row,) = rows_for_host(T1, probe, now=later)
    assert row.watch == "WARNING: 1 (10 min ago); disk 40%, backup 1 h old" and row.warnings == w.warnings
    assert (w.disk_used_percent, w.backup_age_hours, w.restarts) == (40.0, 1.0, 0)
    no_watch = build_rows({"sorong": parse_read(T1, {**probe, "watch": None})}, entries=ENTRIES, agreements=[],
                          today=later.date(), now=later)  # fmt: skip
    assert no_watch.rows[0].watch is None and rows_for_host(T1, {**probe, "watch": None})[0].watch == "-"


# ---------------------------------------------------------------- settings and schedule (controller)


def test_settings_merge_and_config(tmp_path: Path) -> None:
    s = WatchSettings.model_validate({
        "defaults": {"thresholds": {"disk_percent": 80}, "webhook": {"url": "http://10.0.0.5/h"},
                     "email": {"host": "smtp.pemda.go.id", "sender": "w@pemda.go.id", "to": ["tik@pemda.go.id"]}},
        "targets": {"sorong": {"thresholds": {"backup_hours": 50}, "every_minutes": 5,
                               "certificates": {"e-office": "/etc/ssl/e.crt"}}},
    })  # fmt: skip
    r = s.resolved("sorong")
    assert (r.every_minutes, r.thresholds.disk_percent, r.thresholds.backup_hours) == (5, 80, 50)
    assert r.email is not None and r.email.port == 25 and r.webhook is not None
    other = s.resolved("buleleng")
    assert (other.every_minutes, other.thresholds.backup_hours, other.certificates) == (15, 26, {})
    config = check_config(r, target="sorong", root="/srv/spbe/")
    assert spbe_watch.check_config(json.loads(json.dumps(config)))["thresholds"]["disk_percent"] == 80
    (cron,) = schedule_files(kind="cron", target="sorong", root="/srv/spbe", every_minutes=5)
    assert cron.path == "/etc/cron.d/spbe-share-watch-sorong"
    assert ("*/5 * * * * root /usr/bin/python3 /srv/spbe/lib/spbe_watch.py --config /srv/spbe/watch/watch.json "
            ">> /srv/spbe/watch/watch.log 2>&1") in cron.content
    service, timer = schedule_files(kind="systemd", target="sorong", root="/srv/spbe", every_minutes=90)
    assert "OnUnitActiveSec=90min" in timer.content and "ExecStart=/usr/bin/python3" in service.content
    off = watch_vars(mode="off", target="sorong", root="/srv/spbe")
    assert off["spbe_schedule_files"] == [] and "/etc/cron.d/spbe-share-watch-sorong" in off["spbe_schedule_paths"]
    run = watch_vars(mode="run", target="sorong", root="/srv/spbe")  # touches no schedule file
    assert run["spbe_schedule_files"] == [] and run["spbe_schedule_paths"] == []
    assert run["spbe_watch_argv"][1:] == ["/srv/spbe/lib/spbe_watch.py", "--config", "/srv/spbe/watch/watch.json"]
    with pytest.raises(InvalidInput, match="not a slug"):
        watch_vars(mode="run", target="../x", root="/srv")


def test_bad_settings_file_names_file_line_field(tmp_path: Path) -> None:
    from spbe_share.ops.watch import load_settings
    from spbe_share.workspace import Workspace

    ws = Workspace.from_options(tmp_path / "ws")
    assert load_settings(ws) == WatchSettings()  # no file: defaults, no alert channel
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "watch.yml").write_text(
        "defaults:\n  email:\n    host: smtp.pemda.go.id\n    sender: w@pemda.go.id\n    to: [nobody]\n"
        "targets:\n  sorong:\n    thresholds: {disk_percen: 90}\n    pager: yes\n")
    with pytest.raises(ValidationFailed) as exc:
        load_settings(ws)
    text = "\n".join(exc.value.details or [exc.value.message])
    assert "watch.yml:5: defaults.email.to" in text and "not an email address" in text
    assert "watch.yml:8: targets.sorong.thresholds" in text and "watch.yml:9: targets.sorong.pager: unknown key" in text


def test_fleet_page_shows_the_warnings(tmp_path: Path) -> None:
    from test_site_build import build

    from spbe_share.fleet.models import load_fleet_status

    fixture = json.loads((REPO / "tests" / "fixtures" / "fleet-status.json").read_text())
    fixture["rows"][0]["watch"] = {"checked_at": "2026-12-01T07:50:00Z", "age_minutes": 10,
                                   "warnings": ["disk of /srv/spbe 91% used (threshold 85%)", "<b>x</b>"],
                                   "disk_used_percent": 91.0, "backup_age_hours": 30.2,
                                   "certificate_not_after": "2027-01-31T00:00:00Z"}
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(fixture))
    out = build(REPO, tmp_path / "site", fleet=load_fleet_status(path))
    html = (out / "armada.html").read_text()
    assert "2 peringatan" in html and "disk of /srv/spbe 91% used (threshold 85%)" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "10 menit sebelum laporan ini" in html and "disk terpakai 91.0%" in html
    assert "cadangan terverifikasi terbaru: 30 jam" in html and "sertifikat berlaku sampai 2027-01-31" in html
    assert "2 warning(s)" in (out / "en" / "armada.html").read_text()
