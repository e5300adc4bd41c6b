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

    A data center with several hosts (``target add NAME --host web=10.1.2.3 --host
    database=10.1.2.4``) keeps its first host as above, the host ``NAME``; every other host is a
    host of the group ``spbe_hosts``, named ``NAME--ROLE`` after its first role, whose var
    ``spbe_target`` names its target. The roles each host carries are the members of the groups
    ``spbe_role_<role>``::

            spbe_hosts:
              vars: {ansible_ssh_common_args: ...}     # as spbe_targets' (rewritten on save)
              hosts:
                dinas-pendidikan-sorong--database:
                  ansible_host: 10.1.2.4
                  ansible_port: 22
                  ansible_user: spbe
                  ansible_ssh_private_key_file: /home/op/.ssh/id_ed25519
                  spbe_bind_address: 10.1.2.4
                  spbe_target: dinas-pendidikan-sorong
            spbe_role_web:
              hosts:
                dinas-pendidikan-sorong:
            spbe_role_database:
              hosts:
                dinas-pendidikan-sorong--database:

    A target whose hosts carry no role (every target added before roles existed) is one host
    that runs every component, as before.

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
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ..catalog.models import KODE_WILAYAH, ROLE_NAME
from ..errors import (
    InvalidInput,
    NotFound,
    ValidationFailed,
)
from ..files import atomic_write_text
from ..workspace import Workspace
from ..yamlio import LoadedYaml, dump_yaml, format_loc, load_yaml, pydantic_problems
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
HOSTS_GROUP = "spbe_hosts"  # the hosts of multi-host targets besides their first one
ROLE_GROUP_PREFIX = "spbe_role_"  # spbe_role_web: the hosts that carry the role web
HOST_SEP = "--"  # dinas-pendidikan-sorong--database: a target's host named after its first role
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
RoleName = Annotated[str, Field(pattern=ROLE_NAME)]
# a host of the inventory: a target's (first) host, or TARGET--ROLE
INVENTORY_HOST = r"^[a-z0-9](?:[a-z0-9_-]{0,126}[a-z0-9])?$"
InventoryHost = Annotated[str, Field(pattern=INVENTORY_HOST)]


class TargetHost(BaseModel):
    """One more host of a data center: its own address, login, key, pinned keys and roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: InventoryHost  # the inventory's host name: TARGET--ROLE
    host: Host
    port: Port = 22
    user: User
    key: Path | None = None
    python: str | None = None
    root: str | None = None  # its own data folder (a backup host's backup disk); None: the target's
    bind_address: str = Field(min_length=1)
    roles: tuple[RoleName, ...] = Field(min_length=1)
    host_keys: tuple[str, ...] = ()

    @property
    def known_hosts_name(self) -> str:
        return known_hosts_name(self.host, self.port)


def host_name(target: str, roles: Sequence[str]) -> str:
    """The inventory name of a target's host other than its first: ``TARGET--ROLE``."""
    return f"{target}{HOST_SEP}{roles[0]}"


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
    roles: tuple[RoleName, ...] = ()  # roles of this (first) host; none: a single host carrying every role
    extra_hosts: tuple[TargetHost, ...] = ()  # the data center's other hosts

    @property
    def multi_host(self) -> bool:
        return bool(self.extra_hosts)

    def hosts(self) -> list[Target]:
        """Every host of the data center as a one-host target (``name`` = its inventory host
        name), the first host first: what SSH, Ansible, preflight and provisioning run on."""
        out = [self.model_copy(update={"extra_hosts": ()})]
        for h in self.extra_hosts:
            out.append(self.model_copy(update={
                "name": h.name, "host": h.host, "port": h.port, "user": h.user, "key": h.key,
                "python": h.python, "bind_address": h.bind_address, "host_keys": h.host_keys,
                "root": h.root or self.root,
                "roles": h.roles, "extra_hosts": (),
            }))  # fmt: skip
        return out

    def host_with(self, role: str) -> Target | None:
        """The host that carries ``role`` (None: no host does)."""
        return next((h for h in self.hosts() if role in h.roles), None)

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


class MemberVars(_Strict):
    """A host of a multi-host target besides its first (group ``spbe_hosts``)."""

    ansible_host: Host
    ansible_port: Port = 22
    ansible_user: User
    ansible_ssh_private_key_file: str | None = None
    ansible_python_interpreter: str | None = None
    spbe_bind_address: str | None = None
    spbe_root: str | None = Field(default=None, min_length=1)
    spbe_target: TargetName


class _HostsGroup(_Strict):
    vars: GroupVars = Field(default_factory=GroupVars)
    hosts: dict[InventoryHost, MemberVars] = Field(default_factory=dict)


class _Members(_Strict):
    """A group beside ``spbe_targets``: member names only (their vars live in spbe_targets)."""

    hosts: dict[InventoryHost, None] = Field(default_factory=dict)


