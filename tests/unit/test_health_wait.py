"""playbooks/module_utils/spbe_health.py: the health wait of every phase in one module call
(issue 21): quick tries first, then the entry's interval, within the entry's timeout."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))

import spbe_health as h  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(round(s, 4))
        self.t += s


def failing(times: int) -> tuple[list[list[str]], h.Runner]:
    calls: list[list[str]] = []

    def runner(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        rc = 1 if len(calls) <= times else 0
        return subprocess.CompletedProcess(list(argv), rc, "", "Traceback\nConnectionRefusedError: refused" if rc else "")

    return calls, runner


CHECK = {"component": "web", "container": "kota-x-e-office-web", "type": "http", "url": None, "port": 8080,
         "path": "/healthz", "retries": 60, "delay": 2}


def test_tries_come_quickly_first_then_slow_down_to_the_entrys_interval() -> None:
    clock = Clock()
    calls, runner = failing(12)
    done = h.wait_healthy([CHECK], runner=runner, sleep=clock.sleep, clock=clock)
    assert done == [{"component": "web", "tries": 13, "seconds": pytest.approx(clock.t, abs=0.001)}]
    assert clock.slept[:4] == [0.1, 0.15, 0.225, 0.3375]
    assert max(clock.slept) == 2 and clock.slept[-1] == 2  # never longer than the entry's interval
    assert calls[0] == ["docker", "exec", "kota-x-e-office-web", "python3", "-c", h.HTTP_CHECK,
                        "http://127.0.0.1:8080/healthz"]


def test_a_check_gives_up_when_its_budget_is_spent_naming_it_and_the_last_answer() -> None:
    clock = Clock()
    calls, runner = failing(10**9)
    check = {**CHECK, "retries": 2, "delay": 2}  # timeout_s 4
    with pytest.raises(h.HealthError, match=r"web \(kota-x-e-office-web\) did not pass in 4 s \(\d+ tries, the last:"
                                            r" ConnectionRefusedError: refused\)") as e:
        h.wait_healthy([check], runner=runner, sleep=clock.sleep, clock=clock)
    assert e.value.failed == [check]
    assert clock.t == pytest.approx(4)  # the whole budget, the last try at its end, never past it


def test_checks_run_in_order_and_a_command_check_runs_its_argv() -> None:
    clock = Clock()
    calls, runner = failing(0)
    db = {"component": "db", "container": "c-db", "type": "command", "command": ["pg_isready", "-h", "127.0.0.1"],
          "retries": 1, "delay": 1}
    assert [c["component"] for c in h.wait_healthy([db, CHECK], runner=runner, sleep=clock.sleep, clock=clock)] \
        == ["db", "web"]
    assert calls[0] == ["docker", "exec", "c-db", "pg_isready", "-h", "127.0.0.1"]


@pytest.mark.parametrize("bad", [{**CHECK, "container": "-it"}, {**CHECK, "port": 0}, {**CHECK, "path": "x"},
                                 {**CHECK, "type": "command", "command": []}])
def test_a_check_that_cannot_be_run_is_refused(bad: dict) -> None:
    with pytest.raises(h.HealthError):
        h.wait_healthy([bad], runner=failing(0)[1], sleep=lambda _s: None)


@pytest.fixture
def server() -> Iterator[str]:
    answers = [503, 503, 200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
            self.end_headers()

        def log_message(self, *_a: object) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/healthz"
    srv.shutdown()


def test_a_published_url_is_fetched_from_the_target_until_it_answers_200(server: str) -> None:
    clock = Clock()
    done = h.wait_healthy([{**CHECK, "url": server}], sleep=clock.sleep, clock=clock)
    assert done[0]["tries"] == 3
    assert h.probe({**CHECK, "url": "file:///etc/passwd"}) == (False, "not an http url: 'file:///etc/passwd'")
