"""A thin, typed wrapper around ``ansible_runner.run``.

Every run gets its own private_data_dir under ``ws.runs_dir/<timestamp>-<op>-<target>-<app>/``
which stays as the record of the run: ``env/extravars`` (the variables, as JSON data),
``inventory/``, ``artifacts/<ident>/`` (stdout, job events) and ``inventory.json``, so the
same run can be repeated by hand::

    ansible-playbook -i <run>/inventory.json playbooks/install.yml -e @<run>/env/extravars

Variables and inventory are always data: ``env/extravars`` and ``inventory.json`` are JSON in
which every string is marked untrusted (see :mod:`.varsfile`), so Ansible never templates a
value, a target's field or anything from a bundle. Host-key checking is always on.
ansible_runner is imported inside :func:`run_playbook` only, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import EnvironmentProblem
from .interrupts import CancelToken
from .varsfile import dump_vars

if TYPE_CHECKING:
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .stream import ExecutionNode

Outcome = Literal["ok", "changed", "failed", "skipped", "unreachable"]

HOST_KEY_PATTERNS = (
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "No ED25519 host key is known",
    "No RSA host key is known",
    "No ECDSA host key is known",
    "host key for",
)


@dataclass(frozen=True)
class ProgressEvent:
    """What the CLI shows: a task starting, its outcome on one host, or the playbook's end
    (``done``, also after a failure or an interrupt; ``task`` is then the playbook)."""

    kind: Literal["task", "result", "done"]
    task: str
    host: str | None = None
    outcome: Outcome | None = None
    message: str | None = None
    item: str | None = None


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class TaskTiming:
    name: str
    tags: tuple[str, ...]
    seconds: float
    changed: bool


@dataclass
class RunResult:
    """The outcome of one playbook run, typed."""

    status: str  # ansible-runner status: successful, failed, timeout, canceled
    rc: int
    run_dir: Path
    hosts: dict[str, HostStats] = field(default_factory=dict)
    failed_task: str | None = None
    failed_host: str | None = None
    failed_message: str | None = None
    failed_result: dict[str, Any] = field(default_factory=dict)
    unreachable_message: str | None = None
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> set_stats data
    host_errors: dict[str, str] = field(default_factory=dict)  # host -> why it failed or was unreachable
    changed_tasks: list[str] = field(default_factory=list)
    timings: list[TaskTiming] = field(default_factory=list)
    seconds: float = 0.0
    last_task: str | None = None  # the task that ran last (where an interrupted run stopped)
    cancelled: bool = False  # a SIGINT/SIGTERM stopped the run (see .interrupts)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    @property
    def host_key_failed(self) -> bool:
        text = " ".join(filter(None, [self.unreachable_message, self.failed_message]))
        return any(p.lower() in text.lower() for p in HOST_KEY_PATTERNS)


def run_dir_name(op: str, target: str, app: str | None, now: dt.datetime) -> str:
    """``20261122T101500123456-install-kota-sorong-e-office`` (sortable, unique per microsecond)."""
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    parts = [stamp, op, target] + ([app] if app else [])
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]", "_", p) for p in parts)


def collections_path() -> str:
    """The folder holding ``ansible_collections`` of the installed ``ansible`` package."""
    import importlib.util

    spec = importlib.util.find_spec("ansible_collections")
    if spec is None or not spec.submodule_search_locations:
        raise EnvironmentProblem("the 'ansible' package (collections) is not installed: pip install ansible")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def tools_path(caller_path: str | None = None, *, scripts_dir: str | None = None) -> str:
    """``PATH`` for ansible-runner: the folder of this interpreter's scripts first, then the caller's.

    ansible-runner starts ``ansible-playbook`` by name. Installed the way Debian allows, that
    program lies in the environment's ``bin/`` beside ``python`` (``.venv/bin``, a pipx venv),
    and ``spbe-share`` is often started through a link (``/usr/local/bin/spbe-share``) with
    that folder not on ``PATH``: the run would find no ``ansible-playbook``, or another
    installation's, of another version.
    """
    first = scripts_dir if scripts_dir is not None else sysconfig.get_path("scripts")
    rest = os.environ.get("PATH", os.defpath) if caller_path is None else caller_path
    return os.pathsep.join([first, *(p for p in rest.split(os.pathsep) if p and p != first)])


def strategy_env(strategy: str) -> dict[str, str]:
    """Ansible's settings for ``strategy`` (:func:`..targets.sshsettings.ansible_strategy`).

    ``mitogen`` runs every task through one persistent interpreter per target, started over
    the same ssh (pinned host key, the chosen key exchange): the modules cross the link once
    per run, not once per task. The playbooks name no strategy (``status.yml``'s ``free``
    aside), so they stay plain Ansible, runnable by hand.
    """
    if strategy != "mitogen":
        return {}
    import importlib.util

    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        raise EnvironmentProblem("the mitogen strategy is chosen, but mitogen is not installed "
                                 "(set ansible.strategy: linear in settings.yml, or install spbe-share's dependencies)")
    return {
        "ANSIBLE_STRATEGY_PLUGINS": str(Path(spec.origin).parent / "plugins" / "strategy"),
        "ANSIBLE_STRATEGY": "mitogen_linear",
    }


def ansible_env(run_dir: Path, control_dir: Path, *, remote_tmp: str, strategy: str = "linear") -> dict[str, str]:
    """Environment of ansible-playbook: no writable home needed, host keys always checked."""
    return {
        **strategy_env(strategy),
        "PATH": tools_path(),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_HOME": str(run_dir / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(run_dir / ".ansible" / "tmp"),
        "ANSIBLE_REMOTE_TEMP": remote_tmp,
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30s -o ServerAliveInterval=15",
        "ANSIBLE_SSH_RETRIES": "1",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_SYSTEM_WARNINGS": "False",
        "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
        "ANSIBLE_TIMEOUT": "20",
        "ANSIBLE_GATHERING": "explicit",
        "PYTHONDONTWRITEBYTECODE": "1",
        # the operator's LANG (e.g. id_ID.UTF-8 for the CLI in Indonesian) need not exist as a
        # generated locale here, and ansible refuses to start without one; ansible is English only
        "LC_ALL": "C.UTF-8",
    }


def _close_control_masters(control_dir: Path) -> None:
    """Ask each persistent SSH master of the run to exit, so no ssh process outlives the run."""
    ssh = shutil.which("ssh")
    if ssh is None or not control_dir.is_dir():
        return
    for sock in control_dir.iterdir():
        subprocess.run(  # noqa: S603 - fixed argv, path from our own temp dir
            [ssh, "-o", f"ControlPath={sock}", "-O", "exit", "spbe-share-control"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    shutil.rmtree(control_dir, ignore_errors=True)


def _task_message(res: Mapping[str, Any]) -> str:
    if not isinstance(res, Mapping):
        return str(res)
    msg = res.get("msg") or res.get("stderr") or res.get("module_stderr") or ""
    if not msg and isinstance(res.get("results"), list):
        for r in res["results"]:
            if isinstance(r, Mapping) and r.get("failed"):
                return _task_message(r)
    return str(msg).strip()


class _EventCollector:
    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.result_hosts: dict[str, HostStats] = {}
        self.failed_task: str | None = None
        self.failed_host: str | None = None
        self.failed_message: str | None = None
        self.failed_result: dict[str, Any] = {}
        self.unreachable_message: str | None = None
        self.stats: dict[str, dict[str, Any]] = {}
        self.host_errors: dict[str, str] = {}
        self.changed_tasks: list[str] = []
        self.timings: dict[str, TaskTiming] = {}
        self._task_started: dict[str, float] = {}
        self._task_tags: dict[str, tuple[str, ...]] = {}
        self.last_task: str | None = None

    def __call__(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        task = str(data.get("task") or "")
        uuid = str(data.get("task_uuid") or data.get("uuid") or task)
        now = time.monotonic()
        if kind == "playbook_on_task_start":
            self._task_started[uuid] = now
            self._task_tags[uuid] = tuple(data.get("task_tags") or ())
            self.last_task = task
            if self.progress:
                self.progress(ProgressEvent(kind="task", task=task))
        elif kind.startswith("runner_on_") and kind not in ("runner_on_start",):
            if kind in ("runner_item_on_ok", "runner_item_on_failed"):
                return True
            host = str(data.get("host") or "")
            res = data.get("res") or {}
            outcome: Outcome
            if kind == "runner_on_ok":
                outcome = "changed" if isinstance(res, Mapping) and res.get("changed") else "ok"
                if isinstance(res, Mapping) and "ansible_stats" in res:
                    stats = res["ansible_stats"].get("data") or {}
                    self.stats.setdefault(host, {}).update(stats)
            elif kind == "runner_on_failed":
                outcome = "failed"
                if not data.get("ignore_errors"):
                    self.failed_task, self.failed_host = task, host
                    self.failed_message = _task_message(res)
                    # a rescue that fails again with the original message keeps the original's
                    # markers (spbe_locked, spbe_data_without_secrets: true) for raise_for_run
                    markers = {k: v for k, v in self.failed_result.items() if k.startswith("spbe_") and v is True}
                    self.failed_result = {**markers, **(dict(res) if isinstance(res, Mapping) else {})}
                    self.host_errors[host] = f"{task}: {self.failed_message}"
            elif kind == "runner_on_skipped":
                outcome = "skipped"
            elif kind == "runner_on_unreachable":
                outcome = "unreachable"
                self.unreachable_message = _task_message(res)
                self.failed_task, self.failed_host = task, host
                self.host_errors[host] = f"unreachable: {self.unreachable_message}"
            else:
                return True
            if outcome == "failed" and data.get("ignore_errors"):
                outcome = "ok"
            if outcome == "changed" and task not in self.changed_tasks:
                self.changed_tasks.append(task)
            started = self._task_started.get(uuid, now)
            prev = self.timings.get(uuid)
            self.timings[uuid] = TaskTiming(
                name=task,
                tags=self._task_tags.get(uuid, ()),
                seconds=now - started,
                changed=(outcome == "changed") or (prev.changed if prev else False),
            )
            if self.progress:
                self.progress(
                    ProgressEvent(
                        kind="result",
                        task=task,
                        host=host,
                        outcome=outcome,
                        message=_task_message(res) if outcome in ("failed", "unreachable") else None,
                    )
                )
        elif kind == "playbook_on_stats":
            for key, attr in (
                ("ok", "ok"),
                ("changed", "changed"),
                ("failures", "failed"),
                ("skipped", "skipped"),
                ("dark", "unreachable"),
                ("rescued", "rescued"),
                ("ignored", "ignored"),
            ):
                for host, n in (data.get(key) or {}).items():
                    setattr(self.result_hosts.setdefault(host, HostStats()), attr, int(n))
        return True


def inventory_for(
    ws: Workspace,
    targets: Sequence[Target],
    *,
    control_dir: Path,
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One runner inventory holding every target; ``host_vars`` adds per-target variables
    (an operation over many targets at once: each host gets its own values)."""
    from ..targets.inventory import GROUP
    from .ssh import ansible_inventory_for

    hosts: dict[str, Any] = {}
    for t in targets:
        inv = ansible_inventory_for(ws, t, control_path_dir=control_dir)
        hosts.update(inv["all"]["children"][GROUP]["hosts"])
    for name, extra in (host_vars or {}).items():
        if name not in hosts:
            raise ValueError(f"host vars for {name!r}, which is not a target of the run")  # a bug
        hosts[name] = {**hosts[name], **extra}
    return {"all": {"children": {GROUP: {"hosts": hosts}}}}


