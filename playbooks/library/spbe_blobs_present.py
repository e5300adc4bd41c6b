#!/usr/bin/python
"""Check that the blobs an install needs are in the target's blob store."""

from __future__ import annotations

import os
import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_blobs_present
short_description: fail unless every blob is in the blob store (as <hex> or <hex>.zst)
description:
  - spbe-share ships blobs before this playbook runs, over one SSH stream, and the target
    verifies each against its SHA-256 before storing it under its name (see
    spbe_share/deploy/ship.py). This only checks that they are all there; it never changes
    anything. Loading checks every digest again while it streams the blobs to docker load.
options:
  blobs_dir: {type: path, required: true}
  blobs: {type: list, elements: str, required: true, description: "hex SHA-256 digests"}
"""

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "blobs_dir": {"type": "path", "required": True},
            "blobs": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    d = module.params["blobs_dir"]
    bad = [h for h in module.params["blobs"] if not HEX64.match(h)]
    if bad:
        module.fail_json(msg=f"not a sha256 digest: {bad[0]!r}")
    missing = [
        h for h in module.params["blobs"]
        if not any(os.path.isfile(os.path.join(d, n)) for n in (h, h + ".zst"))
    ]
    if missing:
        module.fail_json(
            msg=f"{len(missing)} blob(s) missing in {d} (first: sha256:{missing[0]}); spbe-share ships"
            " them before this playbook (spbe_share.remote.ship): run the install again",
            missing=missing,
        )
    module.exit_json(changed=False, count=len(module.params["blobs"]))


if __name__ == "__main__":
    main()
