"""plan (pure parts: goals, items, preflight and bytes applied, the plan file) and the fleet
upgrade helpers (step adapter outcome, state start/resume, signal fan-out)."""

from __future__ import annotations

import datetime as dt
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from catalog_fixtures import entry_data, write_entry
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from entrybundle import entry_bundle

from spbe_share.agreements import build_agreement
from spbe_share.bundle.keyformat import key_id_of
from spbe_share.catalog.loader import load_entry
from spbe_share.errors import Conflict, ExitCode, InvalidInput, NotFound, VerificationFailed
from spbe_share.fleet import upgrade as fu
from spbe_share.fleet.plan import (
    GoalBundle,
    PlanFile,
    PlanItem,
    apply_bytes,
    apply_preflight,
    build_items,
    goals_for,
    read_plan,
    upgrade_path,
    write_plan,
)
from spbe_share.fleet.reads import TargetRead, parse_read
from spbe_share.fleet.rollout import ItemState, load_state
from spbe_share.ops.preflight import Check
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 1)
ENTRIES = {a: load_entry(REPO / "catalog" / a / "spbe-app.yaml").entry for a in ("e-office", "pengaduan")}
# Pinned: the e-office catalog as of 1.1.0, the regulation's release (1.1.1, a code-only fix
# that upgrades only from 1.1.0, came later); these tests are about the regulation's plan.
ENTRIES["e-office"] = ENTRIES["e-office"].model_copy(
    update={"releases": [r for r in ENTRIES["e-office"].releases if r.version in ("1.0.0", "1.1.0")]})
P83 = "https://peraturan.go.id/id/permendagri-no-83-tahun-2022"


def target(name: str, kode: str) -> Target:
    return Target(name=name, host="10.0.0.1", user="root", pemda=name.title(), kode_wilayah=kode, bind_address="10.0.0.1")


def read(t: Target, *versions: tuple[str, str]) -> TargetRead:
    recs = [{
        "format": 1, "app": app, "version": v, "target": t.name, "pemda": t.pemda, "kode_wilayah": t.kode_wilayah,
        "bundle_digest": "sha256:" + "ab" * 32, "signer": "k", "values": {}, "images": {}, "containers": [], "urls": [],
        "health": [], "who": "op", "when": "2026-11-02T10:00:00Z", "result": "ok", "message": None, "previous": None,
    } for app, v in versions]  # fmt: skip
    r = parse_read(t, {"records": recs, "blobs": ["a" * 64]})
    assert r.reachable and not r.problems and not r.error, (r.error, r.problems)
    return r


def agreement(number: str, kode: str, until: str) -> object:
    return build_agreement(number=number, apps=["e-office"], donor="Papua", donor_kode="91", adopter="X",
                           adopter_kode=kode, scope=["install"], signed="2025-01-01", valid_until=until)  # fmt: skip


SORONG, AMBON, BULELENG, BIAK, NABIRE = (target("sorong", "96.71"), target("ambon", "81.71"),
                                         target("buleleng", "51.08"), target("biak", "91.06"),
                                         target("nabire", "94.04"))  # fmt: skip
AGREEMENTS = [agreement("NK/1", "96.71", "2027-06-30"), agreement("NK/OLD", "51.08", "2025-06-30"),
              agreement("NK/4", "91.06", "2027-06-30")]  # fmt: skip


def test_goals() -> None:
    real_uri = next(str(g.uri) for r in ENTRIES["e-office"].releases for g in r.regulations if "83" in g.name)
    goals, uri = goals_for(ENTRIES, app=None, to=None, regulation="Permendagri 83/2022")
    assert uri == real_uri and [(g.app, g.to, g.below) for g in goals] == [("e-office", "1.1.0", "1.1.0")]
    goals, uri = goals_for(ENTRIES, app="e-office", to="1.0.0", regulation=None)
    assert uri is None and [(g.to, g.below) for g in goals] == [("1.0.0", "1.0.0")]
    with pytest.raises(InvalidInput, match="only from 1.1.0"):
        goals_for(ENTRIES, app=None, to="1.0.0", regulation="Permendagri 83/2022")
    with pytest.raises(NotFound, match="no release '9.9.9'"):
        goals_for(ENTRIES, app="e-office", to="9.9.9", regulation=None)
    with pytest.raises(NotFound):
        goals_for(ENTRIES, app=None, to=None, regulation="Perda 1/1999")
    with pytest.raises(InvalidInput, match="give an app"):
        goals_for(ENTRIES, app=None, to=None, regulation=None)
    assert upgrade_path(ENTRIES["e-office"], "1.0.0", "1.1.0") == ["1.1.0"]


