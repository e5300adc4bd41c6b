"""The signed provision bundle (pack, verify, tamper) and the target provision plan, offline."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from spbe_share.bundle.keyformat import key_id_of
from spbe_share.cli import main
from spbe_share.errors import ExitCode, InvalidInput, NotFound, VerificationFailed
from spbe_share.ops.provision import parse_daemon_options, provision_vars, set_docker_daemon_options
from spbe_share.provision.bundle import (
    ProvisionFile,
    ProvisionManifest,
    ProvisionPackage,
    bundle_filename,
    verify_bundle,
    write_bundle,
)
from spbe_share.records.state import LockOwner
from spbe_share.targets.inventory import Target, load_targets, save_targets
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
CREATED = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)


def _files(tmp: Path) -> dict[str, Path]:
    out = {}
    for member, data in (
        ("debs/Packages", b"Package: zstd\nVersion: 1.5\nFilename: ./zstd_1.5_amd64.deb\n\n"),
        ("debs/zstd_1.5_amd64.deb", b"!<arch>\nzstd" * 100),
        ("debs/libfoo1_1%3a2.0_amd64.deb", b"!<arch>\nlibfoo" * 50),
    ):
        p = tmp / member.replace("/", "_")
        p.write_bytes(data)
        out[member] = p
    return out


def _manifest(files: dict[str, Path], key: Ed25519PrivateKey, **over: Any) -> ProvisionManifest:
    doc: dict[str, Any] = {
        "format": 1,
        "kind": "provision",
        "os": "debian-12",
        "arch": "amd64",
        "created": CREATED,
        "signer": key_id_of(key.public_key()),
        "needs": [["zstd"]],
        "sources": ["http://mirror/debian bookworm main"],
        "base_assumed": ["libc6"],
        "packages": [
            ProvisionPackage(name="libfoo1", version="1:2.0", arch="amd64", file="debs/libfoo1_1%3a2.0_amd64.deb"),
            ProvisionPackage(name="zstd", version="1.5", arch="amd64", file="debs/zstd_1.5_amd64.deb"),
        ],
        "files": [
            ProvisionFile(path=m, sha256=hashlib.sha256(p.read_bytes()).hexdigest(), size=p.stat().st_size)
            for m, p in sorted(files.items())
        ],
    }
    doc.update(over)
    return ProvisionManifest(**doc)


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, ProvisionManifest, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    files = _files(tmp_path)
    manifest = _manifest(files, key)
    out = tmp_path / bundle_filename("debian-12", "amd64")
    write_bundle(out, manifest, files=files, key=key)
    return out, manifest, key


def _trusted(key: Ed25519PrivateKey) -> dict[str, Any]:
    return {key_id_of(key.public_key()): key.public_key()}


def test_pack_and_verify(signed: tuple[Path, ProvisionManifest, Ed25519PrivateKey], tmp_path: Path) -> None:
    path, manifest, key = signed
    assert path.name == "provision-debian-12-amd64.spbe-provision"
    assert verify_bundle(path, trusted_keys=_trusted(key)) == manifest
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert names[:2] == ["spbe-provision.json", "spbe-provision.json.sig"]
        assert names[2:] == sorted(f.path for f in manifest.files)
        assert {m.mtime for m in tar.getmembers()} == {int(CREATED.timestamp())}
    # deterministic: the same manifest and files give the same bytes
    again = tmp_path / "again"
    write_bundle(again, manifest, files=_files(tmp_path), key=key)
    assert again.read_bytes() == path.read_bytes()


def _rewrite(path: Path, change: Any) -> Path:
    """Copy the bundle with ``change(name, data) -> data | None`` applied (None drops a member)."""
    out = path.with_name("tampered")
    with tarfile.open(path) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            data = change(m.name, data)
            if data is None:
                continue
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    return out


def test_tampering_is_refused(signed: tuple[Path, ProvisionManifest, Ed25519PrivateKey]) -> None:
    path, _, key = signed
    trusted = _trusted(key)

    def flip_deb(name: str, data: bytes) -> bytes:
        return data[:-1] + b"X" if name == "debs/zstd_1.5_amd64.deb" else data

    with pytest.raises(VerificationFailed, match=r"debs/zstd_1.5_amd64.deb: sha256 .* \(changed\)"):
        verify_bundle(_rewrite(path, flip_deb), trusted_keys=trusted)

    def edit_manifest(name: str, data: bytes) -> bytes:
        return data.replace(b'"zstd"', b'"zsta"') if name == "spbe-provision.json" else data

    with pytest.raises(VerificationFailed, match="spbe-provision.json.sig: not signed by any of the 1 trusted"):
        verify_bundle(_rewrite(path, edit_manifest), trusted_keys=trusted)
    with pytest.raises(VerificationFailed, match="not signed by any"):
        verify_bundle(path, trusted_keys=_trusted(Ed25519PrivateKey.generate()))

    def drop(name: str, data: bytes) -> bytes | None:
        return None if name == "debs/Packages" else data

    with pytest.raises(VerificationFailed, match="debs/Packages: missing member"):
        verify_bundle(_rewrite(path, drop), trusted_keys=trusted)
    with pytest.raises(NotFound):
        verify_bundle(path.with_name("nope"), trusted_keys=trusted)
    not_tar = path.with_name("garbage")
    not_tar.write_bytes(b"garbage" * 100)
    with pytest.raises(VerificationFailed, match="not a provision bundle|corrupt"):
        verify_bundle(not_tar, trusted_keys=trusted)


def test_extra_member_is_refused(signed: tuple[Path, ProvisionManifest, Ed25519PrivateKey]) -> None:
    path, _, key = signed
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("debs/evil_1_amd64.deb")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(VerificationFailed, match="debs/evil_1_amd64.deb: not listed in the manifest"):
        verify_bundle(path, trusted_keys=_trusted(key))


def test_manifest_model_is_strict(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    files = _files(tmp_path)
    with pytest.raises(ValidationError, match="packages and files disagree"):
        _manifest(files, key, packages=[])
    with pytest.raises(ValidationError, match="String should match pattern"):
        _manifest(files, key, files=[ProvisionFile(path="../etc/passwd", sha256="0" * 64, size=1)])
    with pytest.raises(ValidationError):
        _manifest(files, key, os="debian 12")
    with pytest.raises(ValidationError, match="needs"):
        _manifest(files, key, needs=[[]])
    good = _manifest(files, key)
    assert ProvisionManifest.from_bytes(good.to_bytes()) == good
    with pytest.raises(VerificationFailed, match="canonical"):
        ProvisionManifest.from_bytes(json.dumps(good.model_dump(mode="json")).encode())
    assert good.digest.startswith("sha256:") and good.total_size == sum(f.size for f in good.files)


# ---------------------------------------------------------------- target provision, offline parts


def test_daemon_options() -> None:
    assert parse_daemon_options(["storage-driver=vfs", "iptables=false", "log-opts={\"max-size\": \"5m\"}",
                                 "cgroup-parent=spbe-x"]) == {
        "storage-driver": "vfs", "iptables": False, "log-opts": {"max-size": "5m"}, "cgroup-parent": "spbe-x"}
    for bad in ("novalue", "Bad_Key=1", "=x"):
        with pytest.raises(InvalidInput, match="--docker-daemon-opt"):
            parse_daemon_options([bad])


def _target(**over: Any) -> Target:
    fields: dict[str, Any] = {"name": "kab-uji", "host": "10.1.2.3", "user": "root", "pemda": "Kab Uji",
                              "kode_wilayah": "91.01", "bind_address": "10.1.2.3"}
    fields.update(over)
    return Target(**fields)


def test_daemon_options_live_in_the_inventory(tmp_path: Path) -> None:
    ws = Workspace.from_options(tmp_path / "ws")
    save_targets(ws, [_target()])
    set_docker_daemon_options(ws, "kab-uji", {"storage-driver": "vfs", "iptables": False})
    text = ws.inventory_file.read_text()
    assert "spbe_docker_daemon_options:" in text and "storage-driver: vfs" in text and "iptables: false" in text
    set_docker_daemon_options(ws, "kab-uji", {"iptables": None, "debug": True})
    assert load_targets(ws)["kab-uji"].docker_daemon_options == {"storage-driver": "vfs", "debug": True}
    with pytest.raises(NotFound):
        set_docker_daemon_options(ws, "nope", {"debug": True})


def test_provision_vars(signed: tuple[Path, ProvisionManifest, Ed25519PrivateKey]) -> None:
    path, manifest, _ = signed
    owner = LockOwner(who="op", pid=1, host="h", since="2026-11-22T08:00:00Z", operation="provision kab-uji",
                      token="t")
    got = provision_vars(target=_target(root="/srv/spbe"), manifest=manifest, bundle_path=path, lock_owner=owner)
    assert got == {
        "spbe_target": "kab-uji",
        "spbe_root": "/srv/spbe",
        "spbe_provision_bundle": str(path),
        "spbe_provision_files": [f.model_dump(mode="json") for f in manifest.files],
        "spbe_provision_needs": [["zstd"]],
        "spbe_lock_owner": owner.model_dump(mode="json"),
        "spbe_lock_path": "/srv/spbe/locks/_provision.lock",
    }


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_provision_refusals_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace.from_options(tmp_path / "ws")
    save_targets(ws, [_target()])
    before = ws.inventory_file.read_text()
    home = ["--workspace", str(ws.home)]
    code, err = _cli(capsys, *home, "target", "provision", "local")
    assert code == 2 and "bash scripts/setup" in err and "Traceback" not in err
    code, err = _cli(capsys, *home, "target", "provision", "nope")
    assert code == 3 and "unknown target 'nope'" in err
    code, err = _cli(capsys, *home, "target", "provision", "kab-uji", "--docker-daemon-opt", "oops")
    assert code == 2 and err.count("\n") == 1
    code, err = _cli(capsys, *home, "provision-bundle", "build", "--os", "windows-11")
    assert code == 2 and "--os windows-11: unknown" in err
    code, err = _cli(capsys, *home, "provision-bundle", "verify", str(tmp_path / "missing"))
    assert code == 3
    assert ws.inventory_file.read_text() == before
    audit = [json.loads(line) for line in ws.audit_log.read_text().splitlines()]
    assert [(a["what"], a["result"]) for a in audit] == [("provision", "refused: invalid_input"),
                                                         ("provision", "refused: not_found")]


def test_a_provision_bundle_needs_a_provisioning_key(signed: tuple[Path, ProvisionManifest, Ed25519PrivateKey],
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17 finding 2: a key trusted only for a donor's app signed a provision bundle, and
    it was accepted (its .debs are installed as root). Only this workspace's own key and keys
    trusted with `keys trust FILE --provision` sign provision bundles; both commands say who
    signed and why that key may."""
    from spbe_share.bundle.keyformat import public_line
    from spbe_share.bundle.keys import generate_key, load_private_key

    path, _, key = signed
    kid = key_id_of(key.public_key())
    pub = tmp_path / "donor91.pub"
    pub.write_text(public_line(key.public_key(), name="donor91"))
    ws = Workspace.from_options(tmp_path / "ws")
    save_targets(ws, [_target(host="127.0.0.1", port=9, bind_address="127.0.0.1")])  # nothing listens there
    home = ["--workspace", str(ws.home)]
    assert _cli(capsys, *home, "keys", "trust", str(pub), "--donor-kode", "91", "--app", "pengaduan")[0] == 0
    for argv in (["provision-bundle", "verify", str(path)], ["target", "provision", "kab-uji", "--bundle", str(path)]):
        code, err = _cli(capsys, *home, *argv)
        assert code == int(ExitCode.VERIFICATION_FAILED), err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"provision bundle signed by key {kid} (donor91), which is trusted for donor 91, apps pengaduan" in err
        assert "not for provision bundles" in err and "keys trust KEY.pub --provision" in err
    audit = [json.loads(line) for line in ws.audit_log.read_text().splitlines()]
    assert (audit[-1]["what"], audit[-1]["result"]) == ("provision", "refused: verification_failed")

    # trusted for provisioning on purpose: accepted, and the reason is printed
    code, err = _cli(capsys, *home, "keys", "trust", str(pub), "--provision")
    assert code == 0, err
    out = _run_out(capsys, *home, "provision-bundle", "verify", str(path))
    assert f"signed by key {kid} (donor91, " in out, out
    assert "trusted for provisioning: trusted for provision bundles (keys trust --provision" in out, out
    doc = json.loads(_run_out(capsys, *home, "provision-bundle", "verify", str(path), "--json"))
    assert doc["signer_trust"]["key_id"] == kid and doc["signer_trust"]["why"].startswith("trusted for provision")

    # this workspace's own key (provision-bundle build signs with it) needs no record of its own
    own_ws = Workspace.from_options(tmp_path / "own")
    own = generate_key(own_ws, name="donor")  # bound to no donor
    own_key = load_private_key(own_ws, "donor")
    files = _files(tmp_path)
    own_bundle = tmp_path / "own.spbe-provision"
    write_bundle(own_bundle, _manifest(files, own_key), files=files, key=own_key)
    text = _run_out(capsys, "--workspace", str(own_ws.home), "provision-bundle", "verify", str(own_bundle))
    assert f"signed by key {own.key_id} (donor, {own.fingerprint}), trusted for provisioning: this workspace's own key" in text


