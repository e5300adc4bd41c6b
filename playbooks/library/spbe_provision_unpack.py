#!/usr/bin/python
"""Unpack a provision bundle's .deb files on the target, checking each one (standard library only)."""

from __future__ import annotations

import hashlib
import os
import tarfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_provision_unpack
short_description: Write the files of a provision bundle into a folder, each checked against its SHA-256
description:
  - I(files) is the manifest's file list (spbe-share verified the manifest's signature before
    shipping the bundle). A file already in I(dest) with the right size and SHA-256 is kept;
    the others are read from I(bundle), checked while streaming and renamed into place only
    when they match. Files of I(dest) that the manifest does not list are removed.
  - Changed only when a file was written or removed.
options:
  bundle: {type: path, required: true}
  dest: {type: path, required: true}
  files: {type: list, elements: dict, required: true, description: "[{path: debs/NAME, sha256, size}]"}
"""

CHUNK = 1 << 20


def copy_hashing(src, dst=None) -> tuple[str, int]:  # noqa: ANN001
    """Read ``src`` to the end (writing to ``dst`` if given); return (sha256 hex, size)."""
    h = hashlib.sha256()
    size = 0
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return h.hexdigest(), size


def file_digest(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        return copy_hashing(f)


def flat_name(member: str) -> str:
    prefix, _, name = member.partition("/")
    if prefix != "debs" or not name or "/" in name or name.startswith("."):
        raise ValueError(f"unexpected member {member!r}")
    return name


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bundle": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "files": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=False,
    )
    dest = module.params["dest"]
    try:
        expected = {flat_name(f["path"]): (str(f["sha256"]), int(f["size"])) for f in module.params["files"]}
    except (KeyError, ValueError) as exc:
        module.fail_json(msg=f"bad file list: {exc}")
    os.makedirs(dest, mode=0o755, exist_ok=True)
    missing = set()
    for name, want in expected.items():
        path = os.path.join(dest, name)
        if not (os.path.isfile(path) and not os.path.islink(path) and file_digest(path) == want):
            missing.add(name)
    written = []
    if missing:
        with tarfile.open(module.params["bundle"], mode="r|") as tar:
            for m in tar:
                if not m.name.startswith("debs/"):
                    continue
                name = flat_name(m.name)
                if name not in missing or not m.isreg():
                    continue
                src = tar.extractfile(m)
                tmp = os.path.join(dest, f".{name}.part")
                with open(tmp, "wb") as out:
                    digest, size = copy_hashing(src, out)
                if (digest, size) != expected[name]:
                    os.unlink(tmp)
                    module.fail_json(msg=f"{m.name}: sha256 {digest[:16]}... does not match the manifest")
                os.chmod(tmp, 0o644)
                os.replace(tmp, os.path.join(dest, name))
                written.append(name)
                missing.discard(name)
        if missing:
            module.fail_json(msg=f"the bundle lacks {sorted(missing)[0]} (and {len(missing) - 1} more)")
    removed = []
    for name in sorted(os.listdir(dest)):
        path = os.path.join(dest, name)
        if name not in expected and os.path.isfile(path):
            os.unlink(path)
            removed.append(name)
    module.exit_json(changed=bool(written or removed), written=sorted(written), removed=removed)


if __name__ == "__main__":
    main()
