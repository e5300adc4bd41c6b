"""One character from a target must not make the audit log unreadable (issue 17, finding 12).

A lock holder named ``x\\u2028y`` (read from a target's lock file) went into the log raw, and
``audit.read`` split lines with ``str.splitlines``, which also splits at U+2028: the log could
not be read again. Now such characters are written escaped and reading splits on ``\\n`` only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spbe_share import audit
from spbe_share.errors import InvalidInput, Locked
from spbe_share.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
ODD = "x\u2028y\u2029z\x85w"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace(home=tmp_path / "ws", root=REPO)
    w.ensure()
    return w


def test_a_holder_with_line_separators_is_kept_on_one_line(ws: Workspace) -> None:
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.core import operation

    ctx = OpContext.create(ws, operator="op")
    with pytest.raises(Locked), operation(ctx, name="upgrade", app="e-office", target="kota-sorong"):
        raise Locked(f"kota-sorong: e-office is locked by {ODD}")
    audit.record(ws, who=ODD, what="install", where="kota-sorong", result="ok", holder={"who": ODD})
    text = ws.audit_log.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2  # every reader sees two lines, whatever it splits on
    entries = audit.read(ws)
    assert entries[0]["details"]["reason"] == f"kota-sorong: e-office is locked by {ODD}"
    assert entries[1]["who"] == ODD and entries[1]["details"]["holder"] == {"who": ODD}


def test_a_log_with_raw_separators_is_still_read(ws: Workspace) -> None:
    """Lines written before the fix hold U+2028 raw: still one entry each."""
    ws.audit_log.write_text('{"who": "x\u2028y", "what": "install"}\n{"who": "b", "what": "backup"}\n',
                            encoding="utf-8")  # fmt: skip
    assert [e["who"] for e in audit.read(ws)] == ["x\u2028y", "b"]


def test_a_damaged_line_is_named(ws: Workspace) -> None:
    audit.record(ws, who="op", what="install", where="t", result="ok")
    with ws.audit_log.open("a") as f:
        f.write("[" * 200_000 + "]" * 200_000 + "\n")
    with pytest.raises(InvalidInput, match=r"audit.log:2: not a JSON line \(nested deeper"):
        audit.read(ws)
