"""Target selectors (pure) and groups in the inventory file."""

from __future__ import annotations

from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput, NotFound, ValidationFailed
from spbe_share.targets.inventory import Target, load_targets, save_targets, set_groups
from spbe_share.targets.selectors import (
    all_groups,
    check_group_name,
    groups_of,
    province_group,
    select,
)
from spbe_share.workspace import Workspace
from spbe_share.yamlio import load_yaml


def t(name: str, kode: str, *groups: str) -> Target:
    return Target(name=name, host="10.0.0.1", user="root", pemda=name.title(), kode_wilayah=kode,
                  bind_address="10.0.0.1", groups=tuple(groups))  # fmt: skip


FLEET = [
    t("kota-sorong", "96.71", "papua", "kota"),
    t("raja-ampat", "96.05", "papua"),
    t("pbd-dc1", "96", "papua"),
    t("buleleng", "51.08", "bali"),
    t("denpasar", "51.71", "bali", "kota"),
    t("jayapura", "91.71", "kota"),
]


def names(selector: str) -> tuple[str, ...]:
    return select(selector, FLEET).names


def test_province_groups() -> None:
    assert province_group("96.71") == "prov_96"
    assert province_group("96") == "prov_96"
    assert groups_of(FLEET[0]) == ("kota", "papua", "prov_96")
    groups = all_groups(FLEET)
    assert groups["prov_51"] == ["buleleng", "denpasar"]
    assert groups["kota"] == ["denpasar", "jayapura", "kota-sorong"]


def test_one_target_is_single() -> None:
    sel = select("kota-sorong", FLEET)
    assert sel.names == ("kota-sorong",) and sel.single
    assert select("target:kota-sorong", FLEET).single
    assert select("local", FLEET).names == ("local",)
    assert select("local", FLEET).single


def test_groups_kode_all() -> None:
    assert names("papua") == ("kota-sorong", "pbd-dc1", "raja-ampat")
    assert not select("papua", FLEET).single
    assert names("prov_51") == ("buleleng", "denpasar")
    assert names("kode:96.*") == ("kota-sorong", "raja-ampat")  # "96" itself has no '.'
    assert names("kode:96*") == ("kota-sorong", "pbd-dc1", "raja-ampat")
    assert names("kode:51.71") == ("denpasar",)
    assert names("kode:??.71") == ("denpasar", "jayapura", "kota-sorong")
    assert names("all") == tuple(sorted(x.name for x in FLEET))
    assert "local" not in names("all")


def test_union_and_exclusion() -> None:
    assert names("bali,jayapura") == ("buleleng", "denpasar", "jayapura")
    assert names("all,!papua") == ("buleleng", "denpasar", "jayapura")
    assert names("kota,!kode:51.*") == ("jayapura", "kota-sorong")
    assert names(" papua , !raja-ampat ") == ("kota-sorong", "pbd-dc1")
    assert not select("group:papua", FLEET).single


def test_ambiguous_and_explicit() -> None:
    fleet = [*FLEET, t("bali", "51.03")]
    with pytest.raises(InvalidInput, match="both a target and a group"):
        select("bali", fleet)
    assert select("target:bali", fleet).names == ("bali",)
    assert select("group:bali", fleet).names == ("buleleng", "denpasar")


@pytest.mark.parametrize(
    ("selector", "error", "text"),
    [
        ("", InvalidInput, "empty item"),
        ("papua,", InvalidInput, "empty item"),
        ("!papua", InvalidInput, "only exclusions"),
        ("papu", NotFound, "no target or group"),
        ("group:nope", NotFound, "no target is in group"),
        ("target:nope", NotFound, "unknown target"),
        ("kode:9a", InvalidInput, "kode wilayah pattern"),
        ("kode:33.*", NotFound, "selects no target"),
        ("papua,!papua", NotFound, "selects no target"),
    ],
)
def test_bad_selectors(selector: str, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        select(selector, FLEET)


def test_group_names() -> None:
    assert check_group_name("papua_barat") == "papua_barat"
    for bad in ("Papua", "papua-barat", "1x", "all", "spbe_targets", "prov_96", "spbe_x", ""):
        with pytest.raises(InvalidInput):
            check_group_name(bad)


def test_inventory_keeps_groups(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    save_targets(ws, FLEET[:2])
    doc = load_yaml(ws.inventory_file).data
    children = doc["all"]["children"]
    assert children["papua"] == {"hosts": {"kota-sorong": None, "raja-ampat": None}}
    assert children["kota"] == {"hosts": {"kota-sorong": None}}
    assert children["prov_96"] == {"hosts": {"kota-sorong": None, "raja-ampat": None}}
    loaded = load_targets(ws)
    assert loaded["kota-sorong"].groups == ("kota", "papua")  # the province group is derived
    assert loaded["raja-ampat"].groups == ("papua",)

    moved = set_groups(ws, "raja-ampat", add=["pesisir"], remove=["papua"])
    assert moved.groups == ("pesisir",)
    assert load_targets(ws)["raja-ampat"].groups == ("pesisir",)
    with pytest.raises(InvalidInput, match="reserved"):
        set_groups(ws, "raja-ampat", add=["prov_91"])
    with pytest.raises(NotFound):
        set_groups(ws, "nope", add=["x"])


def test_hand_edited_groups_are_checked(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    save_targets(ws, FLEET[:1])
    text = ws.inventory_file.read_text()
    ws.inventory_file.write_text(text + "    stranger:\n      hosts:\n        nobody:\n")
    with pytest.raises(ValidationFailed) as exc:
        load_targets(ws)
    assert any("all.children.stranger.hosts.nobody: not a target of spbe_targets" in p for p in exc.value.problems)
    ws.inventory_file.write_text(text + "    Bad-Group:\n      hosts:\n        kota-sorong:\n")
    with pytest.raises(ValidationFailed):
        load_targets(ws)
    ws.inventory_file.write_text(text + "    bali:\n      hosts:\n        kota-sorong:\n          ansible_host: 1.2.3.4\n")
    with pytest.raises(ValidationFailed) as exc:
        load_targets(ws)
    assert any("bali.hosts.kota-sorong" in p for p in exc.value.problems)
