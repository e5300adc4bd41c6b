"""An operator's LANG=id_ID.UTF-8 (the CLI in Indonesian) does not stop Ansible.

Debian installs generate only C.UTF-8; ansible refuses to start under a locale that is not
generated ("could not initialize the preferred locale"), so the runner gives ansible
LC_ALL=C.UTF-8 whatever the operator's locale is (issue 11 item 5).
"""

from __future__ import annotations

import locale
from pathlib import Path

import pytest

from spbe_share.remote.runner import run_playbook
from spbe_share.targets.inventory import get_target
from spbe_share.workspace import Workspace

PLAY = """---
- name: Say something (test)
  hosts: "{{ spbe_target }}"
  gather_facts: false
  tasks:
    - name: Say it
      ansible.builtin.debug:
        msg: halo
"""


def _generated(name: str) -> bool:
    before = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, name)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_ALL, before)
    return True


def test_playbook_runs_under_an_indonesian_lang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "playbooks").mkdir(parents=True)
    (repo / "playbooks" / "say.yml").write_text(PLAY)
    ws = Workspace.from_options(tmp_path / "ws", root=repo)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")
    monkeypatch.setenv("SPBE_SHARE_LOCAL_ROOT", str(tmp_path / "root"))
    if _generated("id_ID.UTF-8"):
        pytest.skip("id_ID.UTF-8 is generated on this machine: the failure cannot happen here")
    result = run_playbook(
        ws, op="say", target="local", app=None, playbook="say.yml", targets=[get_target(ws, "local")],
        extravars={"spbe_target": "local"},
    )
    assert result.ok, (result.failed_task, result.failed_message)
