"""The target-side Ansible modules run under the target's ``ansible_python_interpreter``.

Ansible rewrites a module's shebang only when it names ``python`` (then it uses
``ansible_python_interpreter`` or discovery); a ``#!/usr/bin/python3`` shebang is looked up as
``ansible_python3_interpreter`` and otherwise kept as is. Preflight's probe (``spbe_probe``)
reported the libraries of /usr/bin/python3 while community.docker's modules ran under
``target add --python X``: a target whose X lacked ``requests`` passed preflight and failed at
install (issue 19). Checked with Ansible's own shebang code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.executor.module_common import _get_shebang
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

LIBRARY = Path(__file__).resolve().parents[2] / "playbooks" / "library"
MODULES = sorted(LIBRARY.glob("*.py"))


def test_there_are_modules() -> None:
    assert any(p.name == "spbe_probe.py" for p in MODULES)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_runs_under_the_targets_interpreter(module: Path) -> None:
    first = module.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#!")
    interpreter = first[2:].strip().split()[0]
    task_vars = {"ansible_python_interpreter": "/opt/spbe/bin/python3"}
    shebang, used = _get_shebang(interpreter, task_vars, Templar(loader=DataLoader(), variables=task_vars))
    assert used == "/opt/spbe/bin/python3", f"{module.name} would run under {used}"
