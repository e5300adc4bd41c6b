"""``tasks/backup_tool.yml`` installs the backup tool (the engine scheduled runs call) in
``<root>/lib`` in ONE task (one module call over SSH, not one copy per file): run for real with
``ansible-playbook`` on this machine (connection local), then ``install_tool``'s refusals."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from backuptest import ENGINE_DIR, ENGINE_FILES, REPO, store

TOOL_TASKS = REPO / "playbooks" / "tasks" / "backup_tool.yml"


def _play(tmp_path: Path, root: Path) -> subprocess.CompletedProcess[str]:
    spec = {"format": store.FORMAT, "app": "e-office", "target": "kota-sorong", "root": str(root),
            "components": [{"name": "db", "container": "spbe-kota-sorong-e-office-db"}]}
    pb = tmp_path / "pb"  # the play's folder (playbook_dir): the tasks read <playbook_dir>/module_utils
    if not pb.exists():
        pb.mkdir()
        (pb / "module_utils").symlink_to(ENGINE_DIR)
    play = pb / "tool.yml"
    play.write_text(json.dumps([{"name": "tool", "hosts": "localhost", "gather_facts": False,
                                 "vars": {"spbe_root": str(root), "spbe_app": "e-office", "spbe_backup_spec": spec},
                                 "tasks": [{"ansible.builtin.import_tasks": str(TOOL_TASKS)}]}]))
    env = {**os.environ, "ANSIBLE_LIBRARY": str(REPO / "playbooks/library"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_MODULE_UTILS": str(ENGINE_DIR)}
    return subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",  # noqa: S603,S607
                           "-e", "ansible_python_interpreter=/usr/bin/python3", str(play)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_the_tool_is_installed_in_one_task_and_again_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = _play(tmp_path, root)
    assert proc.returncode == 0, proc.stdout[-3000:]
    lib = root / "lib"
    assert sorted(p.name for p in lib.iterdir()) == sorted(ENGINE_FILES)  # nothing else (no temp file left)
    for name in ENGINE_FILES:  # byte for byte (the lookup keeps the last newline), mode 0644
        assert (lib / name).read_bytes() == (ENGINE_DIR / name).read_bytes(), name
        assert (lib / name).stat().st_mode & 0o777 == 0o644
    assert proc.stdout.count("TASK [Backup: install the backup tool in <root>/lib]") == 1
    installed = proc.stdout.split("TASK [Backup: install the backup tool in <root>/lib]")[1].split("TASK [")[0]
    assert "changed: [localhost]" in installed and "item=" not in installed  # one call, no loop

    (lib / "spbe_files.py").write_text("# tampered\n")
    (lib / "spbe_lockfile.py").chmod(0o666)
    again = _play(tmp_path, root)
    assert again.returncode == 0, again.stdout[-3000:]
    assert (lib / "spbe_files.py").read_bytes() == (ENGINE_DIR / "spbe_files.py").read_bytes()
    assert (lib / "spbe_lockfile.py").stat().st_mode & 0o777 == 0o644
    third = _play(tmp_path, root)
    installed = third.stdout.split("TASK [Backup: install the backup tool in <root>/lib]")[1].split("TASK [")[0]
    assert "ok: [localhost]" in installed, installed  # every file already right: nothing written


@pytest.mark.parametrize(("root", "files", "cause"), [
    ("relative/root", {"spbe_files.py": "x"}, "not a plain absolute path"),
    ("/srv/../etc", {"spbe_files.py": "x"}, "not a plain absolute path"),
    ("/srv/spbe", {"../../etc/cron.d/x.py": "x"}, "not a tool file"),
    ("/srv/spbe", {"spbe_files.sh": "x"}, "not a tool file"),
    ("/srv/spbe", {"spbe_files.py": ""}, "empty or not text"),
    ("/srv/spbe", {}, "no tool files given"),
])  # fmt: skip
def test_install_tool_refuses_other_names_and_roots(tmp_path: Path, root: str, files: dict[str, str],
                                                    cause: str) -> None:
    root = str(tmp_path) + root if root.startswith("/") else root
    with pytest.raises(store.BackupError, match=cause):
        store.install_tool(root, files)
    assert not (tmp_path / "etc").exists()
