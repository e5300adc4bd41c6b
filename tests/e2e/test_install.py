"""End to end: install apps into simulated Pemda data centers over real SSH, real Docker.

One module-scoped operator workspace whose targets are the session's DCs (kota-sorong on
127.0.0.2, kabupaten-buleleng on 127.0.0.3). Bundles are built once per session (conftest),
each signed by its donor's key, and each key is trusted for its donor only (``keys trust
--donor-kode``). ``ews.dcs`` is keyed by logical names; the CLI gets ``dc.name``.
Tests run in file order: every refusal first (each must leave the target exactly as it was),
then the installs, the repeat install (nothing changed) and status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simdc import (
    TARGET_PYTHON,
    E2EWorkspace,
    SimDC,
    donor_kode,
    make_e2e_workspace,
    remove_docker_objects,
)

from spbe_share.errors import ExitCode

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
APPS = {"pengaduan": "kabupaten-buleleng", "e-office": "kota-sorong"}


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607


def snapshot(dc: SimDC, target: str) -> dict[str, Any]:
    """The target's root tree (paths, modes, sizes, content hashes) and its docker objects."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(dc.root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            digest = ""
            if p.is_file() and not p.is_symlink():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            tree[str(p.relative_to(dc.root))] = (st.st_mode, st.st_size if digest else 0, digest)
    prefix = f"spbe-{target}-"
    return {
        "tree": tree,
        "containers": sorted(
            line for line in _docker("ps", "-a", "--format", "{{.Names}} {{.ID}} {{.State}}").splitlines()
            if line.startswith(prefix)
        ),
        "volumes": sorted(v for v in _docker("volume", "ls", "--format", "{{.Name}}").split() if v.startswith(prefix)),
        "networks": sorted(n for n in _docker("network", "ls", "--format", "{{.Name}}").split() if n.startswith(prefix)),
    }




@pytest.fixture(scope="module")
def ews(datacenters: dict[str, SimDC], bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EWorkspace]:
    home = tmp_path_factory.mktemp("operator")
    w = make_e2e_workspace(home, datacenters)
    for app in APPS:
        if app in bundles:
            w.cli("keys", "trust", str(bundles[f"{app}.pub"]), "--donor-kode", donor_kode(app))
    try:
        yield w
    finally:
        remove_docker_objects(*(f"spbe-{dc.name}-" for dc in datacenters.values()))


def add_agreement(w: E2EWorkspace, app: str, target: str, number: str, *, signed: dt.date, until: dt.date,
                  scope: str = "install", donor: str | None = None) -> None:
    dc = w.dcs[target]
    w.cli("mou", "add", "--app", app, "--donor", "Donor", "--donor-kode", donor or donor_kode(app), "--adopter", dc.pemda,
          "--adopter-kode", dc.kode_wilayah, "--number", number, "--signed", signed.isoformat(),
          "--valid-until", until.isoformat(), "--scope", scope)


def install_args(app: str, target: str, bundle: Path) -> list[str]:
    args = ["install", app, "--target", target, "--bundle", str(bundle)]
    if app == "e-office":
        args += ["--set", "pemda_name=Pemerintah Kota Sorong"]
    return args


def _without_blob_store(snap: dict) -> dict:  # type: ignore[type-arg]
    """The tree without the blob store and spbe-share's receiver script (lib/spbe_receiver.py)."""
    return {**snap, "tree": {k: v for k, v in snap["tree"].items() if not k.startswith(("blobs", "lib"))}}


def refused(w: E2EWorkspace, app: str, target: str, bundle: Path, code: ExitCode, *, blobs_may_arrive: bool = False) -> str:
    """``blobs_may_arrive``: the refusal comes from the app lock, which shipping does not take
    (blobs are content-addressed, verified, and change nothing an app uses until loaded)."""
    dc = w.dcs[target]
    before = snapshot(dc, dc.name)
    proc = w.cli(*install_args(app, dc.name, bundle), check=False)
    after = snapshot(dc, dc.name)
    assert proc.returncode == int(code), proc.stderr
    assert "Traceback" not in proc.stderr
    if blobs_may_arrive:
        before, after = _without_blob_store(before), _without_blob_store(after)
    assert after == before, "a refused install changed the target"
    return proc.stderr


TODAY = dt.date.today()


