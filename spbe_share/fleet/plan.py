"""``spbe-share plan``: which installs a regulation, a security advisory (or a new version)
affects, and what each would ship and change.

Who: every selected target is read once (:func:`~.status.read_targets`, in parallel: one SSH
round trip running ``spbe_status``'s reading, or ``status.yml`` on an execution node), with its
blob list. What: for each (target, app) running a release older than the goal
(``--to VERSION``, or for ``--regulation`` the first release of the app naming it), or, for
``--advisory ID``, every install in the advisory's affected range (goal: the release that fixes
it, or a later ``--to``), a :class:`PlanItem`:

- the upgrade path (every release between the running one and the goal) and whether data
  migrates on it;
- the agreement (MoU/PKS) that covers the adopter today; none, expired or not yet valid means
  ``blocked`` and says so;
- preflight against the goal release's requirements: ONE ``preflight.yml`` run over every
  affected target (each host its own root, ports and containers, as host variables);
- the bytes to ship: the goal bundle's blobs the target does not hold yet (when the bundle is
  given or cached; a plan never builds one).

The plan records the goal bundle of each app it was made with (:class:`GoalBundle`: its
digest and where it was found), or that it was made without one. ``fleet upgrade --plan``
uses that bundle, verified again, and refuses when it is gone or changed; a plan made without
one asks for ``--bundle`` there (see :mod:`.upgrade`).

:func:`build_items` is pure (reads, entries, agreements, day -> items). The plan file (YAML,
:class:`PlanFile`) is what a person reviews, may edit (drop a target, change a goal) and gives
to ``fleet upgrade --plan``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..catalog.models import SEMVER, SLUG, semver_key
from ..errors import InvalidInput, NotFound
from .models import AgreementState

if TYPE_CHECKING:
    from ..agreements import Agreement
    from ..catalog.models import Advisory, Entry
    from ..ops.bundles import VerifiedBundle
    from ..ops.preflight import Check
    from ..remote.interrupts import CancelToken
    from ..remote.stream import ExecutionNode
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .reads import TargetRead

Action = Literal["upgrade", "blocked", "current", "unreachable"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreflightResult(_Strict):
    ok: bool | None = Field(description="null: not run (blocked before, or unreachable)")
    failed: list[str] = Field(default_factory=list, description="'check: required X, found Y'")


class PlanItem(_Strict):
    target: str = Field(pattern=SLUG)
    pemda: str
    app: str = Field(pattern=SLUG)
    from_version: str | None = Field(default=None, pattern=SEMVER)
    to_version: str = Field(pattern=SEMVER)
    action: Action
    path: list[str] = Field(default_factory=list, description="releases applied, oldest first")
    migrates_data: bool = False
    agreement: AgreementState | None = None
    preflight: PreflightResult = PreflightResult(ok=None)
    blobs_to_ship: int | None = None
    bytes_to_ship: int | None = None
    reasons: list[str] = Field(default_factory=list, description="why blocked, unreachable or current")


class GoalBundle(_Strict):
    """The goal bundle of one app and release that a plan was made with (or none)."""

    app: str = Field(pattern=SLUG)
    version: str = Field(pattern=SEMVER)
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$",
                               description="sha256 of its signed manifest; null: the plan was made without one")  # fmt: skip
    path: str | None = Field(default=None, max_length=4096, description="where it was found (absolute)")
    found: Literal["given", "cached"] | None = Field(default=None, description="given with --bundle, or the workspace's")
    signer: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$", description="the key that signed it")


class PlanFile(_Strict):
    """The plan file (YAML) a person reviews and ``fleet upgrade --plan`` runs."""

    schema_version: Literal[1] = 1
    generated_at: dt.datetime
    regulation: str | None = Field(default=None, description="the regulation's URI, when planned for one")
    advisory: str | None = Field(default=None, max_length=200, description="the advisory's id, when planned for one")
    selector: str
    goal_bundles: list[GoalBundle] = Field(
        default_factory=list, description="the goal bundle of each app and release, as planned (digest null: none)"
    )
    items: list[PlanItem]

    def goal_bundle(self, app: str, version: str) -> GoalBundle | None:
        """The goal bundle recorded for ``app`` ``version`` (None: the plan names none, e.g. an
        item whose to_version a reviewer changed, or a plan file from before plans recorded them)."""
        for b in self.goal_bundles:
            if (b.app, b.version) == (app, version) and b.digest is not None:
                return b
        return None

    def digest(self) -> str:
        """What is rolled out: the upgrade items (target, app, goal), not when the plan was made."""
        todo = sorted((i.target, i.app, i.to_version) for i in self.items if i.action == "upgrade")
        return hashlib.sha256(repr(todo).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Goal:
    """Upgrade ``app`` to ``to``; only installs older than ``below`` are affected, or, for an
    advisory, only installs in its affected range."""

    app: str
    to: str
    below: str
    advisory: Advisory | None = None

    def affects(self, version: str) -> bool:
        if self.advisory is not None:
            return self.advisory.affects(version)
        return semver_key(version) < semver_key(self.below)


def advisory_goal(entries: Mapping[str, Entry], *, advisory_id: str, app: str | None, to: str | None) -> Goal:
    """The goal of ``--advisory ID`` (pure): the app whose releases carry it, to ``--to`` or the
    release that fixes it; only installs in its affected range are affected."""
    found = [(e, a) for e in entries.values() if app is None or e.id == app
             if (a := e.advisory(advisory_id)) is not None]  # fmt: skip
    if not found:
        where = f"{app}'s releases" if app else "the catalog"
        raise NotFound(f"no advisory {advisory_id!r} in {where} (catalog show APP lists an app's advisories)")
    if len(found) > 1:
        raise InvalidInput(f"advisory {advisory_id} is in {', '.join(sorted(e.id for e, _a in found))}: name the app"
                           " (plan APP --advisory ID)")  # fmt: skip
    entry, adv = found[0]
    if adv.fixed_in is None:
        raise InvalidInput(f"advisory {adv.id} of {entry.id} has no fixed release yet: nothing to upgrade to"
                           f" (spbe-share audit {entry.id} names the installs it affects)")  # fmt: skip
    goal_to = _release(entry, to or adv.fixed_in)
    if adv.affects(goal_to) or semver_key(goal_to) < semver_key(adv.fixed_in):
        raise InvalidInput(f"--to {goal_to}: advisory {adv.id} is fixed in {adv.fixed_in}; {goal_to} does not fix it")
    return Goal(app=entry.id, to=goal_to, below=adv.fixed_in, advisory=adv)


def goals_for(entries: Mapping[str, Entry], *, app: str | None, to: str | None, regulation: str | None,
              advisory: str | None = None) -> tuple[list[Goal], str | None]:  # fmt: skip
    """The goals of a plan (pure): ``APP --to VERSION``, ``--regulation TEXT`` (every app
    implementing it, each to ``--to`` or its newest release) or ``--advisory ID`` (the app, to
    the release that fixes it). Returns (goals, regulation URI)."""
    from .regulations import find_one, regulation_index

    if advisory and regulation:
        raise InvalidInput("give --regulation TEXT or --advisory ID, not both")
    if advisory:
        return [advisory_goal(entries, advisory_id=advisory, app=app, to=to)], None

    if regulation:
        reg = find_one(regulation_index(entries.values()), regulation)
        apps = [a for a in reg.apps if app is None or a == app]
        if not apps:
            raise NotFound(f"{app} implements no release of {reg.name}; it is implemented by {', '.join(reg.apps)}")
        goals = []
        for a in apps:
            first = reg.first_release(a)
            assert first is not None
            goal_to = to or entries[a].latest.version
            if semver_key(goal_to) < semver_key(first):
                raise InvalidInput(f"--to {goal_to}: {a} implements {reg.name} only from {first}")
            goals.append(Goal(app=a, to=_release(entries[a], goal_to), below=first))
        return goals, reg.uri
    if app is None:
        raise InvalidInput("give an app and --to VERSION, or --regulation TEXT")
    entry = entries.get(app)
    if entry is None:
        raise NotFound(f"no app {app!r} in the catalog (try: spbe-share catalog search)")
    goal_to = _release(entry, to or entry.latest.version)
    return [Goal(app=app, to=goal_to, below=goal_to)], None


def _release(entry: Entry, version: str) -> str:
    try:
        return entry.release(version).version
    except KeyError:
        known = ", ".join(r.version for r in entry.releases)
        raise NotFound(f"app {entry.id!r} has no release {version!r} (releases: {known})") from None


def upgrade_path(entry: Entry, from_version: str, to: str) -> list[str]:
    """Releases after ``from_version`` up to ``to``, oldest first (pure)."""
    lo, hi = semver_key(from_version), semver_key(to)
    return [r.version for r in sorted(entry.releases, key=lambda r: semver_key(r.version)) if lo < semver_key(r.version) <= hi]


def build_items(
    reads: Mapping[str, TargetRead],
    goals: Sequence[Goal],
    *,
    entries: Mapping[str, Entry],
    agreements: Sequence[Agreement],
    today: dt.date,
) -> list[PlanItem]:
    """One item per (target, goal app) the target runs, or per unreachable target (pure)."""
    from .status import agreement_state

    items: list[PlanItem] = []
    for name in sorted(reads):
        read = reads[name]
        t = read.target
        for g in goals:
            entry = entries[g.app]
            base: dict[str, Any] = {"target": t.name, "pemda": t.pemda, "app": g.app, "to_version": g.to}
            if not read.reachable:
                items.append(PlanItem(**base, action="unreachable", reasons=[read.error or "no answer"]))
                continue
            have = read.version_of(g.app)
            if have is None:
                continue  # not installed there: not affected
            if not g.affects(have) or semver_key(have) >= semver_key(g.to):
                why = f"runs {have}" + (f", not affected by {g.advisory.id}" if g.advisory and not g.affects(have) else "")
                items.append(PlanItem(**base, from_version=have, action="current", reasons=[why]))
                continue
            path = upgrade_path(entry, have, g.to)
            migrates = any(r.migrates_data for r in entry.releases if r.version in path)
            ag = agreement_state(agreements, app=g.app, kode_wilayah=t.kode_wilayah, today=today,
                                 required=entry.sharing.mou_required)  # fmt: skip
            reasons = []
            if ag is not None and ag.status != "active":
                word = {"none": "no agreement (MoU/PKS) covers it", "expired": f"agreement {ag.number} expired"
                        f" on {ag.valid_until}", "future": f"agreement {ag.number} is not valid yet"}[ag.status]  # fmt: skip
                reasons.append(word)
            goal = entry.release(g.to)
            if goal.upgrades_from and semver_key(have) < semver_key(goal.upgrades_from):
                reasons.append(f"{g.to} upgrades only from {goal.upgrades_from}: upgrade to that first")
            items.append(PlanItem(**base, from_version=have, action="blocked" if reasons else "upgrade", path=path,
                                  migrates_data=migrates, agreement=ag, reasons=reasons))  # fmt: skip
    return items


def apply_preflight(items: Sequence[PlanItem], checks: Mapping[tuple[str, str], Sequence[Check] | str]) -> None:
    """Record each item's preflight (``checks[(target, app)]``: the checks, or why none ran);
    a failed preflight blocks the item."""
    for item in items:
        got = checks.get((item.target, item.app))
        if got is None:
            continue
        if isinstance(got, str):
            item.preflight = PreflightResult(ok=False, failed=[got])
        else:
            bad = [f"{c.check}: required {c.required}, found {c.found}" for c in got if not c.ok]
            item.preflight = PreflightResult(ok=not bad, failed=bad)
        if not item.preflight.ok and item.action == "upgrade":
            item.action = "blocked"
            item.reasons.append("preflight failed: " + "; ".join(item.preflight.failed))


def apply_bytes(items: Sequence[PlanItem], reads: Mapping[str, TargetRead], sizes: Mapping[str, Mapping[str, int]]) -> None:
    """Bytes to ship per item: the goal bundle's blobs (``sizes[app]``: digest -> size) the target lacks."""
    for item in items:
        blob_sizes = sizes.get(item.app)
        have = reads[item.target].blobs if item.target in reads else None
        if blob_sizes is None or have is None or item.action in ("current", "unreachable"):
            continue
        missing = [d for d in blob_sizes if d not in have]
        item.blobs_to_ship, item.bytes_to_ship = len(missing), sum(blob_sizes[d] for d in missing)


