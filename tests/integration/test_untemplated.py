"""Nothing from outside is ever templated by Ansible (issue 7 item 1), with real ansible-playbook.

The extra-vars file and the inventory the runner writes carry every string as
``{"__ansible_unsafe": ...}`` (see ``spbe_share/deploy/varsfile.py``). Here hostile strings
(``#jinja2:`` headers with other delimiters, ``{% %}``, lookups, queries, filters) go through
both into a playbook on the built-in ``local`` target, which uses them the ways our playbooks
do (module arguments, ``copy`` content, ``combine`` + ``to_nice_json``, ``set_stats``,
``hostvars``). Nothing may run, and every string must come back exactly as it went in, of
type string. No Docker, no SSH.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from spbe_share.remote.runner import run_playbook
from spbe_share.remote.varsfile import UNSAFE, dump_vars, load_vars
from spbe_share.targets.inventory import get_target
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

ECHO = """---
- name: Use outside strings the ways spbe-share playbooks do (test)
  hosts: "{{ spbe_target }}"
  gather_facts: false
  tasks:
    - name: Write every value with copy (like rendered config files)
      ansible.builtin.copy:
        content: "{{ item.value }}"
        dest: "{{ spbe_out }}/value-{{ item.key }}"
        mode: "0644"
      loop: "{{ spbe_echo | dict2items }}"
      loop_control:
        label: "{{ item.key }}"
    - name: Write a record built with combine and to_nice_json (like the release record)
      ansible.builtin.copy:
        content: "{{ spbe_record | combine({'result': 'failed', 'message': spbe_echo.braces}) | to_nice_json }}\\n"
        dest: "{{ spbe_out }}/record.json"
        mode: "0644"
    - name: Write the target's fields from the inventory
      ansible.builtin.copy:
        content: "{{ {'pemda': spbe_pemda, 'kode': spbe_kode_wilayah, 'all': hostvars[inventory_hostname]} | to_json }}"
        dest: "{{ spbe_out }}/inventory.json"
        mode: "0644"
    - name: Publish them
      ansible.builtin.set_stats:
        per_host: true
        data:
          spbe_echo: "{{ spbe_echo }}"
          types: "{{ spbe_echo | dict2items | map(attribute='value') | map('type_debug') | unique }}"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    repo = tmp_path / "repo"
    (repo / "playbooks").mkdir(parents=True)
    (repo / "playbooks" / "echo.yml").write_text(ECHO)
    return Workspace.from_options(tmp_path / "ws", root=repo)


def test_yaml_unsafe_retypes_numbers_json_unsafe_does_not() -> None:
    """The claim in varsfile.py, against ansible-core's own loader."""
    from ansible._internal._datatag._tags import TrustedAsTemplate
    from ansible.parsing.utils.yaml import from_yaml

    yaml_doc = from_yaml("a: !unsafe '00'\nb: !unsafe '96.71'\nc: !unsafe 'true'\n")
    assert yaml_doc == {"a": 0, "b": 96.71, "c": True}  # !unsafe loses the string type
    text = dump_vars({"a": "00", "b": "96.71", "c": "true", "t": "{{ x }}", "n": 3, "f": False, "z": None})
    trusted = TrustedAsTemplate().tag(text)  # as `-e @file` loads it: the file is trusted
    doc = from_yaml(trusted)
    assert doc == {"a": "00", "b": "96.71", "c": "true", "t": "{{ x }}", "n": 3, "f": False, "z": None}
    assert all(type(doc[k]) is not int for k in "abc")
    assert not TrustedAsTemplate.is_tagged_on(doc["t"])  # data, never a template
    assert load_vars(text) == {"a": "00", "b": "96.71", "c": "true", "t": "{{ x }}", "n": 3, "f": False, "z": None}
    assert json.loads(text)["t"] == {UNSAFE: "{{ x }}"}


def test_hostile_strings_reach_a_playbook_verbatim(ws: Workspace, hostile: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    echo = {**hostile.strings, **hostile.typed_looking}
    pemda = hostile.strings["header_brackets"].replace("header_brackets", "pemda")
    monkeypatch.setenv("SPBE_SHARE_LOCAL_PEMDA", pemda)
    monkeypatch.setenv("SPBE_SHARE_LOCAL_KODE_WILAYAH", "96.71")
    monkeypatch.setenv("SPBE_SHARE_LOCAL_ROOT", str(tmp_path / "root"))
    out = tmp_path / "out"
    out.mkdir()
    record = {"app": "demo", "values": dict(echo), "pemda": pemda}
    target = get_target(ws, "local")
    result = run_playbook(
        ws, op="echo", target="local", app=None, playbook="echo.yml", targets=[target],
        extravars={"spbe_target": "local", "spbe_out": str(out), "spbe_echo": echo, "spbe_record": record},
    )
    assert hostile.ran() == [], "a hostile string ran on the controller"
    assert result.ok, (result.failed_task, result.failed_message)
    for name, text in echo.items():
        assert (out / f"value-{name}").read_text() == text, name
    assert json.loads((out / "record.json").read_text()) == {
        **record, "result": "failed", "message": echo["braces"]}
    inv = json.loads((out / "inventory.json").read_text())
    assert inv["pemda"] == pemda and inv["kode"] == "96.71"
    assert inv["all"]["spbe_pemda"] == pemda
    assert result.stats["local"]["spbe_echo"] == echo
    assert result.stats["local"]["types"] == ["str"]
    # the run folder keeps exactly what was passed, and it can be read back
    assert load_vars((result.run_dir / "env" / "extravars").read_text())["spbe_echo"] == echo
    shutil.rmtree(out)