def test_items_from_what_targets_run() -> None:
    goals, _ = goals_for(ENTRIES, app=None, to=None, regulation="Permendagri 83/2022")
    reads = {
        "sorong": read(SORONG, ("e-office", "1.0.0")),  # behind, agreement active
        "ambon": read(AMBON, ("e-office", "1.0.0")),  # behind, no agreement at all
        "buleleng": read(BULELENG, ("e-office", "1.0.0")),  # behind, agreement expired
        "biak": read(BIAK, ("e-office", "1.1.0"), ("pengaduan", "1.0.0")),  # already there
        "nabire": read(NABIRE, ("pengaduan", "1.0.0")),  # does not run e-office: not affected
        "jayapura": TargetRead(target("jayapura", "91.71"), reachable=False, error="no answer within 30s"),
    }
    items = {i.target: i for i in build_items(reads, goals, entries=ENTRIES, agreements=AGREEMENTS, today=TODAY)}
    assert set(items) == {"sorong", "ambon", "buleleng", "biak", "jayapura"}
    s = items["sorong"]
    assert (s.action, s.from_version, s.to_version, s.path, s.migrates_data) == ("upgrade", "1.0.0", "1.1.0", ["1.1.0"], True)
    assert s.agreement is not None and s.agreement.number == "NK/1" and s.agreement.status == "active"
    assert items["ambon"].action == "blocked" and items["ambon"].reasons == ["no agreement (MoU/PKS) covers it"]
    assert items["buleleng"].action == "blocked" and "NK/OLD expired on 2025-06-30" in items["buleleng"].reasons[0]
    assert items["biak"].action == "current" and items["biak"].from_version == "1.1.0"
    assert items["jayapura"].action == "unreachable" and "30s" in items["jayapura"].reasons[0]

    ok = [Check("cpu cores", ">= 1", "2", True)]
    bad = [*ok, Check("port 8080", "free on 10.0.0.1", "in use", False)]
    apply_preflight(items.values(), {("sorong", "e-office"): bad, ("biak", "e-office"): ok})
    assert items["sorong"].action == "blocked" and items["sorong"].preflight.ok is False
    assert items["sorong"].reasons == ["preflight failed: port 8080: required free on 10.0.0.1, found in use"]
    assert items["biak"].action == "current"  # a preflight never turns an item into an upgrade

    sizes = {"e-office": {"a" * 64: 1000, "b" * 64: 234, "c" * 64: 10}}
    apply_bytes(items.values(), reads, sizes)
    assert (items["sorong"].blobs_to_ship, items["sorong"].bytes_to_ship) == (2, 244)  # "a"*64 is there already
    assert items["biak"].bytes_to_ship is None and items["jayapura"].bytes_to_ship is None


def test_plan_file_round_trip_and_digest(tmp_path: Path) -> None:
    goals, uri = goals_for(ENTRIES, app=None, to=None, regulation="Permendagri 83/2022")
    reads = {"sorong": read(SORONG, ("e-office", "1.0.0")), "biak": read(BIAK, ("e-office", "1.1.0"))}
    items = build_items(reads, goals, entries=ENTRIES, agreements=AGREEMENTS, today=TODAY)
    plan = PlanFile(generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), regulation=uri, selector="all", items=items)
    path = tmp_path / "plan.yml"
    write_plan(path, plan)
    back = read_plan(path)
    assert back == plan and back.digest() == plan.digest()
    later = plan.model_copy(update={"generated_at": dt.datetime(2026, 12, 2, tzinfo=dt.UTC)})
    assert later.digest() == plan.digest()  # what is rolled out, not when it was planned
    assert [i.target for i in fu.items_of(back.items, with_blocked=False)] == ["sorong"]
    path.write_text(path.read_text().replace("action: upgrade", "action: sideways"))
    with pytest.raises(InvalidInput) as bad:
        read_plan(path)
    assert "action" in " ".join(bad.value.details) and "plan.yml" in " ".join(bad.value.details)


