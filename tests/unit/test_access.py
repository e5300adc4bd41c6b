"""Issue 20 (first login, logs): the login hint (pure), the `credentials` refusals, the logs
request, the bounded line stream, and the target's log script (``module_utils/spbe_applogs``)
run as the controller sends it (``python3 -c PROGRAM``) against a root on disk, with a
``docker`` on PATH that prints a container's log as a real one would. No engine, no target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spbe_share.catalog.loader import load_entry
from spbe_share.cli import main
from spbe_share.errors import InvalidInput, NotFound
from spbe_share.ops.logs import log_request
from spbe_share.outside import LineStream
from spbe_share.plans.login import login_hint
from spbe_share.remote.scripts import program
from spbe_share.sealing import read_recipient

REPO = Path(__file__).resolve().parents[2]


def cli(capsys: pytest.CaptureFixture[str], *args: str, home: Path) -> tuple[int, str, str]:
    """The real CLI in this process (stdin and stdout: pytest's, not a terminal)."""
    try:
        main(["--workspace", str(home), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- the login hint


def test_the_hint_names_user_page_and_command_never_a_value() -> None:
    entry = load_entry(REPO / "catalog" / "e-office" / "spbe-app.yaml").entry
    hint = login_hint(entry, target="kota-sorong", urls=["http://127.0.0.2:8080/"])
    assert (hint.user, hint.secret) == ("admin", "ADMIN_PASSWORD")
    assert hint.login_urls == ["http://127.0.0.2:8080/login"]
    assert hint.command == ["spbe-share", "credentials", "e-office", "--target", "kota-sorong"]
    assert hint.message_in("en").startswith("Log in as admin") and hint.message_in("id").startswith("Masuk sebagai")
    there = login_hint(entry, target="kota-sorong", urls=[], workspace="/srv/ops")
    assert there.command[:3] == ["spbe-share", "--workspace", "/srv/ops"]
    pengaduan = load_entry(REPO / "catalog" / "pengaduan" / "spbe-app.yaml").entry
    assert login_hint(pengaduan, target="t", urls=["http://h:8081/"]).login_urls == ["http://h:8081/petugas/masuk"]


# ---------------------------------------------------------------- credentials: refusals


def test_credentials_are_never_shown_into_a_pipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "credentials", "e-office", "--target", "kota-sorong", home=tmp_path / "ws")
    assert code == 2 and "not on a terminal" in err and "--seal-to" in err and out == ""
    assert not (tmp_path / "ws" / "audit.log").exists()  # refused before anything was read
    code, _, err = cli(capsys, "credentials", "e-office", "--target", "kota-sorong", "--out", "x.age",
                       home=tmp_path / "ws")
    assert code == 2 and "--out is only used with --seal-to" in err


def test_a_seal_to_key_must_be_one_age_public_key(tmp_path: Path) -> None:
    good = tmp_path / "officer.pub"
    good.write_text("# petugas\nage1" + "q" * 58 + "\n")
    assert read_recipient(good) == "age1" + "q" * 58
    bad = tmp_path / "identity.txt"
    bad.write_text("AGE-SECRET-KEY-1" + "Q" * 58 + "\n")
    with pytest.raises(InvalidInput, match="expected one age public key line"):
        read_recipient(bad)
    with pytest.raises(NotFound):
        read_recipient(tmp_path / "missing.pub")


# ---------------------------------------------------------------- logs: the request


def test_the_logs_request_is_checked() -> None:
    assert log_request(component="web", since="2d", tail=50, grep="gagal", follow=True).as_dict() == {
        "component": "web", "since": "48h", "tail": 50, "grep": "gagal", "follow": True}
    assert log_request(component=None, since="2026-12-01T08:00:00Z", tail=1, grep=None, follow=False).since \
        == "2026-12-01T08:00:00Z"
    for kwargs, message in (({"since": "1h; rm -rf /"}, "--since"), ({"tail": 0}, "--lines"),
                            ({"tail": 10001}, "--lines"), ({"grep": "x" * 201}, "--grep"),
                            ({"component": "../web"}, "--component")):
        with pytest.raises(InvalidInput, match=message):
            log_request(**{"component": None, "since": None, "tail": 200, "grep": None, "follow": False, **kwargs})


# ---------------------------------------------------------------- the bounded line stream


def test_a_line_stream_cuts_long_lines_and_stops_at_its_cap() -> None:
    code = "import sys\nfor i in range(3): print('x' * 100000)\nprint('end')\nsys.exit(4)"
    with LineStream([sys.executable, "-c", code], line_limit=1000) as s:
        lines = list(s)
    assert [len(ln) for ln in lines] == [1000, 1000, 1000, 3] and s.returncode == 4
    endless = "import sys\nwhile True: sys.stdout.write('y' * 80 + '\\n')"
    with LineStream([sys.executable, "-c", endless], line_limit=1000, total_limit=1 << 20) as s:
        n = sum(1 for _ in s)
    assert s.too_big and s.returncode is None and n <= (1 << 20) // 81
    with LineStream([sys.executable, "-c", "import time; time.sleep(30)"], line_limit=10, timeout=0.5) as s:
        assert list(s) == []
    assert s.timed_out.is_set() and s.returncode is None


# ---------------------------------------------------------------- the target's log script

DOCKER = """#!/bin/sh
# `docker logs [--tail N] [--since S] [--follow] NAME` as the engine answers it: the log of NAME
for last; do :; done
cat "$SPBE_FAKE_LOGS/$last" 2>/dev/null || { echo "Error: No such container: $last" >&2; exit 1; }
echo "$*" >> "$SPBE_FAKE_LOGS/calls"
case " $* " in *" --follow "*) exec sleep 300 ;; esac  # a quiet container, followed
"""


@pytest.fixture
def target_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    app = root / "apps" / "e-office"
    (app / "secrets").mkdir(parents=True)
    (app / "secrets" / "DB_PASSWORD").write_text("s3cr3t/Value+x\n")
    (app / "secrets" / "SECRET_KEY.old").write_text("oldkey-123456\n")
    (app / "current.json").write_text(json.dumps({"target": "kota-sorong", "app": "e-office", "containers": [
        "spbe-kota-sorong-e-office-db", "spbe-kota-sorong-e-office-web"]}))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "spbe-kota-sorong-e-office-db").write_text(
        'FATAL:  password authentication failed for user "s3cr3t/Value+x"\nLOG:  database system is ready\n')
    (logs / "spbe-kota-sorong-e-office-web").write_text(
        "e-Office 1.1.0 untuk Kota Sorong\nconnect postgresql://eoffice:s3cr3t%2FValue%2Bx@db failed\n"
        + "z" * 9000 + " oldkey-123456\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SPBE_FAKE_LOGS", str(logs))
    return root


def run_script(root: Path, request: dict[str, object], app: str = "e-office") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/usr/bin/python3", "-c", program("spbe_applogs"), str(root), app],  # noqa: S603
                          input=json.dumps(request), capture_output=True, text=True, timeout=60, check=False)


