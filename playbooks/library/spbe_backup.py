#!/usr/bin/python
"""Backups of an spbe-share app on a target: create, verify, restore, list, prune, pin (stdlib only)."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_backup
short_description: Engine-consistent backups of an spbe-share app, verified, restorable
description:
  - The engine is C(module_utils/spbe_backup_*.py) (standard library only, C(docker) CLI);
    the same files, installed in C(<root>/lib/), run the scheduled backups.
  - I(action=create) writes C(<root>/apps/<app>/backups/<id>/) (pg_dump custom format,
    SQLite online backup, volume archives, manifest.json last) through a C(.partial)
    folder renamed only when complete. Returns C(backup) (the manifest).
  - I(action=verify) reads every file back (size, SHA-256) and checks it with its engine's
    tool (pg_restore, PRAGMA integrity_check, tar). Fails with the cause when a check fails;
    C(verification) is returned either way and kept in C(verification.json).
  - I(action=restore) refuses a backup of another app or of another version than
    I(expect_version), verifies it, stops the app, restores, and (I(restart)) starts again
    what was running. Returns C(restore).
  - I(action=list) returns C(backups) (newest first) and C(incomplete) (C(.partial) folders).
  - I(action=prune) keeps the I(keep) newest, the newest verified one, and every id pinned or
    in I(protect); returns C(deleted) and C(kept). Run it under the app's lock.
  - I(action=offsite) copies the verified backup I(id) onto the Pemda's backup host over
    C(ssh) with this host's backup key (C(module_utils/spbe_backup_host.py)), checked there;
    returns C(offsite) (the backup host's checks), null when the target has no backup host.
  - I(action=install_tool) writes I(files) (C({name: source})) into C(<root>/lib/) in one call
    (the tool scheduled runs use, C(tasks/backup_tool.yml)); returns C(written) (the names changed).
  - I(action=pin)/I(action=unpin) keep a backup from pruning for I(holder) (e.g. an upgrade).
  - Never returns data or secrets: only names, sizes, sums and messages.
options:
  action: {type: str, required: true, choices: [create, verify, restore, list, prune, pin, unpin, offsite, install_tool]}
  spec: {type: dict, required: true, description: "the backup spec (spbe_share.plans.backup)"}
  id: {type: str, description: backup id (verify, restore, pin; optional for create)}
  why: {type: str, default: manual, choices: [manual, scheduled, pre-upgrade, pre-restore, pre-rollback, pre-purge]}
  who: {type: str, default: unknown}
  note: {type: str}
  release: {type: dict, description: "{version, bundle_digest} serving now; default: <app dir>/current.json"}
  expect_version: {type: str, description: the version that will run on the restored data (restore)}
  restart: {type: bool, default: true}
  keep: {type: int, default: 14}
  protect: {type: list, elements: str, default: []}
  holder: {type: str, description: pin holder (pin, unpin)}
  files: {type: dict, description: "{spbe_*.py name: source text} (install_tool)"}
  docker: {type: str, default: docker}
  timeout: {type: int, description: seconds allowed to each dump/restore program}
  stop_timeout: {type: int, default: 10, description: seconds docker stop waits before killing (restore)}
"""

try:
    from ansible.module_utils import spbe_backup_host as offsite
    from ansible.module_utils import spbe_backup_store as store
    from ansible.module_utils.spbe_backup_engine import Docker, create, verify
    from ansible.module_utils.spbe_backup_restore import restore
except ImportError as exc:  # pragma: no cover - shipped together
    raise SystemExit(f"spbe_backup: module_utils missing: {exc}") from None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True,
                       "choices": ["create", "verify", "restore", "list", "prune", "pin", "unpin", "offsite",
                                   "install_tool"]},
            "spec": {"type": "dict", "required": True},
            "id": {"type": "str"},
            "why": {"type": "str", "default": "manual", "choices": list(store.WHY)},
            "who": {"type": "str", "default": "unknown"},
            "note": {"type": "str"},
            "release": {"type": "dict"},
            "expect_version": {"type": "str"},
            "restart": {"type": "bool", "default": True},
            "keep": {"type": "int", "default": store.DEFAULT_KEEP},
            "protect": {"type": "list", "elements": "str", "default": []},
            "holder": {"type": "str"},
            "files": {"type": "dict"},
            "docker": {"type": "str", "default": "docker"},
            "timeout": {"type": "int"},
            "stop_timeout": {"type": "int", "default": 10},
        },
        required_if=[("action", "verify", ["id"]), ("action", "restore", ["id", "expect_version"]),
                     ("action", "pin", ["id", "holder"]), ("action", "unpin", ["holder"]),
                     ("action", "install_tool", ["files"])],
        supports_check_mode=False,
    )
    p = module.params
    spec = p["spec"]
    docker = Docker(p["docker"], timeout=p["timeout"], stop_timeout=p["stop_timeout"])
    try:
        store.check_spec(spec)
        action = p["action"]
        if action == "create":
            manifest = create(spec, why=p["why"], who=p["who"], release=p["release"], backup_id=p["id"],
                              note=p["note"], docker=docker, timeout=p["timeout"])
            module.exit_json(changed=True, backup=manifest,
                             dir=f"{store.backups_dir(spec)}/{manifest['id']}")
        if action == "verify":
            result = verify(spec, store.check_id(p["id"]), docker=docker)
            if not result["ok"]:
                module.fail_json(msg=f"backup {p['id']} failed verification: {result['cause']}",
                                 verification=result)
            module.exit_json(changed=False, verification=result)
        if action == "restore":
            result = restore(spec, store.check_id(p["id"]), expect_version=p["expect_version"],
                             restart=p["restart"], docker=docker)
            module.exit_json(changed=True, restore=result)
        if action == "list":
            module.exit_json(changed=False, **store.list_backups(spec))
        if action == "prune":
            result = store.prune(spec, keep=p["keep"], protect=p["protect"])
            module.exit_json(changed=bool(result["deleted"] or result["removed_incomplete"]), **result)
        if action == "offsite":
            result = offsite.send(spec["root"], store.backups_dir(spec), store.check_id(p["id"]))
            module.exit_json(changed=result is not None, offsite=result)
        if action == "install_tool":
            written = store.install_tool(spec["root"], p["files"])
            module.exit_json(changed=bool(written), written=written)
        if action == "pin":
            module.exit_json(changed=store.pin(spec, store.check_id(p["id"]), p["holder"]))
        module.exit_json(changed=store.unpin(spec, p["holder"]))
    except store.BackupError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
