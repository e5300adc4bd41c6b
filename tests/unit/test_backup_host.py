"""Unit tests of the backup host (issue 19 item 5): the receive-only command
(``playbooks/module_utils/spbe_backup_host.py``) on real files, tar streams and sqlite copies,
the key it authorizes, and the controller's models of what the hosts answer."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backuptest import offsite, store  # noqa: E402

from spbe_share.errors import RemoteFailed  # noqa: E402
from spbe_share.ops.backuphost import backup_host  # noqa: E402
from spbe_share.ops.backups import BackupListing  # noqa: E402
from spbe_share.outside import loads_model  # noqa: E402
from spbe_share.records.backups import BackupRow, HostCopies, HostCopy, LinkAnswer  # noqa: E402
from spbe_share.targets.inventory import Target, TargetHost  # noqa: E402

BID = "20261207T060000Z-manual-3fa2"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq1d2vYbYz6tQe6jv1cR0Hk1xq4c2m6kGmQm6kq8Z1a"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_backup(folder: Path, backup_id: str = BID) -> dict[str, bytes]:
    """A backup as the engine writes it: an SQLite copy, a volume archive, the manifest."""
    folder.mkdir(parents=True)
    db = folder / "db-0-web.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE aduan (id INTEGER PRIMARY KEY, isi TEXT)")
    conn.executemany("INSERT INTO aduan (isi) VALUES (?)", [("jalan rusak",), ("lampu mati",)])
    conn.commit()
    conn.close()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("uploads/a.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"halo\n"))
    (folder / "vol-uploads.tar").write_bytes(buf.getvalue())
    items = [
        {"type": "sqlite", "file": "db-0-web.sqlite3", "size": db.stat().st_size, "sha256": _sha(db.read_bytes())},
        {"type": "volume-archive", "file": "vol-uploads.tar", "size": len(buf.getvalue()),
         "sha256": _sha(buf.getvalue())},
    ]
    manifest = {"kind": store.KIND, "format": store.FORMAT, "id": backup_id, "app": "pengaduan", "items": items,
                "secrets": None}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "verification.json").write_text(json.dumps({"ok": True, "manifest_sha256": _sha(
        (folder / "manifest.json").read_bytes())}))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def stream_of(folder: Path) -> io.BytesIO:
    out = io.BytesIO()
    offsite.send_tar(out, str(folder), offsite.backup_files(str(folder)))
    out.seek(0)
    return out


def serve(folder: Path, command: str, data: io.BytesIO | None = None) -> tuple[dict | None, bytes]:
    out = io.BytesIO()
    got = offsite.serve(str(folder), command, data or io.BytesIO(), out)
    return got, out.getvalue()


def test_a_backup_is_received_checked_listed_and_given_back(tmp_path: Path) -> None:
    files = make_backup(tmp_path / "app" / BID)
    copies = tmp_path / "copies"
    copies.mkdir()
    got, _ = serve(copies, f"put {BID}", stream_of(tmp_path / "app" / BID))
    assert got is not None and got["ok"] is True and got["id"] == BID
    assert got["manifest_sha256"] == _sha(files["manifest.json"])
    details = {c["item"]: c["detail"] for c in got["checks"]}
    assert details["db-0-web.sqlite3"].startswith("sha256 ok; integrity_check ok")
    assert details["vol-uploads.tar"] == "sha256 ok; tar listing ok, 1 members"
    kept = copies / BID
    assert {p.name: p.read_bytes() for p in kept.iterdir() if p.name != "received.json"} == files
    assert oct(kept.stat().st_mode & 0o777) == "0o700" and all(
        (p.stat().st_mode & 0o777) == 0o600 for p in kept.iterdir())
    assert [p.name for p in copies.iterdir()] == [BID]  # no incoming folder left
    listed, _ = serve(copies, "list")
    assert listed is not None
    assert HostCopies.model_validate(listed).copies[0].model_dump() == {
        "id": BID, "ok": True, "when": got["when"], "manifest_sha256": got["manifest_sha256"], "size": got["size"]}

    # get: the same files back, as a tar stream the app host takes with the same checks
    none, raw = serve(copies, f"get {BID}")
    assert none is None
    back = tmp_path / "back"
    back.mkdir()
    names = offsite.receive_tar(io.BytesIO(raw), str(back))
    assert sorted(names) == sorted(files) and offsite.check_copy(str(back), BID, names)["ok"] is True


def test_the_same_backup_is_never_overwritten(tmp_path: Path) -> None:
    make_backup(tmp_path / "app" / BID)
    copies = tmp_path / "copies"
    copies.mkdir()
    serve(copies, f"put {BID}", stream_of(tmp_path / "app" / BID))
    before = {p.name: p.read_bytes() for p in (copies / BID).iterdir()}
    (tmp_path / "app" / BID / "vol-uploads.tar").write_bytes(b"other")  # a hostile app host's second put
    with pytest.raises(offsite.BackupHostError, match="already there; a copy is never overwritten"):
        serve(copies, f"put {BID}", stream_of(tmp_path / "app" / BID))
    assert {p.name: p.read_bytes() for p in (copies / BID).iterdir()} == before
    assert [p.name for p in copies.iterdir()] == [BID]


@pytest.mark.parametrize("name", ["../escaped.tar", "/etc/escaped.tar", "sub/vol-x.tar", "..", "received.json",
                                  "authorized_keys"])  # fmt: skip
def test_paths_outside_the_folder_and_other_names_are_refused(tmp_path: Path, name: str) -> None:
    copies = tmp_path / "base" / "copies"
    copies.mkdir(parents=True)
    info = tarfile.TarInfo(name)
    info.size = 3
    with pytest.raises(offsite.BackupHostError, match="not a file of a backup in this folder"):
        serve(copies, f"put {BID}", tar_of([(info, b"abc")]))
    assert list(copies.iterdir()) == [] and sorted(p.name for p in (tmp_path / "base").iterdir()) == ["copies"]
    assert not Path("/etc/escaped.tar").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE])
def test_links_folders_and_devices_are_refused(tmp_path: Path, kind: bytes) -> None:
    copies = tmp_path / "copies"
    copies.mkdir()
    info = tarfile.TarInfo("vol-uploads.tar")
    info.type = kind
    info.linkname = "/etc/shadow"
    with pytest.raises(offsite.BackupHostError, match="not a plain file"):
        serve(copies, f"put {BID}", tar_of([(info, None)]))
    assert list(copies.iterdir()) == []


def test_a_damaged_copy_or_a_file_not_in_the_manifest_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "app" / BID
    make_backup(src)
    copies = tmp_path / "copies"
    copies.mkdir()
    tar = (src / "vol-uploads.tar").read_bytes()
    (src / "vol-uploads.tar").write_bytes(tar[:-1] + b"x")
    with pytest.raises(offsite.BackupHostError, match="differ from the manifest: damaged on the way"):
        serve(copies, f"put {BID}", stream_of(src))
    (src / "vol-uploads.tar").write_bytes(tar)
    (src / "vol-extra.tar").write_bytes(tar)
    with pytest.raises(offsite.BackupHostError, match="vol-extra.tar is not in its manifest"):
        serve(copies, f"put {BID}", stream_of(src))
    assert list(copies.iterdir()) == []


def test_the_key_may_only_put_get_and_list_in_its_folder(tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    copies.mkdir()
    other = tmp_path / "other-target"
    make_backup(other / BID)
    for command in ("sh", "rm -rf /", f"get ../other-target/{BID}", "list ..", "put ../x", ""):
        with pytest.raises(store.BackupError):
            serve(copies, command)
    with pytest.raises(offsite.BackupHostError, match=f"no copy of backup {BID} here"):
        serve(copies, f"get {BID}")  # another target's backup of the same id is not reachable


def test_authorize_installs_a_restricted_key_and_replaces_the_targets_old_one(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    keys = tmp_path / "home" / ".ssh" / "authorized_keys"
    keys.parent.mkdir(parents=True)
    keys.write_text("ssh-ed25519 AAAAoperator operator@laptop\n")
    root = tmp_path / "root"
    files = {"spbe_backup_host.py": "# tool\n"}
    offsite.authorize(str(root), target="kota-sorong", public_key=KEY, python="/usr/bin/python3", files=files)
    new_key = KEY[:-4] + "AAAA"
    got = offsite.authorize(str(root), target="kota-sorong", public_key=new_key, python="/usr/bin/python3",
                            files=files)
    folder = f"{root}/backup-copies/kota-sorong"
    assert got == {"folder": folder, "replaced": 1}
    assert keys.read_text().splitlines() == [
        "ssh-ed25519 AAAAoperator operator@laptop",
        f'restrict,command="/usr/bin/python3 {root}/lib/spbe_backup_host.py serve {folder}" {new_key}'
        " spbe-backup:kota-sorong",
    ]
    assert (keys.stat().st_mode & 0o777) == 0o600 and (Path(folder).stat().st_mode & 0o777) == 0o700
    assert (root / "lib" / "spbe_backup_host.py").read_text() == "# tool\n"
    for bad in ({"public_key": KEY + '" command="sh'}, {"python": "python3 -c evil"}, {"target": "../x"}):
        args = {"target": "kota-sorong", "public_key": KEY, "python": "/usr/bin/python3", **bad}
        with pytest.raises(offsite.BackupHostError):
            offsite.authorize(str(root), files={}, **args)  # type: ignore[arg-type]
    with pytest.raises(offsite.BackupHostError, match="not a tool file"):
        offsite.authorize(str(root), target="kota-sorong", public_key=KEY, python="/usr/bin/python3",
                          files={"../../etc/cron.d/x": ""})


def test_each_host_of_a_target_keeps_its_own_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app across hosts backs up on its database host, an app of one host on the first host:
    linking one never shuts the other out; a host linked again (a replaced server) replaces its own."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    keys = tmp_path / "home" / ".ssh" / "authorized_keys"
    root, files = tmp_path / "root", {"spbe_backup_host.py": "# tool\n"}
    db_key, db_again = KEY[:-4] + "BBBB", KEY[:-4] + "CCCC"
    offsite.authorize(str(root), target="kota-sorong", public_key=KEY, python="/usr/bin/python3", files=files)
    offsite.authorize(str(root), target="kota-sorong", host="kota-sorong--db", public_key=db_key,
                      python="/usr/bin/python3", files=files)
    got = offsite.authorize(str(root), target="kota-sorong", host="kota-sorong--db", public_key=db_again,
                            python="/usr/bin/python3", files=files)
    assert got["replaced"] == 1
    lines = keys.read_text().splitlines()
    assert [ln.split()[-2:] for ln in lines] == [[KEY.split()[1], "spbe-backup:kota-sorong"],
                                                 [db_again.split()[1], "spbe-backup:kota-sorong:kota-sorong--db"]]
    assert offsite.authorize(str(root), target="kota-sorong", host="kota-sorong", public_key=KEY,
                             python="/usr/bin/python3", files=files)["replaced"] == 1  # the first host: its own line
    with pytest.raises(offsite.BackupHostError, match="host"):
        offsite.authorize(str(root), target="kota-sorong", host="../x", public_key=KEY, python="/usr/bin/python3",
                          files=files)


def test_the_controller_reads_the_hosts_answers_as_untrusted() -> None:
    with pytest.raises(RemoteFailed, match="public_key"):
        loads_model(b'{"public_key": "ssh-rsa AAAA"}', LinkAnswer, where="h", error=RemoteFailed)
    with pytest.raises(RemoteFailed, match=r"copies\.0\.id"):
        loads_model(json.dumps({"copies": [{"id": "../x", "ok": True, "when": None, "manifest_sha256": None,
                                            "size": None}]}), HostCopies, where="h", error=RemoteFailed)


def _target(*hosts: tuple[str, tuple[str, ...]]) -> Target:
    first, *rest = hosts
    return Target(name="dinas-sorong", host=first[0], user="root", pemda="Kota Sorong", kode_wilayah="96.71",
                  bind_address=first[0], roles=first[1], extra_hosts=tuple(
                      TargetHost(name=f"dinas-sorong--{r[0]}", host=a, user="root", bind_address=a, roles=r,
                                 root="/srv/backup" if "backup" in r else None)
                      for a, r in rest))  # fmt: skip


def test_the_backup_host_is_another_host_carrying_backup_and_where_each_backup_is() -> None:
    t = _target(("10.0.0.2", ("app",)), ("10.0.0.3", ("backup",)))
    bh = backup_host(t)
    assert bh is not None and (bh.name, bh.host, bh.root) == ("dinas-sorong--backup", "10.0.0.3", "/srv/backup")
    assert t.hosts()[0].root == "/var/lib/spbe-share"
    assert backup_host(_target(("10.0.0.2", ("app", "backup")),)) is None  # one host: its backups stay on it
    assert backup_host(_target(("10.0.0.2", ("web",)), ("10.0.0.4", ("database",)))) is None

    def row(i: str) -> BackupRow:
        return BackupRow(id=i, dir="/x", state="verified")

    def copy(i: str, ok: bool = True) -> HostCopy:
        return HostCopy(id=i, ok=ok, when=None, manifest_sha256=None, size=1)

    a, b, c, d = (f"20261207T06000{n}Z-manual-aaaa" for n in range(4))
    listing = BackupListing(app="e-office", target=t.name, rows=[row(a), row(b), row(d)], incomplete=[], serving=None,
                            schedule=[], local={}, backup_host=bh.name,
                            host_copies={b: copy(b), c: copy(c), d: copy(d, ok=False)})
    assert [listing.where(i) for i in (a, b, c, d)] == ["app host", "both", "backup host", "app host"]
    assert [r["where"] for r in listing.as_dict()["backups"]] == ["app host", "both", "app host"]
    assert [r["id"] for r in listing.as_dict()["backup_host_only"]] == [c]