def test_the_target_redacts_filters_and_cuts_before_anything_leaves(target_root: Path) -> None:
    proc = run_script(target_root, {"tail": 20})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ['db\tFATAL:  password authentication failed for user "[secret DB_PASSWORD]"',
                         "db\tLOG:  database system is ready"]
    assert lines[2:4] == ["web\te-Office 1.1.0 untuk Kota Sorong",
                          "web\tconnect postgresql://eoffice:[secret DB_PASSWORD]@db failed"]
    assert lines[4] == "web\t" + "z" * 2000  # cut at 2000 characters (the old key's value lies past it)
    assert "s3cr3t" not in proc.stdout and "oldkey" not in proc.stdout

    grep = run_script(target_root, {"grep": "AUTHENTICATION", "since": "1h", "tail": 5})
    assert grep.stdout.splitlines() == [lines[0]]
    calls = (target_root.parent / "logs" / "calls").read_text().splitlines()
    assert calls[-2:] == ["logs --tail 5 --since 1h spbe-kota-sorong-e-office-db",
                          "logs --tail 5 --since 1h spbe-kota-sorong-e-office-web"]
    # matched after redaction: a secret value is never found by --grep
    assert run_script(target_root, {"grep": "s3cr3t/Value"}).stdout == ""
    assert run_script(target_root, {"component": "web"}).stdout.splitlines()[0] == lines[2]


