"""The spbe-share lock protocol on a target (standard library only, Python 3.11).

One protocol for every holder: the playbooks (module ``spbe_lock``), the no-op check of install
(``spbe_noop_check``, over SSH), the controller's lease renewal (``python3 -c PROGRAM renew``)
and the scheduled backups (``spbe_backup_engine`` from ``<root>/lib``).

* The lock is a file (``<root>/locks/<app>.lock``, ``_provision.lock`` for provisioning) created
  with ``O_CREAT|O_EXCL`` holding its owner as JSON: who, pid, host, since, operation, a random
  ``token`` (only its holder releases it) and maybe ``lease_s``.
* The lease: the file's modification time, on the target's clock, is the last renewal. Its
  holder renews it (:func:`renew`: the controller every ``lease_s / 4`` seconds over SSH, a
  scheduled run with :class:`Renewer`). A lock older than its ``lease_s`` is stale: its holder
  is gone. A lock without ``lease_s`` never goes stale by itself.
* :func:`take` refuses a held lock (:class:`Held`, with the holder and its lease), unless
  ``force`` (breaking it, audited by the caller), ``takeover`` (a stale lock holding exactly
  that token: an upgrade finishing the one its journal names) or ``may_break(holder)`` says the
  holder is gone (a scheduled run of this host whose process died). Two takers never both win:
  the file is created exclusively, a takeover moves the old file aside first.
* :func:`release` removes the lock only when it holds the token (or with ``force``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable

try:  # as Ansible module_utils
    from ansible.module_utils.spbe_files import write_new
except ImportError:  # a script: python3 -c PROGRAM, or <root>/lib/
    from spbe_files import write_new  # type: ignore[no-redef]

UNKNOWN = {"who": "unknown", "since": "unknown"}


class Held(Exception):
    """The lock is held by someone else: ``holder`` (its owner as read) and ``facts`` (lease)."""

    def __init__(self, path: str, holder: dict, facts: dict) -> None:
        super().__init__(describe(holder, facts))
        self.path, self.holder, self.facts = path, holder, facts


def read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return dict(UNKNOWN)
    return data if isinstance(data, dict) else dict(UNKNOWN)


def lease_facts(path: str, holder: dict) -> dict:
    """Age of the lease (seconds since the last renewal, target clock) and whether it ran out."""
    try:
        age = max(0, int(time.time() - os.stat(path).st_mtime))
    except OSError:
        return {"age_s": None, "stale": False}
    lease = holder.get("lease_s")
    stale = isinstance(lease, int) and not isinstance(lease, bool) and lease > 0 and age > lease
    return {"age_s": age, "stale": stale}


def describe(holder: dict, facts: dict) -> str:
    text = "locked by {} (pid {} on {}, {}) since {}".format(
        holder.get("who"), holder.get("pid"), holder.get("host"), holder.get("operation"), holder.get("since"))
    lease = holder.get("lease_s")
    if facts.get("stale"):
        text += "; STALE: its lease of {} s ran out {} s ago (the holder is gone)".format(
            lease, facts["age_s"] - lease)
    elif isinstance(lease, int) and facts.get("age_s") is not None:
        text += "; lease renewed {} s ago, expires in {} s".format(facts["age_s"], max(0, lease - facts["age_s"]))
    return text


def write_owner(path: str, owner: dict) -> None:
    """Create the lock file holding ``owner``; :class:`FileExistsError` when it is held."""
    write_new(path, json.dumps(owner, sort_keys=True).encode("utf-8"), 0o644)


def take_over(path: str, token: str) -> dict | None:
    """Move the stale lock aside and check it is the one we meant (two resumers never both win)."""
    aside = f"{path}.takeover-{os.getpid()}-{int(time.time() * 1000)}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return None
    holder = read_holder(aside)
    facts = lease_facts(aside, holder)
    if holder.get("token") == token and facts["stale"]:
        os.unlink(aside)
        return dict(holder, **facts)
    try:  # someone else's lock: put it back (never over a newer one)
        os.link(aside, path)
    except FileExistsError:
        pass
    os.unlink(aside)
    return None


def _break_if_same(path: str, holder: dict) -> bool:
    """Remove the lock if it still holds ``holder``'s token (read again just before)."""
    again = read_holder(path)
    if again.get("token") is None or again.get("token") != holder.get("token"):
        return False
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def take(path: str, owner: dict, *, force: bool = False, takeover: str | None = None,
         may_break: Callable[[dict], bool] | None = None) -> dict:
    """Take the lock ``path`` for ``owner``; :class:`Held` when someone else holds it.

    Returns ``{"broken": holder or None, "taken_over": holder or None}``: the lock this take
    replaced (``force``, or ``may_break(holder)`` true), or the stale one it took over."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    broken = taken_over = None
    if os.path.exists(path):
        holder = read_holder(path)
        facts = lease_facts(path, holder)
        if force:
            broken = holder
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        elif takeover and holder.get("token") == takeover and facts["stale"]:
            taken_over = take_over(path, takeover)
        elif may_break is not None and may_break(holder) and _break_if_same(path, holder):
            broken = holder
    try:
        write_owner(path, owner)
    except FileExistsError:
        holder = read_holder(path)
        raise Held(path, holder, lease_facts(path, holder)) from None
    return {"broken": broken, "taken_over": taken_over}


def release(path: str, token: str | None, *, force: bool = False) -> tuple[bool, dict | None]:
    """Remove the lock if it holds ``token`` (or ``force``): (released, the holder left alone)."""
    if not os.path.exists(path):
        return False, None
    holder = read_holder(path)
    if (token is not None and holder.get("token") == token) or force:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False, None
        return True, None
    return False, holder


def renew(path: str, token: str) -> str:
    """Renew the lease of ``token``'s lock: ``ok`` | ``gone`` (no lock) | ``other`` (another
    operation's). The file is opened, its token checked, and that same open file touched, so
    this never renews someone else's lock nor brings back a released one."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return "gone"
    try:
        data = json.loads(os.read(fd, 1 << 16) or b"{}")
        if not isinstance(data, dict) or data.get("token") != token:
            return "other"
        os.utime(fd)
        return "ok"
    finally:
        os.close(fd)


class Renewer:
    """Renews a lock's lease from a thread while the holder works (``with Renewer(...):``);
    for holders on the target itself (a scheduled backup). No lease: nothing to renew."""

    def __init__(self, path: str, token: str, lease_s: int | None) -> None:
        self.path, self.token, self.lease_s = path, token, lease_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Renewer:
        if self.lease_s:
            self._thread = threading.Thread(target=self._run, name="spbe-lease", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        every = max(1.0, (self.lease_s or 4) / 4)
        while not self._stop.wait(every):
            if renew(self.path, self.token) != "ok":
                return


def main(argv: list[str]) -> int:
    """``renew PATH TOKEN``: prints ``ok``, ``gone`` or ``other`` (the controller's lease keeper)."""
    if len(argv) != 3 or argv[0] != "renew":
        sys.stderr.write("usage: renew PATH TOKEN\n")
        return 2
    print(renew(argv[1], argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
