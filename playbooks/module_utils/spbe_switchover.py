"""The zero-downtime switch of an app's web component, on the target (standard library only).

What ``playbooks/switch.yml`` does once the release's files, images and config are in place,
as few module calls as there are phases (issue 21: every task is a round trip over the link):

* :func:`start_beside` (phase Start + Health): the new web container starts BESIDE the serving
  one, under its temporary name, with no published port (``docker run``, an argument list);
  its health is checked inside it (``docker exec``) as the release's health checks say
  (``spbe_health``: quick tries first, then the entry's interval). The
  journal gets ``shipped`` (files, images and config are in place), ``starting-new``,
  ``started-new`` and ``healthy`` as they happen.
* :func:`switch_over` (phase Switch): ``upstream.conf`` names the new container, ``nginx -t``,
  ``nginx -s reload`` (new workers take it, the old ones finish their requests); then it waits
  until the proxy's old worker processes have exited (their requests are done: no request can
  still reach the old container), at most ``grace_s``; the old container is stopped and
  removed, the new one takes the canonical name (``docker rename``, no restart) and
  ``upstream.conf`` names the canonical container again, reloaded the same way.
* :func:`undo` (nothing switched): the new container removed, the serving release's config
  files and ``upstream.conf`` written back.

Every docker and nginx command is an argument list; names and paths are checked first.
:class:`SwitchError` carries what the playbook's rescue needs (``switched``: whether the proxy
sends requests to the new container; ``health``: a health check gave up).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_journalfile as journalfile
    from ansible.module_utils.spbe_dockerrun import (
        DockerRunError,
        docker,
        inspect,
        name_of,
        run,
        run_argv,
    )
    from ansible.module_utils.spbe_files import write_atomic
    from ansible.module_utils.spbe_health import HealthError, wait_healthy
except ImportError:  # the unit tests
    import spbe_journalfile as journalfile  # type: ignore[no-redef]
    from spbe_dockerrun import DockerRunError, docker, inspect, name_of, run, run_argv  # type: ignore[no-redef]
    from spbe_files import write_atomic  # type: ignore[no-redef]
    from spbe_health import HealthError, wait_healthy  # type: ignore[no-redef]

NGINX_CONF = "/etc/spbe-proxy/nginx.conf"
STOP_TIMEOUT = 10
UNKNOWN_WAIT_S = 2.0  # the old workers could not be read: wait this long (at most grace_s) instead

Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


class SwitchError(Exception):
    """A step failed; ``switched``: the proxy already sends requests to the new container;
    ``health``: the new container's health checks gave up (the message says which)."""

    def __init__(self, msg: str, *, switched: bool = False, health: bool = False) -> None:
        super().__init__(msg)
        self.switched = switched
        self.health = health


def _name(value: object, what: str) -> str:
    try:
        return name_of(value, what)
    except DockerRunError as e:
        raise SwitchError(str(e)) from None


def _docker(runner: Runner, args: Sequence[str], what: str, timeout: float = 180, **kw: bool) -> str:
    """spbe_dockerrun's docker command; its failure a :class:`SwitchError` (``kw``: switched)."""
    try:
        return docker(runner, args, what, timeout)
    except DockerRunError as e:
        raise SwitchError(str(e), **kw) from None


def exists(runner: Runner, name: str) -> bool:
    return name in inspect(runner, [name])


def start_beside(*, spec: Mapping, network: str, alias: str, checks: Sequence[Mapping],
                 journal: Mapping | None = None, runner: Runner = run,
                 sleep: Callable[[float], None] = time.sleep) -> str:
    """Start the new web container beside the serving one and wait for its health; its id."""
    name = _name(spec.get("name"), "container name")
    try:  # its own name as an alias too: it keeps answering to it after the rename to the
        # canonical name, until the proxy has reloaded with the canonical upstream
        argv = run_argv(spec, network=network, alias=alias, extra_aliases=[name])
    except DockerRunError as e:
        raise SwitchError(str(e)) from None
    _step(journal, "shipped")  # the release's files, images and config are in place
    _step(journal, "starting-new")
    if exists(runner, name):  # left by an attempt that was cut: never serving (a temporary name)
        _docker(runner, ["rm", "-f", "--", name], f"docker rm {name}")
    cid = _docker(runner, argv[1:], f"docker run {name}").strip()
    _step(journal, "started-new")
    try:
        wait_healthy(checks, runner=runner, sleep=sleep)
    except HealthError as e:
        raise SwitchError(f"Health: {e}", health=True) from None
    _step(journal, "healthy")
    return cid


def _step(journal: Mapping | None, name: str) -> None:
    if journal:
        journalfile.step(str(journal["path"]), str(journal["id"]), name)


# ---- the proxy's old workers -------------------------------------------------------------------

