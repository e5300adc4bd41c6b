"""Bundle signing and verification on crafted bundles (no Docker): every tampering is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from spbe_share.bundle.keyformat import key_id_of
from spbe_share.bundle.manifest import BundleImage, BundleManifest
from spbe_share.bundle.pack import make_manifest, write_bundle
from spbe_share.bundle.verify import extract_bundle, verify_bundle
from spbe_share.errors import NotFound, VerificationFailed

CREATED = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
CONFIG = b'{"rootfs": {"type": "layers", "diff_ids": []}}'
LAYER = bytes(range(256)) * 40


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture()
def trusted(key: Ed25519PrivateKey) -> dict[str, object]:
    return {key_id_of(key.public_key()): key.public_key()}


def craft(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    *,
    manifest_bytes: bytes | None = None,
    zstd: bool = False,
    layer: bytes = LAYER,
    stored: dict[str, bytes] | None = None,
) -> tuple[Path, BundleManifest]:
    """A small valid bundle: an entry, a template, a playbook and one fake image (config + layer).

    ``zstd``: blobs stored zstd-compressed; ``stored`` overrides the stored bytes of a member
    (the manifest then records their digest: a signed but inconsistent bundle)."""
    import zstandard

    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    contents = {
        "entry/spbe-app.yaml": b"id: demo\nname: Demo\n",
        "entry/docs/instalasi.md": b"# Instalasi\n",
        "templates/demo/app.ini.j2": b"name = {{ pemda_name }}\n",
        "playbooks/install.yml": b"- hosts: all\n  tasks: []\n",
        f"blobs/sha256/{_sha(CONFIG)}": CONFIG,
        f"blobs/sha256/{_sha(layer)}": layer,
    }
    sources: dict[str, Path] = {}
    hashed: dict[str, tuple] = {}
    for i, (member, data) in enumerate(sorted(contents.items())):
        p = src / f"f{i}"
        if zstd and member.startswith("blobs/"):
            member += ".zst"
            packed = (stored or {}).get(member) or zstandard.ZstdCompressor(level=3).compress(data)
            p.write_bytes(packed)
            hashed[member] = (_sha(data), len(data), _sha(packed), len(packed))
        else:
            p.write_bytes(data)
            hashed[member] = (_sha(data), len(data))
        sources[member] = p
    image = BundleImage(
        component="web",
        ref="demo/web:1.0.0",
        config=f"sha256:{_sha(CONFIG)}",
        layers=[f"sha256:{_sha(layer)}"],
    )
    manifest = make_manifest(
        app="demo",
        version="1.0.0",
        created=CREATED,
        signer=key_id_of(key.public_key()),
        files=hashed,
        images=[image],
    )
    out = tmp_path / "demo-1.0.0.spbe"
    write_bundle(out, manifest=manifest, key=key, sources=sources, manifest_bytes=manifest_bytes)
    return out, manifest


Edit = Callable[[list[tuple[tarfile.TarInfo, bytes]]], list[tuple[tarfile.TarInfo, bytes]]]


def retar(src: Path, dst: Path, edit: Edit) -> Path:
    """Rewrite the bundle tar with ``edit`` applied to its (member, data) list."""
    with tarfile.open(src, "r") as tin:
        items = [(m, tin.extractfile(m).read() if m.isreg() else b"") for m in tin]  # type: ignore[union-attr]
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for m, data in edit(items):
            if m.isreg():
                m.size = len(data)
                tout.addfile(m, io.BytesIO(data))
            else:
                tout.addfile(m)
    return dst


def flip(name: str, offset: int = 0) -> Edit:
    def edit(items: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        out = []
        for m, data in items:
            if m.name == name:
                b = bytearray(data)
                b[offset] ^= 0x01
                data = bytes(b)
            out.append((m, data))
        return out

    return edit


def refused(path: Path, trusted: dict[str, object]) -> str:
    with pytest.raises(VerificationFailed) as err:
        verify_bundle(path, trusted_keys=trusted)  # type: ignore[arg-type]
    msg = err.value.message
    assert msg.startswith("bundle verification failed: ")
    assert "\n" not in msg
    return msg


def test_valid_bundle_verifies(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, manifest = craft(tmp_path, key)
    assert verify_bundle(path, trusted_keys=trusted) == manifest  # type: ignore[arg-type]
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert names[:2] == ["spbe-bundle.json", "spbe-bundle.json.sig"]
        assert names[2:] == sorted(names[2:])
        assert {m.mtime for m in tar} == {int(CREATED.timestamp())}
        assert {(m.uid, m.gid, m.uname, m.gname, m.mode) for m in tar} == {(0, 0, "", "", 0o644)}


def test_same_inputs_same_bytes(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = craft(tmp_path / "a", key)
    b, _ = craft(tmp_path / "b", key)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    "member", ["entry/spbe-app.yaml", "playbooks/install.yml", "templates/demo/app.ini.j2"]
)
def test_changed_byte_in_a_file_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], member: str
) -> None:
    path, _ = craft(tmp_path, key)
    msg = refused(retar(path, tmp_path / "bad.spbe", flip(member, 2)), trusted)
    assert f": {member}: sha256 " in msg and "changed" in msg


def test_changed_byte_in_a_layer_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)
    layer = f"blobs/sha256/{_sha(LAYER)}"
    msg = refused(retar(path, tmp_path / "bad.spbe", flip(layer, 5000)), trusted)
    assert f": {layer}: sha256 " in msg


def test_changed_manifest_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, manifest = craft(tmp_path, key)
    at = manifest.to_bytes().index(b'"version": "1.0.0"') + len('"version": "1.0.')
    msg = refused(retar(path, tmp_path / "bad.spbe", flip("spbe-bundle.json", at)), trusted)
    assert "spbe-bundle.json.sig: bad signature" in msg


def test_changed_signature_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)
    msg = refused(retar(path, tmp_path / "bad.spbe", flip("spbe-bundle.json.sig", 3)), trusted)
    assert "spbe-bundle.json.sig" in msg


def test_missing_member_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)
    drop = retar(
        path,
        tmp_path / "bad.spbe",
        lambda items: [i for i in items if i[0].name != "playbooks/install.yml"],
    )
    assert "playbooks/install.yml: missing member" in refused(drop, trusted)


def _extra(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> Edit:
    def edit(items: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        m = tarfile.TarInfo(name)
        m.type = kind
        m.linkname = linkname
        return [*items, (m, b"x")]

    return edit


def test_extra_member_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)
    msg = refused(retar(path, tmp_path / "bad.spbe", _extra("entry/evil.sh")), trusted)
    assert "entry/evil.sh: extra member, not listed in the manifest" in msg


def test_duplicate_member_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)

    def dup(items: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        return [*items, next(i for i in items if i[0].name == "entry/spbe-app.yaml")]

    assert "entry/spbe-app.yaml: duplicate member" in refused(
        retar(path, tmp_path / "bad.spbe", dup), trusted
    )


@pytest.mark.parametrize(
    ("name", "kind", "linkname", "why"),
    [
        ("../x", tarfile.REGTYPE, "", "path escapes the bundle"),
        ("entry/../../x", tarfile.REGTYPE, "", "path escapes the bundle"),
        ("/etc/cron.d/x", tarfile.REGTYPE, "", "absolute path"),
        ("entry/link", tarfile.SYMTYPE, "/etc/passwd", "symbolic link members are not allowed"),
        ("entry/hard", tarfile.LNKTYPE, "entry/spbe-app.yaml", "hard link members are not allowed"),
        ("entry/dev", tarfile.CHRTYPE, "", "device members are not allowed"),
        ("entry/dir", tarfile.DIRTYPE, "", "directory members are not allowed"),
        ("entry/./x", tarfile.REGTYPE, "", "path is not normalized"),
    ],
)
def test_unsafe_members_are_refused(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    trusted: dict[str, object],
    name: str,
    kind: bytes,
    linkname: str,
    why: str,
) -> None:
    path, _ = craft(tmp_path, key)
    msg = refused(retar(path, tmp_path / "bad.spbe", _extra(name, kind, linkname)), trusted)
    assert f": {name}: {why}" in msg


def test_unknown_key_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path, _ = craft(tmp_path, key)
    other = Ed25519PrivateKey.generate().public_key()
    msg = refused(path, {key_id_of(other): other})
    assert f"signed by key {key_id_of(key.public_key())}, which is not trusted" in msg


def test_signature_from_a_different_key_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)
    intruder = Ed25519PrivateKey.generate()

    def resign(items: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        manifest = items[0][1]
        sig = base64.b64encode(intruder.sign(manifest)) + b"\n"
        return [(m, sig if m.name == "spbe-bundle.json.sig" else d) for m, d in items]

    msg = refused(retar(path, tmp_path / "bad.spbe", resign), trusted)
    assert "spbe-bundle.json.sig: bad signature" in msg


def test_signed_manifest_failing_its_model_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    _, manifest = craft(tmp_path, key)
    doc = json.loads(manifest.to_bytes())
    doc["surprise"] = 1
    bad = (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()
    (tmp_path / "m").mkdir()
    path, _ = craft(tmp_path / "m", key, manifest_bytes=bad)
    msg = refused(path, trusted)
    assert "spbe-bundle.json: surprise: Extra inputs are not permitted" in msg


def test_signed_manifest_not_canonical_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    _, manifest = craft(tmp_path, key)
    compact = json.dumps(json.loads(manifest.to_bytes()), sort_keys=True).encode()
    (tmp_path / "m").mkdir()
    path, _ = craft(tmp_path / "m", key, manifest_bytes=compact)
    assert "not in canonical form" in refused(path, trusted)


def test_manifest_must_come_first(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, _ = craft(tmp_path, key)
    msg = refused(retar(path, tmp_path / "bad.spbe", lambda items: items[2:] + items[:2]), trusted)
    assert "the first member must be spbe-bundle.json" in msg


def test_not_a_tar_and_truncated(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    junk = tmp_path / "junk.spbe"
    junk.write_bytes(b"hello" * 200)
    assert "junk.spbe" in refused(junk, trusted)
    path, _ = craft(tmp_path, key)
    cut = tmp_path / "cut.spbe"
    cut.write_bytes(path.read_bytes()[:6000])
    refused(cut, trusted)
    with pytest.raises(NotFound):
        verify_bundle(tmp_path / "nope.spbe", trusted_keys=trusted)  # type: ignore[arg-type]


def test_extract_writes_only_after_all_checks(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, manifest = craft(tmp_path, key)
    dest = tmp_path / "out"
    got = extract_bundle(
        path,
        dest,
        trusted_keys=trusted,  # type: ignore[arg-type]
        want=lambda p: not p.startswith("blobs/"),
    )
    assert got == manifest
    assert (dest / "entry/spbe-app.yaml").read_bytes() == b"id: demo\nname: Demo\n"
    assert not (dest / "blobs").exists()
    assert (dest / "spbe-bundle.json").read_bytes() == manifest.to_bytes()
    bad = retar(path, tmp_path / "bad.spbe", flip("templates/demo/app.ini.j2", 1))
    dest2 = tmp_path / "out2"
    with pytest.raises(VerificationFailed):
        extract_bundle(bad, dest2, trusted_keys=trusted)  # type: ignore[arg-type]
    assert not dest2.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out2")) == []


def test_verify_extracted_folder(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    from spbe_share.bundle.verify import verify_extracted

    path, manifest = craft(tmp_path, key)
    dest = tmp_path / "out"
    extract_bundle(path, dest, trusted_keys=trusted)  # type: ignore[arg-type]
    assert (dest / "spbe-bundle.json.sig").is_file()
    assert verify_extracted(dest, trusted_keys=trusted) == manifest  # type: ignore[arg-type]
    layer = f"blobs/sha256/{_sha(LAYER)}"
    (dest / layer).unlink()
    with pytest.raises(VerificationFailed, match=f"{layer}: missing member"):
        verify_extracted(dest, trusted_keys=trusted)  # type: ignore[arg-type]
    assert verify_extracted(dest, trusted_keys=trusted, present={layer}) == manifest  # type: ignore[arg-type]
    (dest / "playbooks/install.yml").write_bytes(b"- hosts: all\n  tasks: [evil]\n")
    with pytest.raises(VerificationFailed, match="playbooks/install.yml: sha256"):
        verify_extracted(dest, trusted_keys=trusted, present={layer})  # type: ignore[arg-type]
