#!/usr/bin/python
"""Read what spbe-share keeps on a target about one app (standard library only; changes nothing)."""

from __future__ import annotations

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils import spbe_backup_store as store
except ImportError:  # pragma: no cover - shipped together
    store = None

DOCUMENTATION = r"""
module: spbe_app_state
short_description: Read the state spbe-share keeps on a target for one app (read-only)
description:
  - Returns C(current) (current.json), C(releases) (the newest I(history) release records, oldest
    first, each as {name, record}), C(journal) (journal.json), C(lock) ({holder, age_s, stale}: the
    lease is the lock file's age on this host's clock), C(deploys) (the deploy specs named in
    I(deploys), of current.json, of the journal and of the newest 10 successful attempts),
    C(blobs) (digests in
    <root>/blobs/sha256) and C(backups) (the backup engine's list).
  - Files that are not JSON objects come back as C({"unreadable": "<why>"}): the controller
    validates everything it reads (the target is not trusted) and reports the problem.
  - I(refuse) maps versions to reasons: when current.json names one of them, the module fails
    with C(spbe_refused=true) and that reason (install refuses to cross a data migration).
options:
  root: {type: path, required: true}
  app: {type: str, required: true}
  deploys: {type: list, elements: str, default: []}
  history: {type: int, default: 200}
  refuse: {type: dict, default: {}}
  blobs: {type: bool, default: true}
"""

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
    try:
        age = max(0, int(time.time() - os.stat(path).st_mtime))
    except OSError:
        return None
    lease = holder.get("lease_s")
    stale = isinstance(lease, int) and not isinstance(lease, bool) and lease > 0 and age > lease
    return {"holder": holder, "age_s": age, "stale": stale}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "app": {"type": "str", "required": True},
            "deploys": {"type": "list", "elements": "str", "default": []},
            "history": {"type": "int", "default": 200},
            "refuse": {"type": "dict", "default": {}},
            "blobs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    root, app = p["root"].rstrip("/"), p["app"]
    if not SLUG.match(app):
        module.fail_json(msg=f"app {app!r} is not a valid name")
    adir = f"{root}/apps/{app}"
    current = read_json(f"{adir}/current.json")
    if isinstance(current, dict) and current.get("version") in p["refuse"]:
        module.fail_json(msg=str(p["refuse"][current["version"]]), spbe_refused=True)
    try:
        names = sorted(n[:-5] for n in os.listdir(f"{adir}/releases") if n.endswith(".json") and NAME.match(n[:-5]))
    except FileNotFoundError:
        names = []
    releases = [{"name": n, "record": read_json(f"{adir}/releases/{n}.json")} for n in names[-max(1, p["history"]):]]
    journal = read_json(f"{adir}/journal.json")
    wanted = list(p["deploys"])
    # the deploy specs of the newest successful attempts (what rollback can bring back)
    ok = [r["record"] for r in releases if isinstance(r["record"], dict) and r["record"].get("result") == "ok"]
    wanted += [r["deploy"] for r in ok[-10:] if isinstance(r.get("deploy"), str)]
    for doc in (current, journal):
        if isinstance(doc, dict):
            for key in ("deploy",):
                if isinstance(doc.get(key), str):
                    wanted.append(doc[key])
            for side in ("from", "to"):
                if isinstance(doc.get(side), dict) and isinstance(doc[side].get("deploy"), str):
                    wanted.append(doc[side]["deploy"])
    deploys = {}
    for name in wanted:
        if isinstance(name, str) and NAME.match(name) and name not in deploys:
            spec = read_json(f"{adir}/deploys/{name}.json")
            if spec is not None:
                deploys[name] = spec
    blobs = []
    if p["blobs"]:
        try:
            blobs = sorted({m.group(0) for m in map(HEX.match, os.listdir(f"{root}/blobs/sha256")) if m})
        except FileNotFoundError:
            blobs = []
    backups = {"backups": [], "incomplete": []}
    if store is not None and os.path.isdir(f"{adir}/backups"):
        try:
            backups = store.list_backups({"root": root, "app": app})
        except (OSError, store.BackupError) as exc:
            backups = {"backups": [], "incomplete": [], "error": str(exc)[:300]}
    module.exit_json(
        changed=False, current=current, releases=releases, journal=journal,
        lock=lock_state(f"{root}/locks/{app}.lock"), deploys=deploys, blobs=blobs,
        backups=backups.get("backups", []), now=int(time.time()),
    )


if __name__ == "__main__":
    main()
