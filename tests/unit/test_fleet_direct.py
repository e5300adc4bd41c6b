"""fleet status without Ansible: the argv, the answer (untrusted) and the runner of many processes.

No target here: the runner is exercised with local processes (the same code runs ssh); the
one reading (``playbooks/library/spbe_status.py``) is run as the script the targets get and
compared with its own function called in this process."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import sys
import threading
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from spbe_share.errors import Cancelled
from spbe_share.fleet import direct
from spbe_share.fleet.direct import (
    MAX_ANSWER,
    RawAnswer,
    answer_read,
    run_argvs,
    status_argv,
)
from spbe_share.fleet.status import read_targets
from spbe_share.remote.interrupts import CancelToken, interrupts, processes_with
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "playbooks" / "library" / "spbe_status.py"
T = Target(name="sorong", host="10.0.0.1", port=2222, user="root", key=Path("/keys/id_ed25519"), pemda="Kota Sorong",
           kode_wilayah="96.71", bind_address="10.0.0.1", root="/srv/spbe", python="/usr/bin/python3")  # fmt: skip
LOCAL = Target(name="local", connection="local", host="localhost", user="op", pemda="Kota Uji", kode_wilayah="96.72",
               bind_address="127.0.0.1", root="/var/lib/spbe-share")  # fmt: skip
FP = "SHA256:" + "A" * 43


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(home=tmp_path / "ws", root=REPO)
    w.ensure()
    return w


def load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("spbe_status_under_test", MODULE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no Ansible import at module level: the script way needs none
    return mod


# ---------------------------------------------------------------- argv (pure, by equality)


def test_ssh_argv_pins_the_host_key_and_runs_the_module_source(ws: Workspace) -> None:
    src = direct.script_source(ws)
    assert src == MODULE.read_text()  # the module itself, not a copy
    assert status_argv(ws, T, src) == [
        "ssh",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={ws.known_hosts_file}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "Port=2222",
        "-o", "User=root",
        "-o", "IdentityFile=/keys/id_ed25519",
        "-o", "IdentitiesOnly=yes",
        "10.0.0.1",
        "--",
        shlex.join(["/usr/bin/python3", "-c", src, "--spbe-share-status", "/srv/spbe"]),
    ]  # fmt: skip
    assert status_argv(ws, T, "S", blobs=True)[-1] == "/usr/bin/python3 -c S --spbe-share-status /srv/spbe --blobs"


def test_a_root_with_shell_characters_stays_one_argument(ws: Workspace) -> None:
    t = T.model_copy(update={"root": "/srv/a b;rm -rf /", "python": None})
    remote = status_argv(ws, t, "S")[-1]
    assert shlex.split(remote) == ["python3", "-c", "S", "--spbe-share-status", "/srv/a b;rm -rf /"]


def test_the_local_target_runs_without_ssh(ws: Workspace) -> None:
    assert status_argv(ws, LOCAL, "S") == [sys.executable, "-c", "S", "--spbe-share-status", "/var/lib/spbe-share"]
    with_python = LOCAL.model_copy(update={"python": "/opt/py/bin/python3"})
    assert status_argv(ws, with_python, "S", blobs=True) == [
        "/opt/py/bin/python3", "-c", "S", "--spbe-share-status", "/var/lib/spbe-share", "--blobs"]  # fmt: skip


# ---------------------------------------------------------------- the answer (untrusted)


def record(target: str = "sorong") -> dict[str, object]:
    return {
        "format": 1, "app": "pengaduan", "version": "1.0.0", "target": target, "pemda": "Kota Sorong",
        "kode_wilayah": "96.71", "bundle_digest": "sha256:" + "ab" * 32, "signer": "k", "values": {}, "images": {},
        "containers": ["spbe-sorong-pengaduan-web"], "urls": [], "health": [], "who": "op",
        "when": "2026-11-02T10:00:00Z", "result": "ok", "message": None, "previous": None,
    }  # fmt: skip


def ok(doc: object) -> RawAnswer:
    return RawAnswer(rc=0, stdout=json.dumps(doc).encode())


def test_a_good_answer_is_read() -> None:
    doc = {"records": [record()], "last": [], "containers": [["spbe-sorong-pengaduan-web", {"Running": True}]],
           "http": []}  # fmt: skip
    read = answer_read(T, ok(doc), timeout=30)
    assert read.reachable and read.error is None and read.problems == []
    assert read.version_of("pengaduan") == "1.0.0" and read.health["pengaduan"] == ("healthy", "")


def test_no_answer_in_time_is_a_row_saying_so() -> None:
    read = answer_read(T, RawAnswer(rc=None, timed_out=True, stdout=b'{"records": []}'), timeout=7)
    assert (read.reachable, read.error) == (False, "no answer within 7s")


SSH_CHANGED = f"""@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
{FP}.
Please contact your system administrator.
Host key for [10.0.0.1]:2222 has changed and you have requested strict checking.
Host key verification failed.
"""


def test_a_changed_host_key_is_named_as_today() -> None:
    read = answer_read(T, RawAnswer(rc=255, stderr=SSH_CHANGED.encode()), timeout=30)
    assert read.reachable is False
    assert read.error == f"host key does not match the pinned one; not read (Host key verification failed. offered key {FP})"


def test_ssh_failing_is_unreachable_with_its_own_words() -> None:
    err = b"ssh: connect to host 10.0.0.1 port 2222: Connection refused\r\n"
    read = answer_read(T, RawAnswer(rc=255, stderr=err), timeout=30)
    assert (read.reachable, read.error) == (False, "ssh: connect to host 10.0.0.1 port 2222: Connection refused")
    assert answer_read(T, RawAnswer(rc=255), timeout=30).error == "ssh failed (exit 255)"


def test_a_failing_script_is_a_row_with_its_last_line() -> None:
    read = answer_read(T, RawAnswer(rc=127, stderr=b"bash: line 1: python3: command not found\n"), timeout=30)
    assert read.reachable is False
    assert read.error == "the status read failed on the target (exit 127): bash: line 1: python3: command not found"
    # exit 255 of the local target is the script's own, not ssh's
    assert answer_read(LOCAL, RawAnswer(rc=255), timeout=30).error == (
        "the status read failed on the target (exit 255): no message")


def test_a_process_that_cannot_start() -> None:
    read = answer_read(T, RawAnswer(rc=None, start_error="cannot run ssh: No such file or directory"), timeout=30)
    assert (read.reachable, read.error) == (False, "cannot run ssh: No such file or directory")


@pytest.mark.parametrize(
    ("stdout", "want"),
    [
        (b"", "not one JSON document"),
        (b"\xff\xfe not utf-8", "not one JSON document"),
        (b'{"records": []} trailing', "not one JSON document"),
        (b"[" * 100_000 + b"]" * 100_000, "not one JSON document"),  # refused before json.loads recurses
        (b"[" * 100_000, "not one JSON document"),
        (b"NaN-but-not-json", "not one JSON document"),
        (b"[1, 2, 3]", "(status)"),
        (b'{"records": [], "evil": 1}', "evil"),
        (b'{"records": "x"}', "records"),
        (b'{"http": [["http://x/", "two hundred"]]}', "http"),
        (json.dumps({"records": [None] * 201}).encode(), "records"),  # bounded like the Ansible path
    ],
    ids=["empty", "not-utf8", "trailing", "deep", "unbalanced", "not-json", "list", "extra-key", "records-str",
         "http-code-str", "too-many-records"],
)
def test_hostile_answers_become_errors_on_the_row(stdout: bytes, want: str) -> None:
    read = answer_read(T, RawAnswer(rc=0, stdout=stdout), timeout=30)
    assert read.reachable is True and read.records == []
    assert read.error is not None and read.error.startswith("invalid status from the target:") and want in read.error


def test_nesting_is_measured_outside_strings() -> None:
    read = answer_read(T, ok({"records": [{**record(), "who": "]]] \" [[[ {"}]}), timeout=30)
    assert read.error is None and read.records[0].who == "]]] \" [[[ {"
    assert "not one JSON document" in (answer_read(T, RawAnswer(rc=0, stdout=b"[" * 200 + b"]" * 200),
                                                   timeout=30).error or "")


@pytest.mark.parametrize("size", [20_000, 4_000_000])
def test_a_hostile_answer_is_read_in_linear_time(size: int) -> None:
    """Issue 17 finding 7: '"' then '\\"' repeated took a quadratic regex 22 s at 40 KB (days
    at the 8 MiB cap); the answer is one unterminated string, read once."""
    import time

    for stdout in (b'"' + b'\\"' * size, b'["' + b'\\"' * size + b'"' + b"]" * size):
        # the baseline, in the same run (a loaded machine slows both): one linear pass of
        # json.loads over a valid document of the same size
        valid = b'"' + b"x" * (len(stdout) - 2) + b'"'
        t0 = time.monotonic()
        json.loads(valid)
        baseline = time.monotonic() - t0
        t0 = time.monotonic()
        read = answer_read(T, RawAnswer(rc=0, stdout=stdout), timeout=30)
        spent = time.monotonic() - t0
        assert spent < 50 * baseline + 0.5, (spent, baseline)  # quadratic: 22 s at 20000
        assert read.error is not None and read.error.startswith("invalid status from the target:")


def test_records_of_another_target_are_not_taken() -> None:
    read = answer_read(T, ok({"records": [record(target="buleleng")]}), timeout=30)
    assert read.records == [] and "names target 'buleleng'" in read.problems[0]


def test_an_oversized_answer_is_refused() -> None:
    read = answer_read(T, RawAnswer(rc=None, too_big=True, stdout=b"{"), timeout=30)
    assert read.reachable is True and read.records == []
    assert read.error == f"invalid status from the target: more than {MAX_ANSWER} bytes"


# ---------------------------------------------------------------- running many processes


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_answers_come_back_in_order_within_the_forks() -> None:
    argvs = [py(f"import sys; print({i}); sys.stderr.write('e{i}')") for i in range(5)] + [py("raise SystemExit(3)")]
    raws = run_argvs(argvs, forks=2, timeout=30)
    assert [r.stdout for r in raws[:5]] == [b"0\n", b"1\n", b"2\n", b"3\n", b"4\n"]
    assert [r.stderr for r in raws[:5]] == [b"e0", b"e1", b"e2", b"e3", b"e4"]
    assert all(r.rc == 0 and not r.timed_out for r in raws[:5]) and raws[5].rc == 3


def test_it_runs_where_an_event_loop_already_runs() -> None:
    """A caller inside an event loop (its own asyncio; Playwright's sync API in the browser
    tests of the same pytest worker) still gets its answers: asyncio refuses nested loops."""
    import asyncio
    import concurrent.futures

    async def caller() -> list[bytes]:
        asyncio.get_running_loop()  # the caller's loop runs
        return [r.stdout for r in run_argvs([py("print('a')"), py("print('b')")], forks=2, timeout=30)]

    # the caller's loop in a thread of its own: this pytest thread may run Playwright's already
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(lambda: asyncio.run(caller())).result() == [b"a\n", b"b\n"]


def test_a_slow_target_is_killed_at_its_timeout_and_holds_up_no_other() -> None:
    marker = f"slow-{uuid.uuid4().hex}"
    raws = run_argvs([py(f"import time; time.sleep(60)  # {marker}"), py("print('fast')")], forks=2, timeout=5)  # 5 s: the fast one answers well within it even on a loaded machine
    assert raws[0].timed_out and raws[0].rc is None
    assert raws[1].stdout == b"fast\n" and not raws[1].timed_out
    assert processes_with(marker) == []  # killed, not left behind


def test_an_endless_answer_is_cut_at_the_limit() -> None:
    raws = run_argvs([py("import sys\nwhile True: sys.stdout.write('x' * 65536)")], forks=1, timeout=30)
    assert raws[0].too_big and len(raws[0].stdout) <= MAX_ANSWER and raws[0].rc is None


def test_a_missing_program_is_an_answer_not_a_crash() -> None:
    raws = run_argvs([["/nonexistent/ssh-xyz", "host"]], forks=1, timeout=5)
    assert raws[0].start_error is not None and raws[0].start_error.startswith("cannot run /nonexistent/ssh-xyz")


def test_a_signal_kills_every_child_and_cancels() -> None:
    """A real SIGINT to this process, as Ctrl-C: the operation's handler notes it, the loop kills
    every ssh child and raises Cancelled."""
    marker = f"cancel-{uuid.uuid4().hex}"
    token = CancelToken()
    argvs = [py(f"import time; time.sleep(60)  # {marker}") for _ in range(3)]
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    with interrupts(token):
        timer.start()
        try:
            with pytest.raises(Cancelled, match="fleet status stopped; it changes nothing"):
                run_argvs(argvs, forks=3, timeout=60, cancel=token)
        finally:
            timer.cancel()
    assert token.signals == [signal.SIGINT] and processes_with(marker) == []


# ---------------------------------------------------------------- one reading, two entry points


def target_root(tmp_path: Path) -> Path:
    """A target's root; its record names no container (the unit tier asks no engine)."""
    root = tmp_path / "root"
    (root / "apps" / "pengaduan" / "releases").mkdir(parents=True)
    (root / "apps" / "pengaduan" / "current.json").write_text(json.dumps({**record(), "containers": []}))
    (root / "apps" / "pengaduan" / "releases" / "20261102T100000-1.0.0.json").write_text(json.dumps(record()))
    (root / "apps" / "broken").mkdir()
    (root / "apps" / "broken" / "current.json").write_text("{not json")
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "blobs" / "sha256" / ("cd" * 32)).write_text("")
    return root


