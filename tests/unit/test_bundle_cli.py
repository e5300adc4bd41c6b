"""The keys / bundle CLI: exit codes and one-line errors (no Docker)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_bundle_verify import craft, flip, retar  # same folder (pytest rootdir-relative import)

from spbe_share.bundle import keys as k
from spbe_share.cli import main
from spbe_share.workspace import Workspace


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "home")
    code, out, _ = run(capsys, "--workspace", home, "keys", "generate", "--name", "donor")
    assert code == 0
    kid, fp, name = out.split()
    assert len(kid) == 16 and fp.startswith("SHA256:") and name == "donor"
    code, _, err = run(capsys, "--workspace", home, "keys", "generate", "--name", "donor")
    assert code == 9 and err.startswith("error: key 'donor' already exists")
    code, out, _ = run(capsys, "--workspace", home, "keys", "export", "donor")
    assert code == 0 and out.startswith("ssh-ed25519 ")
    other = tmp_path / "other.pub"
    other.write_text(k.public_line(Ed25519PrivateKey.generate().public_key(), name="kab-x"))
    code, _, err = run(capsys, "--workspace", home, "keys", "trust", str(other))
    assert code == 2 and "--donor-kode" in err  # a key is trusted for one donor, always named
    code, _, err = run(capsys, "--workspace", home, "keys", "trust", str(other), "--donor-kode", "9471")
    assert code == 2 and err.startswith("error: --donor-kode: invalid kode wilayah '9471'")
    code, out, _ = run(capsys, "--workspace", home, "keys", "trust", str(other), "--donor-kode", "94.71",
                       "--donor", "Kota X", "--app", "e-office")  # fmt: skip
    assert code == 0 and out.startswith("trusted ")
    assert out.rstrip().endswith("for donor 94.71 (Kota X), apps e-office")
    code, out, _ = run(capsys, "--workspace", home, "keys", "list", "--json")
    listed = json.loads(out)
    assert [(x["kind"], x["name"], x["donor_kode_wilayah"]) for x in listed] == [
        ("own", "donor", None),
        ("trusted", "donor", None),
        ("trusted", "kab-x", "94.71"),
    ]
    assert listed[1]["trusted_for"].startswith("no donor (this workspace's own key")
    code, out, _ = run(capsys, "--workspace", home, "keys", "list")
    assert "TRUSTED FOR" in out and "donor 94.71 (Kota X), apps e-office" in out
    code, _, err = run(capsys, "--workspace", home, "keys", "untrust", "ffffffffffffffff")
    assert code == 3 and "not trusted" in err


def test_bundle_verify_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace(home=tmp_path / "home", root=tmp_path)
    k.generate_key(ws, name="donor")
    key = k.load_private_key(ws, "donor")
    path, manifest = craft(tmp_path, key)
    code, out, err = run(capsys, "--workspace", str(ws.home), "bundle", "verify", str(path))
    assert code == 0 and out.startswith("OK demo 1.0.0: signed by ")
    assert "  signer: donor SHA256:" in out and ", trusted for no donor (this workspace's own key" in out
    assert "warning: an install would refuse this bundle: its entry is invalid" in err
    code, out, _ = run(capsys, "--workspace", str(ws.home), "bundle", "show", "--json", str(path))
    assert json.loads(out)["images"][0]["ref"] == "demo/web:1.0.0"
    bad = retar(path, tmp_path / "bad.spbe", flip("entry/spbe-app.yaml", 0))
    code, out, err = run(capsys, "--workspace", str(ws.home), "bundle", "verify", str(bad))
    assert code == 6 and out == ""
    assert (
        err
        == f"error: bundle verification failed: {bad}: entry/spbe-app.yaml: sha256 "
        + err.split(" sha256 ", 1)[1]
    )
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with tarfile.open(path) as t:
        assert t.getnames()[0] == "spbe-bundle.json"
