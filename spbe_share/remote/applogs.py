"""An app's container logs from a target, redacted there: ``playbooks/module_utils/spbe_applogs.py``
run over the pinned-host-key SSH connection (the ``local`` target runs it without ssh), its
answer read as a stream of bounded lines (:class:`spbe_share.outside.LineStream`).

Every secret value is replaced by ``[secret NAME]`` on the target, by the same rule as the
health-failure logs (``module_utils/spbe_redact.py``), before a byte leaves it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EnvironmentProblem, NotFound, RemoteFailed, Unreachable
from ..outside import LineStream, terminal_text
from .scripts import program

if TYPE_CHECKING:
    from ..targets.inventory import Target
    from ..workspace import Workspace

SCRIPT = "spbe_applogs"  # playbooks/module_utils/spbe_applogs.py
MAX_LINE = 8 << 10  # bytes of one line read here (the target cuts lines at 2000 characters)
MAX_TOTAL = 16 << 20  # bytes of an answer without --follow
TIMEOUT_S = 300  # without --follow


@dataclass(frozen=True)
class LogRequest:
    component: str | None = None
    since: str | None = None
    tail: int = 200
    grep: str | None = None
    follow: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"component": self.component, "since": self.since, "tail": self.tail, "grep": self.grep,
                "follow": self.follow}


def script_argv(ws: Workspace, target: Target, app: str) -> list[str]:
    """argv running ``module_utils/spbe_applogs.py`` for ``app`` on ``target``."""
    source = program(SCRIPT)
    if target.connection == "local":
        return [target.python or sys.executable, "-c", source, target.root, app]
    from .ssh import ssh_argv

    return ssh_argv(ws, target, [target.python or "python3", "-c", source, target.root, app])


def read_logs(ws: Workspace, target: Target, app: str, request: LogRequest,
              on_line: Callable[[str, str], None]) -> int:  # fmt: skip
    """Call ``on_line(component, line)`` for each log line, as it comes; the number of lines.
    Lines are text from the target: the caller prints them through ``terminal_text``."""
    argv = script_argv(ws, target, app)
    count = 0
    try:
        stream = LineStream(argv, line_limit=MAX_LINE, input=json.dumps(request.as_dict()).encode(),
                            total_limit=None if request.follow else MAX_TOTAL,
                            timeout=None if request.follow else TIMEOUT_S)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    with stream:
        for raw in stream:
            component, _, line = raw.decode("utf-8", "replace").partition("\t")
            on_line(component, line)
            count += 1
    if stream.timed_out.is_set():
        raise Unreachable(f"target {target.name!r}: the logs did not come in {TIMEOUT_S}s")
    if stream.too_big:
        raise RemoteFailed(f"{target.name}: the logs passed {MAX_TOTAL} bytes and were cut; narrow them"
                           " (--component, --since, --lines, --grep)")
    rc, err = stream.returncode, stream.stderr_text
    if target.connection == "ssh" and rc == 255:
        from .ssh import classify_ssh_failure

        raise classify_ssh_failure(target, rc, err)
    if rc not in (0, None):
        last = [ln for ln in err.strip().splitlines() if ln.strip()]
        why = terminal_text(last[-1], one_line=True)[:300] if last else f"exit {rc}"
        if rc == 3:
            raise NotFound(f"{target.name}: {why.removeprefix('spbe-share logs: ')}")
        raise RemoteFailed(f"{target.name}: reading the logs failed: {why}")
    return count


__all__ = ["MAX_LINE", "MAX_TOTAL", "LogRequest", "read_logs", "script_argv"]
