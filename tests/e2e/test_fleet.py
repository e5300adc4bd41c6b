"""End to end: plan and fleet upgrade over SSH on three simulated data centers in two provinces.

A catalog repository (:mod:`fleetroot`) holds pengaduan 1.0.0, 1.0.1 and 1.0.2 (1.0.1 is 1.0.0's
image and names one more regulation; 1.0.2 the README's Permendagri 83/2022 too, and pins
waitress 3.0.1 instead of 3.0.2; they need port 8091 free). Three DCs run 1.0.0, installed through the real CLI with the donor's signed
bundle: ``a`` and ``b`` in province 96, ``c`` in province 51. On ``b`` something else listens
on port 8091: its preflight for 1.0.1 fails, a real reason to refuse. Tests run in file order
and share the DCs (one install each, reused):

1. ``plan --regulation`` names the three installs, from what the targets really run, and
   blocks ``b`` on its preflight;
2. a canary (``b``) that fails stops the rollout: ``a`` is not touched;
3. ``--max-failures 0`` with batches of one: canary ``a`` upgraded, ``b`` fails, ``c`` never starts;
4. ``--resume`` skips ``a`` (done) and upgrades ``c``;
5. ``fleet status`` shows 1.0.1 on ``a`` and ``c``, 1.0.0 on ``b``, all healthy (serving);
6. the donor is the catalog's (issue 17 finding 3): a bundle relabelled as another donor's, a
   bundle waiving the catalog's agreement, and an upgrade over another donor's release are refused;
7. the README's central-team commands, as printed (issue 24): ``plan --regulation
   "Permendagri 83/2022" --bundle ... --out plan.yml`` then ``fleet upgrade --plan plan.yml
   --canary ... --batch-size 10 --max-failures 2`` bring ``a`` and ``c`` to 1.0.2 (canary,
   then a batch) with the donor's signed bundle the plan recorded; ``b`` (blocked in the plan)
   is left untouched. A plan made without a bundle stops before it starts, asking for one.
8. Which Pemda run a vulnerable release (issue 22): an OSV export flags waitress 3.0.1, which
   only 1.0.2 holds (its SBOM; 1.0.0's has 3.0.2): ``audit`` names exactly a and c (two Pemda on
   the flawed release; b runs 1.0.0: clean), ``fleet status`` shows their worst finding; the
   donor publishes 1.0.3 with advisory SPBE-2026-0042; ``plan --advisory`` plans a and c,
   ``fleet upgrade --advisory`` brings them to 1.0.3, and ``audit --fail-on high`` is clean.
   (The issue's scenario with this module's installs: its two Pemda on e-office 1.0.0 are a and
   c on 1.0.2, its one on 1.1.0 is b on 1.0.0, a release without the flagged package, and the
   fix is 1.0.3 rather than 1.1.0: no e-office install is needed.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from entrybundle import entry_bundle
from fleetroot import (
    ADVISORY,
    APP,
    DONOR_KEY,
    FIX,
    FLAWED_PIN,
    NEW,
    NEW_PORT,
    NEWEST,
    OLD,
    add_fix_release,
    build_bundles,
)
from simdc import E2EWorkspace, SimDC, make_e2e_workspace, remove_docker_objects

from spbe_share.bundle.keyformat import key_id_of, public_line
from spbe_share.bundle.keys import load_private_key
from spbe_share.errors import ExitCode
from spbe_share.workspace import Workspace

pytestmark = pytest.mark.e2e

DCS = {  # logical name -> (pemda, kode wilayah)
    "a": ("Kota Sorong", "96.71"),
    "b": ("Kabupaten Sorong", "96.01"),
    "c": ("Kabupaten Buleleng", "51.08"),
}


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout  # noqa: S603,S607




class Fleet:
    def __init__(self, w: E2EWorkspace, names: dict[str, str], bundles: dict[str, Path], dcs: dict[str, SimDC],
                 root: Path, donor_home: Path) -> None:  # fmt: skip
        self.w, self.names, self.bundles, self.dcs = w, names, bundles, dcs
        self.root, self.donor_home = root, donor_home

    def current(self, k: str) -> bytes:
        """The release record serving on DC ``k``, as the target keeps it."""
        return (self.dcs[k].root / "apps" / APP / "current.json").read_bytes()

    def cli(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.w.cli(*args, check=check, timeout=timeout)

    def versions(self) -> dict[str, str | None]:
        rows = json.loads(self.cli("fleet", "status", "--app", APP, "--json").stdout)["rows"]
        by = {r["target"]: r for r in rows}
        assert all(by[n]["health"] == "healthy" for n in self.names.values()), rows  # every Pemda serving
        return {k: by[n]["version"] for k, n in self.names.items()}

    def upgrade(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("fleet", "upgrade", APP, "--to", NEW, "--bundle", str(self.bundles[NEW]), *args, check=False)


@pytest.fixture(scope="module")
def fleet(datacenters: dict[str, SimDC], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    base = tmp_path_factory.mktemp("fleet")
    bundles = build_bundles(base / "root", base / "donor")
    prefix = datacenters["kota-sorong"].name.removesuffix("kota-sorong")  # this session's prefix
    dcs: dict[str, SimDC] = {}
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    old_env = os.environ.get("SPBE_SHARE_CATALOG")
    os.environ["SPBE_SHARE_CATALOG"] = str(base / "root")  # the CLI's built-in catalog: both releases
    try:
        for i, (k, (pemda, kode)) in enumerate(DCS.items()):
            dcs[k] = SimDC(name=f"{prefix}fleet-{k}", base=base / "dcs", address=f"127.0.3.{10 + i}", pemda=pemda,
                           kode_wilayah=kode).start()  # fmt: skip
        w = make_e2e_workspace(base / "operator", {dc.name: dc for dc in dcs.values()})
        w.cli("keys", "trust", str(bundles["pub"]), "--donor-kode", _donor_kode(base / "root"))
        today = dt.date.today()
        for dc in dcs.values():
            w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", _donor_kode(base / "root"),
                  "--adopter", dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", f"PKS/{dc.name}",
                  "--signed", (today - dt.timedelta(days=30)).isoformat(),
                  "--valid-until", (today + dt.timedelta(days=365)).isoformat(), "--scope", "install")  # fmt: skip
        with ThreadPoolExecutor(len(dcs)) as pool:  # 1.0.0 everywhere, at once
            done = list(pool.map(lambda dc: w.cli("install", APP, "--target", dc.name, "--version", OLD, "--bundle",
                                                  str(bundles[OLD]), check=False, timeout=900), dcs.values()))  # fmt: skip
        for proc in done:
            assert proc.returncode == 0, proc.stderr
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((dcs["b"].address, NEW_PORT))  # something else of the Pemda holds the new release's port
        blocker.listen()
        yield Fleet(w, {k: dc.name for k, dc in dcs.items()}, bundles, dcs, base / "root", base / "donor")
    finally:
        blocker.close()
        if old_env is None:
            os.environ.pop("SPBE_SHARE_CATALOG", None)
        else:
            os.environ["SPBE_SHARE_CATALOG"] = old_env
        remove_docker_objects(*(f"spbe-{dc.name}-" for dc in dcs.values()))
        for dc in dcs.values():
            dc.stop()


def _donor_kode(root: Path) -> str:
    import yaml

    return str(yaml.safe_load((root / "catalog" / APP / "spbe-app.yaml").read_text())["donor"]["kode_wilayah"])


def _items(f: Fleet, report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    back = {v: k for k, v in f.names.items()}
    return {back[i["target"]]: i for i in report["items"]}


def test_plan_for_a_regulation(fleet: Fleet, tmp_path: Path) -> None:
    out = tmp_path / "plan.yml"
    proc = fleet.cli("plan", "--regulation", "Permenpan RB 62/2018", "--bundle", str(fleet.bundles[NEW]), APP,
                     "--to", NEW, "--out", str(out), "--json")  # fmt: skip
    plan = json.loads(proc.stdout)
    assert plan["regulation"] == "https://peraturan.go.id/id/permenpan-rb-no-62-tahun-2018"
    items = {i["target"]: i for i in plan["items"]}
    assert set(items) == set(fleet.names.values())  # every install, from what the targets run
    for k, name in fleet.names.items():
        i = items[name]
        assert (i["from_version"], i["to_version"], i["path"]) == (OLD, NEW, [NEW]), i
        assert i["agreement"]["status"] == "active" and i["migrates_data"] is False
        assert (i["blobs_to_ship"], i["bytes_to_ship"]) == (0, 0)  # same images: every blob is there already
        if k == "b":
            assert i["action"] == "blocked" and i["preflight"]["ok"] is False
            assert any(f"port {NEW_PORT}" in r for r in i["reasons"]), i
        else:
            assert i["action"] == "upgrade" and i["preflight"]["ok"] is True, i
    assert "action: upgrade" in out.read_text()


def test_a_failing_canary_stops_the_rollout(fleet: Fleet) -> None:
    proc = fleet.upgrade("--target", "prov_96", "--canary", fleet.names["b"], "--json")
    assert proc.returncode == int(ExitCode.PREFLIGHT_FAILED), proc.stderr
    report = json.loads(proc.stdout)
    items = _items(fleet, report)
    assert items["b"]["status"] == "failed" and items["b"]["phase"] == "canary"
    assert items["a"]["status"] == "pending" and "canary" in report["stopped"]
    assert "c" not in items  # prov_96 only
    assert fleet.versions() == {"a": OLD, "b": OLD, "c": OLD}  # nothing upgraded, everyone serving


def test_failure_budget_then_resume(fleet: Fleet) -> None:
    args = ("--target", "all", "--canary", fleet.names["a"], "--batch-size", "1", "--max-failures", "0", "--json")
    proc = fleet.upgrade(*args)
    assert proc.returncode == int(ExitCode.PREFLIGHT_FAILED), proc.stderr
    report = json.loads(proc.stdout)
    items = _items(fleet, report)
    assert items["a"]["status"] == "done" and items["a"]["phase"] == "canary"
    assert items["b"]["status"] == "failed" and items["b"]["exit_code"] == int(ExitCode.PREFLIGHT_FAILED)
    assert f"port {NEW_PORT}" in items["b"]["error"]
    assert items["c"]["status"] == "pending", "a batch started past the failure budget"
    stopped = report["stopped"]
    assert "--max-failures 0" in stopped
    assert fleet.versions() == {"a": NEW, "b": OLD, "c": OLD}

    again = fleet.upgrade(*args)  # a stopped rollout is not started over by accident
    assert again.returncode == int(ExitCode.CONFLICT) and "--resume" in again.stderr

    proc = fleet.upgrade(*args, "--resume")
    report = json.loads(proc.stdout)
    items = _items(fleet, report)
    assert "skipping 1 target(s) already done: " + fleet.names["a"] in proc.stderr
    assert items["a"]["attempts"] == 1  # skipped, not run again
    assert items["c"]["status"] == "done" and items["c"]["version"] == NEW
    assert items["b"]["status"] == "failed" and items["b"]["attempts"] == 1  # failed ones only with --retry-failed
    assert proc.returncode == int(ExitCode.PREFLIGHT_FAILED)  # b is still not upgraded, and the exit says so

    lines = [json.loads(x) for x in (fleet.w.home / "audit.log").read_text().splitlines()]
    fleet_lines = [x for x in lines if x["what"] == "fleet upgrade"]
    assert [x["result"] for x in fleet_lines[-4:]] == ["started", "stopped: " + stopped, "started",
                                                       "finished with failures"]  # fmt: skip
    steps = [(x["where"], x["result"]) for x in lines if x["what"] == "upgrade" and x["details"].get("to") == NEW]
    assert (fleet.names["a"], "ok") in steps and (fleet.names["c"], "ok") in steps  # every step is audited
    assert any(w == fleet.names["b"] and r.startswith("refused") for w, r in steps)


def test_fleet_status_shows_the_versions(fleet: Fleet) -> None:
    assert fleet.versions() == {"a": NEW, "b": OLD, "c": NEW}


def test_status_through_an_execution_node(fleet: Fleet) -> None:
    """The same status.yml, inventory and extra-vars, run by `ansible-runner worker` on a node
    reached over SSH (transmit -> worker -> process): the same answer as a local run."""
    import sys

    dc_args = fleet.w.dcs[fleet.names["a"]].target_add_args()
    node = fleet.names["a"].replace("fleet-a", "fleet-node")
    dc_args[2] = node
    fleet.cli(*dc_args, "--python", sys.executable)  # this checkout's python has ansible-runner
    try:
        names = ",".join(fleet.names.values())
        local = json.loads(fleet.cli("fleet", "status", "--app", APP, "--target", names, "--json").stdout)["rows"]
        remote = json.loads(fleet.cli("fleet", "status", "--app", APP, "--target", names, "--json",
                                      "--execution-node", node).stdout)["rows"]  # fmt: skip
        pick = lambda rows: sorted((r["target"], r["version"], r["health"], r["reachable"]) for r in rows)  # noqa: E731
        assert pick(remote) == pick(local) and len(remote) == 3
    finally:
        fleet.cli("target", "remove", node, check=False)


# ---------------------------------------------------------------- the donor is the catalog's (issue 17 finding 3)


def _entry_doc(fleet: Fleet, **changes: Any) -> dict[str, Any]:
    doc = yaml.safe_load((fleet.root / "catalog" / APP / "spbe-app.yaml").read_text())
    doc.update(changes)
    return doc


def test_a_bundle_does_not_choose_its_own_donor(fleet: Fleet, tmp_path: Path) -> None:
    """Before: a bundle relabelled as donor 91's with `mou_required: false`, signed by a key the
    operator trusts for donor 91, installed pengaduan (Buleleng's, 51.08 in the catalog)."""
    key = Ed25519PrivateKey.generate()
    (tmp_path / "papua.pub").write_text(public_line(key.public_key(), name="papua"))
    fleet.cli("keys", "trust", str(tmp_path / "papua.pub"), "--donor-kode", "91")
    relabelled = entry_bundle(tmp_path / "relabelled.spbe", key, _entry_doc(
        fleet, donor={"pemda": "Provinsi Papua", "kode_wilayah": "91", "unit": "Diskominfo",
                      "contacts": [{"name": "X", "email": "x@papua.go.id"}]},
        sharing={"mou_required": False, "scope": ["install"], "support_months": 12}))  # fmt: skip
    before = fleet.current("b")
    try:
        proc = fleet.cli("install", APP, "--target", fleet.names["b"], "--bundle", str(relabelled), check=False)
    finally:
        fleet.cli("keys", "untrust", key_id_of(key.public_key()))
    assert proc.returncode == int(ExitCode.VERIFICATION_FAILED), proc.stderr
    assert ("names donor Provinsi Papua (91), but your catalog names donor Kabupaten Buleleng (51.08) for pengaduan:"
            " a bundle does not choose its own donor") in proc.stderr  # fmt: skip
    assert fleet.current("b") == before

    # the donor's own signature on a bundle whose entry waives the agreement the catalog requires:
    # the catalog's mou_required decides (a target of a Pemda with no agreement: exit 4)
    donor_key = load_private_key(Workspace(home=fleet.donor_home, root=fleet.root), DONOR_KEY)
    waiver = entry_bundle(tmp_path / "waiver.spbe", donor_key, _entry_doc(
        fleet, sharing={"mou_required": False, "scope": ["install"], "support_months": 12}))  # fmt: skip
    args = fleet.dcs["a"].target_add_args()
    name = fleet.names["a"].replace("fleet-a", "fleet-x")
    args[2] = name
    args[args.index("--kode-wilayah") + 1] = "92.71"  # a Pemda with no agreement
    args[args.index("--root") + 1] = str(tmp_path / "x-root")
    fleet.cli(*args)
    try:
        proc = fleet.cli("install", APP, "--target", name, "--bundle", str(waiver), check=False)
    finally:
        fleet.cli("target", "remove", name, check=False)
    assert proc.returncode == int(ExitCode.NO_AGREEMENT), proc.stderr
    assert not (tmp_path / "x-root" / "apps").exists()  # nothing shipped or installed


def test_an_upgrade_keeps_the_installed_releases_donor(fleet: Fleet) -> None:
    """The release serving on b names another donor (its record): the donor's signed bundle of
    the catalog's donor does not replace it (exit 6, before anything changes)."""
    before = fleet.current("b")
    record = json.loads(before)
    assert record["donor_kode_wilayah"] == "51.08"  # installs record their donor
    path = fleet.dcs["b"].root / "apps" / APP / "current.json"
    path.write_text(json.dumps({**record, "donor_kode_wilayah": "91"}))
    try:
        proc = fleet.cli("upgrade", APP, "--target", fleet.names["b"], "--bundle", str(fleet.bundles[NEW]), "--yes",
                         check=False)  # fmt: skip
    finally:
        path.write_bytes(before)
    assert proc.returncode == int(ExitCode.VERIFICATION_FAILED), proc.stderr
    assert f"pengaduan on {fleet.names['b']} was installed from donor 91 (its release record)" in proc.stderr


# ---------------------------------------------------------------- the README's central-team commands (issue 24)


def test_the_readme_regulation_rollout(fleet: Fleet, tmp_path: Path) -> None:
    """README, "Central team": `spbe-share plan --regulation "Permendagri 83/2022" --bundle FILE
    --out plan.yml`, then `spbe-share fleet upgrade --plan plan.yml --canary ... --batch-size 10
    --max-failures 2`, with the donor's signed bundle (trusted for its donor). Before: the plan
    could not take the bundle without APP, and `fleet upgrade --plan` built and self-signed the
    release, which every target refused. 1.0.2 is the first release naming Permendagri 83/2022:
    a and c (1.0.1) are in the plan; b (1.0.0, port 8091 taken) is blocked there."""
    untouched = fleet.current("b")

    # a plan made without a bundle says so, and fleet upgrade asks for one before it starts
    bare = tmp_path / "plan-without-bundle.yml"
    fleet.cli("plan", "--regulation", "Permendagri 83/2022", "--no-preflight", "--out", str(bare))
    assert "digest: null" in bare.read_text()
    proc = fleet.cli("fleet", "upgrade", "--plan", str(bare), "--canary", fleet.names["a"], "--batch-size", "10",
                     "--max-failures", "2", check=False)  # fmt: skip
    assert proc.returncode == int(ExitCode.INVALID_INPUT), proc.stderr
    assert f"fleet upgrade needs the donor's signed bundle of {APP} {NEWEST} ({bare} was made without one)" in proc.stderr
    assert proc.stderr.count("nothing was started") == 1 and "Traceback" not in proc.stderr
    assert fleet.versions() == {"a": NEW, "b": OLD, "c": NEW}

    # the README's two commands, as printed (with the donor's bundle)
    plan_file = tmp_path / "plan.yml"
    proc = fleet.cli("plan", "--regulation", "Permendagri 83/2022", "--bundle", str(fleet.bundles[NEWEST]),
                     "--out", str(plan_file))  # fmt: skip
    assert f"goal bundle of {APP} {NEWEST} (given): {fleet.bundles[NEWEST].resolve()}" in proc.stderr
    plan = yaml.safe_load(plan_file.read_text())
    (goal,) = plan["goal_bundles"]
    assert (goal["app"], goal["version"], goal["found"]) == (APP, NEWEST, "given")
    assert goal["digest"].startswith("sha256:")
    names = fleet.names
    actions = {i["target"]: i["action"] for i in plan["items"]}
    assert actions == {names["a"]: "upgrade", names["b"]: "blocked", names["c"]: "upgrade"}
    proc = fleet.cli("fleet", "upgrade", "--plan", str(plan_file), "--canary", names["a"], "--batch-size", "10",
                     "--max-failures", "2", check=False, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (f"goal bundle of {APP} {NEWEST}: the plan's bundle {fleet.bundles[NEWEST].resolve()} ({goal['digest']})"
            in proc.stderr)  # fmt: skip
    assert fleet.versions() == {"a": NEWEST, "b": OLD, "c": NEWEST}
    for k in ("a", "c"):  # brought there by the donor's signed bundle the plan recorded
        record = json.loads(fleet.current(k))
        assert (record["version"], record["bundle_digest"], record["donor_kode_wilayah"]) == (
            NEWEST, goal["digest"], "51.08")  # fmt: skip
    assert fleet.current("b") == untouched  # the Pemda not in the plan's rollout: untouched


# ---------------------------------------------------------------- which Pemda run a vulnerable release (issue 22)


def _audit(fleet: Fleet, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    proc = fleet.cli("audit", APP, "--json", *args, check=False)
    back = {v: k for k, v in fleet.names.items()}
    return proc, {back[i["target"]]: i for i in json.loads(proc.stdout)["installs"]}


def test_a_vulnerable_release_is_found_planned_and_fixed(fleet: Fleet, tmp_path: Path) -> None:
    name, good, bad = FLAWED_PIN
    osv = tmp_path / "pypi-all.zip"  # an ecosystem export, as carried in: a zip of OSV JSON records
    import zipfile

    with zipfile.ZipFile(osv, "w") as z:
        z.writestr("TEST-GHSA-0042.json", json.dumps({
            "schema_version": "1.6.0", "id": "TEST-GHSA-0042", "modified": "2026-11-30T00:00:00Z",
            "summary": f"{name}: request smuggling (fixture)", "aliases": ["CVE-TEST-0042"],
            "affected": [{"package": {"ecosystem": "PyPI", "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": good}]}]}],
            "database_specific": {"severity": "HIGH"}}))  # fmt: skip
    assert "imported" in fleet.cli("vulndb", "import", str(osv)).stdout
    assert fleet.versions() == {"a": NEWEST, "b": OLD, "c": NEWEST}

    proc, by = _audit(fleet, "--fail-on", "high")
    assert proc.returncode == int(ExitCode.FINDINGS), proc.stderr
    flagged = {k for k, i in by.items() if i["findings"]}
    assert flagged == {"a", "c"}  # exactly the two Pemda on the release holding the flagged package
    for k in ("a", "c"):
        (f,) = by[k]["findings"]
        assert (f["id"], f["package"], f["version"], f["fixed"], f["severity"]) == ("TEST-GHSA-0042", name, bad,
                                                                                     [good], "high")  # fmt: skip
        assert by[k]["sbom"] == "found" and by[k]["worst"] == "high"
    assert by["b"]["worst"] == "none"  # 1.0.0's SBOM was matched too: clean
    rows = json.loads(fleet.cli("fleet", "status", "--app", APP, "--json").stdout)["rows"]
    assert {r["target"]: r["worst_finding"] for r in rows} == {fleet.names["a"]: "high", fleet.names["b"]: "none",
                                                               fleet.names["c"]: "high"}  # fmt: skip

    # the donor publishes the fix with its advisory; the central team plans it and rolls it out
    fix = add_fix_release(fleet.root, fleet.donor_home)
    plan = json.loads(fleet.cli("plan", "--advisory", ADVISORY, "--bundle", str(fix), "--json").stdout)
    assert plan["advisory"] == ADVISORY
    actions = {i["target"]: (i["action"], i["from_version"], i["to_version"]) for i in plan["items"]}
    assert actions == {fleet.names["a"]: ("upgrade", NEWEST, FIX), fleet.names["b"]: ("current", OLD, FIX),
                       fleet.names["c"]: ("upgrade", NEWEST, FIX)}  # fmt: skip
    proc = fleet.cli("fleet", "upgrade", "--advisory", ADVISORY, "--bundle", str(fix), "--canary", fleet.names["a"],
                     "--batch-size", "10", check=False, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert fleet.versions() == {"a": FIX, "b": OLD, "c": FIX}

    proc, by = _audit(fleet, "--fail-on", "high")
    assert proc.returncode == 0, proc.stderr
    assert {k: (i["version"], i["worst"]) for k, i in by.items()} == {"a": (FIX, "none"), "b": (OLD, "none"),
                                                                      "c": (FIX, "none")}  # fmt: skip
