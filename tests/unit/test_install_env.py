"""spbe-share installed the way Debian allows (issue 18): its own environment, declared imports.

* A playbook runs when ``spbe-share`` was started through a link on ``PATH``
  (``/usr/local/bin/spbe-share -> .venv/bin/spbe-share``) and the environment's ``bin/``,
  where ``ansible-playbook`` lies, is not on ``PATH``.
* Every third-party module the package imports is declared in ``pyproject.toml``; runtime code
  imports no developer-only package (Babel belongs to ``spbe_share/i18n_catalog.py``, the
  message catalog tool of ``scripts/i18n``).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import pytest

from spbe_share.remote.runner import tools_path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "spbe_share"
DEV_ONLY_MODULES = {"spbe_share/i18n_catalog.py"}  # developer tools inside the package


def test_tools_path_puts_the_interpreter_scripts_first() -> None:
    assert tools_path("/usr/bin:/bin", scripts_dir="/opt/x/.venv/bin") == "/opt/x/.venv/bin:/usr/bin:/bin"
    # already there: moved to the front, not repeated; empty entries dropped
    assert tools_path("/usr/bin::/opt/x/.venv/bin:/bin", scripts_dir="/opt/x/.venv/bin") == (
        "/opt/x/.venv/bin:/usr/bin:/bin"
    )
    assert tools_path("/usr/bin").split(":")[0] == sysconfig.get_path("scripts")


PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command:
        argv: [echo, ran]
      changed_when: false
"""

RUN = """
import json, sys, tempfile
from pathlib import Path
import ansible_runner
from spbe_share.remote.runner import ansible_env
base = Path(sys.argv[1])
(base / "project").mkdir(parents=True)
(base / "project" / "play.yml").write_text(sys.argv[2])
(base / "inventory.json").write_text(json.dumps(
    {"all": {"hosts": {"here": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
(base / ".ansible" / "tmp").mkdir(parents=True)
env = ansible_env(base, Path(tempfile.mkdtemp()), remote_tmp=str(base / "remote-tmp"))
r = ansible_runner.run(private_data_dir=str(base), playbook="play.yml", inventory=str(base / "inventory.json"),
                       envvars=env, quiet=True, ident="run")
print(json.dumps({"status": r.status, "rc": r.rc}))
"""


def test_a_playbook_runs_when_the_environment_bin_is_not_on_path(tmp_path: Path) -> None:
    """As `/usr/local/bin/spbe-share install ...` from a root shell: PATH has the system
    folders only; ansible-playbook must still be this environment's."""
    scripts = sysconfig.get_path("scripts")
    assert Path(scripts, "ansible-playbook").is_file()
    system_path = "/usr/sbin:/usr/bin:/sbin:/bin"
    env = {"PATH": system_path, "HOME": str(tmp_path), "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", RUN, str(tmp_path / "run"), PLAY],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"status": "successful", "rc": 0}, (
        (tmp_path / "run" / "artifacts" / "run" / "stdout").read_text(errors="replace")[-2000:]
    )


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "spbe_share"}


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[(]", s, maxsplit=1)[0]).lower() for s in specs}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _module_files() -> dict[str, Path]:
    return {p.relative_to(REPO).as_posix(): p for p in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _dists_of(module: str) -> set[str]:
    dists = _distributions().get(module, [])
    return {re.sub(r"[-_.]+", "-", d).lower() for d in dists}


def test_every_import_of_the_package_is_declared() -> None:
    runtime = _requirement_names(_project()["dependencies"])
    dev = _requirement_names(_project()["optional-dependencies"]["dev"])
    undeclared = []
    for rel, path in _module_files().items():
        allowed = runtime | dev if rel in DEV_ONLY_MODULES else runtime
        for module in sorted(_imports(path)):
            dists = _dists_of(module)
            assert dists, f"{rel}: imports {module}, which no installed distribution provides"
            if not dists & allowed:
                undeclared.append(f"{rel}: {module} ({', '.join(sorted(dists))})")
    assert undeclared == [], "imported but not declared in pyproject.toml [project] dependencies"


def test_developer_packages_stay_out_of_the_runtime() -> None:
    runtime = _requirement_names(_project()["dependencies"])
    assert "babel" not in runtime  # the catalog tool's, in the dev extras
    assert "babel" in _requirement_names(_project()["optional-dependencies"]["dev"])
    for rel, path in _module_files().items():
        if rel in DEV_ONLY_MODULES:
            continue
        assert "babel" not in _imports(path), f"{rel} imports babel, a developer-only package"
        assert "i18n_catalog" not in path.read_text(), f"{rel} uses the developer tool spbe_share.i18n_catalog"


def test_the_cli_starts_without_developer_packages(tmp_path: Path) -> None:
    """The installed CLI, every command module loaded, with Babel made unimportable."""
    code = (
        "import sys; sys.modules['babel'] = None\n"
        "import importlib, pkgutil, spbe_share\n"
        "for m in pkgutil.walk_packages(spbe_share.__path__, 'spbe_share.'):\n"
        "    if m.name != 'spbe_share.i18n_catalog' and not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from spbe_share.cli import main\n"
        "sys.argv = ['spbe-share', '--help']\n"
        "main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,  # noqa: S603
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage" in proc.stdout


def test_workspaces_can_share_one_build_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spbe_share.workspace import ENV_BUILD_CACHE, Workspace

    ws = Workspace(home=tmp_path / "ws", root=REPO)
    monkeypatch.delenv(ENV_BUILD_CACHE, raising=False)
    assert ws.build_cache_dir == ws.cache_dir == tmp_path / "ws" / "cache"
    monkeypatch.setenv(ENV_BUILD_CACHE, str(tmp_path / "shared"))
    assert ws.build_cache_dir == tmp_path / "shared"
    assert Workspace(home=tmp_path / "other", root=REPO).build_cache_dir == tmp_path / "shared"
    assert ws.cache_dir == tmp_path / "ws" / "cache"  # the rest of the cache stays the workspace's own
