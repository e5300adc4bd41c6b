#!/usr/bin/python
"""Stop before an app starts on data whose secrets are gone (standard library only)."""

from __future__ import annotations

import json
import os
import re
import tarfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: spbe_data_check
short_description: Refuse to start an app on existing data without the secrets it was made with
description:
  - Looks for the app's data (the Docker volumes that hold what the entry's C(backup) names)
    and for its secret files in I(secrets_dir). When data exists but a secret is missing,
    new secrets would be generated and the app would start on data it cannot open (for
    e-office, C(password authentication failed) until the health checks give up). The module
    then fails before any container starts, with C(spbe_data_without_secrets=true), what it
    found and how to proceed.
  - With I(reset=true) it instead moves that data out of the way: it removes the app's
    containers, archives each data volume raw (helper container from I(volumes[].image),
    C(tar) of the whole volume, no network), reads each archive back against its SHA-256,
    writes C(SHA256SUMS) and C(README.txt) into I(reset_dir), then removes the volumes.
  - Never reads or returns secret values; only names.
options:
  app: {type: str, required: true}
  volumes: {type: list, elements: dict, default: [], description: "[{name, component, mount, image?}] data volumes"}
  secrets_dir: {type: path, required: true}
  secrets: {type: list, elements: str, default: [], description: secret names the release uses}
  may_be_new: {type: list, elements: str, default: [], description: "secrets the serving release did not have (upgrade)"}
  containers: {type: list, elements: str, default: []}
  reset: {type: bool, default: false}
  reset_dir: {type: path}
  docker: {type: str, default: docker}
