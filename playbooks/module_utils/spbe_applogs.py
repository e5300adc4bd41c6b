"""Runs ON the target (standard library only, Python 3.11): an app's container logs for
``spbe-share logs``, every secret value redacted here, before a byte leaves the target.

Started by :mod:`spbe_share.remote.applogs` as ``python3 -c PROGRAM ROOT APP`` (this file with
the redaction rule it imports, ``spbe_redact``) over the pinned SSH connection (or locally for
the ``local`` target). The request comes on stdin as one JSON object::

    {"component": "web" | null, "since": "1h" | "2026-12-01" | null, "tail": 200,
     "grep": "text" | null, "follow": false}

The containers are the ones the app's release record names (``<root>/apps/<app>/current.json``).
Each line goes to stdout as ``COMPONENT<TAB>LINE``: ``docker logs`` (stdout and stderr) of each
container, redacted (``[secret NAME]``), cut at 2000 characters, kept when it contains ``grep``
(case-insensitive, matched after redaction: a secret value never matches). Without ``follow``
the containers come one after the other, each its last ``tail`` lines; with it, all at once,
as they write, until the controller goes away.

Exit 2: a bad request; 3: no such app or component here (message on stderr).
"""

import json
import os
import re
import subprocess
import sys
import threading

try:  # the redaction rule (module_utils/spbe_redact.py), sent with this script
    from ansible.module_utils import spbe_redact
except ImportError:
    import spbe_redact

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
ROOT = re.compile(r"^/(?:[A-Za-z0-9._-]+/?)*$")
CONTAINER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,200}$")
# docker's --since: a duration (1h, 30m, 1h30m) or a date/time (2026-12-01, 2026-12-01T08:00:00Z)
SINCE = re.compile(r"^(?:(?:\d{1,6}[hms])+|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?)?)$")
MAX_TAIL = 10000
MAX_LINE = 2000
MAX_GREP = 200
# bytes read of one line: enough for MAX_LINE characters, plus room for a secret (<= 256
# characters, 768 URL-encoded) across the cut, which then lies past what is kept
READ = MAX_LINE * 4 + 1024
LIMIT = 1 << 16
_out = threading.Lock()


def fail(message, code=2):
    sys.stderr.write("spbe-share logs: " + message + "\n")
    sys.exit(code)


def request():
    raw = sys.stdin.buffer.read(LIMIT + 1)
    if len(raw) > LIMIT:
        fail("request too large")
    try:
        req = json.loads(raw.decode("utf-8"))
    except ValueError:
        fail("the request is not JSON")
    if not isinstance(req, dict):
        fail("the request is not a JSON object")
    component, since, grep = req.get("component"), req.get("since"), req.get("grep")
    tail, follow = req.get("tail", 200), req.get("follow", False)
    if component is not None and not (isinstance(component, str) and SLUG.match(component)):
        fail("component: not a component name")
    if since is not None and not (isinstance(since, str) and SINCE.match(since)):
        fail("since: a duration (1h, 30m) or a date (2026-12-01)")
    if not isinstance(tail, int) or isinstance(tail, bool) or not 1 <= tail <= MAX_TAIL:
        fail("tail: 1.." + str(MAX_TAIL))
    if grep is not None and not (isinstance(grep, str) and 0 < len(grep) <= MAX_GREP):
        fail("grep: 1.." + str(MAX_GREP) + " characters")
    if not isinstance(follow, bool):
        fail("follow: true or false")
    return component, since, tail, grep, follow


def containers(root, app):
    """(component, container) of the app's release record; exit 3 when there is none."""
    path = os.path.join(root, "apps", app, "current.json")
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read(1 << 20).decode("utf-8"))
    except FileNotFoundError:
        fail(app + " is not installed here (no release record)", 3)
    except (OSError, ValueError):
        fail(app + ": its release record cannot be read", 3)
    names = record.get("containers") if isinstance(record, dict) else None
    target = record.get("target") if isinstance(record, dict) else None
    if not isinstance(names, list) or not isinstance(target, str):
        fail(app + ": its release record names no containers", 3)
    prefix = "spbe-" + target + "-" + app + "-"
    out = []
    for name in names:
        if isinstance(name, str) and CONTAINER.match(name):
            out.append((name[len(prefix):] if name.startswith(prefix) else name, name))
    return out


def argv(container, since, tail, follow):
    cmd = ["docker", "logs", "--tail", str(tail)]
    if since:
        cmd += ["--since", since]
    if follow:
        cmd.append("--follow")
    return cmd + [container]


def die_with_parent():
    """In the child: SIGTERM when this script goes (the controller left, ssh was cut), so a
    ``docker logs --follow`` of a quiet container is never left behind (Linux prctl)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def emit(component, line):
    with _out:
        sys.stdout.write(component + "\t" + line + "\n")
        sys.stdout.flush()


def pump(component, container, since, tail, grep, follow, secrets):
    """Copy one container's log lines to stdout, redacted and filtered."""
    needle = grep.lower() if grep else None
    proc = subprocess.Popen(argv(container, since, tail, follow), stdout=subprocess.PIPE,  # noqa: S603
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        while True:
            raw = proc.stdout.readline(READ)
            if not raw:
                break
            if not raw.endswith(b"\n"):  # a longer line: skip the rest of it
                while (rest := proc.stdout.readline(1 << 16)) and not rest.endswith(b"\n"):
                    pass
            text = spbe_redact.redact_secrets(raw.decode("utf-8", "replace").rstrip("\r\n"), secrets)
            if needle is not None and needle not in text.lower():
                continue
            emit(component, text[:MAX_LINE])
    except (BrokenPipeError, OSError):
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def main():
    if len(sys.argv) != 3 or not ROOT.match(sys.argv[1]) or not SLUG.match(sys.argv[2]):
        fail("usage: ROOT APP")
    root, app = sys.argv[1], sys.argv[2]
    component, since, tail, grep, follow = request()
    found = containers(root, app)
    if component is not None:
        found = [(c, n) for c, n in found if c == component]
        if not found:
            fail(app + " has no component " + component + " here", 3)
    secrets = spbe_redact.secret_values(os.path.join(root, "apps", app, "secrets"))
    if not follow:
        for comp, name in found:
            pump(comp, name, since, tail, grep, False, secrets)
        return
    threads = [threading.Thread(target=pump, args=(comp, name, since, tail, grep, True, secrets), daemon=True)
               for comp, name in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
