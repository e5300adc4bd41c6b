"""The operator's audit trail: ``ws.audit_log``, one JSON object per line, append-only.

Each line: ``{"ts": "2026-11-22T10:00:00Z", "who": ..., "what": ..., "where": ..., "result": ...,
"details": {...}}``. ``who`` defaults to ``$SPBE_SHARE_OPERATOR``, else ``user@hostname``.

Lines are written with one ``write`` on an ``O_APPEND`` descriptor and ``fsync``\\ ed, so
concurrent operators never interleave within a line and a recorded line survives a crash.
Text in a line (a lock holder's name read from a target, say) may hold any character: U+2028,
U+2029 and U+0085 are written escaped, and reading splits on ``\\n`` only.

SECRETS NEVER GO IN: callers pass only what may be read by anyone with the workspace
(names, versions, digests, fingerprints, outcomes), never passwords, keys or secret values.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
from typing import Any

from .errors import InvalidInput
from .outside import OutsideJSONError, loads_json
from .workspace import Workspace

ENV_OPERATOR = "SPBE_SHARE_OPERATOR"
# Characters other readers take for a line end (``str.splitlines``, some editors and terminals)
# that JSON with ensure_ascii=False would keep raw: written escaped, so a line stays one line.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def operator() -> str:
    """Who is acting: ``$SPBE_SHARE_OPERATOR``, else ``user@hostname``."""
    env = os.environ.get(ENV_OPERATOR, "").strip()
    if env:
        return env
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def entry(
    *, who: str | None, what: str, where: str, result: str, details: dict[str, Any], now: dt.datetime | None = None
) -> dict[str, Any]:
    ts = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "ts": ts.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "who": who or operator(),
        "what": what,
        "where": where,
        "result": result,
        "details": details,
    }


def record(
    ws: Workspace,
    *,
    who: str | None = None,
    what: str,
    where: str,
    result: str,
    **details: Any,
) -> dict[str, Any]:
    """Append one line to the audit log and return it. ``details`` must hold no secrets."""
    line = entry(who=who, what=what, where=where, result=result, details=details)
    text = json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))
    data = (text.translate(_LINE_BREAKS) + "\n").encode()
    ws.ensure()
    fd = os.open(ws.audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, data)
        if written != len(data):  # pragma: no cover - full disk
            raise OSError(f"short write to {ws.audit_log}")
        os.fsync(fd)
    finally:
        os.close(fd)
    return line


def read(ws: Workspace) -> list[dict[str, Any]]:
    """Every audit entry, oldest first. A damaged line raises :class:`InvalidInput` (file:line)."""
    try:
        text = ws.audit_log.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for n, line in enumerate(text.split("\n"), 1):  # "\n" only: text in a line may hold U+2028, U+0085
        if not line.strip():
            continue
        try:
            item = loads_json(line)
        except OutsideJSONError as exc:
            raise InvalidInput(f"{ws.audit_log}:{n}: not a JSON line ({exc})") from None
        if not isinstance(item, dict):
            raise InvalidInput(f"{ws.audit_log}:{n}: not a JSON object")
        out.append(item)
    return out
