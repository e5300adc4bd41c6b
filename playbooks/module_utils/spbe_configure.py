"""Configure an app on its target in one call, and write its release record (standard library
only, Python 3.11; issue 21: one round trip per phase).

:func:`configure` does what tasks/configure.yml did in eight tasks (two loops of copies, two of
folders, the secrets, the network and volumes through community.docker), with the same
modes, owners and semantics:

* ``<app_dir>/config/<component>/`` (0755) and each rendered config file (0644), replaced
  (new inode: a bind-mounted file is replaced, not edited) only when its content differs;
* each secret ``<app_dir>/secrets/<name>`` (0600) generated once, if absent
  (:func:`new_secret`), its value never returned;
* ``<app_dir>/secrets/<component>/`` (owner, group, 0500) and each component's read-only
  copy of its secrets (owner, group, 0400), replaced when it differs;
* the app's network and volumes through the docker CLI (argument lists): created with the
  labels when absent, never recreated. (community.docker.docker_network recreated a network
  whose labels differed, which every upgrade's version label did: the containers on it,
  the serving release and the TLS proxy included, were disconnected while it ran. The labels
  are informational: nothing reads them.)

It returns the components whose config files changed and those whose secret copies changed
(they restart: tasks/start.yml).

:func:`record_files` writes the release record's files (tasks/record.yml), as JSON exactly as
Ansible's ``to_nice_json`` filter and a newline wrote them (:func:`nice_json`).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import string
import subprocess
from collections.abc import Callable, Iterable, Mapping
from typing import Any

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_files as files
except ImportError:  # a script: python3 -c PROGRAM, or <root>/lib/
    import spbe_files as files

ALPHABET = string.ascii_letters + string.digits
DOCKER_TIMEOUT_S = 120

Docker = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


class ConfigureError(Exception):
    """What stops the configuration (a path, a docker error: never a secret's value)."""


def new_secret(path: str, length: int, *, check: bool = False) -> bool:
    """Generate the secret ``path`` (``length`` letters and digits, mode 0600) if it does not
    exist; an existing one is kept as it is. True when it was (or, with ``check``, would be)
    generated. The value is written with O_EXCL and never returned."""
    if os.path.exists(path):
        return False
    if check:
        return True
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    value = "".join(secrets.choice(ALPHABET) for _ in range(length))
    files.write_new(path, value.encode("ascii"), 0o600)
    return True


def uid_of(owner: int | str) -> int:
    """A user id given as a number or a name (numbers first, like Ansible's file module)."""
    try:
        return int(owner)
    except ValueError:
        return pwd.getpwnam(str(owner)).pw_uid


def gid_of(group: int | str) -> int:
    try:
        return int(group)
    except ValueError:
        return grp.getgrnam(str(group)).gr_gid


def _part(name: str, what: str) -> str:
    """One path segment from the plan (a component, a file, a secret name)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ConfigureError(f"not a {what}: {name!r}")
    return name


def _docker_name(name: str, what: str) -> str:
    if not name or name.startswith("-"):
        raise ConfigureError(f"not a {what} name: {name!r}")
    return name


def docker_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    # an argument list (names and labels from the module arguments, never a shell string)
    return subprocess.run(["docker", *args], capture_output=True, text=True,  # noqa: S603
                          timeout=DOCKER_TIMEOUT_S, check=False)


def _run(docker: Docker, args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    done = docker(args)
    if done.returncode != 0:
        raise ConfigureError(f"docker {what}: {(done.stderr or done.stdout).strip()[-500:]}")
    return done


def _label_args(labels: Mapping[str, str]) -> list[str]:
    return [f"--label={k}={v}" for k, v in sorted(labels.items())]


def ensure_network(name: str, labels: Mapping[str, str], *, docker: Docker = docker_cli,
                   check: bool = False) -> str | None:
    """The network ``name``: ``created`` with ``labels`` when absent, else None (kept as it is)."""
    _docker_name(name, "network")
    if docker(["network", "inspect", "--", name]).returncode == 0:
        return None
    if not check:
        _run(docker, ["network", "create", *_label_args(labels), "--", name], f"network create {name}")
    return "created"


def ensure_volume(name: str, labels: Mapping[str, str], *, docker: Docker = docker_cli,
                  check: bool = False) -> bool:
    """The volume ``name``, created with ``labels`` when absent; True when created."""
    _docker_name(name, "volume")
    if docker(["volume", "inspect", "--", name]).returncode == 0:
        return False
    if not check:
        _run(docker, ["volume", "create", *_label_args(labels), "--", name], f"volume create {name}")
    return True


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def configure(app_dir: str, *, configs: list[dict[str, Any]], secrets_: list[dict[str, Any]],
              secret_mounts: list[dict[str, Any]], network: str | None, volumes: list[dict[str, Any]],
              labels: Mapping[str, str], docker: Docker = docker_cli, check: bool = False) -> dict[str, Any]:
    """All of tasks/configure.yml's work (see the module's docstring). Returns ``config_changed``,
    ``secrets_changed`` (components, in the order given), ``secrets_generated`` (names),
    ``network`` (created or None), ``volumes_created`` and ``changed``."""
    changed = False
    config_dir = os.path.join(app_dir, "config")
    for component in _unique(c["component"] for c in configs):
        changed |= files.ensure_dir(os.path.join(config_dir, _part(component, "component")), 0o755, check=check)
    config_changed = []
    for c in configs:
        path = os.path.join(config_dir, _part(c["component"], "component"), _part(c["file"], "config file name"))
        if files.replace_if_different(path, c["content"].encode("utf-8"), 0o644, check=check):
            config_changed.append(c["component"])

    secret_dir = os.path.join(app_dir, "secrets")
    generated = [s["name"] for s in secrets_
                 if new_secret(os.path.join(secret_dir, _part(s["name"], "secret name")), int(s["length"]), check=check)]

    owners = {}
    for m in secret_mounts:
        owners.setdefault(_part(m["component"], "component"), (uid_of(m["owner"]), gid_of(m["group"])))
    for component, (uid, gid) in owners.items():
        changed |= files.ensure_dir(os.path.join(secret_dir, component), 0o500, uid=uid, gid=gid, check=check)
    secrets_changed = []
    for m in secret_mounts:
        name = _part(m["name"], "secret name")
        src = os.path.join(secret_dir, name)
        try:
            with open(src, "rb") as f:
                value = f.read()
        except FileNotFoundError:
            if check:  # not generated yet: its copy would be written
                secrets_changed.append(m["component"])
                continue
            raise ConfigureError(f"the secret {src} does not exist") from None
        dest = os.path.join(secret_dir, m["component"], name)
        if files.replace_if_different(dest, value, 0o400, uid=uid_of(m["owner"]), gid=gid_of(m["group"]), check=check):
            secrets_changed.append(m["component"])

    net = ensure_network(network, labels, docker=docker, check=check) if network is not None else None
    created = [v["name"] for v in volumes if ensure_volume(v["name"], labels, docker=docker, check=check)]
    config_changed, secrets_changed = _unique(config_changed), _unique(secrets_changed)
    changed = bool(changed or config_changed or generated or secrets_changed or net or created)
    return {"changed": changed, "config_changed": config_changed, "secrets_changed": secrets_changed,
            "secrets_generated": generated, "network": net, "volumes_created": created}


def nice_json(value: Any) -> bytes:
    """``value | to_nice_json`` and a newline, as tasks/record.yml's copies wrote it: Ansible's
    filter is ``json.dumps(indent=4, sort_keys=True, separators=(',', ': '))`` (ASCII only:
    ``ensure_ascii`` stays on)."""
    return (json.dumps(value, indent=4, sort_keys=True, separators=(",", ": ")) + "\n").encode("ascii")


def record_files(app_dir: str, *, record: Mapping[str, Any] | None, release_file: str | None,
                 part: Mapping[str, Any] | None, deploy_name: str | None,
                 deploy_spec: Mapping[str, Any] | None, check: bool = False) -> list[str]:
    """Write the release record's files, each only when it differs (mode 0644), and return the
    paths written (relative to ``app_dir``): ``deploys/<deploy_name>.json`` when a deploy spec
    is given; ``releases/<release_file>`` and ``current.json`` when a record is given (the
    app's first host); ``part.json`` when a part is given (another host of a data center)."""
    writes: list[tuple[str, Any]] = []
    if deploy_spec is not None:
        if not deploy_name:
            raise ConfigureError("a deploy spec needs its name")
        writes.append((f"deploys/{_part(deploy_name + '.json', 'deploy name')}", deploy_spec))
    if record is not None:
        if not release_file:
            raise ConfigureError("a release record needs its file name")
        writes.append((f"releases/{_part(release_file, 'release file name')}", record))
        writes.append(("current.json", record))
    if part is not None:
        writes.append(("part.json", part))
    written = []
    for rel, value in writes:
        path = os.path.join(app_dir, rel)
        if rel.startswith("deploys/"):
            files.ensure_dir(os.path.dirname(path), 0o755, check=check)
        if files.replace_if_different(path, nice_json(value), 0o644, check=check):
            written.append(rel)
    return written
