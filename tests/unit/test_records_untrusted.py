"""Everything read from a target is untrusted (issue 7 item 5): records are validated against
what was asked, and no controller path is ever built from them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from spbe_share.errors import ExitCode, InvalidInput, RemoteFailed
from spbe_share.ops import install
from spbe_share.ops.context import OpContext
from spbe_share.ops.core import Operation
from spbe_share.ops.status import rows_for_host
from spbe_share.records import state
from spbe_share.remote.runner import RunResult
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace


def record(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "app": "e-office", "version": "1.1.0", "target": "kota-sorong", "pemda": "Kota Sorong",
        "kode_wilayah": "96.71", "bundle_digest": "sha256:" + "0" * 64, "signer": "0123456789abcdef",
        "who": "op", "when": "2026-11-22T00:00:00Z",
    }
    base.update(over)
    return base


def check(data: dict[str, Any]) -> state.ReleaseRecord:
    return state.validated_record(data, app="e-office", target="kota-sorong", version="1.1.0", source="kota-sorong")


def test_a_record_of_what_was_asked_is_accepted() -> None:
    assert check(record()).app == "e-office"


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"app": "/tmp/x/evil"}, "says app '/tmp/x/evil', but 'e-office' was asked for"),
        ({"target": "../.."}, "says target '../..', but 'kota-sorong' was asked for"),
        ({"version": "9.9.9"}, "says version '9.9.9', but '1.1.0' was asked for"),
        ({"password": "x"}, "invalid release record: password: Extra inputs are not permitted"),
        ({"version": 110}, "invalid release record: version: Input should be a valid string"),
        ({"values": {"a": 1}}, "invalid release record: values.a: Input should be a valid string"),
        ({"result": "owned"}, "invalid release record: result"),
    ],
)
def test_a_record_naming_something_else_is_refused(over: dict[str, Any], message: str) -> None:
    with pytest.raises(RemoteFailed, match="^kota-sorong: ") as err:
        check(record(**over))
    assert message in err.value.message
    assert err.value.exit_code == ExitCode.REMOTE_FAILED


def test_cache_paths_come_from_validated_names(tmp_path: Path) -> None:
    ws = Workspace.from_options(tmp_path / "ws")
    good = check(record())
    path = state.save_cached(ws, target="kota-sorong", app="e-office", record=good)
    assert path == ws.cache_dir / "releases" / "kota-sorong" / "e-office.json"
    assert state.load_cached(ws, "kota-sorong") == [good]
    for target, app in (("../..", "e-office"), ("kota-sorong", "/tmp/x/evil"), ("kota-sorong", "../x")):
        with pytest.raises(InvalidInput, match="not a valid name"):
            state.cache_file(ws, target, app)
    evil = state.ReleaseRecord.model_validate(record(app="../../../evil"))
    with pytest.raises(ValueError, match="cached as"):
        state.save_cached(ws, target="kota-sorong", app="e-office", record=evil)


def _target() -> Target:
    return Target(name="kota-sorong", host="127.0.0.2", user="root", pemda="Kota Sorong", kode_wilayah="96.71",
                  root="/srv/dc", bind_address="127.0.0.2")


@pytest.mark.parametrize("over", [{"app": "{evil}/x"}, {"target": "../../../../{evil}"}])
def test_install_refuses_an_evil_record_and_writes_nothing_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   over: dict[str, str]) -> None:
    """The release record the target sends back after install.yml (set_stats) is checked first."""
    evil_dir = tmp_path / "outside"
    over = {k: v.replace("{evil}", str(evil_dir)) for k, v in over.items()}
    ws = Workspace.from_options(tmp_path / "ws")
    ws.ensure()
    ctx = OpContext.create(ws, now=dt.datetime(2026, 11, 22, tzinfo=dt.UTC))
    run = RunResult(status="successful", rc=0, run_dir=tmp_path / "run",
                    stats={"kota-sorong": {"spbe_install": {"new_release": False,
                                                            "current": record(**over)}}})
    monkeypatch.setattr(install, "run_locked", lambda *a, **k: run)
    from spbe_share.remote import ship

    monkeypatch.setattr(ship, "ship_bundle", lambda *a, **k: ship.ShipResult())  # nothing to ship
    monkeypatch.setattr(ship, "bundle_files", lambda _extravars: [])  # (nor the bundle's files)

    class Bundle:
        app, version = "e-office", "1.1.0"
        manifest, dir = None, tmp_path / "bundle"

        def blob_sizes(self) -> dict[str, int]:
            return {}

    plan: Any = type("P", (), {"target": _target(), "bundle": Bundle(), "extravars": {}, "lock": None, "proxy": None, "parts": None, "host_vars": None,
                               "attempt": None, "urls": [], "app": "e-office", "version": "1.1.0"})()
    op = Operation(ctx=ctx, name="install", app="e-office", target="kota-sorong")
    with pytest.raises(RemoteFailed, match="was asked for; the record was not used and nothing was saved"):
        install.execute(ctx, op, plan)
    assert not evil_dir.exists()
    assert not (ws.cache_dir / "releases").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def test_status_shows_a_record_naming_another_target_as_unreadable() -> None:
    rows = rows_for_host(_target(), {"records": [record(target="../.."), record(app="/tmp/x"), record()]})
    assert [(r.app, r.health, r.detail) for r in rows] == [
        ("?", "unknown", "unreadable record"), ("?", "unknown", "unreadable record"),
        ("e-office", "healthy", ""),
    ]
