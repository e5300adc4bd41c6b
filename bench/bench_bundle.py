"""Benchmark (not a test): image and bundle sizes, and what an upgrade really has to ship.

    python3 bench/bench_bundle.py [--app e-office --app pengaduan] [--keep DIR]

For each app (default: e-office and pengaduan, else every app in the catalog) and each of its
releases, builds the images if the Docker engine lacks them (H4's builder), packs a signed
bundle in a temporary workspace and verifies it. Then, for e-office 1.1.0 (or the newest two
releases of each app), reports how many bytes of the new bundle are layers the previous
release does not already have: the baseline for "ship only what changed".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spbe_share.catalog.models import semver_key  # noqa: E402
from spbe_share.errors import SpbeError  # noqa: E402
from spbe_share.workspace import Workspace  # noqa: E402


def mb(n: int) -> str:
    return f"{n / 1e6:9.1f} MB"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--app", action="append", help="app id (repeatable)")
    p.add_argument("--keep", type=Path, help="keep the bundles in this folder")
    args = p.parse_args(argv)

    from spbe_share.bundle.keys import generate_key, load_private_key, trusted_keys
    from spbe_share.bundle.manifest import blob_path
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.bundle.verify import verify_bundle
    from spbe_share.catalog.loader import get_entry

    with tempfile.TemporaryDirectory(prefix="spbe-bench-bundle-") as tmp:
        ws = Workspace(home=Path(tmp) / "home", root=ROOT)
        generate_key(ws, name="bench")
        key = load_private_key(ws, "bench")
        out_dir = args.keep or Path(tmp) / "bundles"
        apps = args.app or ["e-office", "pengaduan"]
        results: dict[str, dict[str, object]] = {}
        print(
            f"{'app':<12} {'version':<8} {'images':>12} {'bundle':>12} {'build s':>8} {'verify s':>8}"
        )
        for app in apps:
            try:
                loaded = get_entry(ws, app)
            except SpbeError as exc:
                print(f"{app:<12} skipped: {exc.message}")
                continue
            versions = sorted((r.version for r in loaded.entry.releases), key=semver_key)
            for version in versions:
                t0 = time.monotonic()
                try:
                    built = build_bundle(
                        ws,
                        loaded,
                        version=version,
                        key=key,
                        output=out_dir / f"{app}-{version}.spbe",
                        force=True,
                        build="missing",
                    )
                except SpbeError as exc:
                    print(f"{app:<12} {version:<8} skipped: {exc.message}")
                    continue
                t1 = time.monotonic()
                m = verify_bundle(built.path, trusted_keys=trusted_keys(ws))
                t2 = time.monotonic()
                sizes = {f.path: f.size for f in m.files}
                image_bytes = sum(sizes[p] for p in {p for i in m.images for p in i.blobs})
                results[f"{app}@{version}"] = {"manifest": m, "size": built.size, "sizes": sizes}
                print(
                    f"{app:<12} {version:<8} {mb(image_bytes)} {mb(built.size)} {t1 - t0:8.1f} {t2 - t1:8.1f}"
                )

        print()
        print("upgrade delta: bytes of the new bundle's layers/configs the old release lacks")
        for app in apps:
            done = sorted(
                (k.split("@")[1] for k in results if k.startswith(f"{app}@")), key=semver_key
            )
            if len(done) < 2:
                print(f"  {app}: needs two bundled releases, have {len(done)}")
                continue
            old_v, new_v = done[-2], done[-1]
            old = results[f"{app}@{old_v}"]["manifest"]
            new = results[f"{app}@{new_v}"]["manifest"]
            sizes = results[f"{app}@{new_v}"]["sizes"]
            have = set(old.blob_digests)  # type: ignore[attr-defined]
            fresh = [d for d in new.blob_digests if d not in have]  # type: ignore[attr-defined]
            fresh_bytes = sum(sizes[blob_path(d)] for d in fresh)  # type: ignore[index]
            total = int(results[f"{app}@{new_v}"]["size"])  # type: ignore[call-overload]
            print(
                f"  {app} {old_v} -> {new_v}: {len(fresh)} new blobs, {mb(fresh_bytes).strip()} "
                f"of a {mb(total).strip()} bundle = {fresh_bytes / total:.1%} (baseline: ship the whole bundle = 100%)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
