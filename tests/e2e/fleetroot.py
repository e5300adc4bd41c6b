"""A catalog repository holding pengaduan in three releases (and a fourth published later), for
fleet upgrade tests and the fleet bench.

``1.0.0`` is this repository's pengaduan. ``1.0.1`` is a release of the same source (its image
is 1.0.0's: the same commit gives the same image, so it is tagged, not rebuilt, and an upgrade
ships no blob) naming one more regulation (Permenpan RB 62/2018). ``1.0.2`` names the README's
Permendagri 83/2022 as well (so that the README's central-team commands run as printed, on a
cheap app) and is built from a commit that pins :data:`FLAWED_PIN` (waitress 3.0.1 instead of
3.0.2): its image differs from 1.0.0's in that one Python distribution, the package the
security e2e flags (issue 22). :func:`add_fix_release` publishes ``1.0.3`` later, from 1.0.0's
source again (the fix: the pin back; 1.0.0's image re-tagged), with the donor's advisory
:data:`ADVISORY`. The entry needs port :data:`NEW_PORT` free (a target where something else
holds it fails preflight: a real reason for one data center to refuse the upgrade).

The root is a git repository (images of a release are built from the component folders at
the commit it records) with ``playbooks`` linked to this repository's. Point the CLI at it with
``SPBE_SHARE_CATALOG=<root>``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (bench/bench_fleet.py imports this too)
from buildlock import image_build_lock  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
APP = "pengaduan"
OLD, NEW, NEWEST, FIX = "1.0.0", "1.0.1", "1.0.2", "1.0.3"
FLAWED_PIN = ("waitress", "3.0.2", "3.0.1")  # (distribution, 1.0.0's version, 1.0.2's version)
ADVISORY = "SPBE-2026-0042"
DONOR_KEY = f"{APP}-fleet"  # the donor's key name in its workspace
NEW_PORT = 8091
NEW_REGULATION = {
    "name": "Peraturan Menteri PANRB Nomor 62 Tahun 2018 tentang Pedoman Nasional Pengelolaan Pengaduan"
    " Pelayanan Publik",
    "uri": "https://peraturan.go.id/id/permenpan-rb-no-62-tahun-2018",
}
README_REGULATION = {  # the regulation of the README's `spbe-share plan --regulation "Permendagri 83/2022"`
    "name": "Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022 tentang Kode Klasifikasi Arsip di Lingkungan"
    " Kementerian Dalam Negeri dan Pemerintah Daerah",
    "uri": "https://peraturan.bpk.go.id/Details/247841/Permendagri%20No.%2083%20Tahun%202022",
}
_GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": "/dev/null"}  # fmt: skip


def git(root: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True,  # noqa: S607
        env={**os.environ, **_GIT_ENV},
    ).stdout.strip()  # fmt: skip


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def _dump(doc: object) -> str:
    return yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, allow_unicode=True)


def _entry_file(root: Path) -> Path:
    return root / "catalog" / APP / "spbe-app.yaml"


def _commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-gpg-sign", "-m", message)
    return git(root, "rev-parse", "HEAD")


def make_root(root: Path) -> tuple[Path, str]:
    """The repository with release 1.0.0 only (its entry as 1.0.0's bundle holds it); returns
    (root, the commit of the source of both releases)."""
    for part in (f"catalog/{APP}", f"shared_apps/{APP}", f"templates/{APP}"):
        shutil.copytree(REPO / part, root / part)
    (root / "playbooks").symlink_to(REPO / "playbooks")
    git(root, "init", "-q")
    source = _commit(root, f"{APP} {OLD}")
    doc = yaml.safe_load(_entry_file(root).read_text())
    doc["releases"] = [dict(r, commit=source) for r in doc["releases"] if r["version"] == OLD]
    _entry_file(root).write_text(_dump(doc))
    _commit(root, f"{APP} {OLD}: the release records its commit")
    return root, source


def _flawed_commit(root: Path) -> str:
    """A commit whose pengaduan pins :data:`FLAWED_PIN`'s older version (1.0.2's source)."""
    req = root / "shared_apps" / APP / "requirements.txt"
    name, good, bad = FLAWED_PIN
    text = req.read_text()
    assert f"{name}=={good}\n" in text
    req.write_text(text.replace(f"{name}=={good}\n", f"{name}=={bad}\n"))
    flawed = _commit(root, f"{APP} {NEWEST}: {name} {bad}")
    req.write_text(text)
    _commit(root, f"{APP}: {name} {good} again")
    return flawed


def add_new_release(root: Path, commit: str) -> None:
    """The entry names 1.0.1 (built from ``commit``) and 1.0.2 (from a commit pinning
    :data:`FLAWED_PIN`'s older version) and needs :data:`NEW_PORT` free."""
    flawed = _flawed_commit(root)
    doc = yaml.safe_load(_entry_file(root).read_text())
    old = doc["releases"][0]
    doc["releases"] += [{
        "version": NEW, "date": old["date"], "changelog": ["Pedoman nasional pengelolaan pengaduan"],
        "regulations": [*old["regulations"], NEW_REGULATION], "migrates_data": False, "commit": commit,
    }, {
        "version": NEWEST, "date": old["date"], "changelog": ["Kode klasifikasi arsip pada pengaduan"],
        "regulations": [*old["regulations"], NEW_REGULATION, README_REGULATION], "migrates_data": False,
        "commit": flawed,
    }]  # fmt: skip
    ports = doc["requirements"].setdefault("ports", [])
    ports.append(NEW_PORT)
    _entry_file(root).write_text(_dump(doc))
    _commit(root, f"{APP} {NEW}, {NEWEST}")


def build_bundles(root: Path, donor_home: Path) -> dict[str, Path]:
    """Bundles of 1.0.0, 1.0.1 and 1.0.2, signed by a throwaway key of the entry's donor (private
    key :data:`DONOR_KEY` in the workspace ``donor_home``); ``"pub"``: that key's public file.
    Leaves the root at its final state (every release)."""
    with image_build_lock():  # 1.0.1 and 1.0.2 are 1.0.0's image re-tagged: no other build in between
        return _build_bundles(root, donor_home)


def _build_bundles(root: Path, donor_home: Path) -> dict[str, Path]:
    from spbe_share.bundle.keys import export_public, generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    root, source = make_root(root)
    ws = Workspace(home=donor_home, root=root)
    ws.ensure()
    kode = str(yaml.safe_load(_entry_file(root).read_text())["donor"]["kode_wilayah"])
    info = generate_key(ws, name=DONOR_KEY, donor_kode=kode)
    key = load_private_key(ws, info.name)
    loaded = get_entry(ws, APP)
    out = {OLD: build_bundle(ws, loaded, version=OLD, key=key, output=donor_home / f"{APP}-{OLD}.bundle").path}
    add_new_release(root, source)
    for c in loaded.entry.components:  # same commit, same image: tag it rather than build it again
        subprocess.run(["docker", "tag", f"{c.image}:{OLD}", f"{c.image}:{NEW}"], check=True)  # noqa: S603,S607
        # 1.0.2 is built from its own commit: a tag left by an earlier run is not its image
        subprocess.run(["docker", "image", "rm", f"{c.image}:{NEWEST}"], check=False, capture_output=True)  # noqa: S603,S607
    for version in (NEW, NEWEST):
        out[version] = build_bundle(ws, get_entry(ws, APP), version=version, key=key,
                                    output=donor_home / f"{APP}-{version}.bundle").path  # fmt: skip
    out["pub"] = donor_home / f"{DONOR_KEY}.pub"
    out["pub"].write_text(export_public(ws, info.name))
    return out


def add_fix_release(root: Path, donor_home: Path) -> Path:
    """The donor publishes 1.0.3, built from 1.0.0's source (the pin back: 1.0.0's image
    re-tagged), with its advisory :data:`ADVISORY` about 1.0.2; returns its signed bundle."""
    from spbe_share.bundle.keys import load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    doc = yaml.safe_load(_entry_file(root).read_text())
    source = next(r["commit"] for r in doc["releases"] if r["version"] == OLD)
    name, good, bad = FLAWED_PIN
    doc["releases"].append({
        "version": FIX, "date": doc["releases"][0]["date"], "changelog": [f"{name} kembali ke {good}"],
        "regulations": doc["releases"][-1]["regulations"], "migrates_data": False, "commit": source,
        "advisories": [{"id": ADVISORY, "severity": "high", "affected": f"=={NEWEST}", "fixed_in": FIX,
                        "description": f"Rilis {NEWEST} memuat {name} {bad} yang memiliki celah keamanan;"
                        f" tingkatkan ke {FIX}."}],
    })  # fmt: skip
    _entry_file(root).write_text(_dump(doc))
    _commit(root, f"{APP} {FIX}: {ADVISORY}")
    ws = Workspace(home=donor_home, root=root)
    loaded = get_entry(ws, APP)
    with image_build_lock():
        for c in loaded.entry.components:
            subprocess.run(["docker", "tag", f"{c.image}:{OLD}", f"{c.image}:{FIX}"], check=True)  # noqa: S603,S607
        return build_bundle(ws, loaded, version=FIX, key=load_private_key(ws, DONOR_KEY),
                            output=donor_home / f"{APP}-{FIX}.bundle").path  # fmt: skip