# ---------------------------------------------------------------- talking to targets


def preflight_many(
    ws: Workspace,
    pairs: Sequence[tuple[Target, Entry]],
    *,
    forks: int | None = None,
    node: ExecutionNode | None = None,
    cancel: CancelToken | None = None,
) -> dict[tuple[str, str], list[Check] | str]:
    """Preflight of (target, entry) pairs, one ``preflight.yml`` run per app over its targets."""
    from ..errors import Cancelled
    from ..ops.preflight import TargetFacts, evaluate, preflight_vars, required_ports
    from ..remote.runner import run_playbook

    out: dict[tuple[str, str], list[Check] | str] = {}
    by_app: dict[str, list[tuple[Target, Entry]]] = {}
    for t, e in pairs:
        by_app.setdefault(e.id, []).append((t, e))
    for app, group in sorted(by_app.items()):
        host_vars = {t.name: {k: v for k, v in preflight_vars(t, e).items() if k != "spbe_target"} for t, e in group}
        run = run_playbook(
            ws, op="fleet-preflight", target="fleet", app=app, playbook="preflight.yml",
            targets=[t for t, _ in group], extravars={"spbe_target": "spbe_targets"}, host_vars=host_vars,
            forks=forks or min(len(group), 50), node=node, cancel=cancel, timeout=600,
        )  # fmt: skip
        if run.cancelled:
            raise Cancelled("plan stopped; it changes nothing")
        for t, e in group:
            data = run.stats.get(t.name, {}).get("spbe_preflight")
            if not isinstance(data, dict):
                out[(t.name, app)] = f"preflight: no answer ({(run.host_errors.get(t.name) or run.status)[:200]})"
                continue
            try:
                facts = TargetFacts.model_validate(data)
            except ValueError as exc:
                out[(t.name, app)] = f"preflight: invalid facts from the target: {str(exc).splitlines()[0][:200]}"
                continue
            out[(t.name, app)] = evaluate(e.requirements, facts, ports=required_ports(e))
    return out


