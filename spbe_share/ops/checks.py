"""The read-only steps of an operation, before anything changes on a target: names checked as
slugs, the target with its host key compared with the pinned one, the covering agreement, and
what the target keeps about an app (:func:`read_state`, validated as untrusted). Preflight is
:mod:`.preflight`, the bundle check :mod:`.bundles`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidInput, SpbeError
from ..records import state
from ..records.appstate import AppState, parse_state

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..targets.inventory import Target
    from .context import OpContext


def require_slug(value: str, *, what: str) -> str:
    """``value`` if it is a slug (lowercase letters, digits, '-'), else InvalidInput naming ``what``."""
    if not state.SLUG.match(value or ""):
        raise InvalidInput(f"{what} {value!r} is not a valid name (lowercase letters, digits and '-')")
    return value


def checked_target(ctx: OpContext, name: str) -> Target:
    """The target ``name``, its host key compared with the pinned one."""
    from ..remote.ssh import check_host_key
    from ..targets.inventory import get_target

    target = get_target(ctx.ws, name)
    check_host_key(ctx.ws, target)
    ctx.cancel.check()
    return target


def refuse_spread(ctx: OpContext, target: Target, *, app: str, what: str) -> None:
    """An app that ``install`` spreads over the hosts of ``target`` (its catalog entry has
    roles, the target several hosts carrying them): an operation that works on the first host
    only would miss the other hosts' parts (the database and its data). Refused (exit 2)
    before anything changes; install and status work across hosts."""
    if not target.multi_host:
        return
    from ..catalog.loader import get_entry
    from ..errors import SpbeError
    from ..plans.placement import placement

    try:
        entry = get_entry(ctx.ws, app).entry
    except SpbeError:
        return  # not in the catalog: this workspace did not install it across hosts
    spread = [f"{p.host.name}: " + "+".join(p.names) for p in placement(entry, target) or () if p.components]
    if len(spread) > 1:
        where = "; ".join(spread)
        raise InvalidInput(
            f"{what} of {app} on {target.name}: {app} runs across the hosts of {target.name} ({where});"
            f" this version does {what} on one host only, so nothing was changed (install and status work"
            " across hosts)"
        )


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
    from ..remote.scripts import ask

    class _Any(BaseModel):
        model_config = ConfigDict(extra="allow")

    ctx.cancel.check()
    request = {"root": target.root, "app": app, "deploys": list(deploys or []), "history": 200, "blobs": True}
    try:
        data = ask(ctx.ws, target, "spbe_appstate", request, _Any, what=f"reading the state of {app}",
                   limit=STATE_LIMIT).model_dump()
    except SpbeError:
        ctx.cancel.check()  # an interrupt also stops the ssh: say so, not that the read failed
        raise
    ctx.cancel.check()
    return parse_state(data, target=target, app=app)


# the answer's cap: 200 release records, the deploy specs, the blob digests and backups (each
# file is read up to 1 MiB on the target)
STATE_LIMIT = 64 << 20


__all__ = ["agreement_for", "checked_target", "read_state", "require_slug"]
