"""docker save streams -> blobs -> docker load archives, on crafted tars (no Docker)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from spbe_share.imaging import dockerarchive as da

CONFIG = b'{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}'
L1 = b"layer one" * 1000
L2 = b"layer two" * 3000


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def legacy_save() -> bytes:
    """What Docker <= 24 writes: <id>/layer.tar, a duplicate layer as a symlink, manifest.json last."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            i = tarfile.TarInfo(name)
            i.size = len(data)
            tar.addfile(i, io.BytesIO(data))

        d = tarfile.TarInfo("aaa")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        add("aaa/layer.tar", L1)
        add("aaa/VERSION", b"1.0")
        add("bbb/layer.tar", L2)
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../aaa/layer.tar"
        tar.addfile(link)
        add(f"{sha(CONFIG)}.json", CONFIG)
        manifest = [
            {
                "Config": f"{sha(CONFIG)}.json",
                "RepoTags": ["demo/web:1.0.0"],
                "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
            }
        ]
        add("manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()


def oci_save() -> bytes:
    """What Docker >= 25 writes: blobs/sha256/<hex> + index.json + manifest.json."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for data in (L1, CONFIG):
            i = tarfile.TarInfo(f"blobs/sha256/{sha(data)}")
            i.size = len(data)
            tar.addfile(i, io.BytesIO(data))
        m = json.dumps(
            [
                {
                    "Config": f"blobs/sha256/{sha(CONFIG)}",
                    "RepoTags": ["x:1"],
                    "Layers": [f"blobs/sha256/{sha(L1)}"],
                }
            ]
        ).encode()
        i = tarfile.TarInfo("manifest.json")
        i.size = len(m)
        tar.addfile(i, io.BytesIO(m))
    return buf.getvalue()


def test_split_legacy_save_follows_symlinks(tmp_path: Path) -> None:
    chunks = [legacy_save()[i : i + 777] for i in range(0, len(legacy_save()), 777)]
    (img,) = da.split_docker_save(io.BufferedReader(da.IterStream(chunks)), tmp_path / "b")
    assert img.config == f"sha256:{sha(CONFIG)}"
    assert img.layers == (f"sha256:{sha(L1)}", f"sha256:{sha(L2)}", f"sha256:{sha(L1)}")
    assert img.repo_tags == ("demo/web:1.0.0",)
    assert (tmp_path / "b" / sha(L2)).read_bytes() == L2
    assert not list((tmp_path / "b").glob(".part-*"))


def test_split_oci_save(tmp_path: Path) -> None:
    (img,) = da.split_docker_save(io.BytesIO(oci_save()), tmp_path / "b")
    assert img.layers == (f"sha256:{sha(L1)}",)


def test_split_refuses_archives_without_manifest(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    with pytest.raises(da.ArchiveError, match="no manifest.json"):
        da.split_docker_save(io.BytesIO(buf.getvalue()), tmp_path)
    with pytest.raises(da.ArchiveError, match="not a docker archive"):
        da.split_docker_save(io.BytesIO(b"garbage" * 100), tmp_path)


def test_write_docker_archive_is_deterministic_and_verifies_blobs(tmp_path: Path) -> None:
    blobs = tmp_path / "b"
    (img,) = da.split_docker_save(io.BytesIO(legacy_save()), blobs)
    outs = []
    for _ in range(2):
        out = io.BytesIO()
        da.write_docker_archive(
            out, blob_dir=blobs, config=img.config, layers=img.layers, repo_tags=["demo/web:1.0.0"]
        )
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
    with tarfile.open(fileobj=io.BytesIO(outs[0])) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert tar.extractfile(f"blobs/sha256/{sha(L2)}").read() == L2  # type: ignore[union-attr]
    assert names == [
        "manifest.json",
        f"blobs/sha256/{sha(CONFIG)}",
        f"blobs/sha256/{sha(L1)}",
        f"blobs/sha256/{sha(L2)}",
    ]
    assert manifest == [
        {
            "Config": f"blobs/sha256/{sha(CONFIG)}",
            "RepoTags": ["demo/web:1.0.0"],
            "Layers": [
                f"blobs/sha256/{sha(L1)}",
                f"blobs/sha256/{sha(L2)}",
                f"blobs/sha256/{sha(L1)}",
            ],
        }
    ]
    (blobs / sha(L2)).write_bytes(L2[:-1] + b"X")
    with pytest.raises(da.ArchiveError, match="corrupted"):
        da.write_docker_archive(io.BytesIO(), blob_dir=blobs, config=img.config, layers=img.layers)
    (blobs / sha(L2)).unlink()
    with pytest.raises(da.ArchiveError, match="lacks"):
        da.write_docker_archive(io.BytesIO(), blob_dir=blobs, config=img.config, layers=img.layers)


def test_module_is_stdlib_only() -> None:
    """dockerarchive.py is shipped to targets: it must not import third-party packages."""
    import ast
    import sys

    tree = ast.parse(Path(da.__file__).read_text())
    mods = {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    mods |= {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert mods - {"__future__"} <= set(sys.stdlib_module_names)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]


def test_main_writes_an_archive(tmp_path: Path) -> None:
    blobs = tmp_path / "b"
    (img,) = da.split_docker_save(io.BytesIO(oci_save()), blobs)
    out = tmp_path / "img.tar"
    assert (
        da.main(
            [
                "--blobs",
                str(blobs),
                "--config",
                img.config,
                "--layer",
                img.layers[0],
                "--tag",
                "x:1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert tarfile.open(out).getnames()[0] == "manifest.json"
    assert da.main(["--blobs", str(blobs), "--config", "sha256:" + "0" * 64, "-o", str(out)]) == 6


def test_compressed_blobs_are_verified_and_a_corrupt_one_deleted_when_asked(tmp_path: Path) -> None:
    import hashlib
    import io

    import zstandard

    from spbe_share.imaging import dockerarchive as da

    layer = b"layer-bytes" * 1000
    config = b'{"rootfs": {}}'
    lh, ch = hashlib.sha256(layer).hexdigest(), hashlib.sha256(config).hexdigest()
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / f"{lh}.zst").write_bytes(zstandard.ZstdCompressor().compress(layer))
    (blobs / ch).write_bytes(config)
    out = io.BytesIO()
    da.write_docker_archive(out, blob_dir=blobs, config=f"sha256:{ch}", layers=[f"sha256:{lh}"],
                            sizes={f"sha256:{lh}": len(layer)})
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.extractfile(f"blobs/sha256/{lh}").read() == layer  # type: ignore[union-attr]
    # the engine already holds the layer: only the config goes into the archive
    out = io.BytesIO()
    da.write_docker_archive(out, blob_dir=blobs, config=f"sha256:{ch}", layers=[f"sha256:{lh}"], skip_layers=1)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.getnames() == ["manifest.json", f"blobs/sha256/{ch}"]
    # a stored blob whose content is not its digest: refused; deleted with --delete-corrupt
    (blobs / f"{lh}.zst").write_bytes(zstandard.ZstdCompressor().compress(b"other" * 2200))
    argv = ["--blobs", str(blobs), "--config", f"sha256:{ch}", "--layer", f"sha256:{lh}",
            "--size", f"sha256:{lh}={len(layer)}", "-o", str(tmp_path / "x.tar")]
    assert da.main(argv) == 6 and (blobs / f"{lh}.zst").exists()
    assert da.main([*argv, "--delete-corrupt"]) == 6 and not (blobs / f"{lh}.zst").exists()
    assert not (tmp_path / "x.tar").exists() and not (tmp_path / "x.tar.part").exists()
