"""Is an app's initial password still in use? The target asks the app (the entry's
``first_login.state_path``) and stats the secret's file; spbe-share validates the answer
(untrusted), remembers it in the workspace, and status / fleet status warn while it is in use.

The reading runs as the script the targets get, against a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from catalog_fixtures import entry_data
from test_fleet_status import ENTRIES, NOW, T1, TODAY, agreements, probe, record

from spbe_share.catalog.models import Entry
from spbe_share.fleet import direct
from spbe_share.fleet.direct import run_argvs, status_argv
from spbe_share.fleet.reads import parse_read
from spbe_share.fleet.status import build_rows, csv_rows
from spbe_share.ops.status import rows_for_host
from spbe_share.records import firstlogin
from spbe_share.records.firstlogin import FirstLoginState, items_for, parse_answers, remember
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
ITEM = "e-office:ADMIN_PASSWORD:/api/v1/first-login"
MADE = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)  # 3 days before NOW


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(home=tmp_path / "ws", root=REPO)
    w.ensure()
    return w


@pytest.fixture
def app_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A real HTTP server; ``answers[path]`` is the body it sends (404 for other paths)."""
    answers: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = answers.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", answers
    finally:
        srv.shutdown()
        srv.server_close()


def target_root(tmp_path: Path, base: str) -> Path:
    root = tmp_path / "target"
    app = root / "apps" / "e-office"
    (app / "secrets").mkdir(parents=True)
    rec = record(version="1.1.1")
    rec["health"][0]["url"] = base + "/healthz"
    (app / "current.json").write_text(json.dumps(rec))
    (app / "secrets" / "ADMIN_PASSWORD").write_text("never-read")
    os.utime(app / "secrets" / "ADMIN_PASSWORD", (MADE.timestamp(), MADE.timestamp()))
    return root


def run_script(ws: Workspace, root: Path, *items: str) -> Any:
    argv = [sys.executable, "-c", direct.script_source(ws), "--spbe-share-status", str(root)]
    for item in items:
        argv += ["--first-login", item]
    raw = run_argvs([argv], forks=1, timeout=60)[0]
    return raw.rc, raw.stderr, json.loads(raw.stdout) if raw.rc == 0 else None


def test_the_target_asks_the_app_and_stats_the_secret(tmp_path: Path, ws: Workspace,
                                                       app_server: tuple[str, dict[str, bytes]]) -> None:
    base, answers = app_server
    root = target_root(tmp_path, base)
    answers["/api/v1/first-login"] = b'{"initial_password_in_use": true}'
    rc, err, got = run_script(ws, root, ITEM, "pengaduan:STAFF_PASSWORD:/x")  # no pengaduan record: not asked
    assert rc == 0, err
    assert got["first_login"] == [["e-office", 200, '{"initial_password_in_use": true}', MADE.timestamp()]]
    assert "never-read" not in json.dumps(got)
    states = parse_answers(got["first_login"])
    assert states == {"e-office": FirstLoginState("e-office", True, MADE)}
    answers["/api/v1/first-login"] = b'{"initial_password_in_use": false}'
    assert parse_answers(run_script(ws, root, ITEM)[2]["first_login"])["e-office"].in_use is False
    # a hostile app: a long answer is cut on the target at 4 KiB + 1 and refused here
    answers["/api/v1/first-login"] = b'{"initial_password_in_use": true, "x": "' + b"a" * 100_000 + b'"}'
    long = run_script(ws, root, ITEM)[2]["first_login"][0]
    assert len(long[2]) == 4097 and parse_answers([long])["e-office"].in_use is None
    # without the item nothing is asked; a name that could leave the folder is a usage error
    assert "first_login" not in run_script(ws, root)[2]
    for bad in ("e-office:../../etc/shadow:/x", "e-office:ADMIN_PASSWORD:x", "../x:ADMIN_PASSWORD:/x"):
        rc, err, _ = run_script(ws, root, bad)
        assert rc == 2 and b"usage" in err, bad


@pytest.mark.parametrize(("raw", "problem"), [
    ([["e-office", 404, "", None]], "HTTP 404"),
    ([["e-office", -1, "connection refused", None]], "no answer"),
    ([["e-office", 200, "not json", None]], "no initial_password_in_use"),
    ([["e-office", 200, '{"initial_password_in_use": "yes"}', None]], "no initial_password_in_use"),
    ([["e-office", 200, "[" * 4000, None]], "no initial_password_in_use"),  # deep: bounded parse
])
def test_unusable_answers_are_unknown_not_ok(raw: list, problem: str) -> None:
    st = parse_answers(raw)["e-office"]
    assert st.in_use is None and problem in st.problem


