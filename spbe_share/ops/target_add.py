"""``spbe-share target add``: pin the host key, prove a login works, then save the target.

Nothing is saved when any step fails: the host keys are checked against what the operator
gave (fingerprint, key file, trust on first use, or a confirmed prompt), a login runs with the
new pins staged in a separate ``known_hosts``, and only then are the inventory and the pins
written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..errors import Conflict, InvalidInput
from ..remote.ssh import keyscan, verify_connection
from ..targets.hostkeys import (
    Confirm,
    HostKey,
    PinnedKey,
    check_fingerprint,
    choose_pins,
    parse_public_keys,
    read_known_hosts,
    write_known_hosts,
)
from ..targets.inventory import (
    DEFAULT_ROOT,
    LOCAL,
    HostSpec,
    TargetHost,
    _build_target,
    choose_bind_address,
    host_name,
    load_targets,
    resolve_addresses,
    save_targets,
)
from ..targets.selectors import check_group_name
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..targets.inventory import Target


_V = TypeVar("_V")


@dataclass(frozen=True)
class AddResult:
    target: Target
    pinned: list[HostKey]
    how: str = "fingerprint"  # see hostkeys.PinChoice.how


def _check_key_file(key: Path) -> Path:
    key = key.expanduser().resolve()
    if not key.is_file():
        raise InvalidInput(f"--key: {key}: no such file")
    if not os.access(key, os.R_OK):
        raise InvalidInput(f"--key: {key}: not readable")
    return key


def add_target(
    ws: Workspace,
    *,
    name: str,
    host: str | None = None,
    user: str,
    key: Path,
    pemda: str,
    kode_wilayah: str,
    port: int = 22,
    root: str = DEFAULT_ROOT,
    bind_address: str | None = None,
    python: str | None = None,
    host_key_fingerprint: str | None = None,
    host_key_file: Path | None = None,
    trust_on_first_use: bool = False,
    accept_new_host_key: str | None = None,
    confirm: Confirm | None = None,
    replace: bool = False,
    groups: Sequence[str] = (),
    resolve: Callable[[str], list[str]] = resolve_addresses,
    hosts: Sequence[HostSpec] = (),
    keys: Mapping[str, Path] | None = None,
    pythons: Mapping[str, str] | None = None,
    roots: Mapping[str, str] | None = None,
    fingerprints: Mapping[str, str] | None = None,
    accept_new: Mapping[str, str] | None = None,
) -> AddResult:
    """Pin the host key, prove a login works, then save. On any failure nothing is saved.

    How keys are pinned is :func:`spbe_share.targets.hostkeys.choose_pins`: never silently, never a
    changed key without ``accept_new_host_key``. ``confirm(host, keys)`` asks the operator
    (a terminal); without it, scripts must give a fingerprint or ``trust_on_first_use``.
    ``groups``: the target's groups (``--group``, repeatable); with ``replace`` and no groups
    given, the groups it had are kept.

    A data center with several hosts: ``hosts`` (``--host ROLE=ADDRESS``, the first one is the
    target's own host); ``keys``, ``pythons``, ``roots``, ``fingerprints`` and ``accept_new`` give a host
    (named by one of its roles) its own key, interpreter, expected fingerprint or new key.
    Every host's key is pinned and every login proved before anything is saved.
    """
    if name == LOCAL:
        raise Conflict("'local' is the built-in target; use `spbe-share target set-local`")
    specs = list(hosts) or [HostSpec((), host or "")]
    _check_specs(specs)
    fps, news = dict(fingerprints or {}), dict(accept_new or {})
    for v in (host_key_fingerprint, *fps.values()):
        check_fingerprint(v, "--host-key-fingerprint")
    for v in (accept_new_host_key, *news.values()):
        check_fingerprint(v, "--accept-new-host-key")
    if len(specs) > 1 and (host_key_fingerprint or accept_new_host_key or host_key_file):
        raise InvalidInput("the target has several hosts: give --host-key-fingerprint ROLE=SHA256:... (and"
                           " --accept-new-host-key ROLE=SHA256:...) for each; --host-key-file is for one host")

    def of_host(mapping: Mapping[str, _V] | None, roles: Sequence[str], default: _V) -> _V:
        return next((mapping[r] for r in roles if mapping and r in mapping), default)

    views: list[Target] = []
    for i, spec in enumerate(specs):
        view = _build_target(
            name=name,
            host=spec.host,
            port=spec.port or port,
            user=spec.user or user,
            key=_check_key_file(of_host(keys, spec.roles, key)),
            pemda=pemda,
            kode_wilayah=kode_wilayah,
            root=of_host(roots, spec.roles, root),
            bind_address=(bind_address if i == 0 else None) or spec.host,
            python=of_host(pythons, spec.roles, python),
            roles=spec.roles,
        )  # every field checked before the name is resolved
        chosen_ip = choose_bind_address(spec.host, bind_address if i == 0 else None, resolve=resolve)
        views.append(view.model_copy(update={"bind_address": chosen_ip}))
    chosen = tuple(sorted({check_group_name(g) for g in groups}))
    targets = load_targets(ws)
    if name in targets and not replace:
        raise Conflict(f"target {name!r} already exists (use --replace to overwrite it)")
    if not chosen and name in targets:
        chosen = targets[name].groups

    existing = read_known_hosts(ws.known_hosts_file)
    old = targets.get(name)
    others = [t for t in targets.values() if t.name != name]
    drop = {v.known_hosts_name for v in views}
    if old is not None:  # --replace moved a host: forget its old pins unless another target uses them
        used = {h.known_hosts_name for t in others for h in t.hosts()}
        drop |= {h.known_hosts_name for h in old.hosts()} - used
    new_pins = [p for p in existing if p.name not in drop]
    pinned: list[HostKey] = []
    hows: list[str] = []
    for i, view in enumerate(views):
        if host_key_file is not None:
            try:
                text = host_key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidInput(f"--host-key-file: {host_key_file}: {exc.strerror}") from None
            offered = parse_public_keys(text, source=str(host_key_file))
        else:
            offered = keyscan(view.host, view.port)
        hk_name = view.known_hosts_name
        choice = choose_pins(
            hk_name,
            pinned=[p.key for p in existing if p.name == hk_name],
            offered=offered,
            from_file=host_key_file is not None,
            fingerprint=of_host(fps, view.roles, host_key_fingerprint),
            accept_new=of_host(news, view.roles, accept_new_host_key),
            trust_on_first_use=trust_on_first_use,
            confirm=confirm,
        )
        new_pins = [p for p in new_pins if p.name != hk_name] + [PinnedKey(hk_name, k) for k in choice.keys]
        views[i] = view.model_copy(update={"host_keys": tuple(PinnedKey(hk_name, k).line for k in choice.keys)})
        pinned += choice.keys
        hows.append(choice.how)

    first, rest = views[0], views[1:]
    extra = tuple(
        TargetHost(name=host_name(name, v.roles), host=v.host, port=v.port, user=v.user, key=v.key,
                   python=v.python, root=v.root if v.root != first.root else None, bind_address=v.bind_address,
                   roles=v.roles, host_keys=v.host_keys)
        for v in rest
    )  # fmt: skip
    target = first.model_copy(update={"groups": chosen, "extra_hosts": extra})

    ws.ensure()
    fd, staged_s = tempfile.mkstemp(prefix=".known_hosts.", dir=ws.home)
    os.close(fd)
    staged = Path(staged_s)
    try:
        write_known_hosts(staged, new_pins)
        for view in target.hosts():
            verify_connection(ws, view, known_hosts=staged)
        targets[name] = target
        # inventory first: if it fails, the old known_hosts is still in place
        save_targets(ws, targets.values())
        os.replace(staged, ws.known_hosts_file)
    finally:
        staged.unlink(missing_ok=True)
    return AddResult(target=target, pinned=pinned, how=", ".join(dict.fromkeys(hows)))


def _check_specs(specs: Sequence[HostSpec]) -> None:
    """Several hosts: each carries roles, and each role one host."""
    if len(specs) > 1 and any(not s.roles for s in specs):
        raise InvalidInput("--host: with several hosts, name the roles each carries: --host web=10.1.2.3"
                           " --host database=10.1.2.4")  # fmt: skip
    seen: set[str] = set()
    for s in specs:
        for r in s.roles:
            if r in seen:
                raise InvalidInput(f"--host: role {r!r} is given to two hosts (one host per role)")
            seen.add(r)


__all__ = ["AddResult", "add_target"]
