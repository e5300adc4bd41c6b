"""Fixtures for end-to-end tests: simulated Pemda data centers (real sshd on 127.0.0.N:22).

``datacenters``     session: {"kota-sorong": SimDC(127.0.0.2), "kabupaten-buleleng": SimDC(127.0.0.3)}
                    (keys are the logical names; ``dc.name``, the target name, has a prefix
                    unique to this test session: containers, volumes and networks are named
                    after targets on the machine's one Docker engine, which other sessions share)
``simdc_factory``   function: ``make(name, pemda=..., kode_wilayah=..., own_home=..., app_ports=...)
                    -> SimDC`` on a fresh loopback address (``app_ports`` free there too),
                    stopped at teardown (use it to break a DC: new host key...)
``bundles``         session: app -> signed bundle (newest release), each app signed by its own
                    throwaway key of the entry's donor; ``"<app>.pub"``: that key's public file,
                    to trust with ``keys trust FILE --donor-kode`` :func:`simdc.donor_kode` (app)
``e2e_workspace``   function: an :class:`E2EWorkspace` whose targets are both ``datacenters``,
                    added through the real ``spbe-share target add`` (host keys pinned)
``bare_server``     module: a running :class:`baresrv.BareServer` (fresh Debian 12 root, own
                    network namespace and sshd, no Docker; target name ``unique("bare-dc")``),
                    removed at teardown

Skipped, with the reason, only when sshd/ssh tools are missing or we are not root; in CI that
fails the run instead (tests/needs.py).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from baresrv import BareServer, bare_available
from simdc import (
    APP_PORTS,
    REPO,
    E2EWorkspace,
    SimDC,
    donor_kode,
    make_e2e_workspace,
    sshd_available,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from buildlock import image_build_lock, lock_builders  # noqa: E402
from needs import missing  # noqa: E402

from spbe_share.workspace import ENV_BUILD_CACHE  # noqa: E402

lock_builders()  # pytest-xdist workers take turns building and exporting images (tests/buildlock.py)


def _session_id() -> str:
    """4 random hex digits per test run; under pytest-xdist the run's and the worker's
    (``t1a2bw0``, ``t1a2bw1``: the workers of one run share one Docker engine too)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under xdist
    if not worker.startswith("gw"):
        return secrets.token_hex(2)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:4] or secrets.token_hex(2)
    return f"{run}w{worker[2:]}"


SESSION = _session_id()


def unique(name: str) -> str:
    """``name`` made unique to this session (another session may run the same tests right now).

    A prefix, not a suffix: sessions clean up by name prefix (``spbe-<target>-``), and
    ``spbe-kota-sorong-`` must not match this session's ``spbe-t1a2b-kota-sorong-...``.
    """
    return f"t{SESSION}-{name}"


BUNDLED_APPS = ("pengaduan", "e-office")
DC_SPECS = [
    ("kota-sorong", "127.0.0.2", "Kota Sorong", "96.71"),
    ("kabupaten-buleleng", "127.0.0.3", "Kabupaten Buleleng", "51.08"),
]


@pytest.fixture(scope="session")
def sshd_ok() -> None:
    reason = sshd_available()
    if reason:
        missing("sshd", f"simulated data centers unavailable: {reason}")


@pytest.fixture(scope="session")
def datacenters(sshd_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimDC]]:
    base = tmp_path_factory.mktemp("dcs")
    dcs: dict[str, SimDC] = {}
    try:
        for name, address, pemda, kode in DC_SPECS:
            dcs[name] = SimDC(name=unique(name), base=base, address=address, pemda=pemda, kode_wilayah=kode).start()
        yield dcs
    finally:
        for dc in dcs.values():
            dc.stop()


@pytest.fixture
def simdc_factory(sshd_ok: None, tmp_path: Path) -> Iterator[Callable[..., SimDC]]:
    made: list[SimDC] = []

    def make(name: str = "kota-uji", *, pemda: str = "Kota Uji", kode_wilayah: str = "96.72",
             own_home: bool = False, app_ports: tuple[int, ...] = APP_PORTS) -> SimDC:
        # address 127.0.0.1 is taken by nothing on :22 usually, but pick a fresh one anyway
        dc = SimDC(name=unique(name), base=tmp_path / "dcs", address="127.0.0.250", pemda=pemda,
                   kode_wilayah=kode_wilayah, own_home=own_home, app_ports=app_ports)  # fmt: skip
        made.append(dc)
        return dc.start()

    try:
        yield make
    finally:
        for dc in made:
            dc.stop()


@pytest.fixture
def e2e_workspace(datacenters: dict[str, SimDC], tmp_path: Path) -> E2EWorkspace:
    return make_e2e_workspace(tmp_path / "workspace", datacenters)


def _run_shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder shared by the pytest-xdist workers of this run (each worker's own otherwise)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.getbasetemp().parent / name  # the run's folder, above popen-gwN
        path.mkdir(exist_ok=True)
        return path
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="module", autouse=True)
def no_nftables_rules() -> Iterator[None]:
    """``SPBE_SHARE_NFTABLES=off`` for every e2e module (inherited by the CLI subprocesses):
    the simulated hosts share this machine's network namespace, where an install across hosts
    would write the database host's nftables rule for every test on the machine (and drop the
    web container's connections, which come from the Docker bridge). The rule is tested in a
    namespace of its own: tests/integration/test_nftables.py."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPBE_SHARE_NFTABLES", "off")
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One build cache (wheels, normalized layers, compressed blobs) for every workspace of this
    run, donors', operators' and the benchmarks' alike (``SPBE_SHARE_BUILD_CACHE``, inherited by
    the CLI subprocesses): the same release's images are normalized and compressed once per run,
    not once per module (the entries are content-addressed and written whole)."""
    path = _run_shared_dir(tmp_path_factory, "build-cache")
    before = os.environ.get(ENV_BUILD_CACHE)
    os.environ[ENV_BUILD_CACHE] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(ENV_BUILD_CACHE, None)
        else:
            os.environ[ENV_BUILD_CACHE] = before


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """app -> signed bundle (newest release), built once per run (the first xdist worker that
    needs them builds, the others wait for it and read the same files), each app with its
    donor's throwaway key; ``<app>.pub`` -> that donor's public key file. Read only."""
    from spbe_share.bundle.keys import export_public, generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    shared = _run_shared_dir(tmp_path_factory, "e2e-bundles")
    done = shared / "bundles.json"
    with image_build_lock():
        if done.is_file():
            return {k: Path(v) for k, v in json.loads(done.read_text()).items()}
        out = {}
        for app in BUNDLED_APPS:
            if not (REPO / "catalog" / app / "spbe-app.yaml").exists():
                continue
            ws = Workspace.from_options(shared / f"donor-{app}")
            ws.ensure()
            info = generate_key(ws, name=app, donor_kode=donor_kode(app))
            loaded = get_entry(ws, app)
            out[app] = build_bundle(ws, loaded, version=loaded.entry.latest.version,
                                    key=load_private_key(ws, info.name)).path  # fmt: skip
            out[f"{app}.pub"] = ws.home / f"{app}.pub"
            out[f"{app}.pub"].write_text(export_public(ws, info.name))
        done.write_text(json.dumps({k: str(v) for k, v in out.items()}))
        return out


@pytest.fixture(scope="module")
def bare_server(sshd_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareServer]:
    reason = bare_available()
    if reason:
        missing("bare server", f"simulated bare server unavailable: {reason}")
    server = BareServer(base=tmp_path_factory.mktemp("bare"), name=unique("bare-dc"))
    try:
        yield server.start()
    finally:
        server.stop()