@dataclass
class InstallLike:
    version: str
    changed: bool
    new_release: bool


@dataclass
class UpgradeLike:
    version: str
    result: str
    from_version: str


def test_outcome_of_either_operation() -> None:
    item = ItemState(target="sorong", app="e-office", to_version="1.1.0", from_version="1.0.0")
    assert fu.outcome_of(InstallLike("1.1.0", True, True), item).result == "upgraded to 1.1.0"
    assert fu.outcome_of(InstallLike("1.1.0", False, False), item).result == "already at 1.1.0"
    out = fu.outcome_of(UpgradeLike("1.1.0", "upgraded, backup b-42", "1.0.0"), item)
    assert (out.version, out.result, out.from_version) == ("1.1.0", "upgraded, backup b-42", "1.0.0")


def test_start_or_resume(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    mk = lambda: [ItemState(target=n, app="pengaduan", to_version="1.0.1") for n in ("a", "b")]  # noqa: E731
    st = fu.start_or_resume(path, key="k", items=mk, canary="a", batch_size=1, max_failures=0, resume=False)
    assert load_state(path) == st and st.canary == "a"
    with pytest.raises(Conflict, match="--resume"):  # not finished: never started over silently
        fu.start_or_resume(path, key="k", items=mk, canary="a", batch_size=1, max_failures=0, resume=False)
    with pytest.raises(InvalidInput, match="holds rollout k"):
        fu.start_or_resume(path, key="other", items=mk, canary=None, batch_size=1, max_failures=0, resume=True)
    with pytest.raises(InvalidInput, match="canary is a"):
        fu.start_or_resume(path, key="k", items=mk, canary="b", batch_size=1, max_failures=0, resume=True)
    again = fu.start_or_resume(path, key="k", items=mk, canary=None, batch_size=3, max_failures=2, resume=True)
    assert again.runs == 2 and (again.batch_size, again.max_failures) == (3, 2)
    with pytest.raises(InvalidInput, match="nothing to upgrade"):
        fu.start_or_resume(tmp_path / "t.json", key="k", items=list, canary=None, batch_size=1, max_failures=0,
                           resume=False)  # fmt: skip
    with pytest.raises(InvalidInput, match="no state to resume"):
        fu.start_or_resume(tmp_path / "u.json", key="k", items=mk, canary=None, batch_size=1, max_failures=0,
                           resume=True)  # fmt: skip


def test_signals_reach_every_step_in_flight() -> None:
    fanout = fu.CancelFanout()
    stopped: list[bool] = []
    fanout.on_signal = lambda: stopped.append(True)
    t1, t2 = fanout.token(), fanout.token()
    fanout.release(t2)
    fanout.handle(signal.SIGTERM)  # never raises in the main thread
    assert t1.requested and not t2.requested and stopped == [True]
    assert fanout.token().requested  # a step starting after the signal sees it at once
    assert fu.args_key(app="a", to="1", regulation=None, selector="all") != fu.args_key(
        app="a", to="1", regulation=None, selector="prov_96")


def test_regulation_plan_names_every_pemda_still_on_ppdb_1() -> None:
    """`plan --regulation "Permendikdasmen 3/2025"`: every target running ppdb 1.0.0 must go to
    2.0.0 (data migrates); one already on 2.0.0 is current; one without ppdb is not named."""
    entries = {**ENTRIES, "ppdb": load_entry(REPO / "catalog" / "ppdb" / "spbe-app.yaml").entry}
    goals, uri = goals_for(entries, app=None, to=None, regulation="Permendikdasmen 3/2025")
    assert uri == "https://peraturan.bpk.go.id/Details/315671/permendikdasmen-no-3-tahun-2025"
    assert [(g.app, g.to, g.below) for g in goals] == [("ppdb", "2.0.0", "2.0.0")]
    ppdb_agreements = [build_agreement(number=f"PKS/{t.name}", apps=["ppdb"], donor="Kota Pontianak", donor_kode="61.71",
                                       adopter=t.pemda, adopter_kode=t.kode_wilayah, scope=["install"],
                                       signed="2025-01-01", valid_until="2027-06-30") for t in (SORONG, AMBON, BIAK)]  # fmt: skip
    reads = {"sorong": read(SORONG, ("ppdb", "1.0.0"), ("e-office", "1.0.0")), "ambon": read(AMBON, ("ppdb", "1.0.0")),
             "biak": read(BIAK, ("ppdb", "2.0.0")), "nabire": read(NABIRE, ("e-office", "1.1.0"))}  # fmt: skip
    items = build_items(reads, goals, entries=entries, agreements=ppdb_agreements, today=TODAY)
    assert [(i.target, i.app, i.from_version, i.action, i.path, i.migrates_data) for i in items] == [
        ("ambon", "ppdb", "1.0.0", "upgrade", ["2.0.0"], True),
        ("biak", "ppdb", "2.0.0", "current", [], False),
        ("sorong", "ppdb", "1.0.0", "upgrade", ["2.0.0"], True),
    ]


# ---------------------------------------------------------------- the goal bundle of a rollout (issue 24)


@dataclass
class Donor:
    ws: Workspace
    key: Ed25519PrivateKey
    bundle: Path
    digest: str


@pytest.fixture
def donor(tmp_path: Path) -> Donor:
    """A workspace whose catalog holds contoh-app (donor 94.71), two adopter targets, the donor's
    key trusted for 94.71 and the donor's signed bundle of contoh-app 1.0.0."""
    from spbe_share.bundle.keyformat import public_line
    from spbe_share.bundle.trust import trust_key
    from spbe_share.targets.inventory import save_targets

    ws = Workspace(home=tmp_path / "home", root=tmp_path / "repo")
    write_entry(ws.root, "contoh-app")
    save_targets(ws, [target("sorong", "96.71"), target("ambon", "81.71")])
    key = Ed25519PrivateKey.generate()
    (tmp_path / "donor.pub").write_text(public_line(key.public_key(), name="kota-contoh"))
    trust_key(ws, tmp_path / "donor.pub", donor_kode="94.71")
    bundle = entry_bundle(tmp_path / "contoh-app-1.0.0.spbe", key, entry_data("contoh-app"))
    return Donor(ws, key, bundle, fu_digest(ws, bundle))


def fu_digest(ws: Workspace, path: Path) -> str:
    from spbe_share.fleet.plan import verified_goal_bundle

    return verified_goal_bundle(ws, path).digest


def todo(*names: str) -> list[ItemState]:
    return [ItemState(target=n, app="contoh-app", to_version="1.0.0", from_version="0.9.0") for n in names]


def plan_with(bundle: GoalBundle, *names: str) -> PlanFile:
    items = [PlanItem(target=n, pemda=n, app="contoh-app", from_version="0.9.0", to_version="1.0.0", action="upgrade")
             for n in names]  # fmt: skip
    return PlanFile(generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), selector="all", goal_bundles=[bundle],
                    items=items)  # fmt: skip