class _Children(_Strict):
    model_config = ConfigDict(extra="allow")  # every other key is a group of targets
    __pydantic_extra__: dict[Annotated[str, Field(pattern=GROUP_NAME)], _Members] = Field(init=False)
    spbe_targets: _Group = Field(default_factory=_Group)
    spbe_hosts: _HostsGroup | None = None


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


def member_hostvars(target: Target, h: TargetHost) -> dict[str, Any]:
    out: dict[str, Any] = {"ansible_host": h.host, "ansible_port": h.port, "ansible_user": h.user}
    if h.key is not None:
        out["ansible_ssh_private_key_file"] = str(h.key)
    if h.python:
        out["ansible_python_interpreter"] = h.python
    if h.root:
        out["spbe_root"] = h.root
    out.update(spbe_bind_address=h.bind_address, spbe_target=target.name)
    return out


def inventory_document(ws: Workspace, targets: Iterable[Target]) -> dict[str, Any]:
    """The inventory file's content for ``targets`` (pure)."""
    ordered = sorted(targets, key=lambda t: t.name)
    hosts = {t.name: target_hostvars(t) for t in ordered}
    common = {
        "ansible_ssh_common_args": ssh_common_args(ws.known_hosts_file),
        "ansible_host_key_checking": True,
    }
    children: dict[str, Any] = {GROUP: {"vars": dict(common), "hosts": hosts}}
    extra = {h.name: member_hostvars(t, h) for t in ordered for h in sorted(t.extra_hosts, key=lambda h: h.name)}
    if extra:
        children[HOSTS_GROUP] = {"vars": dict(common), "hosts": extra}
    members: dict[str, list[str]] = {}
    for t in ordered:
        for g in {*t.groups, province_group(t.kode_wilayah)}:
            members.setdefault(g, []).append(t.name)
        for h in t.hosts():
            for role in h.roles:
                members.setdefault(ROLE_GROUP_PREFIX + role, []).append(h.name)
    for g in sorted(members):
        children[g] = {"hosts": dict.fromkeys(members[g])}
    return {"all": {"children": children}}


Loc = tuple[str | int, ...]


def _read_inventory(
    ws: Workspace,
) -> tuple[dict[str, HostVars], dict[str, tuple[str, ...]], LoadedYaml | None, dict[str, MemberVars],
           dict[str, tuple[str, ...]]]:  # fmt: skip
    """Host vars of every target, the groups each target was put in (province groups aside),
    the hosts of multi-host targets besides their first, and the roles of every host."""
    path = ws.inventory_file
    if not path.exists():
        return {}, {}, None, {}, {}
    doc = load_yaml(path)
    try:
        inv = InventoryFile.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise ValidationFailed(
            pydantic_problems(exc, doc), message=f"{path}: broken inventory"
        ) from None
    hosts = dict(inv.all.children.spbe_targets.hosts)
    extra = dict(inv.all.children.spbe_hosts.hosts) if inv.all.children.spbe_hosts else {}
    groups: dict[str, list[str]] = {}
    roles: dict[str, list[str]] = {}
    problems = []

    def problem(loc: Loc, message: str) -> None:
        problems.append(f"{path}:{doc.line_of(loc)}: {format_loc(loc)}: {message}")

    for name, mv in extra.items():
        loc: Loc = ("all", "children", HOSTS_GROUP, "hosts", name)
        if name in hosts:
            problem(loc, f"a host of {HOSTS_GROUP} cannot also be a target of {GROUP}")
        elif mv.spbe_target not in hosts:
            problem((*loc, "spbe_target"), f"{mv.spbe_target!r} is not a target of {GROUP}")
    for group, members in sorted((inv.all.children.model_extra or {}).items()):
        for name in members.hosts:
            loc = ("all", "children", group, "hosts", name)
            if group.startswith(ROLE_GROUP_PREFIX):
                role = group[len(ROLE_GROUP_PREFIX):]
                if not re.match(ROLE_NAME, role):
                    problem(("all", "children", group), "not a role group (spbe_role_ and a role name, e.g. web)")
                elif name not in hosts and name not in extra:
                    problem(loc, f"not a host of {GROUP} or {HOSTS_GROUP}")
                else:
                    roles.setdefault(name, []).append(role)
            elif name not in hosts:
                problem(loc, f"not a target of {GROUP}")
            elif not group.startswith(PROVINCE_PREFIX):  # province groups are derived, not chosen
                groups.setdefault(name, []).append(group)
    for name in extra:
        if not roles.get(name) and name not in hosts:
            problem(("all", "children", HOSTS_GROUP, "hosts", name),
                    f"carries no role: put it in a group {ROLE_GROUP_PREFIX}<role>")
    for target in hosts:
        mine = [target, *(n for n, mv in extra.items() if mv.spbe_target == target)]
        if len(mine) > 1 and not roles.get(target):
            problem(("all", "children", GROUP, "hosts", target),
                    f"target {target!r} has several hosts but this one carries no role")
        seen: dict[str, str] = {}
        for n in mine:
            for role in roles.get(n, []):
                if role in seen:
                    problem(("all", "children", ROLE_GROUP_PREFIX + role, "hosts", n),
                            f"role {role!r} of target {target!r} is already carried by {seen[role]}")
                seen[role] = n
    if problems:
        raise ValidationFailed(problems, message=f"{path}: broken inventory")
    return (hosts, {n: tuple(g) for n, g in groups.items()}, doc, extra,
            {n: tuple(sorted(r)) for n, r in roles.items()})  # fmt: skip


