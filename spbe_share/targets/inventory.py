"""Targets: the Pemda data centers an operator installs into, and their pinned host keys.
One file on purpose (~530 lines): the target model and the YAML inventory that stores it.

Storage
    ``ws.inventory_file`` is a plain Ansible YAML inventory; every target is a host of the
    group ``spbe_targets`` with these host vars::

        all:
          children:
            spbe_targets:
              vars:                       # rewritten on every save, so the file works by hand:
                ansible_ssh_common_args: -o StrictHostKeyChecking=yes -o UserKnownHostsFile=...
              hosts:
                kota-sorong:
                  ansible_host: 10.20.0.5
                  ansible_port: 22
                  ansible_user: spbe
                  ansible_ssh_private_key_file: /home/op/.ssh/id_ed25519
                  spbe_pemda: Kota Sorong
                  spbe_kode_wilayah: "96.71"         # quote it, or YAML reads a number
                  spbe_root: /var/lib/spbe-share
                  spbe_bind_address: 10.20.0.5
                  # optional: ansible_python_interpreter: /usr/bin/python3
                  # optional, merged into /etc/docker/daemon.json by `target provision`:
                  # spbe_docker_daemon_options: {storage-driver: vfs, iptables: false}
            papua:                        # a group (target add --group papua)
              hosts:
                kota-sorong:
            prov_96:                      # derived from the kode wilayah, rewritten on save
              hosts:
                kota-sorong:

    Groups are ordinary Ansible groups beside ``spbe_targets`` (members only, no vars): the ones
    a person chose (``target add --group``) and ``prov_NN``, the province of the kode wilayah,
    which every target is in (see :mod:`spbe_share.targets.selectors`).

    ``ansible-playbook -i inventory.yml`` uses it as is. Pinned host keys live in
    ``ws.known_hosts_file`` (OpenSSH format, ``[host]:port`` when the port is not 22).

Host keys
    Every SSH connection made by spbe-share uses :func:`ssh_base_args`:
    ``StrictHostKeyChecking=yes`` and the workspace's known_hosts only. Nothing disables that.
    A key is pinned once, by ``target add`` (keyscan, optionally checked against a
    fingerprint given out of band, or read from a public key file), and only after a real
    login with it succeeded.

The built-in target ``local``
    ``get_target(ws, "local")`` is this machine through Ansible's local connection; it needs
    no inventory. Its values come, first match wins, from the environment
    (``SPBE_SHARE_LOCAL_PEMDA``, ``SPBE_SHARE_LOCAL_KODE_WILAYAH``, ``SPBE_SHARE_LOCAL_ROOT``,
    ``SPBE_SHARE_LOCAL_BIND_ADDRESS``), then a ``local`` host in the inventory written by
    ``spbe-share target set-local``, then the defaults :data:`LOCAL_DEFAULTS`.
"""

# Over 500 lines on purpose: one idea, the inventory file: its model, YAML both ways, the built-in local target, its edits.

from __future__ import annotations

import getpass
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ..catalog.models import KODE_WILAYAH
from ..errors import (
    InvalidInput,
    NotFound,
    ValidationFailed,
)
from ..files import atomic_write_text
from ..workspace import Workspace
from ..yamlio import LoadedYaml, dump_yaml, load_yaml, pydantic_problems
from .hostkeys import (
    known_hosts_name,
    read_known_hosts,
    write_known_hosts,
)
from .selectors import (
    GROUP_NAME,
    PROVINCE_PREFIX,
    check_group_name,
    province_group,
)

GROUP = "spbe_targets"
LOCAL = "local"
DEFAULT_ROOT = "/var/lib/spbe-share"
TARGET_NAME = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
# hostname, IPv4 or IPv6; never starting with '-' (it would be read as an option)
HOST = r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*)$"
USER = r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$"

LOCAL_DEFAULTS: dict[str, str] = {
    "pemda": "Pemda Lokal (uji coba)",
    "kode_wilayah": "00",
    "root": DEFAULT_ROOT,
    "bind_address": "127.0.0.1",
}
LOCAL_ENV: dict[str, str] = {
    "pemda": "SPBE_SHARE_LOCAL_PEMDA",
    "kode_wilayah": "SPBE_SHARE_LOCAL_KODE_WILAYAH",
    "root": "SPBE_SHARE_LOCAL_ROOT",
    "bind_address": "SPBE_SHARE_LOCAL_BIND_ADDRESS",
}


def _kode_must_be_text(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f'kode wilayah must be quoted text, e.g. "{value}" (YAML read a number)')
    return value