def test_malformed_answers_are_dropped() -> None:
    assert parse_answers("x") == {} and parse_answers(None) == {}
    assert parse_answers([["../x", 200, "{}", None], ["e-office", "200", "{}", None], ["e-office", 200, "{}"],
                          ["e-office", 200, 5, None], ["e-office", 200, "{}", -5], "junk"]) == {}


def test_remember_records_when_the_change_was_seen(ws: Workspace) -> None:
    in_use = {"e-office": FirstLoginState("e-office", True, MADE)}
    changed = {"e-office": FirstLoginState("e-office", False, MADE)}
    t1, t2, t3 = NOW, NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=2)
    assert remember(ws, "sorong", in_use, t1)["e-office"].changed_seen is None
    assert remember(ws, "sorong", changed, t2)["e-office"].changed_seen == t2
    assert remember(ws, "sorong", changed, t3)["e-office"].changed_seen == t2  # kept from the first sighting
    unknown = {"e-office": FirstLoginState("e-office", None, None, "no answer")}
    assert remember(ws, "sorong", unknown, t3)["e-office"].changed_seen == t2
    kept = json.loads((ws.cache_dir / "first-login" / "sorong.json").read_text())
    assert kept["e-office"]["in_use"] is False and kept["e-office"]["changed_seen"] == t2.isoformat()
    assert remember(ws, "sorong", in_use, t3)["e-office"].changed_seen is None  # a restore brought it back


def test_status_rows_warn_with_the_age_and_json_carries_it() -> None:
    states = {"e-office": FirstLoginState("e-office", True, MADE)}
    (row,) = rows_for_host(T1, probe(record()), now=NOW, first_login=states, users={"e-office": "admin"})
    assert row.first_login == "IN USE (3 days)"
    assert row.warnings == ["initial password still in use (3 days): log in as admin and change it"]
    assert row.as_dict()["initial_password_in_use"] is True
    assert row.as_dict()["initial_password_since"] == MADE.isoformat()
    done = {"e-office": FirstLoginState("e-office", False, MADE, changed_seen=NOW)}
    (row,) = rows_for_host(T1, probe(record()), now=NOW, first_login=done)
    assert (row.first_login, row.warnings) == ("changed", [])
    assert row.as_dict()["initial_password_changed_seen"] == NOW.isoformat()
    (row,) = rows_for_host(T1, probe(record()), now=NOW)  # an app that was not asked
    assert (row.first_login, row.as_dict()["initial_password_in_use"]) == ("-", None)


def test_fleet_rows_carry_it(ws: Workspace) -> None:
    data = {**probe(record()), "first_login": [["e-office", 200, '{"initial_password_in_use": true}', MADE.timestamp()]]}
    read = parse_read(T1, data)
    assert read.first_login["e-office"].in_use is True
    (row,) = build_rows({"sorong": read}, entries=ENTRIES, agreements=agreements(), today=TODAY, now=NOW).rows
    assert (row.initial_password_in_use, row.initial_password_since, row.first_login_user) == (True, MADE, "admin")
    assert csv_rows(build_rows({"sorong": read}, entries=ENTRIES, agreements=agreements(), today=TODAY,
                               now=NOW))[0][-2:] == ["true", MADE.isoformat()]
    assert firstlogin.warning(firstlogin.FirstLoginState("e-office", True, MADE), NOW, user=None) == (
        "initial password still in use (3 days): log in as the first account and change it")
    bad = parse_read(T1, {**probe(record()), "first_login": "x"})
    assert bad.error is None and bad.first_login == {}
    # the argv of the direct read asks for it
    argv = status_argv(ws, T1.model_copy(update={"connection": "local"}), "S", first_login=[ITEM])
    assert argv[-2:] == ["--first-login", ITEM]


def test_items_come_from_entries_that_name_a_state_path() -> None:
    assert items_for(ENTRIES.values()) == [ITEM]  # pengaduan's entry names none (yet)
    doc = yaml.safe_load((REPO / "catalog" / "e-office" / "spbe-app.yaml").read_text())
    assert doc["first_login"]["state_path"] == "/api/v1/first-login"
    data = entry_data()
    data["secrets"] = [{"name": "ADMIN_PASSWORD", "description": "x"}]
    data["components"][0]["secrets"] = ["ADMIN_PASSWORD"]
    data["first_login"] = {"user": "admin", "secret": "ADMIN_PASSWORD", "state_path": "../etc"}
    with pytest.raises(ValueError, match="state_path"):
        Entry.model_validate(data)
