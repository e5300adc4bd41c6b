"""Donor keys and the trust store (no Docker)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from spbe_share.bundle import keys as k
from spbe_share.bundle import trust as t
from spbe_share.errors import Conflict, InvalidInput, NotFound
from spbe_share.workspace import Workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace(home=tmp_path / "home", root=tmp_path / "repo")


def test_generate_writes_0600_key_and_trusts_itself(ws: Workspace) -> None:
    info = k.generate_key(ws, name="pemda-papua")
    assert info.path == ws.keys_dir / "private" / "pemda-papua.key"
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    key = k.load_private_key(ws, "pemda-papua")
    assert k.key_id_of(key.public_key()) == info.key_id
    assert len(info.key_id) == 16 and info.fingerprint.startswith("SHA256:")
    assert info.key_id in k.trusted_keys(ws)
    line = k.export_public(ws, "pemda-papua")
    assert line.startswith("ssh-ed25519 ") and line.endswith(" spbe-share:pemda-papua\n")
    assert (ws.keys_dir / "public" / f"{info.key_id}.pub").read_text() == line


def test_generate_refuses_to_overwrite(ws: Workspace) -> None:
    k.generate_key(ws, name="donor")
    before = (ws.keys_dir / "private" / "donor.key").read_bytes()
    with pytest.raises(Conflict):
        k.generate_key(ws, name="donor")
    assert (ws.keys_dir / "private" / "donor.key").read_bytes() == before


def test_encrypted_key_needs_its_passphrase(ws: Workspace) -> None:
    k.generate_key(ws, name="donor", passphrase=b"rahasia-negara")
    assert b"ENCRYPTED" in (ws.keys_dir / "private" / "donor.key").read_bytes()
    with pytest.raises(InvalidInput, match="SPBE_SHARE_KEY_PASSPHRASE"):
        k.load_private_key(ws, "donor")
    with pytest.raises(InvalidInput, match="cannot decrypt"):
        k.load_private_key(ws, "donor", passphrase=b"salah")
    assert isinstance(
        k.load_private_key(ws, "donor", passphrase=b"rahasia-negara"), Ed25519PrivateKey
    )
    (own,) = [i for i in k.list_keys(ws) if i.kind == "own"]
    assert own.encrypted is True


def test_private_key_readable_by_others_is_refused(ws: Workspace) -> None:
    info = k.generate_key(ws, name="donor")
    os.chmod(info.path, 0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        k.load_private_key(ws, "donor")


def test_bad_names_and_missing_keys(ws: Workspace) -> None:
    with pytest.raises(InvalidInput):
        k.generate_key(ws, name="../evil")
    with pytest.raises(NotFound):
        k.load_private_key(ws, "nobody")
    with pytest.raises(NotFound):
        k.export_public(ws, "nobody")


def test_trust_untrust_and_both_file_formats(ws: Workspace, tmp_path: Path) -> None:
    a = Ed25519PrivateKey.generate().public_key()
    b = Ed25519PrivateKey.generate().public_key()
    ssh_file = tmp_path / "a.pub"
    ssh_file.write_text(k.public_line(a, name="kota-jayapura"))
    raw_file = tmp_path / "b.pub"
    raw = a.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw_file.write_text(
        base64.b64encode(
            b.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ).decode()
        + "\n"
    )
    ia = t.trust_key(ws, ssh_file, donor_kode="94.71")
    ib = t.trust_key(ws, raw_file, name="kab-merauke", donor_kode="94.01")
    assert (ia.name, ib.name) == ("kota-jayapura", "kab-merauke")
    assert set(k.trusted_keys(ws)) == {k.key_id_of(a), k.key_id_of(b)}
    assert (
        k.trusted_keys(ws)[ia.key_id].public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        == raw
    )
    with pytest.raises(Conflict):
        t.trust_key(ws, ssh_file, donor_kode="94.71")
    t.untrust_key(ws, ia.key_id)
    assert set(k.trusted_keys(ws)) == {ib.key_id}
    with pytest.raises(NotFound):
        t.untrust_key(ws, ia.key_id)
    with pytest.raises(InvalidInput):
        t.untrust_key(ws, "../../x")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ foo\n",
        "bm90IGEga2V5\n",
        "ssh-ed25519 !!!\n",
        "a\nb\n",
    ],
)
def test_bad_public_key_files_are_refused(ws: Workspace, tmp_path: Path, text: str) -> None:
    f = tmp_path / "bad.pub"
    f.write_text(text)
    with pytest.raises(InvalidInput, match=r"bad\.pub:1: \(file\): "):
        t.trust_key(ws, f, donor_kode="91")
    assert not (ws.keys_dir / "trusted").exists()


def test_trusted_keys_from_a_catalog_dir(tmp_path: Path) -> None:
    a = Ed25519PrivateKey.generate().public_key()
    d = tmp_path / "keys"
    d.mkdir()
    (d / f"{k.key_id_of(a)}.pub").write_text(k.public_line(a, name="donor"))
    (d / "README.md").write_text("not a key")
    assert list(k.trusted_keys_from_dir(d)) == [k.key_id_of(a)]
    assert k.trusted_keys_from_dir(tmp_path / "none") == {}
    (d / "0123456789abcdef.pub").write_text(k.public_line(a, name="liar"))
    with pytest.raises(InvalidInput, match="file name says key 0123456789abcdef"):
        k.trusted_keys_from_dir(d)


def test_fingerprint_agrees_with_ssh_keygen(ws: Workspace) -> None:
    import shutil
    import subprocess

    if shutil.which("ssh-keygen") is None:
        from needs import missing

        missing("ssh-keygen", "apt-get install openssh-client")
    info = k.generate_key(ws, name="donor")
    pub = ws.keys_dir / "public" / f"{info.key_id}.pub"
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True, text=True).stdout  # noqa: S603
    assert out.split()[1] == info.fingerprint
