#!/usr/bin/python
"""Ship in one call: folders, every blob present, the bundle's files installed and unpacked."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_shipfiles import ShipError, ship

DOCUMENTATION = r"""
module: spbe_ship
short_description: Create spbe-share's folders, check the blobs, install the shipped files (one call)
description:
  - spbe-share sends, before the playbook runs, over one SSH stream, every blob the images need
    and the small files this installs (the bundle's files tar, the archive tool), each verified
    against its SHA-256 on the target before it is stored under it in I(blobs_dir) (see
    spbe_share/remote/ship.py). This replaces one task per step (module_utils/spbe_shipfiles.py).
  - Creates each of I(folders) with its mode (an existing folder gets its mode).
  - Fails unless every digest of I(blobs) is in I(blobs_dir) (as <hex> or <hex>.zst); returns
    C(missing). Loading checks every digest again while it streams the blobs to docker load.
  - Installs each of I(files) from I(blobs_dir)/<sha256> at C(dest) with C(mode) when its content
    or mode differs, checking the SHA-256 again as it copies (a store copy that does not match is
    deleted, never installed); written beside C(dest), fsynced, renamed over it.
  - A file with C(unpack) (a .tar.zst) is unpacked into that folder when it was installed anew or
    the folder is empty, with tar and the zstd preflight requires (argument lists), into a new
    folder that then replaces the old one.
  - Returns C(folders), C(installed), C(unpacked) (what changed); check mode changes nothing.
options:
  blobs_dir: {type: path, required: true, description: the blob store, <root>/blobs/sha256}
  blobs: {type: list, elements: str, default: [], description: "hex SHA-256 digests"}
  folders:
    type: list
    elements: dict
    default: []
    description: "{path, mode} each (mode as an octal string, e.g. '0755')"
  files:
    type: list
    elements: dict
    default: []
    description: "{sha256, dest, mode, unpack (optional folder)} each; sha256 the digest the controller computed"
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "blobs_dir": {"type": "path", "required": True},
            "blobs": {"type": "list", "elements": "str", "default": []},
            "folders": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    try:
        result = ship(dict(module.params), check=module.check_mode)
    except ShipError as exc:
        module.fail_json(msg=str(exc), missing=exc.missing)
    except OSError as exc:
        module.fail_json(msg=f"ship: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
