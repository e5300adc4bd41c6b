"""``spbe-share prune``: which releases stay (the plan, pure) and what the target module removes
(``module_utils/spbe_prune.py`` on a folder tree, with a recording docker; the real engine and
a simulated data center: ``tests/e2e/test_upgrade.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_upgrade_plan import record

from spbe_share.ops.prune import PruneStats
from spbe_share.plans.prune import prune_plan

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))
import spbe_prune as m  # noqa: E402

# ---------------------------------------------------------------- the plan


def test_the_serving_release_and_the_newest_others_that_served_stay() -> None:
    a = record("1.0.0", "20261120T000000Z", operation="install")
    b = record("1.1.0", "20261121T000000Z", operation="upgrade")
    bad = record("1.2.0", "20261122T000000Z", result="rolled_back")
    c = record("1.1.1", "20261123T000000Z", operation="upgrade")
    back = record("1.1.0", "20261124T000000Z", operation="rollback")  # serving: 1.1.0 again
    records = [a, b, bad, c, back]
    assert prune_plan(records, back[1], keep=2).keep == ["1.1.0", "1.1.1"]
    assert prune_plan(records, back[1], keep=2).gone == ["1.0.0"]
    assert prune_plan(records, back[1], keep=3).gone == []  # 1.2.0 never served: nothing to count
    one = prune_plan(records, back[1], keep=1)
    assert (one.keep, one.gone) == (["1.1.0"], ["1.1.1", "1.0.0"])
    with pytest.raises(ValueError, match="keep"):
        prune_plan(records, back[1], keep=0)


# ---------------------------------------------------------------- the module on the target

H = {n: f"{n:x}" * 64 for n in range(1, 10)}  # hex digests 111..., 222..., ...


class FakeDocker:
    """The engine as docker's CLI shows it: images {id: (tags, layers, size)}, containers {name: image}."""

    def __init__(self, images: dict[str, tuple[list[str], list[str], int]], containers: dict[str, str]) -> None:
        self.images, self.containers = images, containers
        self.root_dir = "/"
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        a = list(argv)
        self.calls.append(a)
        ok = lambda out="": subprocess.CompletedProcess(a, 0, out, "")  # noqa: E731
        if a[:2] == ["docker", "info"]:
            return ok(self.root_dir + "\n")
        if a[:3] == ["docker", "image", "ls"]:
            return ok("\n".join(self.images))
        if a[:3] == ["docker", "image", "inspect"]:
            return ok(json.dumps([{"Id": i, "RepoTags": self.images[i][0], "Size": self.images[i][2],
                                   "RootFS": {"Layers": self.images[i][1]}} for i in a[4:] if i in self.images]))
        if a[:2] == ["docker", "ps"]:
            image = next(x.split("=", 1)[1] for x in a if x.startswith("ancestor="))
            return ok("\n".join(n for n, i in self.containers.items() if i == image))
        if a[:3] == ["docker", "image", "rm"]:
            for ref in a[4:]:
                for i, (tags, _layers, _size) in list(self.images.items()):
                    if ref == i or ref in tags:
                        del self.images[i]
            return ok()
        raise AssertionError(a)


def _deploy(app_dir: Path, name: str, images: list[tuple[str, list[str]]]) -> None:
    (app_dir / "deploys").mkdir(parents=True, exist_ok=True)
    (app_dir / "deploys" / f"{name}.json").write_text(json.dumps({"version": name.split("-", 1)[1], "images": [
        {"component": "web", "ref": "x", "config": "sha256:" + c, "layers": ["sha256:" + x for x in layers]}
        for c, layers in images]}))


