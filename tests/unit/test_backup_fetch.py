"""A backup copied from a target: every destination decided on this machine from validated
names, before any byte moves; the copy checked after (issue 17, finding 1).

The end-to-end case, through the CLI against a compromised simulated data center, is
``tests/e2e/test_backup_fetch_hostile.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from spbe_share.errors import RemoteFailed, VerificationFailed
from spbe_share.records.fetch import check_copy, check_fetched, plan_fetch

BID = "20261122T101500Z-manual-3fa2"
DATA = b"SQLite format 3\x00 rows"


def manifest(**changes: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "kind": "spbe-share-backup", "format": 1, "id": BID, "app": "pengaduan", "target": "kota-sorong",
        "release": {"version": "1.0.0", "bundle_digest": "sha256:" + "b" * 64},
        "created": "2026-11-22T10:15:00Z", "finished": "2026-11-22T10:15:04Z", "who": "budi", "why": "manual",
        "items": [
            {"type": "sqlite", "component": "web", "container": "spbe-kota-sorong-pengaduan-web",
             "path": "/data/pengaduan.db", "volume": "data", "mount": "/data", "uid": 0, "gid": 0, "mode": 420,
             "file": "db-0-web.sqlite3", "size": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()},
        ],
        "secrets": None,
    }  # fmt: skip
    m.update(changes)
    return m


def raw(m: dict[str, Any]) -> bytes:
    return json.dumps(m).encode()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def plan(base: Path, m: Any, **kw: Any) -> Any:
    data = m if isinstance(m, bytes) else raw(m)
    return plan_fetch(data, base=base, remote_dir="/var/lib/spbe-share/apps/pengaduan/backups",
                      manifest_sha256=sha(data), **kw)


def test_a_good_manifest_gives_destinations_inside_a_fresh_folder(tmp_path: Path) -> None:
    p = plan(tmp_path, manifest(), backup_id=BID)
    assert p.partial == tmp_path / f"{BID}.partial" and p.partial.is_dir() and not any(p.partial.iterdir())
    assert [(f.name, f.src, f.dest) for f in p.files] == [
        ("db-0-web.sqlite3", f"/var/lib/spbe-share/apps/pengaduan/backups/{BID}/db-0-web.sqlite3",
         p.partial / "db-0-web.sqlite3"),
        ("manifest.json", f"/var/lib/spbe-share/apps/pengaduan/backups/{BID}/manifest.json", p.partial / "manifest.json"),
    ]  # fmt: skip
    assert p.as_vars()["files"][0]["dest"] == str(p.partial / "db-0-web.sqlite3")


def with_file(name: Any) -> dict[str, Any]:
    m = manifest()
    m["items"][0]["file"] = name
    return m


@pytest.mark.parametrize(("m", "named"), [
    (with_file("../../x/evil.pth"), "items[0].file '../../x/evil.pth'"),
    (with_file("/root/.ssh/authorized_keys"), "items[0].file '/root/.ssh/authorized_keys'"),
    (with_file(".."), "items[0].file '..'"),
    (with_file("evil.pth"), "evil.pth"),
    (with_file("db-0-web.sqlite3\x1b]52;c;eA==\x07"), "items[0].file 'db-0-web.sqlite3\\x1b]52"),
    (with_file("manifest.json"), "items[0].file 'manifest.json'"),
    (manifest(id="../../../tmp/x"), "id '../../../tmp/x'"),
    (manifest(id="20261122T101500Z-manual-3fa2/.."), "id '20261122T101500Z-manual-3fa2/..'"),
    (manifest(secrets={"file": "../secrets.age"}), "secrets.file '../secrets.age'"),
    (manifest(items=[with_file("db-0-web.sqlite3")["items"][0]] * 2), "items[1].file 'db-0-web.sqlite3': listed twice"),
])  # fmt: skip
def test_a_name_that_is_not_one_plain_file_name_is_refused_naming_it(tmp_path: Path, m: dict[str, Any],
                                                                     named: str) -> None:
    base = tmp_path / "fetch"
    base.mkdir()
    with pytest.raises(RemoteFailed) as err:
        plan(base, m)
    assert named in err.value.message, err.value.message
    assert "\x1b" not in err.value.message and "\n" not in err.value.message
    assert list(base.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["fetch"]


def test_another_backup_than_asked_for_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RemoteFailed, match="asked for backup 20261122T101500Z-manual-ffff"):
        plan(tmp_path, manifest(), backup_id="20261122T101500Z-manual-ffff")


@pytest.mark.parametrize("data", [b"[" * 200_000 + b"]" * 200_000, b"\xff", b"{", b"null", b"[]"])
def test_a_manifest_that_is_not_one_gives_one_line(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(RemoteFailed) as err:
        plan(tmp_path, data)
    assert "\n" not in err.value.message and "backup manifest" in err.value.message


def test_parsed_data_from_ansible_is_checked_the_same_way(tmp_path: Path) -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(RemoteFailed, match="nested deeper"):
        plan_fetch(manifest(note=deep), base=tmp_path, remote_dir="/r", manifest_sha256="a" * 64)
    with pytest.raises(RemoteFailed, match="'../x'"):
        plan_fetch(with_file("../x"), base=tmp_path, remote_dir="/r", manifest_sha256="a" * 64)
    assert plan_fetch(manifest(), base=tmp_path, remote_dir="/r", manifest_sha256="a" * 64).files[-1].sha256 == "a" * 64


def test_what_was_there_is_removed_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("operator's file")
    base = tmp_path / "fetch"
    base.mkdir()
    (base / f"{BID}.partial").symlink_to(elsewhere)
    p = plan(base, manifest())
    assert p.partial.is_dir() and not p.partial.is_symlink()
    assert (elsewhere / "keep").read_text() == "operator's file"
    # a folder left by an interrupted run, holding a link to the operator's file: removed, target kept
    (p.partial / "db-0-web.sqlite3").symlink_to(elsewhere / "keep")
    p = plan(base, manifest())
    assert list(p.partial.iterdir()) == [] and (elsewhere / "keep").read_text() == "operator's file"


def fetched(tmp_path: Path, m: dict[str, Any] | None = None) -> tuple[Path, bytes, Any]:
    m = m or manifest()
    data = raw(m)
    p = plan(tmp_path, m)
    (p.partial / "db-0-web.sqlite3").write_bytes(DATA)
    (p.partial / "manifest.json").write_bytes(data)
    return p.partial, data, p


def test_the_copy_is_checked_after(tmp_path: Path) -> None:
    partial, data, _ = fetched(tmp_path)
    assert check_fetched(data, base=tmp_path, manifest_sha256=sha(data)).id == BID
    assert check_copy(partial, manifest_sha256=sha(data)).id == BID


@pytest.mark.parametrize(("spoil", "problem"), [
    (lambda d, out: (d / "db-0-web.sqlite3").unlink() or (d / "db-0-web.sqlite3").symlink_to(out),
     "db-0-web.sqlite3 is a symlink"),
    (lambda d, out: (d / "sub").symlink_to(out), "sub is a symlink"),
    (lambda d, out: (d / "extra.pth").write_text("x"), "'extra.pth' is not a file of backup"),
    (lambda d, out: (d / "db-0-web.sqlite3").write_bytes(b"other"), "the copy is damaged"),
    (lambda d, out: (d / "db-0-web.sqlite3").unlink(), "db-0-web.sqlite3 is missing"),
])  # fmt: skip
def test_a_copy_with_links_or_strangers_is_refused(tmp_path: Path, spoil: Any, problem: str) -> None:
    out = tmp_path / "outside.txt"
    out.write_bytes(DATA)
    base = tmp_path / "fetch"
    base.mkdir()
    partial, data, _ = fetched(base)
    spoil(partial, out)
    with pytest.raises(RemoteFailed, match=problem):
        check_fetched(data, base=base, manifest_sha256=sha(data))
    with pytest.raises(VerificationFailed, match=problem):
        check_copy(partial)


def test_the_copy_must_hold_the_planned_manifest(tmp_path: Path) -> None:
    partial, data, _ = fetched(tmp_path)
    other = copy.deepcopy(manifest(who="someone else"))
    (partial / "manifest.json").write_bytes(raw(other))
    with pytest.raises(RemoteFailed, match="differs from the manifest the target verified"):
        check_fetched(data, base=tmp_path, manifest_sha256=sha(data))
    with pytest.raises(RemoteFailed, match="not the manifest the target reported"):
        check_fetched(data, base=tmp_path, manifest_sha256=sha(raw(other)))
