"""The no-op check of install (spbe_share/ops/noop.py, playbooks/module_utils/spbe_noop_check.py): the request is a pure
function of install.yml's variables; the target's answer is untrusted; the target-side file
checks see every difference a repeat install would repair (no Docker needed for those)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks" / "module_utils"))
import spbe_noop_check as noop_target  # noqa: E402

from spbe_share.ops.noop import noop_request, parse_answer  # noqa: E402
from spbe_share.records.state import new_lock_owner  # noqa: E402

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
UID, GID = os.getuid(), os.getgid()


def install_vars(root: str) -> dict[str, Any]:
    return {
        "spbe_root": root, "spbe_app": "aduan", "spbe_version": "1.0.0", "spbe_target": "kota-x",
        "spbe_configs": [{"component": "web", "file": "0-config.json", "content": '{"unit": "Diskominfo"}'}],
        "spbe_secrets": [{"name": "SECRET_KEY", "length": 32}],
        "spbe_secret_mounts": [{"component": "web", "name": "SECRET_KEY", "owner": UID, "group": GID}],
        "spbe_blobs": ["a" * 64, "b" * 64],
        "spbe_images": [{"component": "web", "config": "sha256:" + "a" * 64}],
        "spbe_network": "spbe-kota-x-aduan", "spbe_labels": {"id.go.spbe.app": "aduan"},
        "spbe_volumes": [{"name": "spbe-kota-x-aduan-data"}],
        "spbe_containers": [{"name": "spbe-kota-x-aduan-web", "component": "web", "image": "sha256:" + "a" * 64,
                             "command": [], "env": {"A": "1"}, "ports": ["127.0.0.1:8081:8080/tcp"], "mounts": [],
                             "labels": {"id.go.spbe.app": "aduan"}, "extra": "ignored"}],
        "spbe_health": [{"component": "web", "type": "http", "url": "http://127.0.0.1:8081/healthz"}],
        "spbe_release": {"app": "aduan", "target": "kota-x", "version": "1.0.0", "bundle_digest": "sha256:" + "c" * 64,
                         "values": {"unit": "Diskominfo"}, "who": "ops", "when": "2026-11-23T10:00:00Z"},
    }


def request(root: str) -> dict[str, Any]:
    lock = new_lock_owner(who="ops", operation="install aduan 1.0.0", now=NOW, lease_s=60)
    return noop_request(install_vars(root), lock=lock, files_tar_sha256="1" * 64, tool_sha256="2" * 64)


def test_the_request_names_what_install_writes() -> None:
    req = request("/srv/spbe/")
    adir = "/srv/spbe/apps/aduan"
    assert req["app_dir"] == adir
    assert req["lock"]["path"] == "/srv/spbe/locks/aduan.lock" and req["lock"]["owner"]["token"]
    assert req["record"] == {"app": "aduan", "target": "kota-x", "version": "1.0.0",
                             "bundle_digest": "sha256:" + "c" * 64, "values": {"unit": "Diskominfo"}}
    assert {"path": f"{adir}/secrets", "mode": 0o700} in req["dirs"]
    assert {"path": f"{adir}/secrets/web", "mode": 0o500, "uid": UID, "gid": GID} in req["dirs"]
    assert {"path": f"{adir}/config/web/0-config.json", "mode": 0o644,
            "sha256": hashlib.sha256(b'{"unit": "Diskominfo"}').hexdigest()} in req["files"]
    assert {"path": f"{adir}/bundles/1.0.0.tar.zst", "sha256": "1" * 64, "mode": 0o644} in req["files"]
    assert req["secrets"] == [f"{adir}/secrets/SECRET_KEY"]
    assert req["containers"][0] == {k: v for k, v in install_vars("/srv/spbe")["spbe_containers"][0].items()
                                    if k != "extra"}
    assert req["volumes"] == [{"name": "spbe-kota-x-aduan-data", "labels": {"id.go.spbe.app": "aduan"}}]


def test_an_answer_is_same_only_when_it_says_so_without_any_difference() -> None:
    assert parse_answer(json.dumps({"same": True, "differences": [], "locked": None, "current": {}})).same
    for text in ("", "not json", "[]", json.dumps({"same": "yes", "differences": []}),
                 json.dumps({"same": True, "differences": ["x"]}),
                 json.dumps({"same": True, "differences": [], "locked": {"who": "x"}}),
                 json.dumps({"same": True})):
        assert not parse_answer(text).same, text
    assert parse_answer("").why_not == "the check could not run (no answer)"
    assert parse_answer(json.dumps({"same": False, "differences": [], "locked": {"who": "x"}})).why_not \
        == "the app's lock is held"


def test_port_bindings_as_docker_keeps_them() -> None:
    assert noop_target.port_bindings(["127.0.0.2:8081:8080/tcp", "[::1]:53:53/udp"]) == {
        "8080/tcp": [{"HostIp": "127.0.0.2", "HostPort": "8081"}],
        "53/udp": [{"HostIp": "::1", "HostPort": "53"}],
    }


def make_installed(root: Path, req: dict[str, Any]) -> None:
    """Lay out what a successful install leaves (the files part)."""
    for d in req["dirs"]:
        Path(d["path"]).mkdir(parents=True, exist_ok=True)
    adir = Path(req["app_dir"])
    (adir / "config" / "web" / "0-config.json").write_text('{"unit": "Diskominfo"}')
    (adir / "secrets" / "SECRET_KEY").write_text("s3cret-value-0123456789")
    (adir / "secrets" / "web" / "SECRET_KEY").write_text("s3cret-value-0123456789")
    os.chmod(adir / "secrets" / "web" / "SECRET_KEY", 0o400)
    for h in req["blobs"]:
        (root / "blobs" / "sha256" / h).write_bytes(b"x")
    (adir / "current.json").write_text(json.dumps({**req["record"], "result": "ok"}))
    for d in req["dirs"]:
        os.chmod(d["path"], d["mode"])


def file_differences(req: dict[str, Any]) -> list[str]:
    out: list[str] = []
    assert noop_target.check_record(req, out) is not None or out
    if not out:
        noop_target.check_paths(req, out)
    return out


def test_the_target_side_file_checks_see_each_difference(tmp_path: Path) -> None:
    req = request(str(tmp_path))
    # the bundle tar and archive tool: real files, their digests in the request
    for f in req["files"][:2]:
        Path(f["path"]).parent.mkdir(parents=True, exist_ok=True)
        Path(f["path"]).write_bytes(f["path"].encode())
        f["sha256"] = hashlib.sha256(f["path"].encode()).hexdigest()
    make_installed(tmp_path, req)
    assert file_differences(req) == []

    adir = Path(req["app_dir"])
    cfg = adir / "config" / "web" / "0-config.json"
    cfg.write_text('{"unit": "edited by hand"}')
    assert file_differences(req) == [f"file {cfg}: content differs"]
    cfg.write_text('{"unit": "Diskominfo"}')

    copy = adir / "secrets" / "web" / "SECRET_KEY"
    os.chmod(copy, 0o444)
    assert file_differences(req) == ["secret copy web/SECRET_KEY: owner or mode differs"]
    os.chmod(copy, 0o400)

    (tmp_path / "blobs" / "sha256" / ("b" * 64)).unlink()
    assert file_differences(req) == ["1 blob(s) missing (first: sha256:" + "b" * 64 + ")"]
    (tmp_path / "blobs" / "sha256" / (("b" * 64) + ".zst")).write_bytes(b"z")  # stored compressed: present
    assert file_differences(req) == []

    record = json.loads((adir / "current.json").read_text())
    (adir / "current.json").write_text(json.dumps({**record, "values": {"unit": "Lain"}}))
    assert file_differences(req) == ["release record: values differs"]
    (adir / "current.json").write_text(json.dumps({**record, "result": "failed"}))
    assert file_differences(req) == ["release record: result 'failed'"]


def test_the_lock_is_taken_and_released_only_when_free(tmp_path: Path) -> None:
    path = str(tmp_path / "aduan.lock")
    assert noop_target.take_lock(path, {"token": "mine"}) is None
    assert noop_target.take_lock(path, {"token": "theirs"}) == {"token": "mine"}
    assert not noop_target.release_lock(path, "theirs") and os.path.exists(path)
    assert noop_target.release_lock(path, "mine") and not os.path.exists(path)