def _stat(pid: int, proc: str) -> tuple[int, int] | None:
    """(ppid, start time in clock ticks) of ``pid``, None when it is gone."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # after "pid (comm) "
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _cmdline(pid: int, proc: str) -> bytes:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def workers(root_pid: int, proc: str = "/proc") -> set[tuple[int, int]]:
    """The nginx worker processes (pid, start time) under process ``root_pid`` (the proxy
    container's first process), read from ``proc``."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    try:
        pids = [int(d) for d in os.listdir(proc) if d.isdigit()]
    except OSError:
        return set()
    for pid in pids:
        st = _stat(pid, proc)
        if st is not None:
            parents[pid], starts[pid] = st
    below: set[int] = {root_pid}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in below and pid not in below:
                below.add(pid)
                grew = True
    return {(pid, starts[pid]) for pid in below - {root_pid}
            if pid in starts and _cmdline(pid, proc).startswith(b"nginx: worker process")}


def alive(procs: set[tuple[int, int]], proc: str = "/proc") -> set[tuple[int, int]]:
    """Those of ``procs`` still running (the same pid AND start time: a reused pid is not one)."""
    out = set()
    for pid, start in procs:
        st = _stat(pid, proc)
        if st is not None and st[1] == start:
            out.add((pid, start))
    return out


def proxy_pid(runner: Runner, proxy: str) -> int:
    p = runner(["docker", "container", "inspect", "--format", "{{.State.Pid}}", "--", proxy], 60)
    try:
        return int(p.stdout.strip()) if p.returncode == 0 else 0
    except ValueError:
        return 0


def drain(old: set[tuple[int, int]], *, grace_s: float, proc: str = "/proc",
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> tuple[str, float]:
    """Wait until the proxy's old workers ``old`` have exited (each finishes its requests, then
    exits), at most ``grace_s``. ``("drained", s)``, ``("grace", s)`` when some still ran at the
    end, or ``("unknown", s)`` when they could not be read (``old`` empty): then a fixed
    :data:`UNKNOWN_WAIT_S` (at most ``grace_s``), as before the workers were read."""
    t0 = clock()
    if not old:
        sleep(min(grace_s, UNKNOWN_WAIT_S))
        return "unknown", clock() - t0
    while alive(old, proc):
        if clock() - t0 >= grace_s:
            return "grace", clock() - t0
        sleep(0.05)
    return "drained", clock() - t0


# ---- the switch ---------------------------------------------------------------------------------

def reload_proxy(runner: Runner, proxy: str, what: str, *, switched: bool) -> None:
    """``nginx -t`` then ``nginx -s reload`` in the proxy container."""
    for args in (["nginx", "-t", "-q", "-c", NGINX_CONF], ["nginx", "-s", "reload", "-c", NGINX_CONF]):
        _docker(runner, ["exec", proxy, *args], f"{what}: {' '.join(args[:3])}", 60, switched=switched)


def write_upstream(proxy_dir: str, content: str) -> None:
    write_atomic(os.path.join(proxy_dir, "upstream.conf"), content.encode("utf-8"), 0o644)


def switch_over(*, serving: str, next_name: str, proxy: str, proxy_dir: str, upstream_next: str,
                upstream_final: str, grace_s: float, journal: Mapping | None = None, runner: Runner = run,
                proc: str = "/proc", sleep: Callable[[float], None] = time.sleep) -> dict:
    """The proxy switches to ``next_name``; the old workers drain; ``serving`` is stopped and
    removed, ``next_name`` renamed to it, the proxy names it again. What happened, as a dict."""
    serving, next_name, proxy = (_name(serving, "container name"), _name(next_name, "container name"),
                                 _name(proxy, "container name"))
    before = workers(proxy_pid(runner, proxy), proc)
    write_upstream(proxy_dir, upstream_next)
    try:
        reload_proxy(runner, proxy, "Switch: the proxy refused the new upstream", switched=False)
    except SwitchError:
        write_upstream(proxy_dir, upstream_final)  # the file as the serving proxy reads it
        raise
    # from here the proxy sends new requests to the new container
    how, waited = drain(before, grace_s=grace_s, proc=proc, sleep=sleep)
    if exists(runner, serving):
        _docker(runner, ["stop", "-t", str(STOP_TIMEOUT), "--", serving], f"Switch: docker stop {serving}",
                STOP_TIMEOUT + 120, switched=True)
        _docker(runner, ["rm", "-f", "--", serving], f"Switch: docker rm {serving}", switched=True)
    _docker(runner, ["rename", next_name, serving], f"Switch: docker rename {next_name} {serving}", switched=True)
    write_upstream(proxy_dir, upstream_final)
    reload_proxy(runner, proxy, "Switch: the proxy refused the canonical upstream", switched=True)
    return {"drain": how, "drain_s": round(waited, 3), "old_workers": len(before)}


def undo(*, next_name: str, app_dir: str, configs: Sequence[Mapping], proxy_dir: str | None,
         upstream_final: str | None, runner: Runner = run) -> None:
    """Nothing switched: remove the new container, write back the serving release's config files
    (``configs``: [{component, file, content}]) and the proxy's canonical upstream."""
    next_name = _name(next_name, "container name")
    if exists(runner, next_name):
        _docker(runner, ["rm", "-f", "--", next_name], f"Undo: docker rm {next_name}")
    for c in configs:
        comp, file = _name(c.get("component"), "component name"), str(c.get("file"))
        if not file or "/" in file or file in (".", "..") or "\0" in file:
            raise SwitchError(f"not a config file name: {file!r}")
        path = os.path.join(app_dir, "config", comp, file)
        data = str(c.get("content", "")).encode("utf-8")
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        write_atomic(path, data, 0o644)
    if proxy_dir and upstream_final is not None:
        write_upstream(proxy_dir, upstream_final)
