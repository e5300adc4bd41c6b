"""Compressed bundles, the one read of a bundle, and a bounded manifest parse (no Docker)."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_bundle_verify import LAYER, _sha, craft, flip, refused, retar  # same folder

from spbe_share.bundle import verify as V
from spbe_share.bundle.keyformat import key_id_of
from spbe_share.bundle.manifest import MANIFEST_NAME
from spbe_share.errors import VerificationFailed


@pytest.fixture()
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b"z" * 32)


@pytest.fixture()
def trusted(key: Ed25519PrivateKey) -> dict[str, object]:
    return {key_id_of(key.public_key()): key.public_key()}


def test_compressed_bundle_verifies_and_extracts_compressed(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, manifest = craft(tmp_path, key, zstd=True)
    assert V.verify_bundle(path, trusted_keys=trusted) == manifest  # type: ignore[arg-type]
    blob = manifest.blob(f"sha256:{_sha(LAYER)}")
    assert blob.path.endswith(".zst") and blob.compression == "zstd"
    assert blob.member_size < blob.size  # stored compressed
    with tarfile.open(path) as tar:
        assert f"blobs/sha256/{_sha(LAYER)}.zst" in tar.getnames()
    got, folder = V.open_bundle(path, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    assert got == manifest
    stored = (folder / blob.path).read_bytes()
    assert zstandard.ZstdDecompressor().decompress(stored) == LAYER
    out = io.BytesIO()
    V.reassemble_docker_archive(folder, manifest.images[0], out)  # the zstd program decompresses
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.extractfile(f"blobs/sha256/{_sha(LAYER)}").read() == LAYER  # type: ignore[union-attr]


def test_changed_stored_byte_is_refused(tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]) -> None:
    path, _ = craft(tmp_path, key, zstd=True)
    member = f"blobs/sha256/{_sha(LAYER)}.zst"
    msg = refused(retar(path, tmp_path / "bad.spbe", flip(member, 20)), trusted)
    assert f": {member}: " in msg and "changed" in msg


def test_signed_stored_digest_with_wrong_content_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    """The stored bytes match the manifest, but they decompress to something else."""
    other = zstandard.ZstdCompressor().compress(b"not the layer" * 100)
    member = f"blobs/sha256/{_sha(LAYER)}.zst"
    path, _ = craft(tmp_path, key, zstd=True, stored={member: other})
    msg = refused(path, trusted)
    assert f": {member}: content sha256 " in msg


def test_decompression_stops_at_the_announced_size(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    """A small stored blob that inflates far past its declared size is refused early."""
    bomb = zstandard.ZstdCompressor(level=19).compress(bytes(200 << 20))  # 200 MiB of zeros
    assert len(bomb) < 100_000
    member = f"blobs/sha256/{_sha(LAYER)}.zst"
    path, _ = craft(tmp_path, key, zstd=True, stored={member: bomb})
    msg = refused(path, trusted)
    assert "content sha256" in msg


def test_open_bundle_reads_the_file_once_and_a_swap_cannot_mix_bundles(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, m1 = craft(tmp_path / "a", key, zstd=True)
    second, m2 = craft(tmp_path / "b", key, zstd=True, layer=LAYER[::-1])
    assert m1 != m2
    target = tmp_path / "demo.spbe"
    target.write_bytes(first.read_bytes())
    opened: list[Path] = []
    real_open = V._open

    def open_then_swap(path: Path):  # type: ignore[no-untyped-def]
        f = real_open(path)
        opened.append(path)
        os.replace(second, target)  # another bundle lands under the same name while we read
        return f

    monkeypatch.setattr(V, "_open", open_then_swap)
    got, folder = V.open_bundle(target, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    assert opened == [target]  # one open, one read
    assert got == m1
    V.recheck_extracted(folder, m1, (folder / MANIFEST_NAME).read_bytes())
    assert folder.name == _sha(m1.to_bytes())


def test_cache_is_keyed_by_the_verified_digest_and_rechecked(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    path, manifest = craft(tmp_path, key, zstd=True)
    _, folder = V.open_bundle(path, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    entry = folder / "entry/spbe-app.yaml"
    before = entry.stat().st_ino
    _, again = V.open_bundle(path, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    assert again == folder and entry.stat().st_ino == before  # reused, not rewritten
    entry.write_bytes(b"id: evil\n")  # someone changed the cache
    _, third = V.open_bundle(path, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    assert third == folder and entry.read_bytes() == b"id: demo\nname: Demo\n"  # re-extracted
    with pytest.raises(VerificationFailed, match="changed since extraction"):
        (folder / "playbooks/install.yml").write_bytes(b"x")
        V.recheck_extracted(folder, manifest, manifest.to_bytes())
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temp leftovers


def _signed_bundle(tmp_path: Path, key: Ed25519PrivateKey, manifest_bytes: bytes) -> Path:
    sig = base64.b64encode(key.sign(manifest_bytes)) + b"\n"
    out = tmp_path / "x.spbe"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((MANIFEST_NAME, manifest_bytes), ("spbe-bundle.json.sig", sig)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_manifest_nested_200000_deep_is_exit_6_one_line(
    tmp_path: Path, key: Ed25519PrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    from spbe_share.bundle import keys as k
    from spbe_share.cli import main
    from spbe_share.workspace import Workspace

    ws = Workspace(home=tmp_path / "home", root=tmp_path)
    k.generate_key(ws, name="donor")
    donor = k.load_private_key(ws, "donor")
    deep = (b'{"signer": "' + key_id_of(donor.public_key()).encode() + b'", "x": ' + b"[" * 200_000
            + b"]" * 200_000 + b"}")  # fmt: skip
    path = _signed_bundle(tmp_path, donor, deep)  # signed by a trusted key: the parser is reached
    with pytest.raises(SystemExit) as exit_:
        main(["--workspace", str(ws.home), "bundle", "verify", str(path)])
    out, err = capsys.readouterr()
    assert exit_.value.code == 6 and out == ""
    assert err.strip().count("\n") == 0 and "Traceback" not in err and "RecursionError" not in err
    assert f"{path}: spbe-bundle.json: nested deeper than" in err


def test_signature_is_checked_before_the_manifest_is_parsed(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spbe_share.bundle.manifest import BundleManifest

    parsed: list[bytes] = []
    real = BundleManifest.from_bytes.__func__  # type: ignore[attr-defined]

    def spy(cls, data, **kw):  # type: ignore[no-untyped-def]
        parsed.append(data)
        return real(cls, data, **kw)

    monkeypatch.setattr(BundleManifest, "from_bytes", classmethod(spy))
    intruder = Ed25519PrivateKey.generate()
    doc = {"signer": key_id_of(key.public_key()), "format": 2}
    path = _signed_bundle(tmp_path, intruder, json.dumps(doc).encode())
    assert "bad signature" in refused(path, trusted)
    assert parsed == []  # never parsed: the signature failed first


def test_manifest_signer_must_be_the_key_that_signed(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    _, manifest = craft(tmp_path, key)
    text = manifest.to_bytes().decode()
    # a second "signer" key: the raw bytes name the trusted key first, the parser keeps the last
    twice = text.replace('"app": "demo"', '"app": "demo", "signer": "0123456789abcdef"')
    (tmp_path / "m").mkdir()
    msg = refused(_signed_bundle(tmp_path / "m", key, twice.encode()), trusted)
    assert "spbe-bundle.json: not in canonical form" in msg  # duplicate keys never parse as valid
    untrusted = text.replace(manifest.signer, "0123456789abcdef")
    (tmp_path / "n").mkdir()
    msg = refused(_signed_bundle(tmp_path / "n", key, untrusted.encode()), trusted)
    assert "signed by key 0123456789abcdef, which is not trusted" in msg


def _memo_open(path: Path, tmp_path: Path, trusted: dict[str, object]) -> tuple[object, Path, bool]:
    """ops.bundles.verify_and_extract in a workspace under ``tmp_path`` trusting ``trusted``."""
    from spbe_share.bundle import keys
    from spbe_share.ops.bundles import verify_and_extract
    from spbe_share.workspace import Workspace, repo_root

    ws = Workspace(home=tmp_path / "home", root=repo_root())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keys, "trusted_keys", lambda _ws: trusted)
        return verify_and_extract(ws, path)


def _memo_dir(tmp_path: Path) -> Path:
    from spbe_share.workspace import Workspace, repo_root

    return Workspace(home=tmp_path / "home", root=repo_root()).cache_dir / "verified"


def _cache(tmp_path: Path) -> Path:
    return _memo_dir(tmp_path).parent / "bundles"


def test_a_bundle_verified_before_and_unchanged_is_recognised_without_reading_it(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spbe_share.bundle import memo

    path, manifest = craft(tmp_path, key, zstd=True)
    monkeypatch.setattr(memo, "RACY_NS", 0)  # ctime cannot be set back: no file here is "racily clean"
    monkeypatch.setattr(memo, "TICK_NS", -1)  # nor changed during its verification
    got, folder, known = _memo_open(path, tmp_path, trusted)
    assert (got, known) == (manifest, False)
    assert list(_memo_dir(tmp_path).glob("*.json"))  # recorded

    def no_read(_path: Path):  # type: ignore[no-untyped-def]
        raise AssertionError("the bundle file was read again")

    monkeypatch.setattr(V, "_open", no_read)
    got, again, known = _memo_open(path, tmp_path, trusted)
    assert (got, again, known) == (manifest, folder, True)


@pytest.mark.parametrize("change", ["bundle file rewritten", "bundle file touched", "member rewritten",
                                    "member removed", "member chmod", "key no longer trusted"])
def test_a_change_since_the_memo_makes_the_full_verification_run(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    from spbe_share.bundle import memo

    path, manifest = craft(tmp_path, key, zstd=True)
    monkeypatch.setattr(memo, "RACY_NS", 0)
    monkeypatch.setattr(memo, "TICK_NS", -1)
    _, folder, _ = _memo_open(path, tmp_path, trusted)
    entry = folder / "entry/spbe-app.yaml"
    st = entry.stat()
    if change == "bundle file rewritten":  # same size, same mtime: only its ctime tells
        data = bytearray(path.read_bytes())
        pst = path.stat()
        path.write_bytes(bytes(data))
        os.utime(path, ns=(pst.st_atime_ns, pst.st_mtime_ns))
    elif change == "bundle file touched":
        os.utime(path)
    elif change == "member rewritten":  # same size and mtime, other bytes
        entry.write_bytes(b"id: evil\nname: Evil\n"[: st.st_size].ljust(st.st_size, b"\n"))
        os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "member removed":
        entry.unlink()
    elif change == "member chmod":
        entry.chmod(0o666)
    elif change == "key no longer trusted":
        trusted = {}
    assert memo.recall(_memo_dir(tmp_path), path, _cache(tmp_path), trusted_keys=trusted) is None  # type: ignore[arg-type]
    if change == "key no longer trusted":
        with pytest.raises(VerificationFailed):
            _memo_open(path, tmp_path, trusted)
    else:
        got, again, known = _memo_open(path, tmp_path, trusted)
        assert (got, again, known) == (manifest, folder, False)  # verified in full (and the folder re-made)
        assert entry.read_bytes() == b"id: demo\nname: Demo\n"


def test_a_member_changed_within_the_timestamp_tick_is_read_again(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """git's racily-clean rule: a change made within the same timestamp tick as the memo's stat
    leaves the stat as recorded. Simulated by writing the changed member's stat into the memo:
    a member whose ctime is within RACY_NS of the memo is hashed before the memo is believed."""
    import json
    import time

    from spbe_share.bundle import memo

    monkeypatch.setattr(memo, "RACY_NS", 300_000_000)
    path, manifest = craft(tmp_path, key, zstd=True)
    time.sleep(0.4)  # the bundle file is older than the tick
    started = time.time_ns()
    _, folder = V.open_bundle(path, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    assert memo.record(tmp_path / "verified", path, folder, manifest, started_ns=started)
    saved = next((tmp_path / "verified").glob("*.json"))
    record = json.loads(saved.read_text())
    entry = folder / "entry/spbe-app.yaml"
    size = entry.stat().st_size
    entry.write_bytes(b"id: evil\n".ljust(size, b"#"))  # changed "in the same tick" as the memo's stat:
    st = entry.stat()  # the memo holds the stat it has now
    record["members"]["entry/spbe-app.yaml"] = {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size,
                                                 "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}
    record["recorded_ns"] = st.st_ctime_ns + 1
    saved.write_text(json.dumps(record))
    assert memo.recall(tmp_path / "verified", path, tmp_path / "cache", trusted_keys=trusted) is None  # type: ignore[arg-type]
    monkeypatch.setattr(memo, "RACY_NS", 0)  # without the rule, the changed member would pass
    assert memo.recall(tmp_path / "verified", path, tmp_path / "cache", trusted_keys=trusted) is not None  # type: ignore[arg-type]


def test_a_bundle_changed_during_its_verification_is_not_recorded(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object]
) -> None:
    import time

    from spbe_share.bundle import memo

    path, manifest = craft(tmp_path, key, zstd=True)
    started = time.time_ns()
    _, folder = V.open_bundle(path, tmp_path / "cache", trusted_keys=trusted)  # type: ignore[arg-type]
    path.write_bytes(path.read_bytes())  # rewritten after the read began
    assert not memo.record(tmp_path / "verified", path, folder, manifest, started_ns=started)
    assert not (tmp_path / "verified").exists()


def test_a_fresh_extraction_is_recorded_out_of_the_racy_window_so_a_recall_reads_nothing(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first no-op install right after a fresh one: record waited for the members it had just
    written to leave the window (<= SETTLE_MAX_NS), so recall reads no member and no bundle byte."""
    import time

    from spbe_share.bundle import memo

    path, manifest = craft(tmp_path, key, zstd=True)
    time.sleep(memo.TICK_NS / 1e9 + 0.01)  # the bundle file is older than its verification
    _, folder, known = _memo_open(path, tmp_path, trusted)
    assert not known

    from spbe_share.imaging import dockerarchive as da

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("a member was read again")

    monkeypatch.setattr(V, "check_member_content", never)
    monkeypatch.setattr(da, "copy_hashing", never)
    monkeypatch.setattr(V, "_open", never)
    got, again, known = _memo_open(path, tmp_path, trusted)
    assert (got, again, known) == (manifest, folder, True)


def test_members_read_again_as_racily_clean_are_recorded_again(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from spbe_share.bundle import memo

    path, manifest = craft(tmp_path, key, zstd=True)
    time.sleep(0.5)
    monkeypatch.setattr(memo, "RACY_NS", 250_000_000)  # the members written now in it (too long to wait for), not the file
    _memo_open(path, tmp_path, trusted)
    saved = next(_memo_dir(tmp_path).glob("*.json"))
    before = memo.Memo.model_validate_json(saved.read_text())
    from spbe_share.imaging import dockerarchive as da

    reads: list[object] = []
    real = da.copy_hashing
    monkeypatch.setattr(da, "copy_hashing", lambda src, out: (reads.append(src), real(src, out))[1])
    assert _memo_open(path, tmp_path, trusted)[2]
    assert reads and len(reads) <= len(manifest.files)
    after = memo.Memo.model_validate_json(saved.read_text())
    assert after.recorded_ns > before.recorded_ns and after.members == before.members  # recorded again
