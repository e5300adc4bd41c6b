#!/usr/bin/python
"""Give back the disk of an app's old releases on its target (standard library only).
The work: module_utils/spbe_prune.py."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_prune import PruneError, prune

DOCUMENTATION = r"""
module: spbe_prune
short_description: Remove the deploy specs, bundle files, images and blobs of an app's versions not kept
description:
  - For every version of the app not in I(keep) (read from the names of its files) it removes
    C(deploys/<stamp>-<version>.json), C(bundles/<version>/) and C(bundles/<version>.tar.zst);
    the images those deploy specs name unless a deploy spec that stays (of any app) names them or
    a container was made from them (C(docker image rm), never forced); then the blobs named by
    nothing that stays, older than I(grace_s).
  - Release records (C(releases/)) stay. Runs under the app's lock (the play takes it).
  - In check mode it says what would go and removes nothing.
  - Returns C(files), C(images), C(images_kept), C(blobs), and the bytes of each.
options:
  root: {type: path, required: true}
  app_dir: {type: path, required: true}
  keep: {type: list, elements: str, required: true, description: the versions to keep}
  grace_s: {type: int, default: 86400, description: blobs younger than this stay (a ship under way)}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "app_dir": {"type": "path", "required": True},
            "keep": {"type": "list", "elements": "str", "required": True},
            "grace_s": {"type": "int", "default": 86400},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        done = prune({"root": p["root"], "app_dir": p["app_dir"], "keep": p["keep"], "grace_s": p["grace_s"],
                      "check": module.check_mode})
    except (PruneError, OSError, ValueError) as e:
        module.fail_json(msg=f"prune: {e}", exception=traceback.format_exc())
    module.exit_json(changed=bool(done["files"] or done["images"] or done["blobs"]) and not module.check_mode,
                     prune=done)


if __name__ == "__main__":
    main()