KodeWilayah = Annotated[
    str,
    BeforeValidator(_kode_must_be_text),
    Field(pattern=KODE_WILAYAH, description='kode wilayah Kemendagri, e.g. "96.71"'),
]
TargetName = Annotated[str, Field(pattern=TARGET_NAME)]
Host = Annotated[str, Field(pattern=HOST, min_length=1)]
User = Annotated[str, Field(pattern=USER)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Target(BaseModel):
    """One data center. ``host_keys`` are the pinned known_hosts lines for ``host:port``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: TargetName
    connection: Literal["ssh", "local"] = "ssh"
    host: Host
    port: Port = 22
    user: User
    key: Path | None = None  # private key file (ssh targets)
    pemda: str = Field(min_length=1)
    kode_wilayah: KodeWilayah
    root: str = Field(default=DEFAULT_ROOT, min_length=1)
    bind_address: str = Field(min_length=1)
    python: str | None = None  # ansible_python_interpreter, when not discovered
    host_keys: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # chosen groups (the province group prov_NN is implied)
    docker_daemon_options: dict[str, Any] = Field(default_factory=dict)  # see `target provision`

    @property
    def host_key(self) -> str | None:
        """The first pinned public key line (``[host]:port type base64``), if any."""
        return self.host_keys[0] if self.host_keys else None

    @property
    def known_hosts_name(self) -> str:
        return known_hosts_name(self.host, self.port)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}"


# ---------------------------------------------------------------- inventory file format


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HostVars(_Strict):
    ansible_host: Host
    ansible_port: Port = 22
    ansible_user: User
    ansible_connection: Literal["ssh", "local"] = "ssh"
    ansible_ssh_private_key_file: str | None = None
    ansible_python_interpreter: str | None = None
    spbe_pemda: str = Field(min_length=1)
    spbe_kode_wilayah: KodeWilayah
    spbe_root: str = Field(default=DEFAULT_ROOT, min_length=1)
    spbe_bind_address: str | None = None
    spbe_docker_daemon_options: dict[str, Any] | None = None


class GroupVars(_Strict):
    ansible_ssh_common_args: str | None = None
    ansible_host_key_checking: bool | None = None


class _Group(_Strict):
    vars: GroupVars = Field(default_factory=GroupVars)
    hosts: dict[TargetName, HostVars] = Field(default_factory=dict)


class _Members(_Strict):
    """A group beside ``spbe_targets``: member names only (their vars live in spbe_targets)."""

    hosts: dict[TargetName, None] = Field(default_factory=dict)


class _Children(_Strict):
    model_config = ConfigDict(extra="allow")  # every other key is a group of targets
    __pydantic_extra__: dict[Annotated[str, Field(pattern=GROUP_NAME)], _Members] = Field(init=False)
    spbe_targets: _Group = Field(default_factory=_Group)


class _All(_Strict):
    children: _Children = Field(default_factory=_Children)


class InventoryFile(_Strict):
    all: _All = Field(default_factory=_All)


def _hostvars_to_target(name: str, hv: HostVars, keys: tuple[str, ...], groups: tuple[str, ...] = ()) -> Target:
    return Target(
        name=name,
        connection=hv.ansible_connection,
        host=hv.ansible_host,
        port=hv.ansible_port,
        user=hv.ansible_user,
        key=Path(hv.ansible_ssh_private_key_file) if hv.ansible_ssh_private_key_file else None,
        pemda=hv.spbe_pemda,
        kode_wilayah=hv.spbe_kode_wilayah,
        root=hv.spbe_root,
        bind_address=hv.spbe_bind_address or hv.ansible_host,
        python=hv.ansible_python_interpreter,
        host_keys=keys,
        groups=groups,
        docker_daemon_options=dict(hv.spbe_docker_daemon_options or {}),
    )


def target_hostvars(t: Target) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ansible_host": t.host,
        "ansible_port": t.port,
        "ansible_user": t.user,
    }
    if t.connection != "ssh":
        out["ansible_connection"] = t.connection
    if t.key is not None:
        out["ansible_ssh_private_key_file"] = str(t.key)
    if t.python:
        out["ansible_python_interpreter"] = t.python
    out.update(
        spbe_pemda=t.pemda,
        spbe_kode_wilayah=t.kode_wilayah,
        spbe_root=t.root,
        spbe_bind_address=t.bind_address,
    )
    if t.docker_daemon_options:
        out["spbe_docker_daemon_options"] = dict(t.docker_daemon_options)
    return out


def ssh_common_args(known_hosts: Path) -> str:
    """The ``ansible_ssh_common_args`` value: pinned keys only, strict checking."""
    return shlex.join(
        [
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "UpdateHostKeys=no",
        ]
    )  # fmt: skip


def inventory_document(ws: Workspace, targets: Iterable[Target]) -> dict[str, Any]:
    """The inventory file's content for ``targets`` (pure)."""
    ordered = sorted(targets, key=lambda t: t.name)
    hosts = {t.name: target_hostvars(t) for t in ordered}
    children: dict[str, Any] = {
        GROUP: {
            "vars": {
                "ansible_ssh_common_args": ssh_common_args(ws.known_hosts_file),
                "ansible_host_key_checking": True,
            },
            "hosts": hosts,
        }
    }
    members: dict[str, list[str]] = {}
    for t in ordered:
        for g in {*t.groups, province_group(t.kode_wilayah)}:
            members.setdefault(g, []).append(t.name)
    for g in sorted(members):
        children[g] = {"hosts": dict.fromkeys(members[g])}
    return {"all": {"children": children}}


def _read_inventory(ws: Workspace) -> tuple[dict[str, HostVars], dict[str, tuple[str, ...]], LoadedYaml | None]:
    """Host vars of every target, and the groups each target was put in (province groups aside)."""
    path = ws.inventory_file
    if not path.exists():
        return {}, {}, None
    doc = load_yaml(path)
    try:
        inv = InventoryFile.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise ValidationFailed(
            pydantic_problems(exc, doc), message=f"{path}: broken inventory"
        ) from None
    hosts = dict(inv.all.children.spbe_targets.hosts)
    groups: dict[str, list[str]] = {}
    problems = []
    for group, members in sorted((inv.all.children.model_extra or {}).items()):
        for name in members.hosts:
            if name not in hosts:
                loc = ("all", "children", group, "hosts", name)
                problems.append(f"{path}:{doc.line_of(loc)}: {'.'.join(loc)}: not a target of {GROUP}")
            elif not group.startswith(PROVINCE_PREFIX):  # province groups are derived, not chosen
                groups.setdefault(name, []).append(group)
    if problems:
        raise ValidationFailed(problems, message=f"{path}: broken inventory")
    return hosts, {n: tuple(g) for n, g in groups.items()}, doc


def load_targets(ws: Workspace) -> dict[str, Target]:
    """Every target of the inventory (not the built-in ``local`` unless written there)."""
    hosts, groups, _ = _read_inventory(ws)
    pins = read_known_hosts(ws.known_hosts_file)
    return {
        name: _hostvars_to_target(
            name,
            hv,
            tuple(p.line for p in pins if p.name == known_hosts_name(hv.ansible_host, hv.ansible_port)),
            groups.get(name, ()),
        )
        for name, hv in hosts.items()
    }


def _local_target(ws: Workspace, stored: Target | None) -> Target:
    values: dict[str, str] = {}
    for field_name, default in LOCAL_DEFAULTS.items():
        env = os.environ.get(LOCAL_ENV[field_name])
        if env:
            values[field_name] = env
        elif stored is not None:
            values[field_name] = str(getattr(stored, field_name))
        else:
            values[field_name] = default
    try:
        return Target(
            name=LOCAL,
            connection="local",
            host="localhost",
            user=getpass.getuser(),
            python=sys.executable,
            **values,
        )
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        ]
        raise InvalidInput(
            "built-in target 'local' is misconfigured (check SPBE_SHARE_LOCAL_* variables)",
            details=problems,
        ) from None


