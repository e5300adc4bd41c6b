"""The key-exchange setting (issue 21 item 4): settings.yml / SPBE_SHARE_SSH_KEX reach every ssh."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput, ValidationFailed
from spbe_share.remote.ssh import ansible_inventory_for, ssh_argv
from spbe_share.targets.inventory import Target
from spbe_share.targets.sshsettings import CLASSIC, ENV_KEX, kex_algorithms, settings_file
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


def _ws(tmp_path: Path) -> Workspace:
    return Workspace(home=tmp_path / "ws", root=REPO).ensure()


def _target() -> Target:
    return Target(name="kota-uji", connection="ssh", host="127.0.0.1", user="op", pemda="Kota Uji",
                  kode_wilayah="96.72", bind_address="127.0.0.1", root="/srv/spbe-share")  # fmt: skip


def test_default_is_ssh_own_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEX, raising=False)
    ws = _ws(tmp_path)
    assert kex_algorithms(ws) is None
    assert not any("KexAlgorithms" in a for a in ssh_argv(ws, _target(), ["true"]))
    hv = ansible_inventory_for(ws, _target())["all"]["children"]["spbe_targets"]["hosts"]["kota-uji"]
    assert "ansible_ssh_extra_args" not in hv


def test_classic_reaches_direct_ssh_and_ansible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEX, raising=False)
    ws = _ws(tmp_path)
    settings_file(ws).write_text("format: 1\nssh:\n  kex: classic\n")
    argv = ssh_argv(ws, _target(), ["true"])
    assert argv[argv.index(f"KexAlgorithms={CLASSIC}") - 1] == "-o"
    hv = ansible_inventory_for(ws, _target())["all"]["children"]["spbe_targets"]["hosts"]["kota-uji"]
    assert hv["ansible_ssh_extra_args"] == f"-o KexAlgorithms={CLASSIC}"
    if shutil.which("ssh"):  # the installed ssh itself accepts the algorithms (ssh -G parses, connects nowhere)
        opts = [a for a in argv[1:argv.index("127.0.0.1")]]
        out = subprocess.run(["ssh", "-G", *opts, "127.0.0.1"], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607
        assert f"kexalgorithms {CLASSIC}" in out


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _ws(tmp_path)
    settings_file(ws).write_text("format: 1\nssh:\n  kex: classic\n")
    monkeypatch.setenv(ENV_KEX, "default")
    assert kex_algorithms(ws) is None
    monkeypatch.setenv(ENV_KEX, "curve25519-sha256")
    assert kex_algorithms(ws) == "curve25519-sha256"
    monkeypatch.setenv(ENV_KEX, "x; rm -rf /")
    with pytest.raises(InvalidInput, match=ENV_KEX):
        kex_algorithms(ws)


@pytest.mark.parametrize(("text", "where"), [
    ("format: 1\nssh:\n  kex: 'a b'\n", ":3: ssh.kex:"),
    ("format: 1\nssh:\n  kx: classic\n", ":3: ssh.kx: unknown key"),
    ("format: 2\n", ":1: format:"),
])  # fmt: skip
def test_a_bad_settings_file_names_file_line_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       text: str, where: str) -> None:  # fmt: skip
    monkeypatch.delenv(ENV_KEX, raising=False)
    ws = _ws(tmp_path)
    settings_file(ws).write_text(text)
    with pytest.raises(ValidationFailed) as err:
        kex_algorithms(ws)
    assert any(p.startswith(f"{settings_file(ws)}{where}") for p in err.value.problems), err.value.problems


def test_mitogen_is_the_default_strategy_and_linear_is_ansible_own(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """settings.yml ansible.strategy (or SPBE_SHARE_ANSIBLE_STRATEGY) reaches ansible-playbook's
    environment: mitogen's strategy plugin from the installed package, or nothing (linear)."""
    from spbe_share.remote.runner import ansible_env
    from spbe_share.targets.sshsettings import ENV_STRATEGY, ansible_strategy

    monkeypatch.delenv(ENV_STRATEGY, raising=False)
    ws = _ws(tmp_path)
    assert ansible_strategy(ws) == "mitogen"
    env = ansible_env(tmp_path, tmp_path, remote_tmp="/tmp/x", strategy=ansible_strategy(ws))  # noqa: S108
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    plugins = Path(env["ANSIBLE_STRATEGY_PLUGINS"])
    assert (plugins / "mitogen_linear.py").is_file()  # the installed mitogen's own plugin folder
    settings_file(ws).write_text("format: 1\nansible:\n  strategy: linear\n")
    assert ansible_strategy(ws) == "linear"
    env = ansible_env(tmp_path, tmp_path, remote_tmp="/tmp/x", strategy=ansible_strategy(ws))  # noqa: S108
    assert "ANSIBLE_STRATEGY" not in env and "ANSIBLE_STRATEGY_PLUGINS" not in env
    monkeypatch.setenv(ENV_STRATEGY, "mitogen")
    assert ansible_strategy(ws) == "mitogen"
    monkeypatch.setenv(ENV_STRATEGY, "free")
    with pytest.raises(InvalidInput, match=ENV_STRATEGY):
        ansible_strategy(ws)
    monkeypatch.delenv(ENV_STRATEGY)
    settings_file(ws).write_text("format: 1\nansible:\n  strategy: fast\n")
    with pytest.raises(ValidationFailed) as err:
        ansible_strategy(ws)
    assert any(p.startswith(f"{settings_file(ws)}:3: ansible.strategy:") for p in err.value.problems), err.value.problems