def test_the_script_runs_the_modules_own_reading(tmp_path: Path, ws: Workspace) -> None:
    root = target_root(tmp_path)
    mod = load_module()
    sock = str(tmp_path / "no-docker.sock")  # the same (absent) engine for both
    source = direct.script_source(ws).replace('DOCKER_SOCKET = "/var/run/docker.sock"', f"DOCKER_SOCKET = {sock!r}")
    raws = run_argvs([[sys.executable, "-c", source, "--spbe-share-status", str(root), "--blobs"]], forks=1,
                     timeout=60)  # fmt: skip
    assert raws[0].rc == 0, raws[0].stderr
    assert json.loads(raws[0].stdout) == mod.read_status(str(root), blobs=True, docker_socket=sock)
    got = json.loads(raws[0].stdout)
    assert got["blobs"] == ["cd" * 32] and got["records"][1] == {**record(), "containers": []}  # apps in name order: broken, pengaduan
    assert got["records"][0]["_error"].startswith("not JSON")


def test_the_script_refuses_other_arguments(tmp_path: Path, ws: Workspace) -> None:
    raws = run_argvs([[sys.executable, "-c", direct.script_source(ws), "--spbe-share-status", "/r", "--all"],
                      [sys.executable, "-c", direct.script_source(ws), "--spbe-share-status"]], forks=2, timeout=60)
    assert [r.rc for r in raws] == [2, 2] and all(b"usage" in r.stderr for r in raws)


