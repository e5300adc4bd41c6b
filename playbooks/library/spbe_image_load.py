#!/usr/bin/python
"""Load app images into the target's Docker engine from content-addressed blobs."""

from __future__ import annotations

import json
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
    dockerarchive.py, which reads C(<hex>) or zstd-compressed C(<hex>.zst) blobs and checks
    the SHA-256 of every blob's uncompressed content while streaming; a blob that fails is
    deleted, so it is never kept under its name) and piped into C(docker load); no temporary
    tar is written. Leading layers the engine already holds (those of another local image) are left
    out of the archive; if the engine refuses that, the full archive is sent.
options:
  blobs_dir: {type: path, required: true}
  archive_tool: {type: path, required: true}
  images:
    type: list
    elements: dict
    required: true
    description: "[{ref, config, layers, sizes: {digest: uncompressed bytes}}]"
  docker: {type: str, default: docker}
"""


def image_id(module: AnsibleModule, docker: str, ref: str) -> str | None:
    rc, out, _ = module.run_command([docker, "image", "inspect", "--format", "{{.Id}}", ref])
    return out.strip() if rc == 0 else None


def local_chains(module: AnsibleModule, docker: str) -> set[tuple[str, ...]]:
    """Every layer-chain prefix of the images in the engine."""
    rc, out, _ = module.run_command([docker, "image", "ls", "--quiet", "--no-trunc"])
    ids = sorted(set(out.split())) if rc == 0 else []
    chains: set[tuple[str, ...]] = set()
    if not ids:
        return chains
    rc, out, _ = module.run_command([docker, "image", "inspect", "--format", "{{json .RootFS.Layers}}", *ids])
    if rc != 0:
        return chains
    for line in out.splitlines():
        try:
            layers = tuple(json.loads(line) or ())
        except ValueError:
            continue
        for i in range(1, len(layers) + 1):
            chains.add(layers[:i])
    return chains


def present_prefix(layers: list[str], chains: set[tuple[str, ...]]) -> int:
    n = 0
    for i in range(1, len(layers) + 1):
        if tuple(layers[:i]) in chains:
            n = i
    return n


def archive_argv(p: dict, img: dict, present: int) -> list[str]:
    argv = [sys.executable, p["archive_tool"], "--blobs", p["blobs_dir"], "--config", img["config"],
            "--tag", img["ref"], "--present", str(present), "--delete-corrupt"]
    for layer in img.get("layers") or []:
        argv += ["--layer", layer]
    for digest, size in sorted((img.get("sizes") or {}).items()):
        argv += ["--size", f"{digest}={int(size)}"]
    return argv + ["-o", "-"]


def load(module: AnsibleModule, docker: str, argv: list[str]) -> tuple[str, str]:
    """Run archive tool | docker load; returns ("", "") or (tool error, load error)."""
    producer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603 - argv list
    loader = subprocess.run(  # noqa: S603 - argv list
        [docker, "load", "--quiet"], stdin=producer.stdout, capture_output=True, check=False
    )
    assert producer.stdout is not None
    producer.stdout.close()
    perr = producer.stderr.read().decode(errors="replace").strip() if producer.stderr else ""
    prc = producer.wait()
    lerr = loader.stderr.decode(errors="replace").strip() if loader.returncode != 0 else ""
    return (perr or f"exit {prc}") if prc != 0 else "", lerr


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
    chains: set[tuple[str, ...]] | None = None
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
        if chains is None:
            chains = local_chains(module, docker)
        present = present_prefix(list(img.get("layers") or []), chains)
        tool_err, load_err = load(module, docker, archive_argv(p, img, present))
        if load_err and present:
            # an engine that wants every layer in the archive: send them all
            present = 0
            tool_err, load_err = load(module, docker, archive_argv(p, img, 0))
        if tool_err:
            module.fail_json(msg=f"rebuilding {ref} from blobs failed: {tool_err}")
        if load_err:
            module.fail_json(msg=f"docker load of {ref} failed: {load_err}")
        got = image_id(module, docker, ref)
        if got != config:
            module.fail_json(msg=f"after docker load, {ref} is {got}, expected {config}")
        layers = tuple(img.get("layers") or ())
        for i in range(1, len(layers) + 1):
            chains.add(layers[:i])
        results.append({"ref": ref, "action": "loaded", "layers_sent": len(layers) - present})
        changed = True
    module.exit_json(changed=changed, images=results)


if __name__ == "__main__":
    main()