def test_fleet_upgrade_uses_the_bundle_the_plan_was_made_with(donor: Donor, tmp_path: Path) -> None:
    recorded = GoalBundle(app="contoh-app", version="1.0.0", digest=donor.digest, path=str(donor.bundle),
                          found="given", signer=key_id_of(donor.key.public_key()))  # fmt: skip
    plan = plan_with(recorded, "sorong", "ambon")
    path = tmp_path / "plan.yml"
    write_plan(path, plan)
    assert read_plan(path).goal_bundle("contoh-app", "1.0.0") == recorded  # the plan file keeps it
    got = fu.rollout_bundles(donor.ws, todo("sorong", "ambon"), plan=plan, plan_path=path)
    assert got[("contoh-app", "1.0.0")] == fu.RolloutBundle("contoh-app", "1.0.0", donor.bundle, donor.digest,
                                                            f"the plan's bundle {donor.bundle}")  # fmt: skip
    # --bundle FILE: accepted when it is the plan's bundle, refused when it is another one
    assert fu.rollout_bundles(donor.ws, todo("sorong"), given=[donor.bundle], plan=plan,
                              plan_path=path)[("contoh-app", "1.0.0")].digest == donor.digest  # fmt: skip
    other = entry_bundle(tmp_path / "other.spbe", donor.key, entry_data("contoh-app", name="Lain"))
    with pytest.raises(VerificationFailed, match=f"{path} was made with {donor.digest}.*not the bundle the plan"):
        fu.rollout_bundles(donor.ws, todo("sorong"), given=[other], plan=plan, plan_path=path)
    # the plan's bundle changed, or gone: refused, naming it and what to do
    donor.bundle.write_bytes(other.read_bytes())
    with pytest.raises(VerificationFailed, match=f"{donor.bundle} changed since {path} was made with it"):
        fu.rollout_bundles(donor.ws, todo("sorong"), plan=plan, plan_path=path)
    donor.bundle.unlink()
    with pytest.raises(NotFound, match=f"made with the goal bundle {donor.bundle} of contoh-app 1.0.0, which is gone:"
                                       " give it with --bundle FILE"):  # fmt: skip
        fu.rollout_bundles(donor.ws, todo("sorong"), plan=plan, plan_path=path)