def _blob(root: Path, hexd: str, *, age_s: float, zst: bool = False) -> Path:
    p = root / "blobs" / "sha256" / (hexd + (".zst" if zst else ""))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x" * 100)
    os.utime(p, (1_000_000 - age_s, 1_000_000 - age_s))
    return p


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, FakeDocker]:
    """e-office: 1.0.0 (image 1, layers 2+3), 1.1.0 (image 4, layers 2+5), 1.1.1 serving (image 6,
    layers 2+5); pengaduan's deploy names image 7 whose layer is 3; a leftover image 8 no spec names."""
    root = tmp_path / "srv"
    app = root / "apps" / "e-office"
    _deploy(app, "20261120T000000Z-1.0.0", [(H[1], [H[2], H[3]])])
    _deploy(app, "20261121T000000Z-1.1.0", [(H[4], [H[2], H[5]])])
    _deploy(app, "20261122T000000Z-1.1.1", [(H[6], [H[2], H[5]])])
    _deploy(root / "apps" / "pengaduan", "20261120T000000Z-2.0.0", [(H[7], [H[3]])])
    for v in ("1.0.0", "1.1.0", "1.1.1"):
        (app / "bundles" / v / "entry").mkdir(parents=True)
        (app / "bundles" / v / "entry" / "spbe-app.yaml").write_text("id: e-office\n" * 10)
        (app / "bundles" / f"{v}.tar.zst").write_bytes(v.encode() * 10)
    (app / "releases").mkdir()
    (app / "releases" / "20261120T000000Z-1.0.0.json").write_text("{}")
    for n in (1, 2, 3, 4, 5, 6, 7):
        _blob(root, H[n], age_s=10 * 86400, zst=n == 3)
    docker = FakeDocker({
        "sha256:" + H[1]: (["spbe/e-office-web:1.0.0"], ["sha256:" + H[2], "sha256:" + H[3]], 5000),
        "sha256:" + H[4]: (["spbe/e-office-web:1.1.0"], ["sha256:" + H[2], "sha256:" + H[5]], 6000),
        "sha256:" + H[6]: (["spbe/e-office-web:1.1.1"], ["sha256:" + H[2], "sha256:" + H[5]], 6000),
        "sha256:" + H[7]: ([], ["sha256:" + H[3]], 4000),
    }, {"spbe-t-e-office-web": "sha256:" + H[6], "spbe-t-pengaduan-web": "sha256:" + H[7]})
    return root, app, docker


def test_the_versions_not_kept_lose_their_deploy_spec_bundle_images_and_blobs(world: tuple[Path, Path, FakeDocker]
                                                                               ) -> None:  # fmt: skip
    root, app, docker = world
    young = _blob(root, H[9], age_s=60)  # a ship under way
    stray = root / "blobs" / "sha256" / "notes.txt"
    stray.write_text("mine")
    done = m.prune({"root": str(root), "app_dir": str(app), "keep": ["1.1.1", "1.1.0"]}, docker, now=1_000_000)
    PruneStats.model_validate(done)  # what the controller reads
    assert sorted(done["files"]) == ["bundles/1.0.0", "bundles/1.0.0.tar.zst", "deploys/20261120T000000Z-1.0.0.json"]
    assert not (app / "bundles" / "1.0.0").exists() and (app / "bundles" / "1.1.0").is_dir()
    assert (app / "releases" / "20261120T000000Z-1.0.0.json").exists()  # history stays
    assert [i["id"] for i in done["images"]] == ["sha256:" + H[1]] and done["images_bytes"] == 5000
    assert ["docker", "image", "rm", "--", "spbe/e-office-web:1.0.0"] in docker.calls
    assert "sha256:" + H[4] in docker.images  # 1.1.0 stays: rollback finds it
    # image 1's blob goes; layer 3 stays (pengaduan's spec and image 7 name it), 2 and 5 too
    left = sorted(p.name for p in (root / "blobs" / "sha256").iterdir())
    assert left == sorted([H[2], H[3] + ".zst", H[4], H[5], H[6], H[7], H[9], "notes.txt"])
    assert (done["blobs"], done["blobs_bytes"], done["blobs_young"]) == (1, 100, 1)
    assert young.exists() and stray.read_text() == "mine"
    assert done["bytes"] == done["files_bytes"] + 5000 + 100
    assert isinstance(done["disk_freed"], int) and done["disk_freed"] >= 0  # measured (the fake images weigh nothing)


