"""The pinning rule (never silent, never a changed key without --accept-new-host-key) and bind addresses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from spbe_share.errors import HostKeyMismatch, InvalidInput, VerificationFailed
from spbe_share.targets.hostkeys import HostKey, choose_pins, parse_public_keys
from spbe_share.targets.inventory import choose_bind_address


def _key(tmp_path: Path, name: str) -> HostKey:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)  # noqa: S603,S607
    return parse_public_keys(Path(f"{path}.pub").read_text(), source=name)[0]


@pytest.fixture
def keys(tmp_path: Path) -> tuple[HostKey, HostKey]:
    return _key(tmp_path, "old"), _key(tmp_path, "new")


def test_first_pin_needs_a_check_in_scripts(keys: tuple[HostKey, HostKey]) -> None:
    old, _ = keys
    with pytest.raises(InvalidInput) as err:
        choose_pins("10.0.0.5", pinned=[], offered=[old])
    assert old.fingerprint in err.value.message and "--host-key-fingerprint" in err.value.message
    assert "--trust-on-first-use" in err.value.message and "Nothing was saved" in err.value.message
    assert choose_pins("10.0.0.5", pinned=[], offered=[old], trust_on_first_use=True).how == "trust-on-first-use"
    assert choose_pins("10.0.0.5", pinned=[], offered=[old], from_file=True).how == "host-key-file"
    got = choose_pins("10.0.0.5", pinned=[], offered=[old], fingerprint=old.fingerprint)
    assert (got.keys, got.how) == ([old], "fingerprint")


def test_terminal_confirmation_is_shown_the_offered_keys(keys: tuple[HostKey, HostKey]) -> None:
    old, _ = keys
    asked: list[tuple[str, list[HostKey]]] = []

    def yes(host: str, offered: object) -> bool:
        asked.append((host, list(offered)))  # type: ignore[call-overload]
        return True

    assert choose_pins("[10.0.0.5]:2222", pinned=[], offered=[old], confirm=yes).how == "confirmed"
    assert asked == [("[10.0.0.5]:2222", [old])]
    with pytest.raises(VerificationFailed, match="was not accepted"):
        choose_pins("10.0.0.5", pinned=[], offered=[old], confirm=lambda _h, _k: False)


def test_a_pinned_key_never_changes_without_accept_new_host_key(keys: tuple[HostKey, HostKey]) -> None:
    old, new = keys
    same = choose_pins("10.0.0.5", pinned=[old], offered=[old])
    assert (same.keys, same.how, same.changed) == ([old], "already-pinned", False)
    for kw in ({}, {"trust_on_first_use": True}, {"from_file": True}, {"fingerprint": new.fingerprint},
               {"confirm": lambda _h, _k: True}):  # fmt: skip
        with pytest.raises(HostKeyMismatch) as err:
            choose_pins("10.0.0.5", pinned=[old], offered=[new], **kw)  # type: ignore[arg-type]
        msg = err.value.message
        assert old.fingerprint in msg and new.fingerprint in msg and "--accept-new-host-key" in msg
    with pytest.raises(HostKeyMismatch, match="none matches --accept-new-host-key"):
        choose_pins("10.0.0.5", pinned=[old], offered=[new], accept_new=old.fingerprint)
    got = choose_pins("10.0.0.5", pinned=[old], offered=[new], accept_new=new.fingerprint)
    assert (got.keys, got.how, got.changed) == ([new], "accepted-new-key", True)
    with pytest.raises(HostKeyMismatch, match="not --host-key-fingerprint"):
        choose_pins("10.0.0.5", pinned=[old], offered=[old], fingerprint=new.fingerprint)


def test_bind_address_is_an_ip_address() -> None:
    def nowhere(_h: str) -> list[str]:
        return []

    assert choose_bind_address("10.20.0.5", None, resolve=nowhere) == "10.20.0.5"
    assert choose_bind_address("2001:DB8::5", None, resolve=nowhere) == "2001:db8::5"
    assert choose_bind_address("[2001:db8::5]", None, resolve=nowhere) == "2001:db8::5"
    assert choose_bind_address("dc.sorong.go.id", None, resolve=lambda _h: ["10.1.2.3"]) == "10.1.2.3"
    assert choose_bind_address("dc.sorong.go.id", "10.9.9.9", resolve=nowhere) == "10.9.9.9"
    with pytest.raises(InvalidInput, match="^--host dc.sorong.go.id: does not resolve .* --bind-address"):
        choose_bind_address("dc.sorong.go.id", None, resolve=nowhere)
    with pytest.raises(InvalidInput, match=r"several addresses \(10.1.2.3, 2001:db8::3\)"):
        choose_bind_address("dc.sorong.go.id", None, resolve=lambda _h: ["10.1.2.3", "2001:db8::3"])
    with pytest.raises(InvalidInput, match="^--bind-address: 'dc.sorong.go.id' is not an IPv4 or IPv6 address"):
        choose_bind_address("10.20.0.5", "dc.sorong.go.id", resolve=nowhere)


def test_set_local_bind_address_is_an_ip_address(tmp_path: Path) -> None:
    from spbe_share.targets.inventory import set_local
    from spbe_share.workspace import Workspace

    ws = Workspace(home=tmp_path / "ws", root=tmp_path / "repo")
    with pytest.raises(InvalidInput, match="^--bind-address: 'localhost' is not an IPv4 or IPv6 address"):
        set_local(ws, bind_address="localhost")
    assert set_local(ws, bind_address="::1").bind_address == "::1"
