"""Benchmark (not a test): image and bundle sizes, what an upgrade ships, and reproducibility.

    python3 bench/bench_bundle.py [--app e-office --app pengaduan] [--keep DIR]
                                  [--clean-engine] [--compression zstd|none]

For each app (default: e-office and pengaduan) and each of its releases, builds the images
(each release from the commit its entry records) and packs a signed bundle in a temporary
workspace, then verifies it. Then, for the newest two releases of each app:

* upgrade bytes = the blobs the new release has that the old one lacks, as stored in the
  bundle (zstd-compressed: what ships);
* changed-file bytes = the files that differ between the two releases' source trees (the
  component folders at the two commits; files the new release has, changed or added),
  concatenated and zstd-compressed (level 19, the level small blobs get);
* ratio = upgrade bytes / changed-file bytes (goal: <= 1.5).

``--clean-engine`` also starts a second, empty Docker engine (its own --data-root, --exec-root,
--pidfile and unix socket; the shared engine is never touched), rebuilds the OLDEST release of
the first app there from nothing (base image by debootstrap included) in a fresh workspace, and
counts the blobs (configs and layers) that differ from the first build: goal 0. The second
engine and its data are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from buildlock import lock_builders  # noqa: E402 - tests/buildlock.py

lock_builders()  # take turns with the tests (and other runs) building and exporting the app images

from spbe_share.catalog.models import semver_key  # noqa: E402
from spbe_share.errors import SpbeError  # noqa: E402
from spbe_share.workspace import Workspace  # noqa: E402


def mb(n: int) -> str:
    return f"{n / 1e6:9.1f} MB"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607


def changed_files_zstd(loaded: object, old: str, new: str) -> tuple[list[str], int, int]:
    """(changed paths, raw bytes, zstd-19 bytes) of the component folders between two commits."""
    import zstandard

    entry = loaded.entry  # type: ignore[attr-defined]
    contexts = [c.build.context for c in entry.components]
    paths = [p for p in git("diff", "--name-only", "--diff-filter=AMRT", old, new, "--", *contexts).splitlines() if p]
    blob = b"".join(
        subprocess.run(["git", "-C", str(ROOT), "show", f"{new}:{p}"], capture_output=True, check=True).stdout  # noqa: S603,S607
        for p in paths
    )
    return paths, len(blob), len(zstandard.ZstdCompressor(level=19).compress(blob))


def image_blobs(client: object, refs: list[str]) -> set[str]:
    out: set[str] = set()
    for ref in refs:
        info = client.api.inspect_image(ref)  # type: ignore[attr-defined]
        out.add(info["Id"])
        out.update(info["RootFS"]["Layers"])
    return out


BRIDGE = "spbe-eng2"
BRIDGE_CIDR = "10.231.77.1/24"


@contextmanager
def second_engine(base: Path) -> Iterator[str]:
    """A second dockerd with its own roots, socket and bridge; yields its DOCKER_HOST.

    It gets its own bridge interface (created here, deleted after): ``--bridge=none`` would make
    dockerd delete the host's ``docker0``, which the shared engine uses.
    """
    base.mkdir(parents=True, exist_ok=True)
    sock = base / "docker.sock"
    for cmd in (["ip", "link", "add", BRIDGE, "type", "bridge"], ["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE],
                ["ip", "link", "set", BRIDGE, "up"]):
        subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603
    argv = [
        "dockerd", "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
        "--pidfile", str(base / "docker.pid"), "-H", f"unix://{sock}",
        "--storage-driver=vfs", "--iptables=false", f"--bridge={BRIDGE}",
    ]  # fmt: skip
    log = (base / "dockerd.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    host = f"unix://{sock}"
    try:
        for _ in range(60):
            if sock.exists() and subprocess.run(["docker", "-H", host, "info"], capture_output=True).returncode == 0:  # noqa: S603,S607
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"the second dockerd did not start; see {base / 'dockerd.log'}")
        yield host
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        # mounts the second engine left under its own roots (e.g. exec/netns/default), deepest first
        ours = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                if line.split()[1].startswith(str(base) + "/")]
        for mountpoint in sorted(ours, key=len, reverse=True):
            subprocess.run(["umount", mountpoint], capture_output=True)  # noqa: S603,S607
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)  # noqa: S603,S607


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", action="append", help="app id (repeatable)")
    p.add_argument("--keep", type=Path, help="keep the bundles in this folder")
    p.add_argument("--clean-engine", action="store_true", help="rebuild the oldest release on an empty second engine")
    p.add_argument("--compression", choices=["zstd", "none"], default="zstd")
    args = p.parse_args(argv)

    from spbe_share.bundle.keys import generate_key, load_private_key, trusted_keys
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.bundle.verify import verify_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.imaging.app import build_app
    from spbe_share.imaging.engine import docker_client

    with tempfile.TemporaryDirectory(prefix="spbe-bench-bundle-", dir="/var/tmp") as tmp:
        ws = Workspace(home=Path(tmp) / "home", root=ROOT)
        generate_key(ws, name="bench")
        key = load_private_key(ws, "bench")
        out_dir = args.keep or Path(tmp) / "bundles"
        apps = args.app or ["e-office", "pengaduan"]
        results: dict[str, dict[str, object]] = {}
        print(f"{'app':<12} {'version':<8} {'images':>12} {'bundle':>12} {'build s':>8} {'verify s':>8}")
        for app in apps:
            try:
                loaded = get_entry(ws, app)
            except SpbeError as exc:
                print(f"{app:<12} skipped: {exc.message}")
                continue
            for version in sorted((r.version for r in loaded.entry.releases), key=semver_key):
                t0 = time.monotonic()
                try:
                    built = build_bundle(
                        ws, loaded, version=version, key=key, output=out_dir / f"{app}-{version}.spbe",
                        force=True, build="always", compression=args.compression,
                    )  # fmt: skip
                except SpbeError as exc:
                    print(f"{app:<12} {version:<8} skipped: {exc.message}")
                    continue
                t1 = time.monotonic()
                m = verify_bundle(built.path, trusted_keys=trusted_keys(ws))
                t2 = time.monotonic()
                results[f"{app}@{version}"] = {"manifest": m, "size": built.size, "loaded": loaded}
                content = sum(f.size for f in m.blobs)
                print(f"{app:<12} {version:<8} {mb(content)} {mb(built.size)} {t1 - t0:8.1f} {t2 - t1:8.1f}")

        print()
        print("upgrade: blobs the new release lacks in the old one (as shipped) vs the changed source files")
        for app in apps:
            done = sorted((k.split("@")[1] for k in results if k.startswith(f"{app}@")), key=semver_key)
            if len(done) < 2:
                print(f"  {app}: needs two releases, has {len(done)}")
                continue
            old_v, new_v = done[-2], done[-1]
            old, new = results[f"{app}@{old_v}"]["manifest"], results[f"{app}@{new_v}"]["manifest"]
            have = set(old.blob_digests)  # type: ignore[attr-defined]
            fresh = [f for f in new.blobs if f.digest not in have]  # type: ignore[attr-defined]
            shipped = sum(f.member_size for f in fresh)
            total = int(results[f"{app}@{new_v}"]["size"])  # type: ignore[call-overload]
            loaded = results[f"{app}@{new_v}"]["loaded"]
            commits = {r.version: r.commit for r in loaded.entry.releases}  # type: ignore[attr-defined]
            print(f"  {app} {old_v} -> {new_v}: {len(fresh)} new blobs, {shipped:,} B as shipped"
                  f" ({shipped / total:.3%} of the {mb(total).strip()} bundle)")
            for f in fresh:
                print(f"      {f.path}  content {f.size:,} B, shipped {f.member_size:,} B")
            if commits.get(old_v) and commits.get(new_v):
                paths, raw, packed = changed_files_zstd(loaded, commits[old_v], commits[new_v])  # type: ignore[arg-type]
                print(f"  changed source files: {len(paths)}, {raw:,} B, zstd -19 {packed:,} B")
                print(f"  RATIO upgrade bytes / changed-file bytes = {shipped / packed:.2f} (goal <= 1.5)")
            else:
                print("  (releases without recorded commits: no source diff)")

        if args.clean_engine:
            app = apps[0]
            loaded = get_entry(ws, app)
            oldest = sorted((r.version for r in loaded.entry.releases), key=semver_key)[0]
            client = docker_client()
            # the first build (shared engine), by image id: another build may move the tags
            first = image_blobs(client, [b.image_id for b in build_app(ws, loaded, oldest)])
            print()
            print(f"clean engine: rebuilding {app} {oldest} from nothing (base image included) ...")
            t0 = time.monotonic()
            saved = os.environ.get("DOCKER_HOST")
            with second_engine(Path(tmp) / "engine2") as host:
                os.environ["DOCKER_HOST"] = host
                try:
                    from spbe_share.imaging.base import ensure_base_image

                    ensure_base_image(tmp_dir=Path(tmp))
                    ws2 = Workspace(home=Path(tmp) / "home2", root=ROOT)
                    built = build_app(ws2, get_entry(ws2, app), oldest)
                    second = image_blobs(docker_client(), [b.image_id for b in built])
                finally:
                    if saved is None:
                        os.environ.pop("DOCKER_HOST", None)
                    else:
                        os.environ["DOCKER_HOST"] = saved
            new_blobs = second - first
            print(f"  {len(second)} blobs (configs + layers) in {time.monotonic() - t0:.0f} s;"
                  f" NEW BLOBS vs the first build: {len(new_blobs)} (goal 0)")
            for d in sorted(new_blobs):
                print(f"      {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
