#!/usr/bin/python
"""Put an app's proxy certificate and key in place, or back (standard library only)."""

from __future__ import annotations

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.spbe_files import write_atomic

DOCUMENTATION = r"""
module: spbe_proxy_tls
short_description: The TLS certificate and key of an app's reverse proxy, put in place or back
description:
  - The key never passes through this module's arguments or results. spbe-share stages it on
    the target first (C(<app dir>/secrets/_tls/staged.key), 0600, over SSH stdin).
  - C(state=present) keeps the current certificate and key (C(proxy/fullchain.pem),
    C(secrets/TLS_PRIVATE_KEY)) as the previous ones, then writes I(cert), moves the staged key
    to C(secrets/TLS_PRIVATE_KEY) (0600: a secret of the deployment, sealed in backups like the
    others), gives the proxy its copy C(secrets/_proxy/TLS_PRIVATE_KEY) (0400) and writes
    I(info) as C(proxy/tls.json). Without a staged key, the current key must match (the cert
    alone is rewritten).
  - C(state=previous) puts the previous certificate and key back (after a failed switch).
options:
  app_dir: {type: path, required: true}
  cert: {type: str, description: the certificate chain (PEM; public)}
  info: {type: dict, description: domain, not_after, sha256, issuer (kept as proxy/tls.json)}
  state: {type: str, choices: [present, previous], default: present}
"""

KEY = "TLS_PRIVATE_KEY"


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except FileNotFoundError:
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "app_dir": {"type": "path", "required": True},
            "cert": {"type": "str"},
            "info": {"type": "dict"},
            "state": {"type": "str", "choices": ["present", "previous"], "default": "present"},
        },
        supports_check_mode=False,
    )
    p = module.params
    adir = p["app_dir"]
    proxy, secrets, tls = f"{adir}/proxy", f"{adir}/secrets", f"{adir}/secrets/_tls"
    for folder, mode in ((proxy, 0o755), (secrets, 0o700), (tls, 0o700), (f"{secrets}/_proxy", 0o700)):
        os.makedirs(folder, mode=mode, exist_ok=True)
        os.chmod(folder, mode)
    cert_path, key_path, copy_path = f"{proxy}/fullchain.pem", f"{secrets}/{KEY}", f"{secrets}/_proxy/{KEY}"
    info_path = f"{proxy}/tls.json"
    if p["state"] == "previous":
        old_cert, old_key, old_info = (read(f"{tls}/previous.pem"), read(f"{tls}/previous.key"),
                                       read(f"{tls}/previous.json"))
        if old_cert is None or old_key is None:
            module.exit_json(changed=False, msg="no previous certificate to put back")
        write_atomic(cert_path, old_cert, 0o644)
        write_atomic(key_path, old_key, 0o600)
        write_atomic(copy_path, old_key, 0o400)
        if old_info is not None:
            write_atomic(info_path, old_info, 0o644)
        module.exit_json(changed=True)
    cert = (p["cert"] or "").encode("ascii")
    if not cert.startswith(b"-----BEGIN CERTIFICATE-----"):
        module.fail_json(msg="cert: not a PEM certificate")
    staged = read(f"{tls}/staged.key")
    current_cert, current_key = read(cert_path), read(key_path)
    new_key = staged if staged is not None else current_key
    if new_key is None:
        module.fail_json(msg=f"no TLS key staged in {tls} and none in place")
    info = (json.dumps(p["info"] or {}, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if current_cert == cert and current_key == new_key and read(copy_path) == new_key and read(info_path) == info:
        if staged is not None:
            os.unlink(f"{tls}/staged.key")
        module.exit_json(changed=False)
    if current_cert is not None and current_key is not None:
        write_atomic(f"{tls}/previous.pem", current_cert, 0o600)
        write_atomic(f"{tls}/previous.key", current_key, 0o600)
        old_info = read(info_path)
        if old_info is not None:
            write_atomic(f"{tls}/previous.json", old_info, 0o600)
    write_atomic(key_path, new_key, 0o600)
    write_atomic(copy_path, new_key, 0o400)
    write_atomic(cert_path, cert, 0o644)
    write_atomic(info_path, info, 0o644)
    if staged is not None:
        os.unlink(f"{tls}/staged.key")
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()
