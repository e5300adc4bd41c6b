"""Bundles against the real Docker engine: build, verify, tamper, reassemble + docker load, publish.

Images are made without any network: a tiny base imported from a tar we create, and an app
image built FROM it with a COPY. Every image carries the unique prefix of this test module
and is removed at the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from spbe_share.errors import Conflict, InvalidInput, NotFound, VerificationFailed
from spbe_share.workspace import Workspace

pytestmark = pytest.mark.docker

PREFIX = f"spbe-h5test-{uuid.uuid4().hex[:8]}"
BASE = f"{PREFIX}/base:1"

ENTRY = """\
schema_version: 1
id: tinyapp
name: Tiny App
summary: {{id: Aplikasi kecil untuk uji, en: A tiny app for tests}}
description: {{id: Aplikasi kecil untuk menguji bundel, en: A tiny app to test bundles}}
source_url: https://example.org/tinyapp
donor:
  pemda: Provinsi Uji
  kode_wilayah: "99"
  unit: Dinas Komunikasi dan Informatika
  contacts: [{{name: Tim Uji, email: uji@example.org}}]
license: EUPL-1.2
classification: {{jenis: umum, layanan: administrasi_pemerintahan, domain: Uji}}
sharing: {{mou_required: true, scope: [install], support_months: 12}}
requirements:
  cpu_cores: 1
  memory_mb: 128
  disk_gb: 1
  os: [{{name: debian, versions: ["12"]}}]
  concurrent_users: 5
components:
  - name: web
    image: {prefix}/tiny-web
    build: {{context: shared_apps/tinyapp/web}}
    command: ["/bin/true"]
    config:
      - {{template: templates/tinyapp/app.ini.j2, path: /etc/tinyapp/app.ini}}
releases:
  - version: 1.0.0
    date: 2026-01-15
    changelog: [Rilis pertama]
  - version: 1.1.0
    date: 2026-06-01
    changelog: {changelog_110}
docs:
  install: docs/instalasi.md
  user_manual: docs/panduan.md
  sop:
    hak_akses: docs/sop/hak-akses.md
    backup: docs/sop/backup.md
    eskalasi: docs/sop/eskalasi.md
    manajemen_perubahan: docs/sop/manajemen-perubahan.md
    risiko_keamanan: docs/sop/risiko-keamanan.md
manifests:
  compose: compose.yaml
