"""Action ``spbe_fetch_plan``: runs on the controller, never on the target.

Before a backup is copied from a target (``tasks/fetch_backup.yml``), ``step: plan`` checks the
target's manifest HERE with spbe-share's strict model and returns the files to copy, each with
its source on the target and its destination on this machine, made only from validated names
(:func:`spbe_share.records.fetch.plan_fetch`): a compromised target, whose own checks
cannot be trusted, never chooses a path on the operator's machine. After the copy, ``step:
check`` checks the folder (no symlink, nothing else, every SHA-256;
:func:`spbe_share.records.fetch.check_fetched`).

Arguments: ``step`` (plan | check), ``manifest`` (the manifest as parsed data) or
``manifest_b64`` (manifest.json as ``slurp`` returns it), ``manifest_sha256`` (from the
verification), ``dest`` (the fetch folder here), ``remote_dir`` (the target's backups
folder), ``backup_id`` (optional: the backup asked for). Needs spbe-share importable by
ansible-playbook (it is: ansible comes with spbe-share's own environment).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        try:
            from spbe_share.errors import SpbeError
            from spbe_share.records.fetch import check_fetched, plan_fetch
        except ImportError as exc:
            return {**result, "failed": True,
                    "msg": f"spbe-share is not importable by ansible-playbook ({exc}): the backup's manifest cannot be"
                           " checked on this machine, so nothing is fetched"}
        host = (task_vars or {}).get("inventory_hostname", "target")
        where = f"{host}: backup manifest"
        data = args.get("manifest")
        if "manifest_b64" in args:
            try:
                data = base64.b64decode(str(args["manifest_b64"]), validate=True)
            except (binascii.Error, ValueError):
                return {**result, "failed": True, "msg": f"{where}: not base64 as slurp returns it; nothing was fetched"}
        step = str(args.get("step", "plan"))
        common = {"base": Path(str(args["dest"])), "manifest_sha256": str(args.get("manifest_sha256") or ""),
                  "backup_id": str(args["backup_id"]) if args.get("backup_id") else None, "where": where}
        try:
            if step == "plan":
                plan = plan_fetch(data, remote_dir=str(args["remote_dir"]), **common)
                return {**result, "changed": False, **plan.as_vars()}
            if step == "check":
                manifest = check_fetched(data, **common)
                return {**result, "changed": False, "id": manifest.id}
        except SpbeError as exc:
            return {**result, "failed": True, "msg": exc.message}
        return {**result, "failed": True, "msg": f"spbe_fetch_plan: unknown step {step!r}"}