def _run_out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """stdout of a command that must succeed."""
    try:
        main(list(argv))
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    return capsys.readouterr().out


# ---------------------------------------------------------------- target-side modules (pure parts)


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, REPO / "playbooks" / "library" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_clock_judgement() -> None:
    judge = _module("spbe_clock").judge
    assert judge(3.2, 60, 600) == ("ok", "the target's clock is 3 s ahead of this machine's (within 60 s)")
    level, msg = judge(-125, 60, 600)
    assert level == "warn" and msg.startswith("the target's clock is 125 s behind this machine's (more than 60 s)")
    level, msg = judge(3600, 60, 600)
    assert level == "fail" and "signatures and agreement dates depend on it" in msg and "timedatectl" in msg


def test_unpack_accepts_only_flat_deb_names() -> None:
    flat_name = _module("spbe_provision_unpack").flat_name
    assert flat_name("debs/zstd_1.5_amd64.deb") == "zstd_1.5_amd64.deb"
    assert flat_name("debs/Packages") == "Packages"
    for bad in ("blobs/x", "debs/../x", "debs/a/b", "debs/.hidden", "debs/"):
        with pytest.raises(ValueError):
            flat_name(bad)


def test_offline_apt_uses_only_its_own_folder() -> None:
    opts = _module("spbe_offline_apt").apt_options("/r/apt/sources.list", "/r/apt")
    pairs = dict(o.split("=", 1) for o in opts[1::2])
    assert opts[0::2] == ["-o"] * len(pairs)
    assert pairs["Dir::Etc::SourceList"] == "/r/apt/sources.list"
    assert pairs["Dir::Etc::SourceParts"] == "/r/apt/empty.d"  # the target's own sources are ignored
    assert pairs["Dir::State::Lists"] == "/r/apt/lists" and pairs["Dir::Cache::archives"] == "/r/apt/archives"
    assert pairs["APT::Install-Recommends"] == "false"


def test_provisioning_is_audited_whatever_ends_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: `target provision` runs on the operations core, so even a bug (an unexpected
    exception, here injected where the given bundle is verified) leaves its audit line, and the
    inventory is as it was. Before, only SpbeErrors were audited, by hand."""
    import spbe_share.ops.provision as op_provision

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("a bug in the bundle check")

    monkeypatch.setattr(op_provision, "verify_for_provisioning", broken)
    ws = Workspace.from_options(tmp_path / "ws")
    save_targets(ws, [_target()])
    before = ws.inventory_file.read_text()
    bundle = tmp_path / "p.spbe-provision"
    bundle.write_bytes(b"x")
    with pytest.raises(RuntimeError, match="a bug in the bundle check"):
        main(["--workspace", str(ws.home), "target", "provision", "kab-uji", "--bundle", str(bundle),
              "--docker-daemon-opt", "debug=true"])
    audit = [json.loads(line) for line in ws.audit_log.read_text().splitlines()]
    assert [(a["what"], a["where"], a["result"]) for a in audit] == [("provision", "kab-uji", "failed: internal")]
    assert "a bug in the bundle check" in audit[0]["details"]["reason"] and "app" not in audit[0]["details"]
    assert ws.inventory_file.read_text() == before
