"""Fixtures for end-to-end tests: simulated Pemda data centers (real sshd on 127.0.0.N:22).

``datacenters``     session: {"kota-sorong": SimDC(127.0.0.2), "kabupaten-buleleng": SimDC(127.0.0.3)}
``simdc_factory``   function: ``make(name, pemda=..., kode_wilayah=...) -> SimDC`` on a fresh
                    loopback address, stopped at teardown (use it to break a DC: new host key...)
``e2e_workspace``   function: an :class:`E2EWorkspace` whose targets are both ``datacenters``,
                    added through the real ``spbe-share target add`` (host keys pinned)
``bundles``         session: app -> signed bundle of its newest release (throwaway donor key),
                    and ``"_trusted"`` -> that key's public key file
``bare_server``     module: a running :class:`baresrv.BareServer` (fresh Debian 12 root, own
                    network namespace and sshd, no Docker), removed at teardown

Skipped, with the reason, only when sshd/ssh tools are missing or we are not root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from baresrv import BareServer, bare_available
from simdc import REPO, E2EWorkspace, SimDC, make_e2e_workspace, sshd_available

BUNDLED_APPS = ("pengaduan", "e-office")
DC_SPECS = [
    ("kota-sorong", "127.0.0.2", "Kota Sorong", "96.71"),
    ("kabupaten-buleleng", "127.0.0.3", "Kabupaten Buleleng", "51.08"),
]


@pytest.fixture(scope="session")
def sshd_ok() -> None:
    reason = sshd_available()
    if reason:
        pytest.skip(f"simulated data centers unavailable: {reason}")


@pytest.fixture(scope="session")
def datacenters(sshd_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SimDC]]:
    base = tmp_path_factory.mktemp("dcs")
    dcs: dict[str, SimDC] = {}
    try:
        for name, address, pemda, kode in DC_SPECS:
            dcs[name] = SimDC(name=name, base=base, address=address, pemda=pemda, kode_wilayah=kode).start()
        yield dcs
    finally:
        for dc in dcs.values():
            dc.stop()


@pytest.fixture
def simdc_factory(sshd_ok: None, tmp_path: Path) -> Iterator[Callable[..., SimDC]]:
    made: list[SimDC] = []

    def make(name: str = "kota-uji", *, pemda: str = "Kota Uji", kode_wilayah: str = "96.72") -> SimDC:
        # address 127.0.0.1 is taken by nothing on :22 usually, but pick a fresh one anyway
        dc = SimDC(name=name, base=tmp_path / "dcs", address="127.0.0.250", pemda=pemda, kode_wilayah=kode_wilayah)
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


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """app -> signed bundle (newest release), built once per session with a throwaway key."""
    from spbe_share.bundle.keys import generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    ws = Workspace.from_options(tmp_path_factory.mktemp("donor"))
    ws.ensure()
    info = generate_key(ws)
    key = load_private_key(ws, info.name)
    out = {}
    for app in BUNDLED_APPS:
        if not (REPO / "catalog" / app / "spbe-app.yaml").exists():
            continue
        loaded = get_entry(ws, app)
        out[app] = build_bundle(ws, loaded, version=loaded.entry.latest.version, key=key).path
    out["_trusted"] = ws.keys_dir / "trusted" / f"{info.key_id}.pub"
    return out


@pytest.fixture(scope="module")
def bare_server(sshd_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareServer]:
    reason = bare_available()
    if reason:
        pytest.skip(f"simulated bare server unavailable: {reason}")
    server = BareServer(base=tmp_path_factory.mktemp("bare"))
    try:
        yield server.start()
    finally:
        server.stop()
