"""The context of an operation: the workspace, who acts, when, how to talk to the operator, the
cancel token and the lock's lease. Every operation takes one :class:`OpContext` (no globals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..records import state
from ..remote.interrupts import CancelToken

if TYPE_CHECKING:
    from ..meter import Meter
    from ..remote.runner import ProgressCallback
    from ..workspace import Workspace


Say = Callable[[str], None]


ENV_LEASE = "SPBE_SHARE_LEASE_S"


def _quiet(_message: str) -> None:
    return None


@dataclass(frozen=True)
class OpContext:
    """Everything an operation needs besides its own arguments."""

    ws: Workspace
    operator: str
    now: dt.datetime
    today: dt.date
    say: Say
    progress: ProgressCallback | None
    cancel: CancelToken
    lease_s: int = state.DEFAULT_LEASE_S  # the lock's lease (see .lease); $SPBE_SHARE_LEASE_S
    meter: Meter | None = None  # bytes of ship, compression, image export (see spbe_share.meter)
    # targets whose offered host key this context already compared with the pinned one (the
    # same target as saved: name, address, port and pins), so that one operation asks once
    host_keys_checked: set[tuple[str, str, int, tuple[str, ...]]] = field(default_factory=set)

    @classmethod
    def create(
        cls,
        ws: Workspace,
        *,
        say: Say | None = None,
        progress: ProgressCallback | None = None,
        now: dt.datetime | None = None,
        today: dt.date | None = None,
        operator: str | None = None,
        cancel: CancelToken | None = None,
        lease_s: int | None = None,
        meter: Meter | None = None,
    ) -> OpContext:
        from ..audit import operator as current_operator

        when = now or dt.datetime.now(dt.UTC)
        return cls(
            ws=ws,
            operator=operator or current_operator(),
            now=when,
            today=today or when.date(),
            say=say or _quiet,
            progress=progress,
            cancel=cancel or CancelToken(),
            lease_s=lease_s or lease_from_env(),
            meter=meter,
        )


def lease_from_env() -> int:
    """``$SPBE_SHARE_LEASE_S`` (seconds, 10..3600) or the default; a bad value is an error."""
    import os

    text = os.environ.get(ENV_LEASE, "").strip()
    if not text:
        return state.DEFAULT_LEASE_S
    if not text.isdigit() or not 10 <= int(text) <= 3600:
        raise InvalidInput(f"${ENV_LEASE}={text!r}: the lock lease must be 10 to 3600 seconds")
    return int(text)


__all__ = ["ENV_LEASE", "OpContext", "Say", "lease_from_env"]
