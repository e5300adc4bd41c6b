"""Targets without the network: inventory format, pins, argv builders, the built-in local."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spbe_share.errors import (
    Conflict,
    HostKeyMismatch,
    InvalidInput,
    NotFound,
    Unreachable,
    ValidationFailed,
)
from spbe_share.ops.target_add import add_target
from spbe_share.remote.ssh import (
    ansible_inventory_for,
    classify_ssh_failure,
    keyscan_argv,
    short_control_path_dir,
    ssh_argv,
    ssh_base_args,
)
from spbe_share.targets.hostkeys import (
    HostKey,
    PinnedKey,
    host_key_problem,
    parse_known_hosts,
    parse_public_keys,
    read_known_hosts,
    write_known_hosts,
)
from spbe_share.targets.inventory import (
    Target,
    get_target,
    list_targets,
    load_targets,
    remove_target,
    save_targets,
    set_local,
)
from spbe_share.workspace import Workspace
from spbe_share.yamlio import load_yaml

needs_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(home=tmp_path / "ws", root=tmp_path / "repo")


def keygen(tmp_path: Path, kind: str = "ed25519", bits: int | None = None) -> Path:
    path = tmp_path / f"k-{kind}-{bits}"
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "c", "-f", str(path)]
    if bits:
        argv[4:4] = ["-b", str(bits)]
    subprocess.run(argv, check=True)  # noqa: S603
    return path


def sorong(**kw: object) -> Target:
    base: dict = dict(
        name="kota-sorong", host="10.20.0.5", port=22, user="spbe", key=Path("/keys/id"),
        pemda="Kota Sorong", kode_wilayah="96.71", root="/var/lib/spbe-share", bind_address="10.20.0.5",
    )  # fmt: skip
    base.update(kw)
    return Target(**base)


ED_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_inventory_round_trip_with_pins(ws: Workspace) -> None:
    a = sorong()
    b = sorong(name="kabupaten-buleleng", host="10.30.0.9", port=2222, kode_wilayah="51.08",
               pemda="Kabupaten Buleleng", bind_address="10.30.0.10", python="/usr/bin/python3")  # fmt: skip
    save_targets(ws, [a, b])
    keytype, blob = ED_LINE.split()
    write_known_hosts(ws.known_hosts_file, [PinnedKey("[10.30.0.9]:2222", HostKey(keytype, blob))])
    loaded = load_targets(ws)
    assert loaded["kota-sorong"] == a
    assert loaded["kabupaten-buleleng"] == b.model_copy(update={"host_keys": (f"[10.30.0.9]:2222 {ED_LINE}",)})
    assert loaded["kabupaten-buleleng"].host_key == f"[10.30.0.9]:2222 {ED_LINE}"
    # a standard Ansible inventory: the group, the host vars, kode wilayah kept as text
    data = load_yaml(ws.inventory_file).data
    group = data["all"]["children"]["spbe_targets"]
    assert group["hosts"]["kabupaten-buleleng"] == {
        "ansible_host": "10.30.0.9", "ansible_port": 2222, "ansible_user": "spbe",
        "ansible_ssh_private_key_file": "/keys/id", "ansible_python_interpreter": "/usr/bin/python3",
        "spbe_pemda": "Kabupaten Buleleng", "spbe_kode_wilayah": "51.08",
        "spbe_root": "/var/lib/spbe-share", "spbe_bind_address": "10.30.0.10",
    }  # fmt: skip
    assert f"UserKnownHostsFile={ws.known_hosts_file}" in group["vars"]["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in group["vars"]["ansible_ssh_common_args"]
    assert (ws.inventory_file.stat().st_mode & 0o777) == 0o600


BROKEN = """\
all:
  children:
    spbe_targets:
      hosts:
        kota-sorong:
          ansible_host: 10.20.0.5
          ansible_user: spbe
          spbe_pemda: Kota Sorong
          spbe_kode_wilayah: 96.71
          ansible_prot: 22