"""

try:
    from ansible.module_utils import spbe_backup_docker as dk
except ImportError as exc:  # pragma: no cover - shipped together
    raise SystemExit(f"spbe_data_check: module_utils missing: {exc}") from None

VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def volume_state(docker: str, name: str) -> dict | None:
    """None when the volume does not exist; else {name, bytes, files, known}."""
    rc, out, _ = dk.run([docker, "volume", "inspect", name], timeout=60)
    if rc != 0:
        return None
    info = (json.loads(out.decode("utf-8")) or [{}])[0]
    mount = info.get("Mountpoint") or ""
    size, files = 0, 0
    if not os.path.isdir(mount):
        return {"name": name, "bytes": None, "files": None, "known": False}
    try:
        for dirpath, dirnames, filenames in os.walk(mount):
            files += len(filenames) + len(dirnames)
            for f in filenames:
                try:
                    size += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
    except OSError:
        return {"name": name, "bytes": None, "files": None, "known": False}
    return {"name": name, "bytes": size, "files": files, "known": True}


def human(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def found_text(found: list[dict]) -> str:
    return ", ".join(f"volume {v['name']} ({human(v['bytes'])}"
                     + (f", {v['files']} files)" if v["files"] is not None else ")") for v in found)


def archive_volume(docker: str, volume: dict, folder: str, n: int) -> dict:
    """Raw tar of the whole volume by a helper container (nothing else runs on it)."""
    dest = f"{folder}/vol-{volume['name']}.tar"
    argv = [docker, "run", "--rm", "--network", "none", "--log-driver", "none", "--label", dk.HELPER_LABEL,
            "--name", f"spbe-reset-{n}-{os.getpid()}", "-u", "0:0", "-v", f"{volume['name']}:/spbe-data:ro",
            "--entrypoint", "tar", volume["image"], "--numeric-owner", "-C", "/spbe-data", "-cf", "-", "."]
    size, sha, _ = dk.stream_to_file(argv, dest, what=f"archive of volume {volume['name']}")
    members = 0
    with tarfile.open(dest, mode="r:") as tar:  # read back: every member, every byte
        for member in tar:
            members += 1
            if member.isreg():
                f = tar.extractfile(member)
                while f is not None and f.read(dk.CHUNK):
                    pass
    again = dk.sha256_file(dest)
    if again != (size, sha):
        raise dk.BackupError(f"{dest} changed after it was written")
    return {"volume": volume["name"], "file": os.path.basename(dest), "size": size, "sha256": sha,
            "members": members}


def reset(module: AnsibleModule, found: list[dict], volumes: dict[str, dict]) -> dict:
    p = module.params
    docker, folder = p["docker"], p["reset_dir"]
    if not folder:
        module.fail_json(msg="reset needs reset_dir")
    for c in p["containers"]:
        dk.run([docker, "rm", "-f", c], timeout=180)  # they would start on the new, empty data
    os.makedirs(folder, mode=0o700, exist_ok=False)
    archives = []
    for n, v in enumerate(found):
        spec = volumes[v["name"]]
        if not spec.get("image"):
            module.fail_json(msg=f"no image to archive volume {v['name']} with")
        archives.append(archive_volume(docker, spec, folder, n))
    sums = "".join(f"{a['sha256']}  {a['file']}\n" for a in archives)
    with open(f"{folder}/SHA256SUMS", "w", encoding="ascii") as f:
        f.write(sums)
    with open(f"{folder}/README.txt", "w", encoding="utf-8") as f:
        f.write(
            f"Data of {p['app']} set aside by spbe-share install --reset-data: its secrets were lost,\n"
            "so the app could not open it any more. Each vol-<volume>.tar holds a whole Docker volume\n"
            "(numeric owners). Check: sha256sum -c SHA256SUMS. Put one back by hand into an empty volume:\n"
            "  docker run --rm -i -v <volume>:/d debian tar --numeric-owner -C /d -xpf - < vol-<volume>.tar\n"
        )
    for v in found:
        dk.must([docker, "volume", "rm", v["name"]], f"docker volume rm {v['name']}", timeout=180)
    return {"dir": folder, "archives": archives}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "app": {"type": "str", "required": True},
            "volumes": {"type": "list", "elements": "dict", "default": []},
            "secrets_dir": {"type": "path", "required": True},
            "secrets": {"type": "list", "elements": "str", "default": []},
            "may_be_new": {"type": "list", "elements": "str", "default": []},
            "containers": {"type": "list", "elements": "str", "default": []},
            "reset": {"type": "bool", "default": False},
            "reset_dir": {"type": "path"},
            "docker": {"type": "str", "default": "docker"},
        },
        supports_check_mode=True,
    )
    p = module.params
    volumes = {}
    for v in p["volumes"]:
        if not isinstance(v.get("name"), str) or not VOLUME.match(v["name"]):
            module.fail_json(msg=f"not a volume name: {v.get('name')!r}")
        volumes[v["name"]] = v
    for name in p["secrets"]:
        if not NAME.match(name):
            module.fail_json(msg=f"not a secret name: {name!r}")
    found = []
    for name in volumes:
        state = volume_state(p["docker"], name)
        if state is not None and (state["files"] is None or state["files"] > 0):
            found.append(state)
    missing = [n for n in p["secrets"] if n not in p["may_be_new"]
               and not os.path.isfile(os.path.join(p["secrets_dir"], n))]
    result = {"found": found, "missing": missing, "spbe_data_without_secrets": bool(found and missing)}
    if not (found and missing):
        module.exit_json(changed=False, **result)
    if p["reset"] and not module.check_mode:
        try:
            done = reset(module, found, volumes)
        except (dk.BackupError, OSError) as exc:
            module.fail_json(msg=f"--reset-data: {exc}; nothing was removed that is not archived", **result)
        module.exit_json(changed=True, reset=done, **{**result, "spbe_data_without_secrets": False})
    module.fail_json(
        msg=(f"{p['app']}: found existing data ({found_text(found)}) but not the secrets it was made with"
             f" ({', '.join(missing)} missing in {p['secrets_dir']}); new secrets would not open it"
             " (e.g. 'password authentication failed'). Nothing was started."),
        **result,
    )


if __name__ == "__main__":
    main()
