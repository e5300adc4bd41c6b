"""What spbe-share keeps on a target about one app, read (standard library only; changes nothing).

One reading, two ways:

* the Ansible module ``spbe_app_state`` (``install.yml``'s refusal to cross a data migration,
  ``app_state.yml``) calls :func:`read_state`;
* the controller runs this file as a script over ONE SSH connection
  (``spbe_share.remote.scripts.ask``: ``spbe_share.ops.checks.read_state``, before upgrade,
  rollback, history, unlock decide anything): a JSON request on stdin ``{"root", "app",
  "deploys", "history", "blobs"}``, the state as one JSON object on stdout. Over a slow link
  that is one round trip instead of an Ansible run (issue 21).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

try:
    from ansible.module_utils import spbe_lockfile as lockfile
except ImportError:  # a script: python3 -c PROGRAM (sent with it), or loaded by path (tests)
    import spbe_lockfile as lockfile  # type: ignore[no-redef]

try:
    from ansible.module_utils import spbe_backup_store as store
except ImportError:  # a script: python3 -c PROGRAM (sent with it), or loaded by path (tests)
    try:
        import spbe_backup_store as store  # type: ignore[no-redef]
    except ImportError:  # pragma: no cover - shipped together
        store = None  # type: ignore[assignment]


class Refused(Exception):
    """current.json names a version the caller refuses (``refuse``): the reason."""


LIMIT = 1 << 20
NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
HEX = re.compile(r"^[0-9a-f]{64}")


def read_json(path: str):
    try:
        with open(path, "rb") as f:
            raw = f.read(LIMIT + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"unreadable": str(exc)[:200]}
    if len(raw) > LIMIT:
        return {"unreadable": f"larger than {LIMIT} bytes"}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return {"unreadable": f"not JSON: {str(exc)[:200]}"}
    return data if isinstance(data, dict) else {"unreadable": "not a JSON object"}


def lock_state(path: str):
    if not os.path.exists(path):
        return None
    holder = read_json(path) or {}
    facts = lockfile.lease_facts(path, holder)  # the lock protocol's own lease rule
    if facts["age_s"] is None:
        return None
    return {"holder": holder, **facts}


def read_state(root: str, app: str, *, deploys: list, history: int = 200, refuse: dict | None = None,
               blobs: bool = True) -> dict:
    """current, releases (the newest ``history``), journal, lock, deploys, blobs, backups, now.
    Raises ValueError for an invalid app name, :class:`Refused` when current.json names a
    version in ``refuse``."""
    root = root.rstrip("/")
    if not SLUG.match(app):
        raise ValueError(f"app {app!r} is not a valid name")
    adir = f"{root}/apps/{app}"
    current = read_json(f"{adir}/current.json")
    refuse = refuse or {}
    if isinstance(current, dict) and current.get("version") in refuse:
        raise Refused(str(refuse[current["version"]]))
    try:
        names = sorted(n[:-5] for n in os.listdir(f"{adir}/releases") if n.endswith(".json") and NAME.match(n[:-5]))
    except FileNotFoundError:
        names = []
    releases = [{"name": n, "record": read_json(f"{adir}/releases/{n}.json")} for n in names[-max(1, history):]]
    journal = read_json(f"{adir}/journal.json")
    wanted = list(deploys)
    # the deploy specs of the newest successful attempts (what rollback can bring back)
    ok = [r["record"] for r in releases if isinstance(r["record"], dict) and r["record"].get("result") == "ok"]
    wanted += [r["deploy"] for r in ok[-10:] if isinstance(r.get("deploy"), str)]
    for doc in (current, journal):
        if isinstance(doc, dict):
            if isinstance(doc.get("deploy"), str):
                wanted.append(doc["deploy"])
            for side in ("from", "to"):
                if isinstance(doc.get(side), dict) and isinstance(doc[side].get("deploy"), str):
                    wanted.append(doc[side]["deploy"])
    specs = {}
    for name in wanted:
        if isinstance(name, str) and NAME.match(name) and name not in specs:
            spec = read_json(f"{adir}/deploys/{name}.json")
            if spec is not None:
                specs[name] = spec
    digests = []
    if blobs:
        try:
            digests = sorted({m.group(0) for m in map(HEX.match, os.listdir(f"{root}/blobs/sha256")) if m})
        except FileNotFoundError:
            digests = []
    backups = {"backups": [], "incomplete": []}
    if store is not None and os.path.isdir(f"{adir}/backups"):
        try:
            backups = store.list_backups({"root": root, "app": app})
        except (OSError, store.BackupError) as exc:
            backups = {"backups": [], "incomplete": [], "error": str(exc)[:300]}
    return {"current": current, "releases": releases, "journal": journal, "lock": lock_state(f"{root}/locks/{app}.lock"),
            "deploys": specs, "blobs": digests, "backups": backups.get("backups", []), "now": int(time.time())}


if __name__ == "__main__":
    r = json.loads(sys.stdin.read())
    sys.stdout.write(json.dumps(read_state(str(r["root"]), str(r["app"]), deploys=list(r.get("deploys") or []),
                                           history=int(r.get("history", 200)), blobs=bool(r.get("blobs", True))),
                                separators=(",", ":")) + "\n")
