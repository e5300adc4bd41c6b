#!/usr/bin/python3
"""Load app images into the target's Docker engine from content-addressed blobs."""

from __future__ import annotations

import subprocess
import sys

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_image_load
short_description: docker load images rebuilt from blobs, only those the engine lacks
description:
  - For each image, if the engine already has an image whose id is the config digest,
    it only makes sure the tag points at it (changed only if the tag moved).
  - Otherwise the archive is rebuilt by I(archive_tool) (spbe-share's stdlib-only
    dockerarchive.py, which checks every blob's SHA-256 while streaming) and piped
    into C(docker load); no temporary tar is written.
options:
  blobs_dir: {type: path, required: true}
  archive_tool: {type: path, required: true}
  images: {type: list, elements: dict, required: true, description: "[{ref, config, layers}]"}
  docker: {type: str, default: docker}
"""


def image_id(module: AnsibleModule, docker: str, ref: str) -> str | None:
    rc, out, _ = module.run_command([docker, "image", "inspect", "--format", "{{.Id}}", ref])
    return out.strip() if rc == 0 else None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "blobs_dir": {"type": "path", "required": True},
            "archive_tool": {"type": "path", "required": True},
            "images": {"type": "list", "elements": "dict", "required": True},
            "docker": {"type": "str", "default": "docker"},
        },
        supports_check_mode=False,
    )
    p = module.params
    docker = p["docker"]
    results = []
    changed = False
    for img in p["images"]:
        ref, config = img["ref"], img["config"]
        if image_id(module, docker, ref) == config:
            results.append({"ref": ref, "action": "present"})
            continue
        if image_id(module, docker, config) == config:
            rc, _, err = module.run_command([docker, "image", "tag", config, ref])
            if rc != 0:
                module.fail_json(msg=f"docker tag {ref} failed: {err.strip()}")
            results.append({"ref": ref, "action": "tagged"})
            changed = True
            continue
        argv = [sys.executable, p["archive_tool"], "--blobs", p["blobs_dir"], "--config", config, "--tag", ref]
        for layer in img.get("layers") or []:
            argv += ["--layer", layer]
        argv += ["-o", "-"]
        producer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603 - argv list
        loader = subprocess.run(  # noqa: S603 - argv list
            [docker, "load", "--quiet"], stdin=producer.stdout, capture_output=True, check=False
        )
        assert producer.stdout is not None
        producer.stdout.close()
        perr = producer.stderr.read().decode(errors="replace") if producer.stderr else ""
        prc = producer.wait()
        if prc != 0:
            module.fail_json(msg=f"rebuilding {ref} from blobs failed: {perr.strip()}")
        if loader.returncode != 0:
            module.fail_json(msg=f"docker load of {ref} failed: {loader.stderr.decode(errors='replace').strip()}")
        got = image_id(module, docker, ref)
        if got != config:
            module.fail_json(msg=f"after docker load, {ref} is {got}, expected {config}")
        results.append({"ref": ref, "action": "loaded"})
        changed = True
    module.exit_json(changed=changed, images=results)


if __name__ == "__main__":
    main()
