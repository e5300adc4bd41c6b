"""``spbe-share target add``: pin the host key, prove a login works, then save the target.

Nothing is saved when any step fails: the host keys are checked against what the operator
gave (fingerprint, key file, trust on first use, or a confirmed prompt), a login runs with the
new pins staged in a separate ``known_hosts``, and only then are the inventory and the pins
written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Conflict, InvalidInput
from ..remote.ssh import keyscan, verify_connection
from ..targets.hostkeys import (
    Confirm,
    HostKey,
    PinnedKey,
    check_fingerprint,
    choose_pins,
    known_hosts_name,
    parse_public_keys,
    read_known_hosts,
    write_known_hosts,
)
from ..targets.inventory import (
    DEFAULT_ROOT,
    LOCAL,
    _build_target,
    choose_bind_address,
    load_targets,
    resolve_addresses,
    save_targets,
)
from ..targets.selectors import check_group_name
from ..workspace import Workspace

if TYPE_CHECKING:
    from ..targets.inventory import Target


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
    host: str,
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
) -> AddResult:
    """Pin the host key, prove a login works, then save. On any failure nothing is saved.

    How keys are pinned is :func:`spbe_share.targets.hostkeys.choose_pins`: never silently, never a
    changed key without ``accept_new_host_key``. ``confirm(host, keys)`` asks the operator
    (a terminal); without it, scripts must give a fingerprint or ``trust_on_first_use``.
    ``groups``: the target's groups (``--group``, repeatable); with ``replace`` and no groups
    given, the groups it had are kept.
    """
    if name == LOCAL:
        raise Conflict("'local' is the built-in target; use `spbe-share target set-local`")
    check_fingerprint(host_key_fingerprint, "--host-key-fingerprint")
    check_fingerprint(accept_new_host_key, "--accept-new-host-key")
    target = _build_target(
        name=name,
        host=host,
        port=port,
        user=user,
        key=_check_key_file(key),
        pemda=pemda,
        kode_wilayah=kode_wilayah,
        root=root,
        bind_address=bind_address or host,
        python=python,
    )  # every field checked before the name is resolved
    target = target.model_copy(update={"bind_address": choose_bind_address(host, bind_address, resolve=resolve)})
    chosen = tuple(sorted({check_group_name(g) for g in groups}))
    targets = load_targets(ws)
    if name in targets and not replace:
        raise Conflict(f"target {name!r} already exists (use --replace to overwrite it)")
    if not chosen and name in targets:
        chosen = targets[name].groups
    target = target.model_copy(update={"groups": chosen})

    if host_key_file is not None:
        try:
            text = host_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"--host-key-file: {host_key_file}: {exc.strerror}") from None
        offered = parse_public_keys(text, source=str(host_key_file))
    else:
        offered = keyscan(host, port)

    hk_name = known_hosts_name(host, port)
    existing = read_known_hosts(ws.known_hosts_file)
    choice = choose_pins(
        hk_name,
        pinned=[p.key for p in existing if p.name == hk_name],
        offered=offered,
        from_file=host_key_file is not None,
        fingerprint=host_key_fingerprint,
        accept_new=accept_new_host_key,
        trust_on_first_use=trust_on_first_use,
        confirm=confirm,
    )

    drop = {hk_name}
    old = targets.get(name)
    if old is not None and not any(
        t.known_hosts_name == old.known_hosts_name for t in targets.values() if t.name != name
    ):
        drop.add(old.known_hosts_name)  # --replace moved the target: forget its old pins
    new_pins = [p for p in existing if p.name not in drop] + [PinnedKey(hk_name, k) for k in choice.keys]
    target = target.model_copy(update={"host_keys": tuple(PinnedKey(hk_name, k).line for k in choice.keys)})

    ws.ensure()
    fd, staged_s = tempfile.mkstemp(prefix=".known_hosts.", dir=ws.home)
    os.close(fd)
    staged = Path(staged_s)
    try:
        write_known_hosts(staged, new_pins)
        verify_connection(ws, target, known_hosts=staged)
        targets[name] = target
        # inventory first: if it fails, the old known_hosts is still in place
        save_targets(ws, targets.values())
        os.replace(staged, ws.known_hosts_file)
    finally:
        staged.unlink(missing_ok=True)
    return AddResult(target=target, pinned=choice.keys, how=choice.how)


__all__ = ["AddResult", "add_target"]
