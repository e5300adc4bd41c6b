"""The SBOM of every image of a bundle (issue 22, item 1), on crafted layers (no Docker): dpkg
status read with python-debian across layers (whiteouts, opaque folders, status.d), Python
distributions from dist-info, CycloneDX 1.6 that validates, the same bytes every time, a member
of the bundle that its signature covers, and ``bundle inspect --sbom``."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from test_bundle_cli import run
from test_bundle_verify import flip, retar

from spbe_share.bundle import keys as k
from spbe_share.bundle.manifest import BundleImage, BundleManifest
from spbe_share.bundle.pack import make_manifest, write_bundle, write_sboms
from spbe_share.bundle.sbom import Package, inventory, packages_of, render_sbom
from spbe_share.bundle.verify import verify_bundle
from spbe_share.workspace import Workspace

CREATED = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1
Description: compression library

Package: gone-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: removed, only its config files are left
"""
STATUS_NEW = STATUS.replace(b"3.0.11-1~deb12u2", b"3.0.15-1~deb12u1")


def _meta(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nlong text\n".encode()


def layer(path: Path, files: dict[str, bytes | None]) -> Path:
    """A layer tar: name -> content (None: a symlink to /dev/null)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/dev/null"
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


def layers(tmp_path: Path) -> list[Path]:
    site = "usr/local/lib/python3.11/dist-packages"
    return [
        layer(tmp_path / "l0.tar", {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS,
                                    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA": _meta("six", "1.16.0"),
                                    "opt/old/x-1.0.dist-info/METADATA": _meta("x", "1.0")}),  # fmt: skip
        layer(tmp_path / "l1.tar", {f"{site}/Flask-3.1.3.dist-info/METADATA": _meta("Flask", "3.1.3"),
                                    f"{site}/waitress-3.0.2.dist-info/METADATA": _meta("waitress", "3.0.2"),
                                    f"./{site}/Zope_Interface-7.0.dist-info/METADATA": _meta("Zope_Interface", "7.0")}),  # fmt: skip
        layer(tmp_path / "l2.tar", {"var/lib/dpkg/status": STATUS_NEW,  # a later layer's status wins
                                    f"{site}/.wh.waitress-3.0.2.dist-info": b"",  # removed by pip
                                    "opt/old/.wh..wh..opq": b"",  # the folder emptied
                                    "var/lib/dpkg/status.d/extra": b"Package: extra\nVersion: 2.0\nArchitecture: all\n"}),  # fmt: skip
    ]


def test_inventory_reads_the_merged_root(tmp_path: Path) -> None:
    inv = inventory(layers(tmp_path))
    assert inv.distro == "debian-12"
    got = {(p.ecosystem, p.name): p for p in inv.packages}
    assert set(got) == {("deb", "libssl3"), ("deb", "zlib1g"), ("deb", "extra"), ("pypi", "flask"),
                        ("pypi", "zope-interface")}  # fmt: skip
    ssl = got[("deb", "libssl3")]
    assert (ssl.version, ssl.source, ssl.source_version, ssl.arch) == ("3.0.15-1~deb12u1", "openssl",
                                                                       "3.0.15-1~deb12u1", "amd64")  # fmt: skip
    z = got[("deb", "zlib1g")]  # a binNMU: the source's version is in Source:
    assert (z.version, z.source, z.source_version) == ("1:1.2.13.dfsg-1+b1", "zlib", "1:1.2.13.dfsg-1")
    assert ssl.purl == "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12"
    assert got[("pypi", "flask")].purl == "pkg:pypi/flask@3.1.3"


def test_a_link_over_a_wanted_file_hides_it(tmp_path: Path) -> None:
    ls = [layer(tmp_path / "a.tar", {"var/lib/dpkg/status": STATUS}), layer(tmp_path / "b.tar", {"var/lib/dpkg/status": None})]
    assert inventory(ls).packages == []


def _sbom(inv: object, **kw: object) -> bytes:
    args = {"app": "demo", "version": "1.0.0", "component": "web", "ref": "demo/web:1.0.0",
            "image_id": "sha256:" + "c" * 64, "created": CREATED, **kw}  # fmt: skip
    return render_sbom(inv, **args)  # type: ignore[arg-type]


def test_the_sbom_is_cyclonedx_and_the_same_every_time(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    inv = inventory(layers(tmp_path))
    first, again = _sbom(inv), _sbom(inventory(layers(tmp_path)))
    assert first == again  # byte for byte: no clock, no random serial
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(first.decode()) is None
    doc = json.loads(first)
    assert doc["metadata"]["timestamp"] == "2026-11-22T00:00:00+00:00"
    assert _sbom(inv, image_id="sha256:" + "d" * 64) != first  # another image, another serial number
    assert set(packages_of(first, where="x")) == set(inv.packages)  # read back as written


def sbom_bundle(tmp_path: Path, ws: Workspace, key: object, image_layers: list[Path], *, app: str = "demo",
                version: str = "1.0.0") -> tuple[Path, dict[str, Path]]:  # fmt: skip
    """A signed bundle of one image (``image_layers``) with its SBOM, as ``bundle build`` packs
    them; returns (the bundle, member -> the SBOM file)."""
    blob_dir = tmp_path / f"blobs-{app}-{version}"
    blob_dir.mkdir()
    sources: dict[str, Path] = {}
    files: dict[str, tuple[str, int]] = {}
    digests = []
    for p in [*image_layers, layer(tmp_path / f"cfg-{app}-{version}", {"config": f"{app} {version}".encode()})]:
        data = p.read_bytes()
        hx = hashlib.sha256(data).hexdigest()
        (blob_dir / hx).write_bytes(data)
        sources[f"blobs/sha256/{hx}"] = blob_dir / hx
        files[f"blobs/sha256/{hx}"] = (hx, len(data))
        digests.append("sha256:" + hx)
    image = BundleImage(component="web", ref=f"{app}/web:{version}", config=digests[-1], layers=digests[:-1])
    sboms = write_sboms(ws, app=app, version=version, images=[image], blob_dir=blob_dir,
                        out_dir=tmp_path / f"sbom-{app}-{version}", created=CREATED)  # fmt: skip
    entry = tmp_path / f"entry-{app}-{version}.yaml"
    entry.write_bytes(f"id: {app}\n".encode())
    for member, path in {**sboms, "entry/spbe-app.yaml": entry}.items():
        data = path.read_bytes()
        sources[member], files[member] = path, (hashlib.sha256(data).hexdigest(), len(data))
    manifest = make_manifest(app=app, version=version, created=CREATED, signer=k.key_id_of(key.public_key()),  # type: ignore[attr-defined]
                             files=files, images=[image])  # fmt: skip
    out = tmp_path / f"{app}-{version}.spbe"
    write_bundle(out, manifest=manifest, key=key, sources=sources)  # type: ignore[arg-type]
    return out, sboms


def test_a_bundle_carries_signed_sboms_and_inspect_prints_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace(home=tmp_path / "home", root=tmp_path)
    k.generate_key(ws, name="donor")
    key = k.load_private_key(ws, "donor")
    out, sboms = sbom_bundle(tmp_path, ws, key, layers(tmp_path))
    assert list(sboms) == ["sbom/web.cdx.json"]
    assert "sbom/web.cdx.json" in [f.path for f in verify_bundle(out, trusted_keys={k.key_id_of(key.public_key()): key.public_key()}).files]

    code, printed, err = run(capsys, "--workspace", str(ws.home), "bundle", "inspect", str(out), "--sbom")
    assert code == 0, err
    assert printed.encode() == sboms["sbom/web.cdx.json"].read_bytes()  # exactly the signed member
    code, printed, _ = run(capsys, "--workspace", str(ws.home), "bundle", "inspect", str(out), "--sbom",
                           "--component", "db")  # fmt: skip
    assert code == 3
    code, printed, _ = run(capsys, "--workspace", str(ws.home), "bundle", "inspect", str(out), "--json")
    assert code == 0 and json.loads(printed)["bytes_by_part"]["sbom"] > 0

    bad = retar(out, tmp_path / "bad.spbe", flip("sbom/web.cdx.json", 40))  # the signature covers the SBOM
    code, printed, err = run(capsys, "--workspace", str(ws.home), "bundle", "inspect", str(bad), "--sbom")
    assert code == 6 and printed == "" and "sbom/web.cdx.json: sha256" in err


def test_a_manifest_refuses_an_sbom_of_no_image() -> None:
    doc = {"format": 2, "app": "demo", "version": "1.0.0", "created": CREATED.isoformat(), "signer": "0" * 16,
           "images": [], "files": [{"path": "entry/spbe-app.yaml", "sha256": "0" * 64, "size": 1},
                                   {"path": "sbom/web.cdx.json", "sha256": "0" * 64, "size": 1}]}  # fmt: skip
    with pytest.raises(ValueError, match="no image of component 'web'"):
        BundleManifest.model_validate_json(json.dumps(doc))
    doc["files"][1]["path"] = "sbom/../x.json"
    with pytest.raises(ValueError):
        BundleManifest.model_validate_json(json.dumps(doc))


def test_package_purls() -> None:
    p = Package(ecosystem="deb", name="libc6", version="2.36-9+deb12u4", arch="amd64", distro="debian-12")
    assert p.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