def get_target(ws: Workspace, name: str) -> Target:
    """The target called ``name``; ``local`` is built in. Raises :class:`NotFound`."""
    targets = load_targets(ws)
    if name == LOCAL:
        return _local_target(ws, targets.get(LOCAL))
    try:
        return targets[name]
    except KeyError:
        known = ", ".join(sorted(targets)) or "none yet; see `spbe-share target add`"
        raise NotFound(f"unknown target {name!r} (known: {known})") from None


def list_targets(ws: Workspace, *, include_local: bool = True) -> list[Target]:
    targets = load_targets(ws)
    out = [t for n, t in sorted(targets.items()) if n != LOCAL]
    if include_local:
        out.append(_local_target(ws, targets.get(LOCAL)))
    return out


HEADER = (
    "# spbe-share targets: a standard Ansible inventory (ansible-playbook -i this-file).\n"
    "# Edit with `spbe-share target add/remove`; hand edits are checked on every load.\n"
)


def save_targets(ws: Workspace, targets: Iterable[Target]) -> None:
    ws.ensure()
    atomic_write_text(ws.inventory_file, HEADER + dump_yaml(inventory_document(ws, targets)))


# ---------------------------------------------------------------- argv builders (pure)


# ---------------------------------------------------------------- running ssh tools