def test_read_targets_over_the_local_target_keeps_a_run_folder(tmp_path: Path, ws: Workspace) -> None:
    root = target_root(tmp_path)
    local = LOCAL.model_copy(update={"root": str(root), "python": sys.executable})
    reads = read_targets(ws, [local], timeout=60)
    assert reads["local"].reachable and reads["local"].records == []  # the record names target sorong
    assert any("names target 'sorong'" in p for p in reads["local"].problems)
    assert any(p.startswith("invalid release record") for p in reads["local"].problems)  # apps/broken
    (run,) = [p for p in ws.runs_dir.iterdir() if p.name.endswith("-fleet-status-fleet")]
    request = json.loads((run / "request.json").read_text())
    assert request["targets"]["local"][:2] == [sys.executable, "-c"] and request["targets"]["local"][2] == "<script>"
    assert json.loads((run / "answers" / "local.json").read_text())["records"][1]["target"] == "sorong"
    assert json.loads((run / "result.json").read_text())["local"]["rc"] == 0


def test_the_run_folder_names_the_script_instead_of_copying_it(tmp_path: Path, ws: Workspace) -> None:
    src = direct.script_source(ws)
    direct._request(tmp_path, [T, LOCAL], [status_argv(ws, T, src), status_argv(ws, LOCAL, src)], src, timeout=9,
                    forks=2, blobs=False)  # fmt: skip
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["targets"]["sorong"][-1] == "/usr/bin/python3 -c <script> --spbe-share-status /srv/spbe"
    assert request["targets"]["local"][2] == "<script>" and src not in json.dumps(request)
    assert (request["timeout"], request["forks"], request["script"]) == (9, 2, "playbooks/library/spbe_status.py")
