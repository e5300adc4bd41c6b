"""The target-side programs as sent over ssh: packed (zlib + base64), they run exactly what
:func:`spbe_share.remote.scripts.program` holds, under the target's own Debian python3."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from spbe_share.remote.scripts import packed, program, program_argv
from spbe_share.targets.inventory import get_target
from spbe_share.workspace import Workspace, repo_root

TARGET_PYTHON = "/usr/bin/python3"  # Debian's, as on a fresh server


def test_a_packed_program_runs_as_main_with_its_arguments_and_names_itself_in_tracebacks() -> None:
    text = "import sys\nprint(__name__, sys.argv[1:])\nraise SystemExit(3) if sys.argv[1:] == ['x'] else 1/0\n"
    ok = subprocess.run([TARGET_PYTHON, "-c", packed(text, "demo"), "x"], capture_output=True, text=True)  # noqa: S603
    assert (ok.returncode, ok.stdout) == (3, "__main__ ['x']\n")
    bad = subprocess.run([TARGET_PYTHON, "-c", packed(text, "demo"), "y"], capture_output=True, text=True)  # noqa: S603
    assert bad.returncode == 1 and '<spbe-share: demo>' in bad.stderr and "ZeroDivisionError" in bad.stderr


def test_the_no_op_check_packed_answers_as_its_source_does_and_is_smaller(tmp_path: Path) -> None:
    """The no-op check's program (module_utils with what it imports) packed and unpacked, on a
    root where nothing is installed: the same answer; the packed command line is under half."""
    source = program("spbe_noop_check")
    command = packed(source, "spbe_noop_check")
    assert len(shlex.join([TARGET_PYTHON, "-c", command])) * 2 < len(shlex.join([TARGET_PYTHON, "-c", source]))
    assert set(command) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_.,'(){}:<>- ;")
    request = json.dumps({"lock": {"path": str(tmp_path / "never" / "locks" / "e-office.lock"), "owner": {}}})
    answers = [subprocess.run([TARGET_PYTHON, "-c", prog], input=request, capture_output=True, text=True)  # noqa: S603
               for prog in (source, command)]
    assert [(a.returncode, a.stderr) for a in answers] == [(0, ""), (0, "")]
    assert json.loads(answers[0].stdout) == json.loads(answers[1].stdout) == {
        "same": False, "differences": ["no lock folder: never installed here"], "locked": None, "current": None}


def test_program_argv_sends_the_packed_program(tmp_path: Path) -> None:
    ws = Workspace(home=tmp_path / "home", root=repo_root())
    local = get_target(ws, "local").model_copy(update={"python": TARGET_PYTHON})
    argv = program_argv(ws, local, "spbe_noop_check")
    assert argv[:2] == [TARGET_PYTHON, "-c"] and argv[2] == packed(program("spbe_noop_check"), "spbe_noop_check")