def run_playbook(
    ws: Workspace,
    *,
    op: str,
    target: str,
    app: str | None,
    playbook: str,
    targets: Sequence[Target],
    extravars: Mapping[str, Any],
    progress: ProgressCallback | None = None,
    remote_tmp: str = "/tmp/.spbe-share-ansible",
    limit: str | None = None,
    timeout: int | None = None,
    now: dt.datetime | None = None,
    cancel: CancelToken | None = None,
    interruptible: bool = True,
    forks: int | None = None,
    node: ExecutionNode | None = None,
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunResult:
    """Run ``playbooks/<playbook>`` on ``targets`` with ansible-runner; return a :class:`RunResult`.

    SIGINT/SIGTERM during the run stop the playbook's processes (see :mod:`.interrupts`) and
    the result says ``cancelled``; ``interruptible=False`` lets a cleanup run finish. Never
    raises for a failed play (the caller turns the result into the right error); raises
    :class:`EnvironmentProblem` when Ansible itself cannot start. With ``node`` the playbook
    runs on that execution node (:mod:`.stream`: transmit -> worker over ssh -> process); the
    run folder holds the same record.
    """
    try:
        import ansible_runner
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EnvironmentProblem(f"ansible-runner is not installed: {exc}") from None

    token = cancel if cancel is not None else CancelToken()
    signals_before = len(token.signals)
    pending = token.undelivered  # a signal noted before this run: it stops this run (kill_now)
    started = time.monotonic()
    when = now or dt.datetime.now(dt.UTC)
    run_dir = ws.runs_dir / run_dir_name(op, target, app, when)
    run_dir.mkdir(parents=True, mode=0o700)
    (run_dir / ".ansible" / "tmp").mkdir(parents=True)
    # unix sockets have a ~108 byte path limit: keep the control dir short
    control_dir = Path(tempfile.mkdtemp(prefix="spbe-cp-"))
    inventory = inventory_for(ws, targets, control_dir=control_dir, host_vars=host_vars)
    (run_dir / "env").mkdir()
    (run_dir / "env" / "extravars").write_text(dump_vars(extravars))
    inventory_file = run_dir / "inventory.json"
    inventory_file.write_text(dump_vars(inventory))
    collector = _EventCollector(progress)
    status = {"status": "unstarted"}

    def on_status(data: Mapping[str, Any], runner_config: Any = None) -> None:
        status["status"] = str(data.get("status"))

    from ..targets.sshsettings import ansible_strategy

    # Ansible's own strategy: on an execution node (its own installation), and for the local
    # target (no link to save; mitogen's local context, in a session of its own, would let a
    # task's processes outlive a cancelled run)
    local = any(t.connection == "local" for t in targets)
    strategy = "linear" if node is not None or local else ansible_strategy(ws)
    envvars = ansible_env(run_dir, control_dir, remote_tmp=remote_tmp, strategy=strategy)
    try:
        with token.watching(str(run_dir), interruptible=interruptible):
            if node is None:
                r = ansible_runner.run(
                    private_data_dir=str(run_dir),
                    project_dir=str(ws.playbooks_dir),
                    playbook=playbook,
                    inventory=str(inventory_file),
                    envvars=envvars,
                    limit=limit,
                    event_handler=collector,
                    status_handler=on_status,
                    cancel_callback=token.kill_now,
                    quiet=True,
                    timeout=timeout,
                    forks=forks,
                    ident="run",
                )
                run_status, run_rc = str(r.status), int(r.rc if r.rc is not None else 1)
            else:
                from .stream import run_streamed

                (run_dir / "execution-node").write_text(f"{node.name}\n")
                streamed = run_streamed(
                    ws, node=node, run_dir=run_dir, playbook=playbook, targets=targets, inventory=inventory,
                    extravars_text=(run_dir / "env" / "extravars").read_text(), envvars=envvars,
                    event_handler=collector, status_handler=on_status, cancel=token, timeout=timeout,
                    forks=forks, limit=limit,
                )  # fmt: skip
                run_status, run_rc = streamed.status, streamed.rc
    finally:
        with token.deferred():
            _close_control_masters(control_dir)
        if progress:
            progress(ProgressEvent(kind="done", task=playbook))
    # drop ansible's scratch space; keep env/, inventory/, artifacts/ as the record
    shutil.rmtree(run_dir / ".ansible", ignore_errors=True)
    return RunResult(
        status=run_status,
        rc=run_rc,
        run_dir=run_dir,
        hosts=collector.result_hosts,
        failed_task=collector.failed_task,
        failed_host=collector.failed_host,
        failed_message=collector.failed_message,
        failed_result=collector.failed_result,
        unreachable_message=collector.unreachable_message,
        stats=collector.stats,
        host_errors=collector.host_errors,
        changed_tasks=collector.changed_tasks,
        timings=list(collector.timings.values()),
        seconds=time.monotonic() - started,
        last_task=collector.last_task,
        cancelled=interruptible and (pending or len(token.signals) > signals_before),
    )


def stdout_log(result: RunResult) -> Path:
    """The full Ansible output of a run (kept under the run folder)."""
    return result.run_dir / "artifacts" / "run" / "stdout"


__all__ = [
    "HostStats",
    "ProgressCallback",
    "ProgressEvent",
    "RunResult",
    "TaskTiming",
    "ansible_env",
    "collections_path",
    "inventory_for",
    "run_dir_name",
    "run_playbook",
    "stdout_log",
]