def load_targets(ws: Workspace) -> dict[str, Target]:
    """Every target of the inventory (not the built-in ``local`` unless written there)."""
    hosts, groups, _, extra, roles = _read_inventory(ws)
    pins = read_known_hosts(ws.known_hosts_file)

    def pinned(host: str, port: int) -> tuple[str, ...]:
        return tuple(p.line for p in pins if p.name == known_hosts_name(host, port))

    out = {}
    for name, hv in hosts.items():
        t = _hostvars_to_target(name, hv, pinned(hv.ansible_host, hv.ansible_port), groups.get(name, ()))
        members = tuple(
            TargetHost(
                name=n, host=mv.ansible_host, port=mv.ansible_port, user=mv.ansible_user,
                key=Path(mv.ansible_ssh_private_key_file) if mv.ansible_ssh_private_key_file else None,
                python=mv.ansible_python_interpreter, root=mv.spbe_root,
                bind_address=mv.spbe_bind_address or mv.ansible_host,
                roles=roles[n], host_keys=pinned(mv.ansible_host, mv.ansible_port),
            )
            for n, mv in sorted(extra.items()) if mv.spbe_target == name
        )  # fmt: skip
        out[name] = t.model_copy(update={"roles": roles.get(name, ()), "extra_hosts": members})
    return out


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


@dataclass(frozen=True)
class HostSpec:
    """One ``--host`` of ``target add``: ``ADDRESS`` (a one-host target) or
    ``ROLE[,ROLE...]=[USER@]ADDRESS[:PORT]`` (a host of a data center and the roles it carries)."""

    roles: tuple[str, ...]
    host: str
    user: str | None = None
    port: int | None = None


def parse_host_spec(value: str, *, option: str = "--host") -> HostSpec:
    """``web=10.1.2.3``, ``database,backup=spbe@10.1.2.4:2222``, ``[fd00::4]:22``; a value
    without ``=`` is a plain address, as before roles existed."""
    if "=" not in value:
        return HostSpec((), value)
    roles_s, _, rest = value.partition("=")
    roles = tuple(r.strip() for r in roles_s.split(","))
    for r in roles:
        if not re.match(ROLE_NAME, r):
            raise InvalidInput(f"{option} {value}: {r!r} is not a role name (lowercase letters, digits"
                               " and '_', e.g. web, database, backup)")  # fmt: skip
    if len(set(roles)) != len(roles):
        raise InvalidInput(f"{option} {value}: a role is named twice")
    user = None
    if "@" in rest:
        user, _, rest = rest.partition("@")
    port = None
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?", rest)
    if m is None:
        raise InvalidInput(f"{option} {value}: write ROLE=[USER@]ADDRESS[:PORT] (an IPv6 address in [ ])")
    address = m.group(1) or m.group(3)
    digits = m.group(2) or m.group(4)
    if digits is not None:
        port = int(digits)
    return HostSpec(roles, address, user, port)


def per_role(values: Sequence[str], option: str, roles: Iterable[str]) -> tuple[str | None, dict[str, str]]:
    """A repeatable option whose values are ``VALUE`` (every host) or ``ROLE=VALUE`` (the host
    carrying ROLE): (the default, role -> value). ``roles`` are those the hosts carry."""
    known = set(roles)
    default: str | None = None
    by_role: dict[str, str] = {}
    for v in values:
        role, sep, rest = v.partition("=")
        if sep and re.match(ROLE_NAME, role):
            if role not in known:
                raise InvalidInput(f"{option} {v}: no --host carries the role {role!r}")
            by_role[role] = rest
        elif default is None:
            default = v
        else:
            raise InvalidInput(f"{option}: given twice without a role; write ROLE=VALUE for each host")
    return default, by_role


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
    forget_unused_pins(ws, targets.values(), [h.known_hosts_name for h in gone.hosts()])
    return gone


def forget_unused_pins(ws: Workspace, targets: Iterable[Target], names: Iterable[str]) -> None:
    """Drop the pinned keys of ``names`` (host or [host]:port) that no host of ``targets`` uses."""
    used = {h.known_hosts_name for t in targets for h in t.hosts()}
    drop = set(names) - used
    if drop:
        pins = read_known_hosts(ws.known_hosts_file)
        write_known_hosts(ws.known_hosts_file, [p for p in pins if p.name not in drop])


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