def make_plan(
    ws: Workspace,
    *,
    targets: Sequence[Target],
    selector: str,
    app: str | None = None,
    to: str | None = None,
    regulation: str | None = None,
    advisory: str | None = None,
    bundles: Sequence[Path] = (),
    preflight: bool = True,
    timeout: int = 30,
    forks: int | None = None,
    node: ExecutionNode | None = None,
    cancel: CancelToken | None = None,
    now: dt.datetime | None = None,
) -> PlanFile:
    """Read the targets, then build the plan (read-only everywhere).

    ``bundles``: goal bundle files (each names its app and release; else the workspace's cached
    one, if any); with one, bytes to ship are counted, preflight uses the entry inside the
    verified bundle, and the plan records it (digest, path) for ``fleet upgrade --plan``."""
    from ..agreements import load_agreements
    from .status import catalog_entries, read_targets

    when = now or dt.datetime.now(dt.UTC)
    entries = catalog_entries(ws)
    goals, reg_uri = goals_for(entries, app=app, to=to, regulation=regulation, advisory=advisory)
    given = _given_bundles(ws, goals, bundles)
    reads = read_targets(ws, targets, timeout=timeout, forks=forks, blobs=True, node=node, cancel=cancel)
    items = build_items(reads, goals, entries=entries, agreements=load_agreements(ws), today=when.date())
    goal_entries: dict[str, Entry] = {g.app: entries[g.app] for g in goals}
    sizes: dict[str, dict[str, int]] = {}
    recorded: list[GoalBundle] = []
    for g in goals:
        vb = given.get(g.app) or _cached_bundle(ws, g)
        if vb is None:
            recorded.append(GoalBundle(app=g.app, version=g.to))
            continue
        sizes[g.app] = vb.blob_sizes()
        goal_entries[g.app] = vb.entry
        recorded.append(GoalBundle(app=g.app, version=g.to, digest=vb.digest, path=str(vb.path.resolve()),
                                   found="given" if g.app in given else "cached", signer=vb.manifest.signer))  # fmt: skip
    apply_bytes(items, reads, sizes)
    if preflight:
        by_name = {t.name: t for t in targets}
        pairs = [(by_name[i.target], goal_entries[i.app]) for i in items if i.action == "upgrade"]
        if pairs:
            apply_preflight(items, preflight_many(ws, pairs, forks=forks, node=node, cancel=cancel))
    adv = next((g.advisory.id for g in goals if g.advisory is not None), None)
    return PlanFile(generated_at=when, regulation=reg_uri, advisory=adv, selector=selector, goal_bundles=recorded,
                    items=items)  # fmt: skip


