"""The read-only steps of an operation, before anything changes on a target: names checked as
slugs, the target with its host key compared with the pinned one, the covering agreement, and
what the target keeps about an app (:func:`read_state`, validated as untrusted). Preflight is
:mod:`.preflight`, the bundle check :mod:`.bundles`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidInput, NotFound, RemoteFailed, SpbeError
from ..records import state
from ..records.appstate import AppState, parse_state

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..plans.placement import HostPart
    from ..records.state import ReleaseRecord
    from ..targets.inventory import Target
    from .context import OpContext


def require_slug(value: str, *, what: str) -> str:
    """``value`` if it is a slug (lowercase letters, digits, '-'), else InvalidInput naming ``what``."""
    if not state.SLUG.match(value or ""):
        raise InvalidInput(f"{what} {value!r} is not a valid name (lowercase letters, digits and '-')")
    return value


def checked_target(ctx: OpContext, name: str, *, compare_key: bool = True) -> Target:
    """The target ``name``, its host key compared with the pinned one (``ssh-keyscan``: one
    connection, so that a mismatch is exit 6 naming both keys before anything is asked of it).

    ``compare_key=False`` only where the caller's next contact is one ssh connection of its own
    (pinned keys, ``StrictHostKeyChecking=yes``: a changed key never gets an answer) and the
    caller calls this again before it changes anything, or the next contact is a read that
    classifies ssh's refusal as the same exit 6 (:func:`read_state`, which then counts the key as
    proven for the rest of the operation: :func:`key_proven`)."""
    from ..remote.ssh import check_host_key
    from ..targets.inventory import get_target

    target = get_target(ctx.ws, name)
    if compare_key and key_seen(target) not in ctx.host_keys_checked:  # an operation's plan and its run ask once
        check_host_key(ctx.ws, target)
        ctx.host_keys_checked.add(key_seen(target))
    ctx.cancel.check()
    return target


def key_seen(target: Target) -> tuple[str, str, int, tuple[str, ...]]:
    """What :attr:`OpContext.host_keys_checked` holds for ``target`` once its key is proven."""
    return (target.name, target.host, target.port, tuple(target.host_keys))


def key_proven(ctx: OpContext, target: Target) -> None:
    """``target`` answered over ssh with its pinned keys (``StrictHostKeyChecking=yes``): a later
    :func:`checked_target` of this operation need not ask for its key again."""
    if target.connection == "ssh":
        ctx.host_keys_checked.add(key_seen(target))


def spread_parts(ctx: OpContext, target: Target, *, app: str) -> list[HostPart] | None:
    """The parts of ``app`` on the hosts of ``target`` when ``install`` spread it over them (its
    catalog entry has roles, the target several hosts carrying them, more than one host runs a
    component); None: one host runs it all."""
    if not target.multi_host:
        return None
    from ..catalog.loader import get_entry
    from ..errors import SpbeError
    from ..plans.placement import placement

    try:
        entry = get_entry(ctx.ws, app).entry
    except SpbeError:
        return None  # not in the catalog: this workspace did not install it across hosts
    parts = placement(entry, target)
    if parts is None or len([p for p in parts if p.components]) < 2:
        return None
    return parts


def data_parts(entry: Entry, parts: list[HostPart]) -> list[HostPart]:
    """The parts whose host keeps data to back up (its databases or volumes) (pure)."""
    from ..plans.placement import host_entry

    out = []
    for p in parts:
        b = host_entry(entry, p).backup
        if b is not None and (b.databases or b.volumes):
            out.append(p)
    return out


def spread_data_host(target: Target, entry: Entry, parts: list[HostPart], *, what: str | None) -> Target:
    """The host of the data of an app across the hosts of ``target`` (the database host), where
    its backups are made; the first host when no part has data. ``what``: an operation that
    backs up, refused (InvalidInput) when the data is on several hosts."""
    found = data_parts(entry, parts)
    if len(found) > 1 and what is not None:
        where = ", ".join(p.host.name for p in found)
        raise InvalidInput(f"{what} of {entry.id} on {target.name}: its data is on several hosts ({where}); this"
                           " version backs up the data of one host only, so nothing was changed")
    return found[0].host if found else target


def refuse_spread(ctx: OpContext, target: Target, *, app: str, what: str) -> None:
    """An app that ``install`` spreads over the hosts of ``target`` (its catalog entry has
    roles, the target several hosts carrying them): an operation that works on the first host
    only would miss the other hosts' parts (the database and its data). Refused (exit 2)
    before anything changes (config set, secrets rotate, tls set)."""
    parts = spread_parts(ctx, target, app=app)
    if parts is None:
        return
    where = "; ".join(f"{p.host.name}: " + "+".join(p.names) for p in parts if p.components)
    raise InvalidInput(
        f"{what} of {app} on {target.name}: {app} runs across the hosts of {target.name} ({where});"
        f" this version does {what} on one host only, so nothing was changed (install, status, upgrade,"
        " rollback, backup, restore and uninstall work across hosts)"
    )


def read_part_states(ctx: OpContext, *, target: Target, hosts: list[Target], app: str,
                     deploys: list[str]) -> dict[str, AppState]:
    """What the other ``hosts`` of ``target`` keep about ``app`` (its part there: deploy specs,
    backups), by inventory host name; read as :func:`read_state` reads (one SSH round trip a
    host) and validated as untrusted, as the data center's (its name) with the host's root and
    address."""
    out: dict[str, AppState] = {}
    for h in hosts:
        view = target.model_copy(update={"root": h.root, "bind_address": h.bind_address})
        out[h.name] = parse_state(_ask_state(ctx, h, app=app, deploys=deploys), target=view, app=app)
    return out


def agreement_for(ctx: OpContext, *, target: Target, entry: Entry, scope: str) -> str:
    """The agreement number covering the operation, or why none is needed (said to the operator)."""
    from ..agreements import require_agreement

    if target.connection == "local":
        ctx.say(
            "note: target 'local' is this machine, a developer sandbox: no MoU/PKS is checked."
            " Installing into a Pemda data center always needs one (spbe-share mou add)."
        )
        return "exempt: local sandbox"
    if not entry.sharing.mou_required:
        ctx.say(f"note: {entry.id} does not require an MoU/PKS (sharing.mou_required: false)")
        return "not required by the entry"
    agreement = require_agreement(
        ctx.ws, app=entry.id, adopter_kode_wilayah=target.kode_wilayah, scope=scope, today=ctx.today
    )
    return agreement.number


def read_state(ctx: OpContext, *, target: Target, app: str, deploys: list[str] | None = None) -> AppState:
    """What ``target`` keeps about ``app`` (read-only), validated: ONE SSH round trip running
    ``playbooks/module_utils/spbe_appstate.py`` as a script (the reading of ``app_state.yml``,
    which stays for running by hand; over a slow link an Ansible run costs seconds, issue 21)."""
    return parse_state(_ask_state(ctx, target, app=app, deploys=deploys or []), target=target, app=app)


def _ask_state(ctx: OpContext, host: Target, *, app: str, deploys: list[str]) -> dict[str, object]:
    """``module_utils/spbe_appstate.py`` run on ``host`` over one SSH connection: its answer, unparsed."""
    from ..remote.scripts import ask

    class _Any(BaseModel):
        model_config = ConfigDict(extra="allow")

    ctx.cancel.check()
    request = {"root": host.root, "app": app, "deploys": list(deploys), "history": 200, "blobs": True}
    try:
        data = ask(ctx.ws, host, "spbe_appstate", request, _Any, what=f"reading the state of {app}",
                   limit=STATE_LIMIT).model_dump()
    except SpbeError:
        ctx.cancel.check()  # an interrupt also stops the ssh: say so, not that the read failed
        raise
    key_proven(ctx, host)
    ctx.cancel.check()
    return data


def read_state_and_facts(ctx: OpContext, *, target: Target, app: str, facts_request: dict[str, object]
                         ) -> tuple[AppState, dict[str, object] | None]:  # fmt: skip
    """:func:`read_state` and preflight's reading of the facts (``facts_request``: what
    ``module_utils/spbe_preflight.py`` takes) in ONE SSH connection
    (``module_utils/spbe_statefacts.py``): the state, validated, and the facts unparsed (None when
    reading them failed there: the caller runs preflight on its own). Errors as read_state's (a
    changed host key: exit 6, this one connection)."""
    from ..remote.scripts import ask

    class _Any(BaseModel):
        model_config = ConfigDict(extra="allow")

    ctx.cancel.check()
    request = {"state": {"root": target.root, "app": app, "deploys": [], "history": 200, "blobs": True},
               "facts": facts_request}
    try:
        data = ask(ctx.ws, target, "spbe_statefacts", request, _Any, what=f"reading the state of {app}",
                   limit=STATE_LIMIT + FACTS_LIMIT).model_dump()
    except SpbeError:
        ctx.cancel.check()  # an interrupt also stops the ssh: say so, not that the read failed
        raise
    key_proven(ctx, target)
    ctx.cancel.check()
    st = parse_state(data.get("state"), target=target, app=app)
    facts = data.get("facts")
    return st, facts if isinstance(facts, dict) else None


FACTS_LIMIT = 4 << 20  # preflight's answer alone (its script's cap in ask)


# the answer's cap: 200 release records, the deploy specs, the blob digests and backups (each
# file is read up to 1 MiB on the target)
STATE_LIMIT = 64 << 20


__all__ = ["agreement_for", "checked_target", "data_parts", "key_proven", "key_seen", "read_part_states", "read_state", "read_state_and_facts",
           "require_slug",
           "spread_data_host", "spread_parts"]


def serving_record(st: AppState, *, app: str, target: str) -> ReleaseRecord:
    """The release ``app`` serves on ``target`` (its state ``st``, read in this operation):
    NotFound when it is not installed; RemoteFailed when an upgrade or rollback of it is
    unfinished (its journal still running: that command, run again, finishes it first)."""
    if st.current is None or st.current.result != "ok":
        raise NotFound(f"{app} is not installed on {target}")
    if st.journal is not None and st.journal.state == "running":
        raise RemoteFailed(f"{target}: an unfinished {st.journal.operation} of {app} (started {st.journal.started} by"
                           f" {st.journal.who}) must be finished first: run `spbe-share upgrade` or `rollback` again")
    return st.current