"""


def test_broken_inventory_names_file_line_field(ws: Workspace) -> None:
    ws.home.mkdir(parents=True)
    ws.inventory_file.write_text(BROKEN)
    with pytest.raises(ValidationFailed) as err:
        load_targets(ws)
    f = ws.inventory_file
    assert err.value.problems == [
        f"{f}:9: all.children.spbe_targets.hosts.kota-sorong.spbe_kode_wilayah: "
        'Value error, kode wilayah must be quoted text, e.g. "96.71" (YAML read a number)',
        f"{f}:10: all.children.spbe_targets.hosts.kota-sorong.ansible_prot: unknown key",
    ]


def test_inventory_yaml_syntax_error_has_line(ws: Workspace) -> None:
    ws.home.mkdir(parents=True)
    ws.inventory_file.write_text("all:\n  children:\n    spbe_targets: [\n")
    with pytest.raises(InvalidInput, match=rf"^{ws.inventory_file}:\d+: \(yaml\)"):
        get_target(ws, "kota-sorong")


def test_unknown_target(ws: Workspace) -> None:
    save_targets(ws, [sorong()])
    with pytest.raises(NotFound, match="unknown target 'nope' \\(known: kota-sorong\\)"):
        get_target(ws, "nope")


def test_builtin_local_defaults_env_and_set_local(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PEMDA", "KODE_WILAYAH", "ROOT", "BIND_ADDRESS"):
        monkeypatch.delenv(f"SPBE_SHARE_LOCAL_{var}", raising=False)
    t = get_target(ws, "local")
    assert (t.connection, t.kode_wilayah, t.root, t.bind_address) == ("local", "00", "/var/lib/spbe-share", "127.0.0.1")
    assert not ws.inventory_file.exists()  # no inventory needed
    set_local(ws, pemda="Kota Sorong", kode_wilayah="96.71", root="/srv/spbe")
    t = get_target(ws, "local")
    assert (t.pemda, t.kode_wilayah, t.root) == ("Kota Sorong", "96.71", "/srv/spbe")
    monkeypatch.setenv("SPBE_SHARE_LOCAL_KODE_WILAYAH", "51.08")
    assert get_target(ws, "local").kode_wilayah == "51.08"
    assert [x.name for x in list_targets(ws)] == ["local"]
    inv = ansible_inventory_for(ws, get_target(ws, "local"))
    hv = inv["all"]["children"]["spbe_targets"]["hosts"]["local"]
    assert hv["ansible_connection"] == "local" and "ansible_ssh_common_args" not in hv
    monkeypatch.setenv("SPBE_SHARE_LOCAL_KODE_WILAYAH", "x")
    with pytest.raises(InvalidInput, match="SPBE_SHARE_LOCAL_"):
        get_target(ws, "local")
    with pytest.raises(InvalidInput, match="local connection"):
        ssh_base_args(ws, Target(name="local", connection="local", host="localhost", user="root",
                                 pemda="P", kode_wilayah="00", bind_address="127.0.0.1"))  # fmt: skip


def test_argv_builders(ws: Workspace) -> None:
    t = sorong(port=2222)
    kh = ws.known_hosts_file
    assert keyscan_argv("10.20.0.5", 2222) == [
        "ssh-keyscan", "-T", "5", "-p", "2222", "-t", "ed25519,ecdsa,rsa", "10.20.0.5",
    ]  # fmt: skip
    base = [
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={kh}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "Port=2222",
        "-o", "User=spbe",
        "-o", "IdentityFile=/keys/id",
        "-o", "IdentitiesOnly=yes",
    ]  # fmt: skip
    assert ssh_base_args(ws, t) == base
    assert ssh_argv(ws, t, ["ls", "-l", "/var/lib/spbe share", "$(rm -rf /)"]) == [
        "ssh", *base, "10.20.0.5", "--", "ls -l '/var/lib/spbe share' '$(rm -rf /)'",
    ]  # fmt: skip
    other = Path("/tmp/staged")
    assert f"UserKnownHostsFile={other}" in ssh_base_args(ws, t, known_hosts=other)


def test_ansible_inventory_for(ws: Workspace, tmp_path: Path) -> None:
    t = sorong(port=2222)
    inv = ansible_inventory_for(ws, t, control_path_dir=Path("/tmp/r/cp"))
    hv = inv["all"]["children"]["spbe_targets"]["hosts"]["kota-sorong"]
    assert hv["ansible_host"] == "10.20.0.5" and hv["ansible_port"] == 2222
    assert hv["ansible_connection"] == "ssh" and hv["ansible_host_key_checking"] is True
    assert hv["ansible_ssh_common_args"] == (
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={ws.known_hosts_file}"
        " -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no"
    )
    assert hv["ansible_control_path_dir"] == "/tmp/r/cp"
    assert hv["spbe_target"] == "kota-sorong" and hv["spbe_root"] == "/var/lib/spbe-share"
    long = tmp_path / ("x" * 80) / "cp"
    short = short_control_path_dir(long)
    assert len(short) <= 72 and short != short_control_path_dir(tmp_path / ("y" * 80))


def test_parse_known_hosts_and_public_keys(tmp_path: Path) -> None:
    text = (
        "# comment\n"
        f"[10.0.0.1]:2222 {ED_LINE}\n"
        f"a.example,10.0.0.2 {ED_LINE} trailing comment\n"
        "@revoked * ssh-ed25519 AAAA\n"
        "10.0.0.3 ssh-ed25519 notbase64!!\n"
    )
    pins = parse_known_hosts(text)
    assert [p.name for p in pins] == ["[10.0.0.1]:2222", "a.example", "10.0.0.2"]
    assert parse_public_keys(f"{ED_LINE} root@host\n", source="f") == [HostKey(*ED_LINE.split())]
    assert parse_public_keys(f"10.0.0.1 {ED_LINE}\n", source="f") == [HostKey(*ED_LINE.split())]
    with pytest.raises(InvalidInput, match=r"^f:2: --host-key-file"):
        parse_public_keys(f"{ED_LINE}\nnot a key\n", source="f")


@needs_keygen
@pytest.mark.parametrize(("kind", "bits"), [("ed25519", None), ("ecdsa", 384), ("rsa", 2048)])
def test_fingerprint_matches_ssh_keygen(tmp_path: Path, kind: str, bits: int | None) -> None:
    path = keygen(tmp_path, kind, bits)
    pub = Path(f"{path}.pub")
    key = parse_public_keys(pub.read_text(), source=str(pub))[0]
    expected = subprocess.run(  # noqa: S603
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert key.describe("c") == expected


def test_host_key_problem() -> None:
    ed1, ed2 = HostKey("ssh-ed25519", "A"), HostKey("ssh-ed25519", "B")
    rsa = HostKey("ssh-rsa", "R")
    assert host_key_problem([ed1], [ed1, rsa]) is None
    assert host_key_problem([ed1], [ed2]) == "the ED25519 key changed"
    assert host_key_problem([ed1, rsa], [ed2, rsa]) == "the ED25519 key changed"
    assert host_key_problem([ed1], [rsa]) == "none of the offered keys is pinned"
    assert host_key_problem([], [ed1]) == "no host key is pinned"


def test_classify_ssh_failure() -> None:
    t = sorong(host_keys=(f"10.20.0.5 {ED_LINE}",))
    changed = (
        "@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        "The fingerprint for the ED25519 key sent by the remote host is\n"
        "SHA256:p8Vm0ZbnrYi0d3xZk0N1Xg+zSKXQvqGkJmcnbo+KEbI.\nHost key verification failed.\n"
    )
    err = classify_ssh_failure(t, 255, changed)
    assert isinstance(err, HostKeyMismatch) and int(err.exit_code) == 6
    assert "SHA256:p8Vm0ZbnrYi0d3xZk0N1Xg+zSKXQvqGkJmcnbo+KEbI" in err.message
    assert HostKey(*ED_LINE.split()).fingerprint in err.message
    denied = classify_ssh_failure(t, 255, "spbe@10.20.0.5: Permission denied (publickey).")
    assert isinstance(denied, Unreachable) and "login refused" in denied.message
    refused = classify_ssh_failure(t, 255, "ssh: connect to host 10.20.0.5 port 22: Connection refused")
    assert isinstance(refused, Unreachable) and "Connection refused" in refused.message


def test_add_validates_before_touching_network_or_disk(ws: Workspace, tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("k")
    common = dict(host="10.20.0.5", user="spbe", key=key, pemda="Kota Sorong")
    with pytest.raises(InvalidInput, match="^--kode-wilayah: "):
        add_target(ws, name="kota-sorong", kode_wilayah="9671", **common)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="^NAME: "):
        add_target(ws, name="Kota Sorong", kode_wilayah="96.71", **common)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="^--host: "):
        add_target(ws, name="x", kode_wilayah="96.71", **{**common, "host": "-oProxyCommand=x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="^--key: .*no such file"):
        add_target(ws, name="x", kode_wilayah="96.71", **{**common, "key": tmp_path / "nope"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="^--host-key-fingerprint"):
        add_target(ws, name="x", kode_wilayah="96.71", host_key_fingerprint="MD5:aa", **common)  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="built-in"):
        add_target(ws, name="local", kode_wilayah="96.71", **common)  # type: ignore[arg-type]
    save_targets(ws, [sorong()])
    with pytest.raises(Conflict, match="already exists"):
        add_target(ws, name="kota-sorong", kode_wilayah="96.71", **common)  # type: ignore[arg-type]
    assert not ws.known_hosts_file.exists()


def test_remove_keeps_pins_shared_with_another_target(ws: Workspace) -> None:
    a, b = sorong(), sorong(name="kota-sorong-2")
    save_targets(ws, [a, b])
    write_known_hosts(ws.known_hosts_file, [PinnedKey("10.20.0.5", HostKey(*ED_LINE.split()))])
    remove_target(ws, "kota-sorong")
    assert len(read_known_hosts(ws.known_hosts_file)) == 1
    remove_target(ws, "kota-sorong-2")
    assert read_known_hosts(ws.known_hosts_file) == []
    assert load_targets(ws) == {}
    with pytest.raises(NotFound):
        remove_target(ws, "kota-sorong")


def test_host_keys_are_loaded_by_cryptography_not_by_hand() -> None:
    """A blob that only starts like a key (right type string, truncated body) is no key."""
    import base64
    import struct

    from spbe_share.targets import hostkeys
    from spbe_share.targets import inventory as targets

    raw = base64.b64decode(ED_LINE.split()[1])
    truncated = base64.b64encode(raw[:-5]).decode()
    wrong_curve = base64.b64encode(struct.pack(">I", 19) + b"ecdsa-sha2-nistp256" + b"\0" * 8).decode()
    assert parse_known_hosts(f"10.0.0.1 ssh-ed25519 {truncated}\n") == []
    assert parse_known_hosts(f"10.0.0.1 ecdsa-sha2-nistp256 {wrong_curve}\n") == []
    with pytest.raises(InvalidInput, match="not an OpenSSH public key line"):
        parse_public_keys(f"ssh-ed25519 {truncated}\n", source="f")
    assert not hasattr(targets, "_ssh_string") and not hasattr(hostkeys, "_ssh_string")
    key = parse_public_keys(ED_LINE + "\n", source="f")[0]
    assert (key.bits, key.describe("c").split()[-1]) == (256, "(ED25519)")
    assert hostkeys.key_label("sk-ssh-ed25519@openssh.com") == "ED25519-SK"


def test_one_operation_compares_the_host_key_once_per_target(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """checked_target asks the target for its host key once per operation context (a plan and
    its run both check the same target); a target saved again with other pins is asked again,
    and a new context asks again."""
    import spbe_share.remote.ssh as ssh
    from spbe_share.ops.checks import checked_target
    from spbe_share.ops.context import OpContext

    keytype, blob = ED_LINE.split()
    save_targets(ws, [sorong()])
    write_known_hosts(ws.known_hosts_file, [PinnedKey("10.20.0.5", HostKey(keytype, blob))])
    asked: list[str] = []

    def keyscan(host: str, port: int) -> list[HostKey]:  # the ssh-keyscan program, counted
        asked.append(host)
        return [HostKey(keytype, blob)]

    monkeypatch.setattr(ssh, "keyscan", keyscan)
    ctx = OpContext.create(ws)
    checked_target(ctx, "kota-sorong")
    checked_target(ctx, "kota-sorong")
    assert asked == ["10.20.0.5"]
    checked_target(OpContext.create(ws), "kota-sorong")
    assert asked == ["10.20.0.5"] * 2
    other = HostKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIBr1zYVv5UxQ3x9yTt1Zp8nQ3yYtYV1cQ2nM3fX0Yl7K")
    write_known_hosts(ws.known_hosts_file, [PinnedKey("10.20.0.5", other)])  # pinned anew: asked again, refused
    with pytest.raises(HostKeyMismatch):
        checked_target(ctx, "kota-sorong")
    assert asked == ["10.20.0.5"] * 3


def test_a_key_proven_by_an_answered_ssh_read_is_not_asked_again(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare_key=False defers the keyscan; key_proven (an ssh read answered with the pinned
    keys: read_state, the no-op check) counts for the rest of the operation, for that target
    and those pins only."""
    import spbe_share.remote.ssh as ssh
    from spbe_share.ops.checks import checked_target, key_proven
    from spbe_share.ops.context import OpContext

    keytype, blob = ED_LINE.split()
    save_targets(ws, [sorong()])
    write_known_hosts(ws.known_hosts_file, [PinnedKey("10.20.0.5", HostKey(keytype, blob))])
    asked: list[str] = []
    monkeypatch.setattr(ssh, "keyscan", lambda host, port: (asked.append(host), [HostKey(keytype, blob)])[1])
    ctx = OpContext.create(ws)
    target = checked_target(ctx, "kota-sorong", compare_key=False)
    assert asked == []
    key_proven(ctx, target)
    checked_target(ctx, "kota-sorong")
    assert asked == []
    checked_target(OpContext.create(ws), "kota-sorong")  # another operation: asked
    assert asked == ["10.20.0.5"]
    other = HostKey("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIBr1zYVv5UxQ3x9yTt1Zp8nQ3yYtYV1cQ2nM3fX0Yl7K")
    write_known_hosts(ws.known_hosts_file, [PinnedKey("10.20.0.5", other)])  # pinned anew: not the proven pins
    with pytest.raises(HostKeyMismatch):
        checked_target(ctx, "kota-sorong")
