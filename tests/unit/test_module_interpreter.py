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


def test_the_probe_asks_a_fresh_process_of_the_interpreter_which_libraries_import(tmp_path: Path) -> None:
    """spbe_probe's library check must not trust its own process: under mitogen's strategy the
    module's process has an importer that claims names it could fetch from the controller (a
    bare target then looked provisioned). A name this process can import, because it was put
    on sys.path here, must still be missing for the interpreter's fresh process."""
    import importlib.metadata
    import importlib.util
    import sys

    # spbe_probe's reading (and the preflight script's): module_utils/spbe_preflight.py
    spec = importlib.util.spec_from_file_location("spbe_preflight_t", LIBRARY.parent / "module_utils" / "spbe_preflight.py")
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    (tmp_path / "only_here_lib.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        assert importlib.util.find_spec("only_here_lib") is not None  # this process sees it
        got = probe.library_versions(("only_here_lib", "pytest", "surely_absent_lib"))
    finally:
        sys.path.remove(str(tmp_path))
    assert got["only_here_lib"] is None and got["surely_absent_lib"] is None
    assert got["pytest"] == importlib.metadata.version("pytest")