def test_a_plan_without_a_bundle_asks_for_one_before_anything_starts(
    donor: Donor, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `fleet upgrade --plan` built the release here, signed it with the workspace key,
    and shipped it to each target, which refused it (exit 6), one failure per target."""
    from spbe_share.cli import main

    monkeypatch.setenv("SPBE_SHARE_CATALOG", str(donor.ws.root))
    path = tmp_path / "plan.yml"
    plan = plan_with(GoalBundle(app="contoh-app", version="1.0.0"), "sorong", "ambon")
    old = plan.model_dump(mode="json", exclude={"goal_bundles"})  # a plan file from before plans recorded bundles
    for doc in (old, plan.model_dump(mode="json")):
        path.write_text(yaml.safe_dump(doc))
        with pytest.raises(SystemExit) as exc:
            main(["--workspace", str(donor.ws.home), "fleet", "upgrade", "--plan", str(path), "--canary", "sorong"])
        err = capsys.readouterr().err
        assert exc.value.code == int(ExitCode.INVALID_INPUT), err
        assert (f"fleet upgrade needs the donor's signed bundle of contoh-app 1.0.0 ({path} was made without one):"
                " 2 target(s) would refuse a bundle built from the catalog and signed here (sorong, ambon). Give it"
                " with --bundle FILE; nothing was started") in err  # fmt: skip
        assert "Traceback" not in err and err.count("nothing was started") == 1
        assert "--self-signed" not in err  # an option fleet upgrade does not have
        assert not list(donor.ws.home.glob("fleet/*.state.json"))  # no state left behind: nothing started
        assert "fleet upgrade" not in (donor.ws.audit_log.read_text() if donor.ws.audit_log.exists() else "")
    write_plan(path, plan)
    assert "digest: null" in path.read_text()  # the plan file says it was made without one
    # the same without a plan (APP --to): "none was given"
    with pytest.raises(InvalidInput, match=r"of contoh-app 1.0.0 \(none was given\)"):
        fu.rollout_bundles(donor.ws, todo("sorong"))
    # the local sandbox takes a bundle built here: no refusal
    assert fu.rollout_bundles(donor.ws, todo("local"))[("contoh-app", "1.0.0")].path is None


def test_a_bundle_that_a_target_would_refuse_stops_the_fleet_before_it_starts(donor: Donor, tmp_path: Path) -> None:
    from spbe_share.bundle.keyformat import public_line
    from spbe_share.bundle.trust import trust_key

    elsewhere = Ed25519PrivateKey.generate()  # a key trusted for another donor (91)
    (tmp_path / "papua.pub").write_text(public_line(elsewhere.public_key(), name="papua"))
    trust_key(donor.ws, tmp_path / "papua.pub", donor_kode="91")
    wrong = entry_bundle(tmp_path / "wrong.spbe", elsewhere, entry_data("contoh-app"))
    with pytest.raises(VerificationFailed) as err:
        fu.rollout_bundles(donor.ws, todo("sorong", "ambon"), given=[wrong])
    assert err.value.message.startswith(f"2 target(s) would refuse the goal bundle of contoh-app 1.0.0, --bundle {wrong}")
    assert "not for donor 94.71" in err.value.details[0]
    # the donor's own signed bundle passes for every target
    got = fu.rollout_bundles(donor.ws, todo("sorong", "ambon"), given=[donor.bundle])
    assert got[("contoh-app", "1.0.0")].digest == donor.digest
    with pytest.raises(InvalidInput, match="holds contoh-app 1.0.0; this rollout goes to contoh-app 2.0.0"):
        fu.rollout_bundles(donor.ws, [ItemState(target="sorong", app="contoh-app", to_version="2.0.0")],
                           given=[donor.bundle])  # fmt: skip