def _given_bundles(ws: Workspace, goals: Sequence[Goal], paths: Sequence[Path]) -> dict[str, VerifiedBundle]:
    """app -> the verified bundle given for it (``--bundle``, each naming its app and release)."""
    by_app = {g.app: g for g in goals}
    out: dict[str, VerifiedBundle] = {}
    for path in paths:
        vb = verified_goal_bundle(ws, path)
        goal = by_app.get(vb.app)
        if goal is None:
            raise InvalidInput(f"--bundle {path} holds {vb.app} {vb.version}, which this plan does not upgrade"
                               f" (it upgrades {', '.join(sorted(by_app))})")  # fmt: skip
        if vb.version != goal.to:
            raise InvalidInput(f"bundle {path} holds {vb.app} {vb.version}, not {goal.app} {goal.to}")
        if vb.app in out:
            raise InvalidInput(f"--bundle {path}: a bundle of {vb.app} was given already ({out[vb.app].path})")
        out[vb.app] = vb
    return out


def _cached_bundle(ws: Workspace, goal: Goal) -> VerifiedBundle | None:
    """The workspace's cached goal bundle, verified, when there is one (a plan never builds one)."""
    from ..bundle.pack import bundle_filename

    path = ws.bundles_dir / bundle_filename(goal.app, goal.to)
    if not path.is_file():
        return None
    vb = verified_goal_bundle(ws, path)
    if vb.app != goal.app or vb.version != goal.to:
        raise InvalidInput(f"bundle {path} holds {vb.app} {vb.version}, not {goal.app} {goal.to}")
    return vb


