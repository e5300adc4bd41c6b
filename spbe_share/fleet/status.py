"""``spbe-share fleet status``: who runs which version, how healthy, how far behind, under which
agreement, for many targets at once.

Reading (:func:`read_targets`) runs the ``spbe_status`` reading of every selected target,
``forks`` of them at a time, each bounded by a per-target timeout, so a slow or unreachable
target holds up no other. By default each target is one SSH round trip running the module's
source as a script (:mod:`.direct`: no Ansible on the controller's hot path); with an
execution node it is ONE ansible-runner run of ``playbooks/status.yml`` (``strategy: free``)
on that node, which has a deadline for the whole run. What each target answers is validated
(:func:`parse_read`) before anything uses it: a target is not trusted, so a malformed,
oversized or foreign record becomes an error on that target's row.

Rows (:func:`build_rows`) are a pure function of those reads, the catalog, the agreements and
the day: the ``fleet status --json`` format of :mod:`.models` (the web catalog renders it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..records.state import ReleaseRecord
from ..tlscerts import expiry_text
from .models import (
    AgreementState,
    FleetRow,
    FleetStatus,
    MissingRegulation,
    RowWatch,
)
from .reads import parse_read

if TYPE_CHECKING:
    from ..agreements import Agreement
    from ..catalog.models import Entry
    from ..remote.interrupts import CancelToken
    from ..remote.stream import ExecutionNode
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .reads import TargetRead

DEFAULT_TIMEOUT = 30
MAX_FORKS = 50
EXPIRY_WARNING_DAYS = 90
UNKNOWN_APP = "unknown"  # the app of a row for a target that could not be read and never was
# ---------------------------------------------------------------- what a target answers (untrusted)


# ---------------------------------------------------------------- reading many targets


def run_deadline(n_targets: int, *, forks: int, timeout: int) -> int:
    """Seconds the whole read may take: waves of ``forks`` targets, each bounded by ``timeout``."""
    waves = math.ceil(max(n_targets, 1) / max(forks, 1))
    return waves * (timeout + 25) + 60


def read_targets(
    ws: Workspace,
    targets: Sequence[Target],
    *,
    timeout: int = DEFAULT_TIMEOUT,
    forks: int | None = None,
    blobs: bool = False,
    node: ExecutionNode | None = None,
    cancel: CancelToken | None = None,
    via: Literal["ssh", "ansible"] = "ssh",
    first_login: Sequence[str] = (),
) -> dict[str, TargetRead]:
    """Read every target; a target that does not answer in ``timeout`` s is unreachable.
    ``first_login``: ``APP:SECRET:PATH`` items, the apps asked whether their initial password
    is still in use.

    ``via="ssh"`` (the default): one SSH round trip per target (:func:`.direct.read_direct`);
    ``via="ansible"``, or an execution ``node``: one run of ``playbooks/status.yml``."""
    if not targets:
        return {}
    forks = forks or min(len(targets), MAX_FORKS)
    if node is None and via == "ssh":
        from .direct import read_direct

        return read_direct(ws, targets, timeout=timeout, forks=forks, blobs=blobs, cancel=cancel,
                           first_login=first_login)
    return _read_by_playbook(ws, targets, timeout=timeout, forks=forks, blobs=blobs, node=node, cancel=cancel,
                             first_login=first_login)


def _read_by_playbook(ws: Workspace, targets: Sequence[Target], *, timeout: int, forks: int, blobs: bool,
                      node: ExecutionNode | None, cancel: CancelToken | None,
                      first_login: Sequence[str] = ()) -> dict[str, TargetRead]:  # fmt: skip
    """Every target in one run of ``status.yml`` (on ``node`` when given)."""
    from ..errors import Cancelled
    from ..remote.runner import HOST_KEY_PATTERNS, run_playbook

    run = run_playbook(
        ws,
        op="fleet-status",
        target="fleet",
        app=None,
        playbook="status.yml",
        targets=list(targets),
        extravars={"spbe_target": "spbe_targets", "spbe_status_timeout": timeout, "spbe_status_blobs": blobs,
                   "spbe_status_first_login": list(first_login)},
        timeout=run_deadline(len(targets), forks=forks, timeout=timeout),
        forks=forks,
        node=node,
        cancel=cancel,
    )
    if run.cancelled:
        raise Cancelled("fleet status stopped; it changes nothing")
    out: dict[str, TargetRead] = {}
    for t in targets:
        data = run.stats.get(t.name, {}).get("spbe_status")
        if data is not None:
            out[t.name] = parse_read(t, data)
            continue
        why = run.host_errors.get(t.name)
        if why is None:
            why = f"no answer within {timeout}s" if run.status == "timeout" else f"no answer ({run.status})"
        elif any(p.lower() in why.lower() for p in HOST_KEY_PATTERNS):
            why = f"host key does not match the pinned one; not read ({why[:300]})"
        out[t.name] = TargetRead(t, reachable=False, error=why[:500])
    return out


# ---------------------------------------------------------------- rows (pure)


def agreement_state(
    agreements: Sequence[Agreement], *, app: str, kode_wilayah: str, today: dt.date, required: bool = True
) -> AgreementState | None:
    """The agreement that governs (app, adopter) today: the active one lasting longest, else the
    one starting next, else the one that expired last; ``status: none`` when there is none."""
    mine = [a for a in agreements if app in a.apps and a.adopter.kode_wilayah == kode_wilayah]
    if not mine:
        return AgreementState(status="none") if required else None
    for state in ("active", "future", "expired"):
        found = [a for a in mine if a.state_on(today) == state]
        if found:
            if state == "future":
                a = min(found, key=lambda a: (a.signed, a.number))
            else:
                a = max(found, key=lambda a: (a.valid_until, a.number))
            soon = state == "active" and (a.valid_until - today).days <= EXPIRY_WARNING_DAYS
            return AgreementState(number=a.number, valid_until=a.valid_until, status=state,
                                  expires_within_90_days=soon)  # fmt: skip
    return AgreementState(status="none")  # pragma: no cover - every agreement has a state


def _row_watch(read: TargetRead, app: str, now: dt.datetime) -> RowWatch | None:
    from ..records.watch import view_of

    if read.watch is None:
        return None
    view = view_of(read.watch, target=read.target.name, now=now)
    r = view.readings(app)
    return RowWatch(checked_at=view.checked_at, age_minutes=view.age_minutes,
                    warnings=[w.message for w in view.for_app(app)], disk_used_percent=r.disk_used_percent,
                    backup_age_hours=r.backup_age_hours, restarts=r.restarts,
                    certificate_not_after=r.certificate_not_after)  # fmt: skip


def _row(read: TargetRead, app: str, entry: Entry | None, agreements: Sequence[Agreement], today: dt.date,
         now: dt.datetime, *, version: str | None, health: str, error: str | None, reachable: bool,
         watch: RowWatch | None = None) -> FleetRow:
    from ..targets.selectors import groups_of
    from .regulations import missing_for, releases_behind

    t = read.target
    latest = entry.latest.version if entry else None
    behind = missing = None
    if entry is not None and version is not None:
        behind = releases_behind(entry, version)
        missing = [MissingRegulation(name=n, uri=u) for n, u in missing_for(entry, version)]
    required = entry.sharing.mou_required if entry is not None else True
    cert = read.tls.get(app)
    login = read.first_login.get(app)
    return FleetRow(
        initial_password_in_use=login.in_use if login else None, initial_password_since=login.since if login else None,
        initial_password_changed_seen=login.changed_seen if login else None,
        first_login_user=entry.first_login.user if entry is not None and entry.first_login is not None else None,
        tls_not_after=cert.not_after if cert else None,
        tls_expires_soon=expiry_text(cert.not_after, now)[1] if cert else None,
        target=t.name, pemda=t.pemda, kode_wilayah=t.kode_wilayah, groups=list(groups_of(t)), app=app,
        version=version, health=health, last_operation=read.last.get(app), latest_version=latest,
        releases_behind=behind, missing_regulations=missing or [],
        agreement=agreement_state(agreements, app=app, kode_wilayah=t.kode_wilayah, today=today, required=required),
        reachable=reachable, error=error, watch=watch,
    )  # fmt: skip


def build_rows(
    reads: Mapping[str, TargetRead],
    *,
    entries: Mapping[str, Entry],
    agreements: Sequence[Agreement],
    today: dt.date,
    now: dt.datetime,
    app: str | None = None,
    cached: Mapping[str, Sequence[ReleaseRecord]] | None = None,
) -> FleetStatus:
    """One row per (target, app); ``app`` limits the rows to one app (a target not running it is
    a row with no version, health ``missing``). ``cached``: the records this workspace last saw
    on each target, to name the apps of a target that cannot be read now."""
    rows: list[FleetRow] = []
    for name in sorted(reads):
        read = reads[name]
        if not read.reachable:
            known = sorted({r.app for r in (cached or {}).get(name, ())})
            apps = [app] if app else (known or [UNKNOWN_APP])
            for a in apps:
                rows.append(_row(read, a, entries.get(a), agreements, today, now, version=None, health="unknown",
                                 error=read.error, reachable=False))  # fmt: skip
            continue
        problem = "; ".join(read.problems)[:500] or read.error
        apps = [app] if app else [r.app for r in read.records]
        if not apps and problem:
            apps = [UNKNOWN_APP]
        for a in apps:
            version = read.version_of(a)
            health, detail = read.health.get(a, ("missing", ""))
            if version is None and a == UNKNOWN_APP:
                health = "unknown"
            error = problem if (problem and (version is None or a == UNKNOWN_APP)) else (detail or None)
            rows.append(_row(read, a, entries.get(a), agreements, today, now, version=version, health=health,
                             error=error, reachable=True, watch=_row_watch(read, a, now)))  # fmt: skip
    return FleetStatus(generated_at=now, rows=rows)


# ---------------------------------------------------------------- the command's library call


def catalog_entries(ws: Workspace) -> dict[str, Entry]:
    """app id -> entry of the catalog (an id in several sources: the first source's entry)."""
    from ..catalog.loader import open_catalog

    out: dict[str, Entry] = {}
    for le in open_catalog(ws).entries:
        out.setdefault(le.id, le.entry)
    return out


def fleet_status(
    ws: Workspace,
    *,
    targets: Sequence[Target],
    app: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    forks: int | None = None,
    node: ExecutionNode | None = None,
    cancel: CancelToken | None = None,
    now: dt.datetime | None = None,
    via: Literal["ssh", "ansible"] = "ssh",
) -> tuple[FleetStatus, dict[str, TargetRead]]:
    """Read ``targets`` and build the rows (also returns the reads, for plans)."""
    from ..agreements import load_agreements
    from ..records import firstlogin
    from ..records.state import load_cached
    from ..vuln.audit import worst_findings

    when = now or dt.datetime.now(dt.UTC)
    entries = catalog_entries(ws)
    reads = read_targets(ws, targets, timeout=timeout, forks=forks, node=node, cancel=cancel, via=via,
                         first_login=firstlogin.items_for(entries.values()))
    for name, r in reads.items():
        if r.first_login:
            r.first_login = firstlogin.remember(ws, name, r.first_login, when)
    cached = {n: load_cached(ws, n) for n, r in reads.items() if not r.reachable}
    status = build_rows(reads, entries=entries, agreements=load_agreements(ws), today=when.date(),
                        now=when, app=app, cached=cached)  # fmt: skip
    return with_findings(status, worst_findings(ws, reads, entries)), reads


def with_findings(status: FleetStatus, worst: Mapping[tuple[str, str], str | None]) -> FleetStatus:
    """The rows with the worst known finding of ``spbe-share audit`` for their release (pure)."""
    rows = [r.model_copy(update={"worst_finding": worst.get((r.target, r.app))}) for r in status.rows]
    return status.model_copy(update={"rows": rows})


CSV_COLUMNS = [
    "target", "pemda", "kode_wilayah", "groups", "app", "version", "health", "reachable", "error",
    "last_operation", "last_result", "last_when", "latest_version", "releases_behind",
    "missing_regulations", "agreement_number", "agreement_status", "agreement_valid_until",
    "agreement_expires_within_90_days", "worst_finding", "tls_not_after", "tls_expires_soon",
    "watch_checked_at", "watch_warnings", "initial_password_in_use", "initial_password_since",
]  # fmt: skip


def csv_rows(status: FleetStatus) -> list[list[str]]:
    """The rows as CSV cells (lists joined with ';'), in :data:`CSV_COLUMNS` order."""

    def s(v: Any) -> str:
        return "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)

    out = []
    for r in status.rows:
        lo, ag, wa = r.last_operation, r.agreement, r.watch
        out.append([
            r.target, r.pemda, r.kode_wilayah, ";".join(r.groups), r.app, s(r.version), r.health, s(r.reachable),
            s(r.error), s(lo.what if lo else None), s(lo.result if lo else None),
            s(lo.when.isoformat() if lo else None), s(r.latest_version), s(r.releases_behind),
            ";".join(m.name for m in r.missing_regulations), s(ag.number if ag else None),
            s(ag.status if ag else None), s(ag.valid_until if ag else None),
            s(ag.expires_within_90_days if ag else None), s(r.worst_finding),
            s(r.tls_not_after.isoformat() if r.tls_not_after else None), s(r.tls_expires_soon),
            s(wa.checked_at.isoformat() if wa and wa.checked_at else None), ";".join(wa.warnings if wa else []),
            s(r.initial_password_in_use), s(r.initial_password_since.isoformat() if r.initial_password_since else None),
        ])  # fmt: skip
    return out


__all__ = [
    "CSV_COLUMNS",
    "TargetRead",
    "agreement_state",
    "build_rows",
    "catalog_entries",
    "csv_rows",
    "fleet_status",
    "parse_read",
    "read_targets",
    "run_deadline",
]
