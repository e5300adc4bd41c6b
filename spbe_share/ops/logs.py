"""``spbe-share logs``: an installed app's container logs, read over SSH, every secret value
redacted on the target (:mod:`spbe_share.remote.applogs`). Read-only; one audit line (what was
asked, how many lines came; never a line's text)."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import InvalidInput
from ..remote.applogs import LogRequest, read_logs
from .checks import checked_target, require_slug
from .context import OpContext
from .core import operation

# docker's --since: a duration (1h, 30m, 1h30m) or a date/time (2026-12-01, 2026-12-01T08:00:00Z)
SINCE = re.compile(r"^(?:(?:\d{1,6}[hms])+|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?)?)$")
DAYS = re.compile(r"^(\d{1,4})d$")
MAX_TAIL = 10000
MAX_GREP = 200


def log_request(*, component: str | None, since: str | None, tail: int, grep: str | None,
                follow: bool) -> LogRequest:  # fmt: skip
    """The request, checked (one-line errors naming the option); ``Nd`` becomes ``N*24h``."""
    if component is not None:
        require_slug(component, what="--component")
    if since is not None:
        days = DAYS.match(since)
        since = f"{int(days.group(1)) * 24}h" if days else since
        if not SINCE.match(since):
            raise InvalidInput(f"--since {since!r}: a duration (30m, 1h, 2d) or a date (2026-12-01,"
                               " 2026-12-01T08:00:00Z)")
    if not 1 <= tail <= MAX_TAIL:
        raise InvalidInput(f"--lines {tail}: from 1 to {MAX_TAIL}")
    if grep is not None and not 0 < len(grep) <= MAX_GREP:
        raise InvalidInput(f"--grep: from 1 to {MAX_GREP} characters")
    return LogRequest(component=component, since=since, tail=tail, grep=grep, follow=follow)


def logs(ctx: OpContext, *, app: str, target_name: str, request: LogRequest,
         on_line: Callable[[str, str], None]) -> int:  # fmt: skip
    """Call ``on_line(component, line)`` for each (redacted) log line; the number of lines."""
    with operation(ctx, name="logs", app=app, target=target_name) as op:
        require_slug(app, what="app")
        op.note(component=request.component, since=request.since, lines=request.tail, grep=bool(request.grep),
                follow=request.follow)
        target = checked_target(ctx, target_name)
        op.started = True
        count = 0

        def counted(component: str, line: str) -> None:
            nonlocal count
            count += 1
            on_line(component, line)

        try:
            read_logs(ctx.ws, target, app, request, counted)
        except KeyboardInterrupt:
            if not request.follow:
                raise
            op.note(stopped="interrupt")  # how --follow ends
        op.note(shown=count)
        return count


__all__ = ["log_request", "logs"]
