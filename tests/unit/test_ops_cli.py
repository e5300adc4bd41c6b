"""The backup / restore / uninstall / secrets CLI: routing, refusals before anything is
contacted, exit codes, one-line errors (no target, no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spbe_share.cli import main
from spbe_share.errors import ExitCode

ID = "20261122T101500Z-manual-3fa2"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path: Path) -> str:
    return str(tmp_path / "ws")


@pytest.mark.parametrize(("argv", "message"), [
    (["restore", "e-office", ID, "--target", "kota-sorong"], "restore: not on a terminal"),
    (["uninstall", "e-office", "--target", "kota-sorong"], "uninstall: not on a terminal"),
    (["uninstall", "e-office", "--target", "kota-sorong", "--delete-data"], "--delete-data: not on a terminal"),
])
def test_destructive_commands_need_a_terminal_or_yes(home: str, capsys: pytest.CaptureFixture[str],
                                                     argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "--workspace", home, *argv)
    assert code == ExitCode.INVALID_INPUT
    assert message in err and "give --yes" in err and "Traceback" not in err and out == ""
    assert not (Path(home) / "audit.log").exists()  # refused before any operation began


def test_backup_routes_app_to_create_and_names_to_subcommands(home: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--workspace", home, "backup", "e-office", "--target", "nowhere")
    assert code == ExitCode.NOT_FOUND and "nowhere" in err  # create ran: unknown target
    code, _, err = run(capsys, "--workspace", home, "backup", "list", "e-office", "--target", "nowhere")
    assert code == ExitCode.NOT_FOUND and "nowhere" in err
    code, out, _ = run(capsys, "--workspace", home, "backup", "--help")
    assert code == 0 and "backup list APP --target T" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["restore", "e-office", "../../etc", "--target", "kota-sorong", "--yes"], "not a backup id"),
    (["restore", "e-office", ID, "--target", "../x", "--yes"], "not a valid name"),
    (["backup", "fetch", "e-office", "x;rm", "--target", "kota-sorong"], "not a backup id"),
    (["secrets", "rotate", "e-office", "SECRET_KEY", "--target", "kota-sorong"], "SECRET_KEY must never change"),
    (["secrets", "rotate", "e-office", "ADMIN_PASSWORD", "--target", "kota-sorong"], "does not say secret"),
])
def test_bad_input_is_refused_before_any_target(home: str, capsys: pytest.CaptureFixture[str], argv: list[str],
                                                message: str) -> None:
    code, _, err = run(capsys, "--workspace", home, *argv)
    assert code == ExitCode.INVALID_INPUT, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3


def test_recovery_key(home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "recovery.txt"
    code, out, _ = run(capsys, "--workspace", home, "secrets", "recovery-key", "--out", str(out_file))
    assert code == 0 and "age1" in out and out_file.stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "--workspace", home, "secrets", "recovery-key", "--out", str(out_file))
    assert code == ExitCode.CONFLICT and "exists already" in err
