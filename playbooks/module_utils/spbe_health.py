"""Wait for an app's health checks, on the target (standard library only, Python 3.11).

One module call (``spbe_health_wait``, and the zero-downtime switch's ``spbe_switchover``) waits
for every check of a phase: over a slow link each Ansible retry was a round trip, and a check
that failed once waited the entry's whole ``interval_s`` (2 s for e-office) before the next try,
inside the outage. Here the tries come quickly at first and slow down to the entry's interval:
0.1 s, then 1.5 times longer each time, never longer than the interval. A check gives up when
its budget is spent: ``retries`` x ``delay`` seconds (the entry's ``timeout_s``), at least one try.

A check (``spbe_share.records.state.HealthSpec``):

* ``type: http`` with ``url``: a GET from the target (the published port), 200 passes;
* ``type: http`` without ``url``: a GET of ``http://127.0.0.1:PORT/PATH`` by the container's own
  ``python3`` (``docker exec``; the port is not published);
* ``type: command``: its ``command`` run in the container (``docker exec``), exit 0 passes.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence

try:  # as Ansible module_utils
    from ansible.module_utils.spbe_dockerrun import run
except ImportError:  # the unit tests
    from spbe_dockerrun import run  # type: ignore[no-redef]

CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
HTTP_CHECK = ("import sys, urllib.request; "
              "sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=5).status == 200 else 1)")
FIRST_WAIT_S = 0.1
GROWTH = 1.5
TRY_TIMEOUT_S = 60

Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


class HealthError(Exception):
    """A check gave up (``failed``: the checks that did) or cannot be run."""

    def __init__(self, msg: str, failed: Sequence[Mapping] = ()) -> None:
        super().__init__(msg)
        self.failed = list(failed)


def exec_argv(check: Mapping) -> list[str]:
    """``docker exec`` of an in-container check."""
    container = str(check.get("container"))
    if not CONTAINER.match(container):
        raise HealthError(f"not a container name: {container!r}")
    if check.get("type") == "command":
        command = [str(a) for a in check.get("command") or []]
        if not command:
            raise HealthError(f"{check.get('component')}: a command check without a command")
        return ["docker", "exec", container, *command]
    port, path = int(check.get("port") or 0), str(check.get("path") or "/")
    if not 0 < port < 65536 or not path.startswith("/"):
        raise HealthError(f"{check.get('component')}: not an http health check: port {port}, path {path!r}")
    return ["docker", "exec", container, "python3", "-c", HTTP_CHECK, f"http://127.0.0.1:{port}{path}"]


def http_get(url: str) -> tuple[bool, str]:
    if not url.startswith(("http://", "https://")):
        return False, f"not an http url: {url!r}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - http(s) only, checked above
            return r.status == 200, f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        return False, f"HTTP {e.code}"
    except (OSError, ValueError) as e:
        return False, str(getattr(e, "reason", e))[:300]


def probe(check: Mapping, runner: Runner = run) -> tuple[bool, str]:
    """One try of ``check``: (passed, why not)."""
    if check.get("type") == "http" and check.get("url"):
        return http_get(str(check["url"]))
    p = runner(exec_argv(check), TRY_TIMEOUT_S)
    if p.returncode == 0:
        return True, ""
    last = (p.stderr or p.stdout).strip().splitlines()[-1:] or [f"exit {p.returncode}"]
    return False, last[0][:300]


def wait_one(check: Mapping, *, runner: Runner = run, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> tuple[int, float]:
    """Try ``check`` until it passes: (tries, seconds). :class:`HealthError` once its budget
    (``retries`` x ``delay`` s) is spent."""
    delay = max(0.0, float(check.get("delay") or 0))
    budget = max(0, int(check.get("retries") or 0)) * delay
    wait = min(FIRST_WAIT_S, delay) if delay else 0.0
    t0 = clock()
    tries = 0
    while True:
        tries += 1
        ok, why = probe(check, runner)
        if ok:
            return tries, clock() - t0
        left = budget - (clock() - t0)
        if left <= 0:
            where = check.get("url") or check.get("container")
            raise HealthError(f"{check.get('component')} ({where}) did not pass in {budget:g} s ({tries} tries,"
                              f" the last: {why})", failed=[check])
        sleep(min(wait, left))  # the last try comes when the budget ends
        wait = min(delay, wait * GROWTH) if delay else 0.0


def wait_healthy(checks: Iterable[Mapping], *, runner: Runner = run, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> list[dict]:
    """Each check in order until it passes; what each took ([{component, tries, seconds}])."""
    out = []
    for check in checks:
        tries, took = wait_one(check, runner=runner, sleep=sleep, clock=clock)
        out.append({"component": check.get("component"), "tries": tries, "seconds": round(took, 3)})
    return out
