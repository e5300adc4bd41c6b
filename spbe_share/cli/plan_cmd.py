"""``spbe-share plan``: who must upgrade for a regulation (or to a version), and what each would
ship and change. Read-only everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .output import emit_json, info, table


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def plan_table(plan: Any) -> None:
    rows = []
    for i in plan.items:
        path = " -> ".join([i.from_version or "?", *i.path]) if i.path else (i.from_version or "-")
        ag = i.agreement
        agreement = "not required" if ag is None else (f"{ag.number} {ag.status}" if ag.number else ag.status)
        pre = {True: "ok", False: "FAILED", None: "-"}[i.preflight.ok]
        rows.append((i.target, i.app, path, "yes" if i.migrates_data else "no", agreement, pre,
                     _mb(i.bytes_to_ship), i.action.upper() if i.action == "blocked" else i.action,
                     "; ".join(i.reasons)[:160]))  # fmt: skip
    table(["target", "app", "upgrade path", "data migrates", "agreement", "preflight", "to ship", "action", "why"],
          rows, title=f"plan {plan.generated_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip


@click.command("plan")
@click.argument("app", required=False)
@click.option("--to", "to", default=None, metavar="VERSION", help="Goal release (default: the app's newest).")
@click.option("--regulation", default=None, metavar="TEXT",
              help="Every install older than the first release implementing it: a citation"
              " (Permendagri 83/2022), a URI or part of its name.")
@click.option("--advisory", default=None, metavar="ID",
              help="Every install in a security advisory's affected range (catalog show APP lists them), to the"
              " release that fixes it (or --to).")
@click.option("--target", "-t", "selector", default="all", show_default=True, metavar="SELECTOR",
              help="Targets: a name, a group, kode:96.*, all, comma-separated, !NAME excludes.")
@click.option("--bundle", "bundles", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="The goal release's signed bundle (repeatable, one per app; default: the cached one, if any):"
              " bytes to ship are counted and the plan records it for `fleet upgrade --plan`.")
@click.option("--no-preflight", is_flag=True, help="Skip the preflight of the affected targets.")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the plan file (YAML) here, for review and `fleet upgrade --plan`.")
@click.option("--timeout", type=click.IntRange(1, 3600), default=30, show_default=True,
              help="Seconds one target may take to answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def plan(ws: Any, app: str | None, to: str | None, regulation: str | None, advisory: str | None, selector: str,
         bundles: tuple[Path, ...], no_preflight: bool, out: Path | None, timeout: int, as_json: bool) -> None:
    """Which installs must upgrade (for --regulation TEXT, --advisory ID, or APP --to VERSION), with the
    upgrade path, whether data migrates, the agreement (expired or missing: blocked),
    preflight against the new release and the bytes to ship. Changes nothing on any target."""
    from ..fleet.plan import make_plan, write_plan
    from ..ops.context import OpContext
    from ..remote.interrupts import interrupts
    from .selection import selected_targets

    targets = selected_targets(ws, selector)
    ctx = OpContext.create(ws, say=info)
    with interrupts(ctx.cancel):
        result = make_plan(ws, targets=targets, selector=selector, app=app, to=to, regulation=regulation,
                           advisory=advisory, bundles=bundles, preflight=not no_preflight,
                           timeout=timeout, cancel=ctx.cancel, now=ctx.now)  # fmt: skip
    if out is not None:
        write_plan(out, result)
    if as_json:
        emit_json(result.model_dump(mode="json"))
    else:
        plan_table(result)
    counts: dict[str, int] = {}
    for i in result.items:
        counts[i.action] = counts.get(i.action, 0) + 1
    info(", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no selected target runs an affected app")
    for g in result.goal_bundles:
        if g.digest is None:
            info(f"no goal bundle of {g.app} {g.version}: bytes to ship not counted; `fleet upgrade --plan` will"
                 " ask for the donor's signed bundle (--bundle FILE)")  # fmt: skip
        else:
            info(f"goal bundle of {g.app} {g.version} ({g.found}): {g.path}, {g.digest}, signed by key {g.signer}")
    if out is not None:
        info(f"plan written to {out}: review it, then `spbe-share fleet upgrade --plan {out}`")