def test_an_image_a_container_was_made_from_or_a_staying_spec_names_is_kept(world: tuple[Path, Path, FakeDocker]
                                                                             ) -> None:  # fmt: skip
    root, app, docker = world
    docker.containers["forgotten"] = "sha256:" + H[1]  # a stopped container someone made by hand
    _deploy(root / "apps" / "pengaduan", "20261121T000000Z-2.1.0", [(H[4], [H[2], H[5]])])  # shares 1.1.0's image
    done = m.prune({"root": str(root), "app_dir": str(app), "keep": ["1.1.1"]}, docker, now=1_000_000)
    kept = {k["id"][7:8]: k["why"] for k in done["images_kept"]}
    assert kept == {"1": "used by forgotten", "4": "a release that stays uses it"}
    assert done["images"] == [] and "sha256:" + H[1] in docker.images
    assert not any(c[:3] == ["docker", "image", "rm"] for c in docker.calls)
    assert (root / "blobs" / "sha256" / H[1]).exists()  # its image is still in the engine


def test_check_mode_says_what_would_go_and_removes_nothing(world: tuple[Path, Path, FakeDocker]) -> None:
    root, app, docker = world
    before = sorted(str(p) for p in root.rglob("*"))
    done = m.prune({"root": str(root), "app_dir": str(app), "keep": ["1.1.1"], "check": True}, docker, now=1_000_000)
    assert done["check"] and len(done["files"]) == 6 and len(done["images"]) == 2 and done["blobs"] == 2
    assert done["disk_freed"] is None
    assert sorted(str(p) for p in root.rglob("*")) == before and len(docker.images) == 4
    assert not any(c[:3] == ["docker", "image", "rm"] for c in docker.calls)


def test_a_link_where_a_bundle_was_is_removed_as_a_link(world: tuple[Path, Path, FakeDocker], tmp_path: Path) -> None:
    root, app, docker = world
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    (app / "bundles" / "0.9.0").symlink_to(precious)
    done = m.prune({"root": str(root), "app_dir": str(app), "keep": ["1.1.1", "1.1.0"]}, docker, now=1_000_000)
    assert "bundles/0.9.0" in done["files"]
    assert not os.path.lexists(app / "bundles" / "0.9.0") and (precious / "keep.txt").read_text() == "mine"


def test_no_version_to_keep_is_refused() -> None:
    with pytest.raises(m.PruneError, match="keep"):
        m.prune({"root": "/nonexistent", "app_dir": "/nonexistent/apps/x", "keep": []})
    with pytest.raises(m.PruneError, match="keep"):
        m.prune({"root": "/nonexistent", "app_dir": "/nonexistent/apps/x", "keep": ["../1.0"]})


def test_a_release_that_never_served_has_only_its_bundle_and_its_images_go_too(world: tuple[Path, Path, FakeDocker]
                                                                               ) -> None:  # fmt: skip
    root, app, docker = world
    (app / "bundles" / "1.2.0").mkdir()
    (app / "bundles" / "1.2.0" / "spbe-bundle.json").write_text(json.dumps({"images": [
        {"component": "web", "config": "sha256:" + H[8], "layers": ["sha256:" + H[2]]}]}))
    docker.images["sha256:" + H[8]] = (["spbe/e-office-web:1.2.0"], ["sha256:" + H[2]], 7000)
    done = m.prune({"root": str(root), "app_dir": str(app), "keep": ["1.1.1", "1.1.0"]}, docker, now=1_000_000)
    assert sorted(i["id"][7:8] for i in done["images"]) == ["1", "8"] and "bundles/1.2.0" in done["files"]
    assert "sha256:" + H[8] not in docker.images


def test_the_figures_of_several_hosts_add_up_and_name_their_host() -> None:
    from spbe_share.ops.prune import merged

    def stats(files: list[str], n: int, freed: int | None) -> PruneStats:
        return PruneStats(check=freed is None, keep=["1.0.0"], files=files, files_bytes=n, images=[], images_kept=[],
                          images_bytes=0, blobs=n, blobs_bytes=n, blobs_young=0, bytes=2 * n, disk_freed=freed)

    web, db = stats(["bundles/2.0.0"], 10, 100), stats(["bundles/2.0.0", "deploys/x-2.0.0.json"], 5, 50)
    both = merged({"kota-web": web, "kota-db": db})
    assert both.files == ["kota-web:bundles/2.0.0", "kota-db:bundles/2.0.0", "kota-db:deploys/x-2.0.0.json"]
    assert (both.files_bytes, both.blobs, both.bytes, both.disk_freed) == (15, 15, 30, 150)
    assert merged({"kota-web": web}) is web
    assert merged({"a": stats([], 1, None), "b": stats([], 1, None)}).disk_freed is None