def test_the_target_refuses_bad_requests_and_unknown_apps(target_root: Path) -> None:
    proc = run_script(target_root, {"component": "cache"})
    assert proc.returncode == 3 and "e-office has no component cache here" in proc.stderr
    proc = run_script(target_root, {}, app="ppdb")
    assert proc.returncode == 3 and "ppdb is not installed here" in proc.stderr
    for bad in ({"since": "1h --details"}, {"tail": 10**6}, {"follow": "yes"}, {"grep": ""}):
        proc = run_script(target_root, bad)
        assert proc.returncode == 2 and proc.stdout == "", bad


# ---------------------------------------------------------------- progress on a terminal (item 6)


def _events() -> list[Any]:
    from spbe_share.remote.runner import ProgressEvent

    return [ProgressEvent(kind="task", task="Ship: blobs"), ProgressEvent(kind="result", task="Ship: blobs", host="h",
                                                                         outcome="ok"),
            ProgressEvent(kind="task", task="Start: run the containers"),
            ProgressEvent(kind="result", task="Start: run the containers", host="h", outcome="changed"),
            ProgressEvent(kind="task", task="Health: web"),
            ProgressEvent(kind="result", task="Health: web", host="h", outcome="failed", message="gave up\nmore"),
            ProgressEvent(kind="done", task="install.yml")]


def _read_all(master: int) -> str:
    out = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed and everything was read
            break
        if not data:
            break
        out += data
    os.close(master)
    return out.decode().replace("\r\n", "\n")


def test_on_a_terminal_progress_is_one_line_with_a_step_counter() -> None:
    import pty

    from spbe_share.cli.deploy_cmd import _Progress

    master, slave = pty.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty:
        progress = _Progress(quiet=False, stream=tty)
        for event in _events():
            progress(event)
    out = _read_all(master)
    assert "[  1] Ship: blobs" in out and "[  3] Health: web" in out
    assert "[     ok]" not in out and "[changed]" not in out  # what went well is not listed
    assert "  [ FAILED] Health: web: gave up" in out  # what failed stays on screen
    assert out.endswith("\r\x1b[2K  [ FAILED] Health: web: gave up\n")  # the status line made way for it
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty:
        progress = _Progress(quiet=False, stream=tty)
        for event in _events()[:4] + _events()[-1:]:
            progress(event)
    assert _read_all(master).endswith("[  2] Start: run the containers\r\x1b[2K")  # gone when the playbook ends


def test_in_a_pipe_or_with_verbose_every_task_is_a_line_as_before() -> None:
    import io
    import pty

    from spbe_share.cli.deploy_cmd import _Progress

    expected = ["  [     ok] Ship: blobs", "  [changed] Start: run the containers", "  [ FAILED] Health: web: gave up"]
    pipe = io.StringIO()
    progress = _Progress(quiet=False, stream=pipe)
    for event in _events():
        progress(event)
    assert pipe.getvalue().splitlines() == expected
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty:
        progress = _Progress(quiet=False, verbose=True, stream=tty)
        for event in _events():
            progress(event)
    out = _read_all(master)
    assert out.splitlines() == expected and "\x1b" not in out


def test_following_stops_with_the_controller_and_leaves_nothing_behind(target_root: Path) -> None:
    argv = ["/usr/bin/python3", "-c", program("spbe_applogs"), str(target_root), "e-office"]
    with LineStream(argv, line_limit=8192, timeout=3, input=json.dumps({"follow": True, "tail": 5}).encode()) as s:
        lines = [ln.decode() for ln in s]
    assert s.timed_out.is_set() and len(lines) == 5  # both containers' lines came while they were followed
    assert {ln.split("\t")[0] for ln in lines} == {"db", "web"} and "s3cr3t" not in "".join(lines)
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True, check=False).stdout.split()
    mine = [pid for pid in left if str(target_root.parent) in Path(f"/proc/{pid}/environ").read_text(errors="replace")]
    assert mine == []  # each `docker logs --follow` died with the script