def verified_goal_bundle(ws: Workspace, path: Path) -> VerifiedBundle:
    """``path`` verified against the trusted keys, extracted, with the entry inside it."""
    from ..catalog.models import Entry as EntryModel
    from ..ops.bundles import VerifiedBundle, manifest_digest, verify_and_extract
    from ..yamlio import load_model

    manifest, dest, _known = verify_and_extract(ws, path)
    entry = load_model(EntryModel, dest / "entry" / "spbe-app.yaml")
    return VerifiedBundle(path=path, manifest=manifest, dir=dest, digest=manifest_digest(manifest), entry=entry)


# ---------------------------------------------------------------- the plan file


def write_plan(path: Path, plan: PlanFile) -> None:
    from ..files import atomic_write_text
    from ..yamlio import dump_yaml

    header = (
        "# spbe-share plan: review it; you may delete items or change to_version, then run\n"
        f"#   spbe-share fleet upgrade --plan {path.name}\n"
        "# Only items with action: upgrade are rolled out, with the goal bundles below (verified again;\n"
        "# digest null: made without one, give it with --bundle FILE).\n"
    )
    atomic_write_text(path, header + dump_yaml(plan.model_dump(mode="json")))


def read_plan(path: Path) -> PlanFile:
    from ..yamlio import load_model

    return load_model(PlanFile, path)


__all__ = [
    "Goal",
    "GoalBundle",
    "advisory_goal",
    "PlanFile",
    "PlanItem",
    "PreflightResult",
    "apply_bytes",
    "apply_preflight",
    "build_items",
    "goals_for",
    "make_plan",
    "preflight_many",
    "read_plan",
    "upgrade_path",
    "verified_goal_bundle",
    "write_plan",
]