"""


def make_repo(root: Path, *, changelog_110: str = "[Perbaikan kecil]") -> Path:
    entry_dir = root / "catalog" / "tinyapp"
    (entry_dir / "docs" / "sop").mkdir(parents=True)
    (entry_dir / "spbe-app.yaml").write_text(
        ENTRY.format(prefix=PREFIX, changelog_110=changelog_110), encoding="utf-8"
    )
    for doc in [
        "instalasi",
        "panduan",
        "sop/hak-akses",
        "sop/backup",
        "sop/eskalasi",
        "sop/manajemen-perubahan",
        "sop/risiko-keamanan",
    ]:
        (entry_dir / "docs" / f"{doc}.md").write_text(f"# {doc}\n", encoding="utf-8")
    (entry_dir / "compose.yaml").write_text(
        "services:\n  web:\n    image: tiny\n", encoding="utf-8"
    )
    web = root / "shared_apps" / "tinyapp" / "web"
    web.mkdir(parents=True)
    (web / "Dockerfile").write_text(
        f"FROM {BASE}\nARG APP_VERSION\nCOPY app.txt /app/app.txt\nLABEL tiny.version=$APP_VERSION\n",
        encoding="utf-8",
    )
    (web / "app.txt").write_text("halo dunia\n", encoding="utf-8")
    tpl = root / "templates" / "tinyapp"
    tpl.mkdir(parents=True)
    (tpl / "app.ini.j2").write_text("name = {{ pemda_name }}\n", encoding="utf-8")
    return root


def _base_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [("etc/hello.txt", b"hello\n"), ("bin/true", b"#!/bin/sh\nexit 0\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from spbe_share.bundle.pack import docker_client

    c = docker_client()
    c.api.import_image_from_data(_base_tar(), repository=f"{PREFIX}/base", tag="1")
    yield c
    for img in c.images.list():
        for tag in img.tags:
            if tag.startswith(PREFIX):
                c.images.remove(tag, force=True)
    # no engine-wide prune: other builds may be running; removing our tags drops our parents


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace(home=tmp_path / "home", root=make_repo(tmp_path / "repo"))


@pytest.fixture()
def key(ws: Workspace):  # type: ignore[no-untyped-def]
    from spbe_share.bundle.keys import generate_key, load_private_key

    generate_key(ws, name="donor")
    return load_private_key(ws, "donor")


def _loaded(ws: Workspace):  # type: ignore[no-untyped-def]
    from spbe_share.catalog.loader import load_entry

    return load_entry(ws.catalog_dir / "tinyapp" / "spbe-app.yaml", repo_root=ws.root)


def _playbooks(ws: Workspace) -> Path:
    pb = ws.root / "playbooks"
    pb.mkdir(exist_ok=True)
    (pb / "install.yml").write_text("- hosts: all\n  tasks: []\n", encoding="utf-8")
    return pb


def test_build_verify_show_and_reproducible(client: object, ws: Workspace, key: object) -> None:
    from spbe_share.bundle import build_bundle, trusted_keys, verify_bundle
    from spbe_share.bundle.manifest import summary

    built = build_bundle(
        ws, _loaded(ws), version="1.0.0", key=key, build="missing", playbooks_dir=_playbooks(ws)
    )
    assert built.path == ws.bundles_dir / "tinyapp-1.0.0.spbe"
    m = verify_bundle(built.path, trusted_keys=trusted_keys(ws))
    assert m == built.manifest
    paths = [f.path for f in m.files]
    assert "entry/spbe-app.yaml" in paths and "templates/tinyapp/app.ini.j2" in paths
    assert "playbooks/install.yml" in paths
    assert "sbom/web.cdx.json" in paths  # the image's SBOM, signed with the rest (same bytes again: below)
    (img,) = m.images
    assert img.ref == f"{PREFIX}/tiny-web:1.0.0"
    assert img.config == client.images.get(img.ref).id  # type: ignore[attr-defined]
    assert len(img.layers) == 2  # the imported base + the COPY
    assert summary(m)["images"][0]["size"] > 0  # type: ignore[index]
    # the same inputs give the same bytes
    again = build_bundle(
        ws,
        _loaded(ws),
        version="1.0.0",
        key=key,
        build="never",
        output=ws.home / "again.spbe",
        playbooks_dir=_playbooks(ws),
    )
    assert again.sha256 == built.sha256
    assert again.path.read_bytes() == built.path.read_bytes()
    with pytest.raises(Conflict):
        build_bundle(
            ws, _loaded(ws), version="1.0.0", key=key, build="never", playbooks_dir=_playbooks(ws)
        )


def _rewrite(src: Path, dst: Path, member: str, offset: int) -> None:
    """Copy the bundle tar, flipping one byte of ``member`` (streamed)."""
    with tarfile.open(src, "r|") as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            f = tin.extractfile(m)
            if m.name == member:
                data = bytearray(f.read())  # type: ignore[union-attr]
                data[offset] ^= 0x01
                tout.addfile(m, io.BytesIO(bytes(data)))
            else:
                tout.addfile(m, f)


def test_tampered_layer_and_entry_are_refused(
    client: object, ws: Workspace, key: object, tmp_path: Path
) -> None:
    from spbe_share.bundle import build_bundle, trusted_keys, verify_bundle

    built = build_bundle(ws, _loaded(ws), version="1.0.0", key=key, playbooks_dir=_playbooks(ws))
    blob = built.manifest.blob(built.manifest.images[0].layers[-1])
    layer = blob.path
    assert layer.endswith(".zst") and blob.member_size < blob.size  # compressed by default
    # the manifest's "version": "1.0.0" becomes "1.0.1" (still valid JSON and model)
    version_at = built.manifest.to_bytes().index(b'"version": "1.0.0"') + len('"version": "1.0.')
    for member, offset in [
        (layer, blob.member_size // 2),
        ("entry/spbe-app.yaml", 3),
        ("spbe-bundle.json", version_at),
    ]:
        bad = tmp_path / "bad.spbe"
        _rewrite(built.path, bad, member, offset)
        with pytest.raises(VerificationFailed) as err:
            verify_bundle(bad, trusted_keys=trusted_keys(ws))
        named = "spbe-bundle.json.sig" if member == "spbe-bundle.json" else member
        assert named in err.value.message
        assert (
            "bad signature" in err.value.message
            if member == "spbe-bundle.json"
            else "changed" in err.value.message
        )


def test_reassemble_and_docker_load_give_the_same_image(
    client: object, ws: Workspace, key: object, tmp_path: Path
) -> None:
    from spbe_share.bundle import (
        build_bundle,
        extract_bundle,
        reassemble_docker_archive,
        trusted_keys,
    )

    built = build_bundle(ws, _loaded(ws), version="1.0.0", key=key, playbooks_dir=_playbooks(ws))
    img = built.manifest.images[0]
    out = tmp_path / "image.tar"
    with out.open("wb") as f:
        reassemble_docker_archive(built.path, img, f)
    # from an extracted bundle too: same bytes (deterministic archive)
    dest = tmp_path / "x"
    extract_bundle(built.path, dest, trusted_keys=trusted_keys(ws))
    buf = io.BytesIO()
    reassemble_docker_archive(dest, img, buf)
    assert buf.getvalue() == out.read_bytes()
    client.images.remove(img.ref, force=True)  # type: ignore[attr-defined]
    (loaded,) = client.images.load(out.read_bytes())  # type: ignore[attr-defined]
    assert loaded.id == img.config
    assert img.ref in loaded.tags
    # a corrupted blob store is refused, not loaded
    blob = dest / built.manifest.blob(img.layers[-1]).path  # <hex>.zst
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(VerificationFailed):
        reassemble_docker_archive(dest, img, io.BytesIO())


def _git_repo(root: Path):  # type: ignore[no-untyped-def]
    import git

    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Donor Test")
        cw.set_value("user", "email", "donor@example.org")
    repo.git.add("--all")
    repo.git.commit("-m", "catalog")
    return repo


def test_publish_commits_tags_and_refuses_again(
    client: object, ws: Workspace, key: object, tmp_path: Path
) -> None:
    from spbe_share.bundle import publish_release, trusted_keys, verify_bundle

    repo = _git_repo(ws.root)
    before = repo.head.commit.hexsha
    pb = tmp_path / "playbooks"
    pb.mkdir()
    (pb / "install.yml").write_text("- hosts: all\n  tasks: []\n", encoding="utf-8")
    p = publish_release(
        ws, app="tinyapp", version="1.1.0", key=key, playbooks_dir=pb, today=dt.date(2026, 11, 22)
    )
    assert p.tag == "tinyapp/v1.1.0"
    tag = repo.tags["tinyapp/v1.1.0"]
    assert tag.tag is not None  # annotated
    assert tag.commit.hexsha == p.commit == repo.head.commit.hexsha
    assert repo.head.commit.parents[0].hexsha == before
    assert list(repo.head.commit.stats.files) == ["catalog/tinyapp/releases/1.1.0.json"]
    record = json.loads((ws.root / "catalog/tinyapp/releases/1.1.0.json").read_text())
    assert record["bundle"]["sha256"] == hashlib.sha256(p.bundle.path.read_bytes()).hexdigest()
    assert record["source_commit"] == before
    assert record["images"][0]["id"] == client.images.get(f"{PREFIX}/tiny-web:1.1.0").id  # type: ignore[attr-defined]
    verify_bundle(p.bundle.path, trusted_keys=trusted_keys(ws))
    # the release record is not part of the bundle
    assert not [f for f in p.bundle.manifest.files if "releases/" in f.path]
    with pytest.raises(Conflict):
        publish_release(ws, app="tinyapp", version="1.1.0", key=key, playbooks_dir=pb)
    with pytest.raises(NotFound):
        publish_release(ws, app="tinyapp", version="9.9.9", key=key, playbooks_dir=pb)
    assert repo.head.commit.hexsha == p.commit


def test_publish_refuses_empty_changelog_and_leaves_nothing(
    client: object, tmp_path: Path, key: object
) -> None:
    ws2 = Workspace(home=tmp_path / "home2", root=make_repo(tmp_path / "repo2", changelog_110="[]"))
    repo = _git_repo(ws2.root)
    head = repo.head.commit.hexsha
    from spbe_share.bundle import publish_release

    with pytest.raises(InvalidInput) as err:
        publish_release(ws2, app="tinyapp", version="1.1.0", key=key, playbooks_dir=tmp_path)
    assert err.value.message.startswith(f"{ws2.root / 'catalog/tinyapp/spbe-app.yaml'}:")
    assert "releases[1].changelog" in err.value.message
    assert repo.head.commit.hexsha == head and not repo.tags
    assert not ws2.bundles_dir.exists() or not any(ws2.bundles_dir.iterdir())


def test_publish_failure_before_commit_commits_nothing(
    client: object, ws: Workspace, key: object, tmp_path: Path
) -> None:
    """The Dockerfile is broken: the build fails, nothing is recorded, committed, tagged or left."""
    repo = _git_repo(ws.root)
    head = repo.head.commit.hexsha
    (ws.root / "shared_apps/tinyapp/web/Dockerfile").write_text(
        f"FROM {BASE}\nCOPY missing.txt /x\n"
    )
    repo.git.commit("-am", "broken")
    head = repo.head.commit.hexsha
    from spbe_share.bundle import publish_release
    from spbe_share.errors import SpbeError

    with pytest.raises(SpbeError):
        publish_release(ws, app="tinyapp", version="1.0.0", key=key, playbooks_dir=tmp_path)
    assert repo.head.commit.hexsha == head and not repo.tags
    assert not (ws.root / "catalog/tinyapp/releases").exists() or not any(
        (ws.root / "catalog/tinyapp/releases").iterdir()
    )
    assert not repo.is_dirty(untracked_files=True)
    assert not (ws.bundles_dir / "tinyapp-1.0.0.spbe").exists()
    shutil.rmtree(ws.root / "shared_apps")