# ---------------------------------------------------------------- add / remove


_OPTION_OF = {
    "name": "NAME",
    "host": "--host",
    "port": "--port",
    "user": "--user",
    "key": "--key",
    "pemda": "--pemda",
    "kode_wilayah": "--kode-wilayah",
    "root": "--root",
    "bind_address": "--bind-address",
    "python": "--python",
}


def _build_target(**fields: Any) -> Target:
    try:
        return Target(**fields)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            opt = _OPTION_OF.get(str(err["loc"][0]), str(err["loc"][0]))
            problems.append(f"{opt}: {err['msg']} (got {err.get('input')!r})")
        raise InvalidInput(problems[0], details=problems[1:]) from None


def resolve_addresses(host: str) -> list[str]:
    """The distinct IP addresses ``host`` resolves to on this machine (empty if it does not)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def ip_literal(value: str) -> str | None:
    """``value`` as a normalised IPv4/IPv6 address, or None if it is not one (a hostname)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None


def choose_bind_address(
    host: str, bind_address: str | None, *, resolve: Callable[[str], list[str]] = resolve_addresses
) -> str:
    """The IP address app ports are published on: ``--bind-address`` (an IP), else ``--host``
    if it is an IP, else the one address ``--host`` resolves to. Docker refuses hostnames there."""
    if bind_address is not None:
        ip = ip_literal(bind_address)
        if ip is None:
            raise InvalidInput(f"--bind-address: {bind_address!r} is not an IPv4 or IPv6 address")
        return ip
    ip = ip_literal(host)
    if ip is not None:
        return ip
    found = resolve(host)
    if len(found) == 1:
        return found[0]
    if not found:
        raise InvalidInput(
            f"--host {host}: does not resolve to an IP address here, and app ports are published on an"
            " IP address: pass --bind-address IP (the data center's address for the app)"
        )
    raise InvalidInput(
        f"--host {host}: resolves to several addresses ({', '.join(found)}); choose the one app ports"
        " are published on with --bind-address"
    )


def set_groups(ws: Workspace, name: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> Target:
    """Put target ``name`` into groups ``add`` and take it out of ``remove``; returns it."""
    targets = load_targets(ws)
    if name not in targets:
        raise NotFound(f"unknown target {name!r}")
    adding = {check_group_name(g, option="--add") for g in add}
    removing = {check_group_name(g, option="--remove") for g in remove}
    t = targets[name]
    targets[name] = t.model_copy(update={"groups": tuple(sorted((set(t.groups) | adding) - removing))})
    save_targets(ws, targets.values())
    return targets[name]


def remove_target(ws: Workspace, name: str) -> Target:
    """Delete the target and its pinned keys (unless another target uses the same host:port)."""
    targets = load_targets(ws)
    if name not in targets:
        if name == LOCAL:
            raise NotFound("'local' is built in and has no saved settings to remove")
        raise NotFound(f"unknown target {name!r}")
    gone = targets.pop(name)
    save_targets(ws, targets.values())
    if not any(t.known_hosts_name == gone.known_hosts_name for t in targets.values()):
        pins = read_known_hosts(ws.known_hosts_file)
        write_known_hosts(ws.known_hosts_file, [p for p in pins if p.name != gone.known_hosts_name])
    return gone


def set_local(
    ws: Workspace,
    *,
    pemda: str | None = None,
    kode_wilayah: str | None = None,
    root: str | None = None,
    bind_address: str | None = None,
) -> Target:
    """Save settings of the built-in ``local`` target (a ``local`` host with local connection)."""
    targets = load_targets(ws)
    current = targets.get(LOCAL)
    base = {k: str(getattr(current, k)) if current else v for k, v in LOCAL_DEFAULTS.items()}
    if bind_address is not None:
        bind_address = choose_bind_address("localhost", bind_address)  # an IP address, or exit 2
    given = {"pemda": pemda, "kode_wilayah": kode_wilayah, "root": root, "bind_address": bind_address}
    base.update({k: v for k, v in given.items() if v is not None})
    target = _build_target(
        name=LOCAL, connection="local", host="localhost", user=getpass.getuser(), **base
    )
    targets[LOCAL] = target
    save_targets(ws, targets.values())
    return _local_target(ws, target)
