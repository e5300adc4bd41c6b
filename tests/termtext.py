"""Hostile text for a terminal, and the real CLI run on a terminal (a pty) to show it to.

Text from targets (release records, locks) and donors (catalog entries) must reach the
operator's terminal without its control characters (issue 17 finding 10): ``HOSTILE`` holds an
OSC 52 clipboard write, a screen clear, a C1 CSI, a window-title change, a Unicode line
separator and rich markup. :func:`run_on_terminal` runs ``python -m spbe_share`` with a pty as
stdout and stderr (so tables are drawn by rich, as an operator sees them); :func:`assert_clean`
checks what came out.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

HOSTILE = {
    "osc52": "\x1b]52;c;ZWNobyBwd25lZAo=\x07",  # writes "echo pwned" to the clipboard
    "clear": "\x1b[2J\x1b[H",
    "c1_csi": "\x9b2J",
    "title": "\x1b]0;owned\x1b\\",
    "line_separator": "a\u2028b",
}
MARKUP = "[bold green]installed OK[/]"
ALL = "".join(HOSTILE.values())
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colours and bold


def run_on_terminal(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120,
                    answer: str | None = None) -> tuple[int, str]:  # fmt: skip
    """``spbe-share ARGS`` with a 250-column pty as stdout and stderr: (exit code, what it printed).
    With ``answer``, the pty is its stdin too, and ``answer`` is typed at its first ``[y/N]``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    full_env = {**os.environ, **env, "COLUMNS": "250", "TERM": "xterm-256color"}
    full_env.pop("NO_COLOR", None)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "spbe_share", *args], stdin=subprocess.DEVNULL if answer is None else slave,
        stdout=slave, stderr=slave, env=full_env, cwd=cwd, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not data:
                break
            chunks.append(data)
            if answer is not None and b"[y/N]" in b"".join(chunks):
                os.write(master, answer.encode() + b"\n")
                answer = None
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def assert_clean(out: str, *, markup_shown: bool = True) -> None:
    """No control sequence but rich's own colours, no C1, BEL, U+2028; the markup as written."""
    plain = _SGR.sub("", out)
    bad = sorted({repr(c) for c in plain if c in "\x1b\x07\x9b\u2028\u2029" or "\x80" <= c <= "\x9f"})
    assert not bad, f"control characters reached the terminal: {bad}\n{out!r}"
    if markup_shown:
        assert MARKUP in plain, f"the markup was not printed as written:\n{plain}"