def test_refusals_leave_the_target_unchanged(ews: E2EWorkspace, bundles: dict[str, Path]) -> None:
    app, target = "pengaduan", APPS["pengaduan"]
    bundle = bundles[app]
    err = refused(ews, app, target, bundle, ExitCode.NO_AGREEMENT)
    assert "no agreement" in err

    add_agreement(ews, app, target, "PKS/EXP/2025", signed=TODAY - dt.timedelta(days=400),
                  until=TODAY - dt.timedelta(days=30))
    err = refused(ews, app, target, bundle, ExitCode.NO_AGREEMENT)
    assert "expired" in err or "PKS/EXP/2025" in err

    add_agreement(ews, app, target, "PKS/SUP/2026", signed=TODAY - dt.timedelta(days=10),
                  until=TODAY + dt.timedelta(days=300), scope="support")
    err = refused(ews, app, target, bundle, ExitCode.NO_AGREEMENT)
    assert "does not cover scope install" in err

    # an agreement with another donor than the catalog's entry names: refused (before: accepted)
    add_agreement(ews, app, target, "PKS/LAIN/2026", signed=TODAY - dt.timedelta(days=10),
                  until=TODAY + dt.timedelta(days=200), donor="91")
    err = refused(ews, app, target, bundle, ExitCode.NO_AGREEMENT)
    assert "PKS/LAIN/2026 is with donor Donor (91), but the catalog's entry of pengaduan names donor" in err

    add_agreement(ews, app, target, "PKS/OK/2026", signed=TODAY - dt.timedelta(days=10),
                  until=TODAY + dt.timedelta(days=300))

    # the signer is trusted, but for another donor: refused (before: any trusted key signed anything)
    pub = bundles[f"{app}.pub"]
    kid = ews.cli("keys", "list", "--json").stdout
    kid = next(k["key_id"] for k in json.loads(kid) if k["donor_kode_wilayah"] == donor_kode(app))
    ews.cli("keys", "untrust", kid)
    ews.cli("keys", "trust", str(pub), "--donor-kode", "91")
    err = refused(ews, app, target, bundle, ExitCode.VERIFICATION_FAILED)
    assert f"signed by key {kid}" in err and "trusted for donor 91, every app only" in err
    # a key trusted by an older spbe-share (no donor): refused, naming the command that re-trusts it
    ews.cli("keys", "untrust", kid)
    legacy = ews.home / "keys" / "trusted" / f"{kid}.pub"
    shutil.copy(pub, legacy)
    err = refused(ews, app, target, bundle, ExitCode.VERIFICATION_FAILED)
    assert f"spbe-share keys trust {legacy} --donor-kode {donor_kode(app)}" in err
    ews.cli("keys", "trust", str(legacy), "--donor-kode", donor_kode(app))
    verify = ews.cli("bundle", "verify", str(bundle)).stdout
    assert f"trusted for donor {donor_kode(app)}, every app" in verify

    # preflight fails for real: someone listens on the app's port at the DC's address
    dc = ews.dcs[target]
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((dc.address, 8081))
        s.listen()
        err = refused(ews, app, target, bundle, ExitCode.PREFLIGHT_FAILED)
    assert "port 8081" in err

    # a tampered bundle: one byte flipped in the middle
    bad = ews.home / "tampered.spbe"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    err = refused(ews, app, target, bad, ExitCode.VERIFICATION_FAILED)
    assert "verification failed" in err

    # the lock is held by another operator
    lock = dc.root / "locks" / f"{app}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"who": "budi@laptop-lain", "pid": 4242, "host": "laptop-lain",
                                "since": "2026-11-22T08:00:00Z", "operation": "install pengaduan 1.0.0",
                                "token": "x"}))
    try:
        err = refused(ews, app, target, bundle, ExitCode.LOCKED, blobs_may_arrive=True)
        assert "budi@laptop-lain" in err and "2026-11-22T08:00:00Z" in err
    finally:
        lock.unlink()
        if not any(lock.parent.iterdir()):
            lock.parent.rmdir()

    audit = [json.loads(line) for line in (ews.home / "audit.log").read_text().splitlines()]
    results = [a["result"] for a in audit if a["what"] == "install"]
    assert results[-9:] == ["refused: no_agreement"] * 4 + ["refused: verification_failed"] * 2 + [
        "refused: preflight_failed", "refused: verification_failed", "refused: locked"]


