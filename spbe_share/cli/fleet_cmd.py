"""``spbe-share fleet status | upgrade``: many targets at once."""

from __future__ import annotations

import csv
import sys
from typing import Any

import click

from .output import info, table


def execution_node_option(f: Any) -> Any:
    return click.option(
        "--execution-node", "execution_node", default=None, metavar="TARGET",
        help="Run the playbooks on this execution node (a target of the inventory whose --python has"
        " ansible-runner): ansible-runner transmit -> worker over ssh -> process.",
    )(f)  # fmt: skip


def _node(ws: Any, name: str | None) -> Any:
    if name is None:
        return None
    from ..deploy.stream import execution_node

    return execution_node(ws, name)


@click.group()
def fleet() -> None:
    """Many targets at once: status of every install, upgrades in batches with a canary."""


def _short_regulation(name: str) -> str:
    from ..fleet.regulations import parse_citation

    c = parse_citation(name)
    return str(c) if c and c.kind else name[:40]


def _agreement_text(a: Any) -> str:
    if a is None:
        return "not required"
    if a.status == "none":
        return "NONE"
    text = f"{a.number} {a.status}"
    if a.valid_until:
        text += f" until {a.valid_until}"
    if a.expires_within_90_days:
        text += " (expires within 90 days!)"
    return text


@fleet.command("status")
@click.option("--app", default=None, help="Only this app (targets not running it show as missing).")
@click.option("--group", default=None, metavar="SELECTOR", help="Only targets of this group (or any selector).")
@click.option("--target", "-t", "selector", default=None, metavar="SELECTOR",
              help="Targets: a name, a group, kode:96.*, all (default), comma-separated, !NAME excludes.")
@click.option("--timeout", type=click.IntRange(1, 3600), default=30, show_default=True,
              help="Seconds one target may take before it is shown as unreachable.")
@click.option("--forks", type=click.IntRange(1, 500), default=None, help="Targets read at once (default: up to 50).")
@execution_node_option
@click.option("--json", "as_json", is_flag=True, help="Print the fleet status JSON (what `site build --fleet` reads).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.pass_obj
def status(ws: Any, app: str | None, group: str | None, selector: str | None, timeout: int, forks: int | None,
           execution_node: str | None, as_json: bool, as_csv: bool) -> None:
    """One row per target and app: version, health, last operation, releases and regulations
    behind the catalog, agreement validity. Targets are read in parallel; an unreachable one
    is a row saying so. Changes nothing."""
    from ..deploy.core import OpContext, interrupts
    from ..fleet.status import CSV_COLUMNS, csv_rows, fleet_status
    from .selection import selected_targets

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    targets = selected_targets(ws, selector, group=group)
    ctx = OpContext.create(ws, say=info)
    with interrupts(ctx.cancel):
        result, _ = fleet_status(ws, targets=targets, app=app, timeout=timeout, forks=forks,
                                 node=_node(ws, execution_node), cancel=ctx.cancel, now=ctx.now)  # fmt: skip
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    if as_csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        w.writerows(csv_rows(result))
        return
    rows = []
    for r in result.rows:
        latest = r.latest_version or "-"
        if r.releases_behind:
            latest += f" ({r.releases_behind} behind)"
        health = r.health if r.reachable else "UNREACHABLE"
        if r.error:
            health += f": {r.error[:80]}"
        lo = r.last_operation
        last = f"{lo.what} {lo.result} {lo.when:%Y-%m-%d %H:%M}" if lo else "-"
        missing = ", ".join(_short_regulation(m.name) for m in r.missing_regulations) or "-"
        rows.append((r.target, r.app, r.version or "-", latest, health, last, missing, _agreement_text(r.agreement)))
    table(["target", "app", "version", "latest", "health", "last operation", "missing regulations", "agreement"],
          rows, title=f"fleet status {result.generated_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    unreachable = sorted({r.target for r in result.rows if not r.reachable})
    if unreachable:
        info(f"unreachable: {', '.join(unreachable)}")


__all__ = ["execution_node_option", "fleet"]
