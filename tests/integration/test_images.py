"""spbe_share.imaging.app against the real Docker engine: base image, failing builds, every catalog app builds."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from spbe_share.imaging.app import image_layers
from spbe_share.imaging.base import BASE_IMAGE, ensure_base_image
from spbe_share.imaging.engine import BuildFailed

pytestmark = pytest.mark.docker


def test_base_image_present_and_usable(base_image: str, docker_client: Any) -> None:
    """The base image as ``ensure_base_image`` made it (on a fresh CI machine, ``scripts/setup``
    builds it with debootstrap from the machine's apt mirror, by this same function): asked
    again, no rebuild; Debian's Python 3.11; no docs, no cached .debs; UTF-8 locale."""
    assert ensure_base_image() == base_image  # already there: no rebuild
    image = docker_client.images.get(BASE_IMAGE)
    assert "LANG=C.UTF-8" in image.attrs["Config"]["Env"]
    out = docker_client.containers.run(
        BASE_IMAGE,
        ["sh", "-c", "python3 -c 'import sqlite3, sys; print(sys.version_info[:2])'; ls /usr/share/doc | wc -l;"
                     " ls /var/cache/apt/archives/*.deb 2>/dev/null | wc -l"],
        remove=True,
    )  # fmt: skip
    version, docs, debs = out.decode().split("\n")[:3]
    assert (version.strip(), docs.strip(), debs.strip()) == ("(3, 11)", "0", "0")
    assert image_layers(BASE_IMAGE)


def _write_app(root: Path, dockerfile: str, image: str) -> Any:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from catalog_fixtures import entry_data  # type: ignore[import-not-found]

    from spbe_share.catalog.models import Entry

    data = entry_data("it-broken")
    data["components"] = [
        {"name": "web", "image": image, "build": {"context": "shared_apps/it-broken"}}
    ]
    data["backup"] = {}
    data["releases"] = [*data["releases"], {**data["releases"][0], "version": "1.0.1", "date": "2026-02-01"}]
    ctx = root / "shared_apps" / "it-broken"
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    from types import SimpleNamespace

    return SimpleNamespace(entry=Entry.model_validate(data), repo_root=root)


def test_failing_build_reports_the_last_error(base_image: str, tmp_path: Path, docker_client: Any) -> None:
    from spbe_share.imaging.app import build_app
    from spbe_share.workspace import Workspace

    image = f"spbe-it/broken-{uuid.uuid4().hex[:8]}"
    loaded = _write_app(
        tmp_path / "repo",
        "FROM spbe-share/base:bookworm\nRUN echo 'bad thing happened' >&2 && exit 7\n",
        image,
    )
    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    lines: list[str] = []
    with pytest.raises(BuildFailed) as err:
        build_app(ws, loaded, loaded.entry.latest.version, progress=lines.append)
    assert "returned a non-zero code: 7" in err.value.message
    assert any("bad thing happened" in line for line in lines)
    assert not docker_client.images.list(name=image)


def test_version_and_labels_are_config_only_and_layers_reproducible(
    base_image: str, tmp_path: Path, docker_client: Any
) -> None:
    """Two releases of the same source share every layer; the version is in the config (env,
    labels) and never a build argument; a no-cache rebuild gives the same image id."""
    from spbe_share.imaging.app import LABEL_APP, build_app, image_layers
    from spbe_share.workspace import Workspace

    image = f"spbe-it/tiny-{uuid.uuid4().hex[:8]}"
    loaded = _write_app(
        tmp_path / "repo",
        'FROM spbe-share/base:bookworm\nARG APP_VERSION\nRUN echo "v=$APP_VERSION" > /built-with\n'
        "COPY app.txt /app/app.txt\n",
        image,
    )
    (tmp_path / "repo" / "shared_apps" / "it-broken" / "app.txt").write_text("halo\n")
    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    try:
        (one,) = build_app(ws, loaded, "1.0.0")
        (two,) = build_app(ws, loaded, "1.0.1")
        assert (one.ref, two.ref) == (f"{image}:1.0.0", f"{image}:1.0.1")
        assert image_layers(one.ref) == image_layers(two.ref)  # the version invalidates no layer
        assert one.image_id != two.image_id  # it is in the config
        labels = docker_client.images.get(two.ref).labels
        assert labels[LABEL_APP] == "it-broken"
        assert labels["org.opencontainers.image.version"] == "1.0.1"
        assert labels["org.opencontainers.image.revision"] == "unknown"  # not a git repository
        out = docker_client.containers.run(two.ref, ["sh", "-c", 'cat /built-with; echo "$APP_VERSION"'], remove=True)
        assert out.decode().split() == ["v=", "1.0.1"]  # no build argument; the version at run time
        assert docker_client.images.get(one.ref).attrs["Created"].startswith("2026-01-15T00:00:00")
        (again,) = build_app(Workspace(home=tmp_path / "ws2", root=tmp_path / "repo"), loaded, "1.0.0", nocache=True)
        assert again.image_id == one.image_id  # rebuilt from nothing: byte-identical
    finally:
        for img in docker_client.images.list(name=image):
            docker_client.images.remove(img.id, force=True)


def test_e_office_builds_with_build_app(built_app: Any, docker_client: Any) -> None:
    built = built_app("e-office")
    assert built, "e-office has components"
    for b in built:
        labels = docker_client.images.get(b.ref).labels
        assert labels["id.go.spbe.app"] == "e-office"
        assert b.image_id == docker_client.images.get(b.ref).id
