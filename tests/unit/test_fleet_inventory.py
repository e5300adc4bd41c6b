"""One runner inventory over many targets, with per-target variables (fleet runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spbe_share.remote.runner import inventory_for
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace


def target(name: str, host: str, kode: str) -> Target:
    return Target(name=name, host=host, port=22, user="spbe", key=Path("/keys/id"), pemda=name.title(),
                  kode_wilayah=kode, root="/var/lib/spbe-share", bind_address=host)  # fmt: skip


def test_host_vars_are_per_target(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    a, b = target("kota-sorong", "10.0.0.5", "96.71"), target("kota-ambon", "10.0.0.6", "81.71")
    inv = inventory_for(ws, [a, b], control_dir=tmp_path / "cp",
                        host_vars={"kota-ambon": {"spbe_ports": [8080], "spbe_root": "/srv/spbe"}})  # fmt: skip
    hosts = inv["all"]["children"]["spbe_targets"]["hosts"]
    assert set(hosts) == {"kota-sorong", "kota-ambon"}
    assert hosts["kota-ambon"]["spbe_ports"] == [8080] and hosts["kota-ambon"]["spbe_root"] == "/srv/spbe"
    assert "spbe_ports" not in hosts["kota-sorong"] and hosts["kota-sorong"]["spbe_root"] == "/var/lib/spbe-share"
    assert hosts["kota-ambon"]["ansible_host"] == "10.0.0.6"  # the connection variables stay


def test_host_vars_for_a_host_outside_the_run_is_a_bug(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    with pytest.raises(ValueError, match="kota-x"):
        inventory_for(ws, [target("kota-sorong", "10.0.0.5", "96.71")], control_dir=tmp_path / "cp",
                      host_vars={"kota-x": {"a": 1}})  # fmt: skip
