"""Upgrade on a target of one host reads the app's state and preflight's facts in ONE
connection (playbooks/module_utils/spbe_statefacts.py, spbe_share.ops.checks.read_state_and_facts),
run here as the ``local`` target does it (a subprocess, no ssh); the facts are evaluated where
preflight ran before, and only when they answer exactly the request preflight sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spbe_share.catalog.loader import get_entry
from spbe_share.ops import checks, preflight, upgrade
from spbe_share.ops.context import OpContext
from spbe_share.targets.inventory import get_target
from spbe_share.workspace import Workspace, repo_root

TARGET_PYTHON = "/usr/bin/python3"  # Debian's, as on a fresh server


@pytest.fixture()
def ctx(tmp_path: Path) -> OpContext:
    return OpContext.create(Workspace(home=tmp_path / "home", root=repo_root()))


@pytest.fixture()
def local(ctx: OpContext, tmp_path: Path) -> Any:
    return get_target(ctx.ws, "local").model_copy(update={"python": TARGET_PYTHON, "root": str(tmp_path / "root")})


@pytest.fixture()
def connections(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    import spbe_share.outside as outside

    seen: list[list[str]] = []
    real = outside.run_capped

    def counted(argv: list[str], **kw: Any) -> Any:
        seen.append(argv)
        return real(argv, **kw)

    monkeypatch.setattr(outside, "run_capped", counted)
    return seen


def test_state_and_facts_in_one_connection_answer_as_each_alone(ctx: OpContext, local: Any,
                                                                connections: list[list[str]]) -> None:
    entry = get_entry(ctx.ws, "pengaduan").entry
    request = preflight.facts_request(local, entry)
    st, raw = checks.read_state_and_facts(ctx, target=local, app="pengaduan", facts_request=request)
    assert len(connections) == 1
    alone = checks.read_state(ctx, target=local, app="pengaduan")
    assert (st.current, st.blobs, st.journal) == (alone.current, alone.blobs, alone.journal) == (None, alone.blobs, None)
    assert raw is not None
    facts = preflight.TargetFacts.model_validate(raw)
    own, _run = preflight.ask_facts(ctx.ws, target=local, entry=entry)
    assert (facts.os_family, facts.cpu_cores, facts.zstd, facts.os_version) == \
        (own.os_family, own.cpu_cores, own.zstd, own.os_version)


def test_facts_read_with_the_state_are_used_and_kept_only_for_the_same_request(
        ctx: OpContext, local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = get_entry(ctx.ws, "pengaduan").entry
    request = preflight.facts_request(local, entry)
    facts, _ = preflight.ask_facts(ctx.ws, target=local, entry=entry)
    gathered: list[str] = []
    real = preflight.gather_host_facts

    def gather(*a: Any, **kw: Any) -> Any:
        gathered.append("again")
        return real(*a, **kw)

    monkeypatch.setattr(preflight, "gather_host_facts", gather)
    report = preflight.run_preflight(ctx.ws, target=local, entry=entry, read=(request, facts))
    assert gathered == []
    kept = Path(report.run_dir)
    assert json.loads((kept / "request.json").read_text()) == request
    assert preflight.TargetFacts.model_validate_json((kept / "answer.json").read_text()) == facts
    # another request (here: with the TLS proxy's ports) is not what was read: read again
    preflight.run_preflight(ctx.ws, target=local, entry=entry, read=({**request, "ports": [1]}, facts))
    assert gathered == ["again"]


def test_upgrade_reads_the_state_alone_without_the_bundle_here_or_facts(
        ctx: OpContext, local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(upgrade, "read_state", lambda *a, **kw: calls.append("state") or "ST")
    monkeypatch.setattr(upgrade, "early_bundle", lambda *a, **kw: None)
    assert upgrade.read_state_for_upgrade(ctx, target=local, app="pengaduan", to=None, bundle=None,
                                          bundle_digest=None) == ("ST", None, None)
    entry = get_entry(ctx.ws, "pengaduan").entry

    class VB:
        pass

    vb = VB()
    vb.entry = entry  # type: ignore[attr-defined]
    monkeypatch.setattr(upgrade, "early_bundle", lambda *a, **kw: vb)
    monkeypatch.setattr(upgrade, "read_state_and_facts", lambda *a, **kw: ("ST", None))  # facts_error there
    assert upgrade.read_state_for_upgrade(ctx, target=local, app="pengaduan", to=None, bundle=None,
                                          bundle_digest=None) == ("ST", vb, None)
    monkeypatch.setattr(upgrade, "read_state_and_facts", lambda *a, **kw: ("ST", {"not": "facts"}))
    assert upgrade.read_state_for_upgrade(ctx, target=local, app="pengaduan", to=None, bundle=None,
                                          bundle_digest=None)[2] is None
    assert calls == ["state"]


def test_a_target_of_several_hosts_keeps_todays_path(ctx: OpContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several hosts: the bundle is not even looked at before the state (preflight there is a
    playbook over every host, after the state's checks, as before)."""
    monkeypatch.setattr(upgrade, "verified_bundle", lambda *a, **kw: pytest.fail("verified early"))

    class DataCenter:
        multi_host = True

    assert upgrade.early_bundle(ctx, target=DataCenter(), app="pengaduan", to=None, bundle=None,  # type: ignore[arg-type]
                                bundle_digest=None) is None
