#!/usr/bin/python
"""The app's access rule on a database host, in nftables (standard library only)."""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_nft import (
    NftDenied,
    NftError,
    absent,
    nft_path,
    owner,
    present,
    query,
)

DOCUMENTATION = r"""
module: spbe_nft
short_description: Only the web host may reach the database's published port (nftables)
description:
  - spbe-share's own table C(inet spbe_share), one chain C(db_access) (prerouting, before
    Docker's DNAT): for each rule, connections to I(address) on I(ports) from any address but
    I(allow) are dropped. The rules of an app are known by their comment
    (C(spbe-share TARGET APP DIGEST)); see module_utils/spbe_nft.py.
  - A host without C(nft) is not an error: C(nft) is null in the answer, nothing is written;
    nor is an C(nft) this user may not use (not root): C(denied) says why.
  - C(state=present) makes the app's rules exactly I(rules) (the same again changes nothing);
    C(state=absent) removes them (and the table with the last rule); C(state=query) changes
    nothing and says whether they are in place, and whether the app is on this host
    (C(<root>/apps/<app>)).
options:
  target: {type: str, required: true}
  app: {type: str, required: true}
  rules: {type: list, elements: dict, description: "[{component, address, ports, allow}]"}
  state: {type: str, choices: [present, absent, query], default: present}
  root: {type: path, description: spbe-share's root on this host (state=query)}
"""

def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "target": {"type": "str", "required": True},
            "app": {"type": "str", "required": True},
            "rules": {"type": "list", "elements": "dict", "default": []},
            "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
            "root": {"type": "path"},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        owner(p["target"], p["app"])  # the names checked before anything else
    except NftError as exc:
        module.fail_json(msg=f"spbe_nft: {exc}")
    nft = nft_path()
    installed = bool(p["root"]) and os.path.isdir(os.path.join(p["root"], "apps", p["app"]))
    if nft is None:
        module.exit_json(changed=False, nft=None, installed=installed, present=False, missing=[], extra=[])
    try:
        if p["state"] == "query":
            module.exit_json(changed=False, nft=nft, installed=installed, **query(nft, p["target"], p["app"], p["rules"]))
        if p["state"] == "absent":
            module.exit_json(changed=absent(nft, p["target"], p["app"]), nft=nft)
        module.exit_json(changed=present(nft, p["target"], p["app"], p["rules"]), nft=nft)
    except NftDenied as exc:  # not root: said, like a host without nft
        module.exit_json(changed=False, nft=nft, denied=str(exc), installed=installed, present=False, missing=[],
                         extra=[])
    except NftError as exc:
        module.fail_json(msg=f"nftables: {exc}", nft=nft)


if __name__ == "__main__":
    main()