def test_changed_host_key_is_refused(ews: E2EWorkspace, bundles: dict[str, Path], simdc_factory: Any) -> None:
    dc = simdc_factory("kota-uji", pemda="Kota Uji", kode_wilayah="96.72")
    ews.cli(*dc.target_add_args(), "--python", TARGET_PYTHON)
    ews.dcs["kota-uji"] = dc
    add_agreement(ews, "pengaduan", "kota-uji", "PKS/UJI/2026", signed=TODAY - dt.timedelta(days=1),
                  until=TODAY + dt.timedelta(days=30))
    try:
        dc.restart(new_host_key=True)
        err = refused(ews, "pengaduan", "kota-uji", bundles["pengaduan"], ExitCode.VERIFICATION_FAILED)
        assert "key changed" in err and "pinned" in err
    finally:
        ews.dcs.pop("kota-uji")
        ews.cli("target", "remove", dc.name)  # else `status` (exit 6 on a host-key mismatch) sees it


def _healthz(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - loopback test URL
        assert r.status == 200
        return json.loads(r.read())


@pytest.mark.parametrize("app", list(APPS))
def test_install_and_reach_healthz(ews: E2EWorkspace, bundles: dict[str, Path], app: str) -> None:
    if app not in bundles:
        pytest.skip(f"catalog/{app} is not there yet")
    target = APPS[app]
    add_agreement(ews, app, target, f"PKS/{app.upper()}/2026", signed=TODAY - dt.timedelta(days=1),
                  until=TODAY + dt.timedelta(days=365))
    dc = ews.dcs[target]
    proc = ews.cli(*install_args(app, dc.name, bundles[app]), "--json", timeout=900)
    result = json.loads(proc.stdout)
    assert result["changed"] and result["new_release"]
    # every blob is in the target's store, verified: shipped now, or (pengaduan) by the attempt
    # refused for the lock above (shipping takes no app lock)
    assert result["blobs_total"] > 0 and 0 <= result["bytes_sent"] <= result["bytes_total"]
    store = {p.name.removesuffix(".zst") for p in (dc.root / "blobs" / "sha256").iterdir() if p.is_file()}
    manifest = json.loads(subprocess.run(["tar", "-xOf", str(bundles[app]), "spbe-bundle.json"],  # noqa: S603,S607
                                         capture_output=True, check=True).stdout)
    assert {f["sha256"] for f in manifest["files"] if f["path"].startswith("blobs/")} <= store
    for url in result["urls"]:
        assert url.startswith(f"http://{dc.address}:")
        _healthz(url + "healthz")
    # docker-init is every container's PID 1: a server as PID 1 ignores SIGTERM, each stop waited 10 s
    names = [line.split()[0] for line in snapshot(dc, dc.name)["containers"]]
    assert names and _docker("inspect", "--format", "{{.HostConfig.Init}}", *names).split() == ["true"] * len(names)
    # their logs rotate, also on an engine spbe-share did not provision (this machine's has no daemon.json)
    logs = [json.loads(line) for line in _docker("inspect", "--format", "{{json .HostConfig.LogConfig}}", *names).split()]
    assert logs == [{"Type": "json-file", "Config": {"max-file": "5", "max-size": "10m"}}] * len(names)
    current = json.loads((dc.root / "apps" / app / "current.json").read_text())
    assert current["app"] == app and current["result"] == "ok" and current["target"] == dc.name
    secrets_dir = dc.root / "apps" / app / "secrets"
    workspace_files = [p for p in ews.home.rglob("*") if p.is_file() and p.suffix != ".spbe"]
    secret_files = [f for f in secrets_dir.iterdir() if f.is_file()]
    assert secret_files
    for f in secret_files:
        assert f.stat().st_mode & 0o777 == 0o600
        value = f.read_bytes()
        assert value.decode() not in proc.stdout + proc.stderr
        assert value.decode() not in json.dumps(current)
        # never in the workspace: run logs, job events, extravars, audit log, caches
        assert not [p for p in workspace_files if value in p.read_bytes()]

    # the same install again changes nothing and says so; no container was recreated
    ids_before = snapshot(dc, dc.name)["containers"]
    again = ews.cli(*install_args(app, dc.name, bundles[app]))
    assert f"already installed: {app} {result['version']} on {dc.name}, nothing changed" in again.stdout
    assert snapshot(dc, dc.name)["containers"] == ids_before


def test_a_record_from_the_target_naming_something_else_is_refused(ews: E2EWorkspace, bundles: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    """A target's current.json is untrusted: a record naming another app or target writes nothing."""
    app = "pengaduan"
    dc = ews.dcs[APPS[app]]
    current = dc.root / "apps" / app / "current.json"
    original = current.read_text()
    cache = ews.home / "cache" / "releases" / dc.name / f"{app}.json"
    cached = cache.read_text()
    evil = tmp_path / "evil"
    try:
        for field, value in (("app", f"{evil}/x"), ("target", f"../../../../../../../..{evil}/y")):
            doc = json.loads(original)
            doc[field] = value
            current.write_text(json.dumps(doc))
            proc = ews.cli(*install_args(app, dc.name, bundles[app]), check=False)
            assert proc.returncode == int(ExitCode.REMOTE_FAILED), proc.stderr
            assert f"the release record says {field} {value!r}" in proc.stderr
            assert "Traceback" not in proc.stderr
            assert not evil.exists()
            assert cache.read_text() == cached
    finally:
        current.write_text(original)


def test_status_shows_every_install(ews: E2EWorkspace, bundles: dict[str, Path]) -> None:
    proc = ews.cli("status", "--json")
    rows = json.loads(proc.stdout)
    seen = {(r["app"], r["target"]): r for r in rows}
    for app, target in APPS.items():
        if app not in bundles:
            continue
        row = seen[(app, ews.dcs[target].name)]
        assert row["health"] == "healthy", row
        assert row["pemda"] == ews.dcs[target].pemda


def _noop_check(ews: E2EWorkspace, app: str, bundle: Path, sets: tuple[str, ...] = ()) -> Any:
    """install's no-op check, in this process: every check of the plan, then the one round trip."""
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import noop_check, plan_install

    ctx = OpContext.create(ews.ws)
    plan = plan_install(ctx, app=app, target_name=ews.dcs[APPS[app]].name, bundle=bundle, sets=sets,
                        run_preflight=False)
    return noop_check(ctx, plan)


def test_the_noop_check_sees_what_differs_and_respects_the_lock(ews: E2EWorkspace, bundles: dict[str, Path]) -> None:
    """A repeat install stops after the no-op check only when the target runs exactly the
    request: a hand-edited config file, a secret copy readable by others, a stopped container,
    another value, each makes it go the full way; a held lock is left alone."""
    app = "pengaduan"
    if app not in bundles:
        pytest.skip(f"catalog/{app} is not there yet")
    dc, bundle = ews.dcs[APPS[app]], bundles[app]
    adir = dc.root / "apps" / app
    before = snapshot(dc, dc.name)
    assert _noop_check(ews, app, bundle).same

    cfg = next(p for p in (adir / "config").rglob("*") if p.is_file())
    original = cfg.read_bytes()
    cfg.write_bytes(original + b"\n")
    try:
        assert _noop_check(ews, app, bundle).differences == [f"file {cfg}: content differs"]
    finally:
        cfg.write_bytes(original)

    copy = next(p for p in (adir / "secrets").glob("*/*") if p.is_file())
    copy.chmod(0o444)
    try:
        assert _noop_check(ews, app, bundle).differences == [
            f"secret copy {copy.parent.name}/{copy.name}: owner or mode differs"]
    finally:
        copy.chmod(0o400)

    answer = _noop_check(ews, app, bundle, sets=("kontak_pengaduan=0812-0000-1111",))
    assert not answer.same and answer.differences == ["release record: values differs"]

    lock = dc.root / "locks" / f"{app}.lock"
    lock.write_text(json.dumps({"who": "someone else", "token": "theirs", "lease_s": 600}))
    try:
        answer = _noop_check(ews, app, bundle)
        assert not answer.same and answer.locked == {"who": "someone else", "token": "theirs", "lease_s": 600}
        assert json.loads(lock.read_text())["token"] == "theirs"
    finally:
        lock.unlink()

    web = f"spbe-{dc.name}-{app}-web"
    _docker("stop", web)
    try:
        answer = _noop_check(ews, app, bundle)
        assert not answer.same and answer.differences == [f"container {web} is exited"]
    finally:
        _docker("start", web)
    deadline = time.monotonic() + 60
    while not (answer := _noop_check(ews, app, bundle)).same and time.monotonic() < deadline:
        time.sleep(1)
    assert answer.same, answer.differences
    assert snapshot(dc, dc.name)["tree"] == before["tree"], "the no-op check changed the target"


def test_a_changed_value_is_installed_not_taken_for_a_noop(ews: E2EWorkspace, bundles: dict[str, Path]) -> None:
    app = "pengaduan"
    if app not in bundles:
        pytest.skip(f"catalog/{app} is not there yet")
    dc = ews.dcs[APPS[app]]
    proc = ews.cli(*install_args(app, dc.name, bundles[app]), "--set", "kontak_pengaduan=0812-0000-1111", "--json")
    result = json.loads(proc.stdout)
    assert result["changed"] and result["new_release"], result
    current = json.loads((dc.root / "apps" / app / "current.json").read_text())
    assert current["values"]["kontak_pengaduan"] == "0812-0000-1111"
    assert any(b"0812-0000-1111" in p.read_bytes() for p in (dc.root / "apps" / app / "config").rglob("*") if p.is_file())
    _healthz(result["urls"][0] + "healthz")


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - loopback test URL
        return str(r.read().decode())


def _wait_page(url: str, text: str, *, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            page = _page(url)
            if text in page:
                return page
        except OSError:
            page = ""
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} does not show {text!r} after {seconds}s: {page[:500]!r}")
        time.sleep(1)


def test_settings_change_after_install_and_a_support_bundle_for_the_donor(ews: E2EWorkspace, bundles: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    """Issue 20, items 3 and 4, on the pengaduan installed above: ``config set`` changes what the
    app shows and survives a restart; a value that breaks health is rolled back by itself (the
    old value serves, history shows the attempt); an immutable setting, an unknown one and an
    invalid line are refused and change nothing; the support bundle opens with the donor's key
    and holds no secret value and no personal data the app holds."""
    from pyrage import x25519

    app = "pengaduan"
    if app not in bundles:
        pytest.skip(f"catalog/{app} is not there yet")
    dc = ews.dcs[APPS[app]]
    adir = dc.root / "apps" / app
    url = json.loads((adir / "current.json").read_text())["urls"][0]
    web = f"spbe-{dc.name}-{app}-web"
    contact = "Humas: humas.buleleng@example.go.id, 0812-3456-7890"

    got = json.loads(ews.cli("config", "get", app, "--target", dc.name, "--json").stdout)
    rows = {r["name"]: r for r in got["settings"]}
    assert rows["berkas_basis_data"]["immutable"] and not rows["unit_pengelola"]["immutable"]

    # a declared setting changes the app's pages, restarts only web, and survives a restart
    started = _docker("inspect", "--format", "{{.State.StartedAt}}", web).strip()
    proc = ews.cli("config", "set", app, "--target", dc.name, "unit_pengelola=Bidang Pengaduan Uji",
                   f"kontak_pengaduan={contact}", "--json")
    result = json.loads(proc.stdout)
    assert result["restarted"] == [web] and set(result["changed"]) == {"unit_pengelola", "kontak_pengaduan"}
    assert _docker("inspect", "--format", "{{.State.StartedAt}}", web).strip() != started
    assert "Bidang Pengaduan Uji" in _page(url) and "humas.buleleng@example.go.id" in _page(url)
    _docker("restart", web)
    _wait_page(url, "Bidang Pengaduan Uji")
    current = json.loads((adir / "current.json").read_text())
    assert current["operation"] == "config" and current["values"]["unit_pengelola"] == "Bidang Pengaduan Uji"

    # refusals: one line, the documented exit code, the target unchanged
    before = snapshot(dc, dc.name)
    for args, words in ((["berkas_basis_data=pengaduan-pemda.db"], "cannot change after install"),
                        (["warna=biru"], "not a setting of pengaduan"),
                        (["unit_pengelola"], "expected NAME=value")):
        refused_proc = ews.cli("config", "set", app, "--target", dc.name, *args, check=False)
        assert refused_proc.returncode == int(ExitCode.INVALID_INPUT), refused_proc.stderr
        assert words in refused_proc.stderr and "Traceback" not in refused_proc.stderr
        assert len(refused_proc.stderr.strip().splitlines()) == 1, refused_proc.stderr
    assert snapshot(dc, dc.name) == before

    # a value the app cannot start with: health fails, the old value comes back by itself
    t0 = time.monotonic()
    broken = ews.cli("config", "set", app, "--target", dc.name, "unit_pengelola=", check=False, timeout=600)
    rollback_s = time.monotonic() - t0
    assert broken.returncode == int(ExitCode.ROLLED_BACK), broken.stderr
    assert "rolled back" in broken.stderr
    _wait_page(url, "Bidang Pengaduan Uji", seconds=10)
    assert json.loads((adir / "current.json").read_text())["values"]["unit_pengelola"] == "Bidang Pengaduan Uji"
    attempts = json.loads(ews.cli("history", app, "--target", dc.name, "--json").stdout)["attempts"]
    assert [(a["operation"], a["result"]) for a in attempts[-2:]] == [("config", "ok"), ("config", "rolled_back")]
    assert "health" in (attempts[-1]["cause"] or "").lower()

    # an install again keeps the settings the deployment has now (like an upgrade), not the defaults
    ews.cli(*install_args(app, dc.name, bundles[app]))
    assert json.loads((adir / "current.json").read_text())["values"]["unit_pengelola"] == "Bidang Pengaduan Uji"
    assert "Bidang Pengaduan Uji" in _page(url)

    # personal data the app holds: a complaint with a NIK, and a log line naming it
    nik = "3201234567890123"
    req = urllib.request.Request(url + "api/v1/complaints", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"nama": "Warga Uji", "kontak": "warga.uji@example.com",
                                                  "kategori": "Infrastruktur", "judul": "Jalan rusak",
                                                  "isi": f"Jalan di depan rumah rusak parah, NIK saya {nik}."}).encode())
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback test URL
        assert r.status in (200, 201)
    _docker("exec", web, "sh", "-c", f"echo 'pengaduan baru dari warga.uji@example.com NIK {nik}' > /proc/1/fd/1")

    identity = x25519.Identity.generate()
    key_file = tmp_path / "donor.key"
    key_file.write_text(f"# donor\n{identity}\n")
    key_file.chmod(0o600)
    pub = tmp_path / "donor.pub"
    pub.write_text(f"{identity.to_public()}\n")
    out = tmp_path / "support.tar"
    t0 = time.monotonic()
    made = json.loads(ews.cli("support-bundle", app, "--target", dc.name, "--since", "1h", "--out", str(out),
                              "--seal-to", str(pub), "--json", timeout=600).stdout)
    bundle_s = time.monotonic() - t0
    assert made["sealed_to"] == [str(identity.to_public())]
    names = {f["name"] for f in made["files"]}
    assert {"versions.json", "deploy-spec.json", "history.json", "last-failed-run.json", "containers.json",
            "logs/web.log", "host.json", "preflight.json"} <= names, names
    listing = ews.cli("support-bundle", "inspect", str(out)).stdout
    assert "logs/web.log" in listing and "pengaduan baru" not in listing  # sealed: names and sizes only
    shown = ews.cli("support-bundle", "inspect", str(out), "--identity", str(key_file), "--json").stdout
    contents = json.loads(shown)["contents"]
    text = "\n".join(contents.values())
    assert "pengaduan baru dari [email] NIK [nik]" in contents["logs/web.log"]
    assert "rolled_back" in contents["history.json"] and "Bidang Pengaduan Uji" in contents["deploy-spec.json"]
    raw_bundle = out.read_bytes()
    secrets = [f.read_text().strip() for f in (adir / "secrets").iterdir() if f.is_file()]
    for value in [*secrets, nik, "warga.uji@example.com", "humas.buleleng@example.go.id", "0812-3456-7890"]:
        assert value not in text, value
        assert value.encode() not in raw_bundle
    print(f"\nconfig set rolled back in {rollback_s:.1f}s; support bundle made in {bundle_s:.1f}s")


def _on_terminal(home: Path, *args: str, answer: str) -> tuple[int, str]:
    """``spbe-share ARGS`` on a pty (stdin and stdout), answering its confirmation with ``answer``."""
    import sys

    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from termtext import run_on_terminal

    return run_on_terminal(["--workspace", str(home), *args], env={"SPBE_SHARE_OPERATOR": "e2e-test"}, cwd=REPO,
                           answer=answer)


def _token(url: str, user: str, password: str) -> int:
    req = urllib.request.Request(url + "api/v1/tokens", data=json.dumps({"username": user, "password": password}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback test URL
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_first_login_credentials_and_logs(ews: E2EWorkspace, bundles: dict[str, Path], tmp_path: Path) -> None:
    """e-office (installed above): install names the user and the command, never the password;
    `credentials` shows the password on a terminal after a yes (refused into a pipe, audited
    without the value) or seals it to an officer's age key, and it logs in through the API;
    `logs --grep` shows a line the app's database wrote, its secret value redacted."""
    import pyrage
    from pyrage import x25519

    app = "e-office"
    if app not in bundles:
        pytest.skip(f"catalog/{app} is not there yet")
    dc = ews.dcs[APPS[app]]
    secrets = dc.root / "apps" / app / "secrets"
    password = (secrets / "ADMIN_PASSWORD").read_text().strip()
    url = json.loads((dc.root / "apps" / app / "current.json").read_text())["urls"][0]

    out = ews.cli(*install_args(app, dc.name, bundles[app])).stdout
    command = f"spbe-share --workspace {ews.home} credentials {app} --target {dc.name}"
    assert f"first login: user admin at {url.rstrip('/')}/login" in out and command in out, out
    assert "Log in as admin; e-Office asks to replace the initial password before anything else" in out
    assert password not in out

    piped = ews.cli("credentials", app, "--target", dc.name, check=False)
    assert piped.returncode == int(ExitCode.INVALID_INPUT) and "not on a terminal" in piped.stderr
    assert password not in piped.stdout + piped.stderr
    rc, shown = _on_terminal(ews.home, "credentials", app, "--target", dc.name, answer="n")
    assert rc != 0 and password not in shown
    rc, shown = _on_terminal(ews.home, "credentials", app, "--target", dc.name, answer="y")
    assert rc == 0, shown
    revealed = next(ln.split(":", 1)[1].strip() for ln in shown.splitlines() if ln.startswith("password:"))
    assert revealed == password
    assert _token(url, "admin", revealed) == 201
    assert _token(url, "admin", revealed + "x") == 401

    officer = x25519.Identity.generate()
    (tmp_path / "officer.pub").write_text(f"# petugas TIK\n{officer.to_public()}\n")
    sealed = tmp_path / "admin.age"
    proc = ews.cli("credentials", app, "--target", dc.name, "--seal-to", str(tmp_path / "officer.pub"),
                   "--out", str(sealed))
    assert password not in proc.stdout + proc.stderr and str(officer.to_public()) in proc.stdout
    assert password.encode() not in sealed.read_bytes()
    envelope = json.loads(pyrage.decrypt(sealed.read_bytes(), [officer]))
    assert envelope["secrets"] == {"ADMIN_PASSWORD": password} and envelope["app"] == app
    audit = [json.loads(line) for line in (ews.home / "audit.log").read_text().splitlines()]
    shown_lines = [a for a in audit if a["what"] == "credentials"]
    assert [(a["result"], a["details"]["shown"]) for a in shown_lines[-2:]] == [("ok", "terminal"), ("ok", "sealed")]
    assert password not in (ews.home / "audit.log").read_text()

    # the database writes the role name of a failed login: here the value of DB_PASSWORD
    db_password = (secrets / "DB_PASSWORD").read_text().strip()
    subprocess.run(["docker", "exec", "-e", "PGPASSWORD=wrong", f"spbe-{dc.name}-{app}-db", "psql", "-h",  # noqa: S603,S607
                    "127.0.0.1", "-U", db_password, "-d", "eoffice", "-c", "select 1"], capture_output=True, check=False)
    written = subprocess.run(["docker", "logs", f"spbe-{dc.name}-{app}-db"], capture_output=True, text=True,  # noqa: S603,S607
                             check=False)
    assert db_password in written.stdout + written.stderr  # in clear in the container's log
    logs = ews.cli("logs", app, "--target", dc.name, "--grep", "authentication failed")
    assert 'db | ' in logs.stdout and '[secret DB_PASSWORD]' in logs.stdout, logs.stdout
    assert db_password not in logs.stdout + logs.stderr
    assert all(ln.startswith("db | ") and "authentication failed" in ln.lower() for ln in logs.stdout.splitlines())
    web = ews.cli("logs", app, "--target", dc.name, "--component", "web", "--lines", "50").stdout
    assert "web | " in web and "untuk Pemerintah Kota Sorong" in web
    gone = ews.cli("logs", app, "--target", dc.name, "--component", "nope", check=False)
    assert gone.returncode == int(ExitCode.NOT_FOUND) and "has no component nope" in gone.stderr
