"""``spbe-share fleet status | upgrade``: many targets at once."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ExitCode
from ..records import firstlogin
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
    from ..remote.stream import execution_node

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


def _watch_text(w: Any) -> str:
    from ..records.watch import Readings, cell

    if w is None:
        return "-"
    readings = Readings(disk_used_percent=w.disk_used_percent, backup_age_hours=w.backup_age_hours,
                        restarts=w.restarts, certificate_not_after=w.certificate_not_after).text()
    return cell(w.checked_at is not None, w.age_minutes, len(w.warnings)) + (f"; {readings}" if readings else "")


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
    from ..fleet.status import CSV_COLUMNS, csv_rows, fleet_status
    from ..ops.context import OpContext
    from ..remote.interrupts import interrupts
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
        health: str = r.health if r.reachable else "UNREACHABLE"
        if r.error:
            health += f": {r.error[:80]}"
        lo = r.last_operation
        last = f"{lo.what} {lo.result} {lo.when:%Y-%m-%d %H:%M}" if lo else "-"
        missing = ", ".join(_short_regulation(m.name) for m in r.missing_regulations) or "-"
        worst = (r.worst_finding or "-").upper() if r.worst_finding not in (None, "none") else (r.worst_finding or "-")
        tls = f"{r.tls_not_after:%Y-%m-%d}" if r.tls_not_after else "-"
        if r.tls_expires_soon:
            tls += " (RENEW)"
        rows.append((r.target, r.app, r.version or "-", latest, health, last, missing, _agreement_text(r.agreement),
                     worst, tls, _watch_text(r.watch), firstlogin.cell(_login(r), result.generated_at)))  # fmt: skip
    table(["target", "app", "version", "latest", "health", "last operation", "missing regulations", "agreement",
           "worst finding", "tls expires", "watch", "initial password"],
          rows, title=f"fleet status {result.generated_at:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    for r in result.rows:
        for message in r.watch.warnings if r.watch else []:
            info(f"warning: {r.target}/{r.app}: {message}")
        login = firstlogin.warning(_login(r), result.generated_at, user=r.first_login_user)
        if login:
            info(f"warning: {r.target}/{r.app}: {login}")
    unreachable = sorted({r.target for r in result.rows if not r.reachable})
    if unreachable:
        info(f"unreachable: {', '.join(unreachable)}")
    for r in result.rows:
        if r.tls_expires_soon and r.tls_not_after:
            info(f"warning: the TLS certificate of {r.app} on {r.target} expires {r.tls_not_after:%Y-%m-%d}:"
                 " spbe-share tls set")



def _login(r: Any) -> Any:
    """The row's initial-password state (None: the app was not asked or did not answer)."""
    if r.initial_password_in_use is None:
        return None
    return firstlogin.FirstLoginState(r.app, r.initial_password_in_use, r.initial_password_since,
                           changed_seen=r.initial_password_changed_seen)


def _summary_table(state: Any) -> None:
    rows = []
    for i in state.items:
        took = f"{i.seconds:.0f}s" if i.seconds is not None else "-"
        where = "canary" if i.phase == "canary" else (f"batch {i.batch}" if i.batch else "-")
        outcome = i.result or (f"exit {i.exit_code}: {i.error}" if i.error else "")
        rows.append((i.target, i.app, i.from_version or "-", i.to_version, where, i.status.upper()
                     if i.status == "failed" else i.status, i.version or "-", took, outcome[:160]))  # fmt: skip
    table(["target", "app", "from", "to", "when", "status", "serves", "took", "outcome"], rows,
          title=f"fleet upgrade ({state.key}, run {state.runs})")  # fmt: skip


def _outcome(state: Any) -> str:
    if state.finished:
        return "finished"
    return f"stopped: {state.stopped}" if state.stopped else "finished with failures"


@fleet.command("upgrade")
@click.argument("app", required=False)
@click.option("--to", "to", default=None, metavar="VERSION", help="Goal release (default: the app's newest).")
@click.option("--regulation", default=None, metavar="TEXT",
              help="Upgrade every install older than the first release implementing it.")
@click.option("--advisory", default=None, metavar="ID",
              help="Upgrade every install in a security advisory's affected range to the release that fixes it.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run a reviewed plan file (`spbe-share plan --out FILE`): its 'upgrade' items only.")
@click.option("--target", "-t", "selector", default="all", show_default=True, metavar="SELECTOR",
              help="Targets: a name, a group, kode:96.*, all, comma-separated, !NAME excludes.")
@click.option("--canary", default=None, metavar="TARGET", help="Upgrade this target first, alone; its failure stops the rollout.")
@click.option("--batch-size", type=click.IntRange(1, 500), default=5, show_default=True,
              help="Targets upgraded at once after the canary.")
@click.option("--max-failures", type=click.IntRange(0, 100000), default=0, show_default=True,
              help="Start no new batch once more targets than this failed in this run.")
@click.option("--resume", is_flag=True, help="Continue a stopped rollout: targets already done are skipped.")
@click.option("--retry-failed", is_flag=True, help="With --resume: run the failed targets again too.")
@click.option("--bundle", "bundles", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="The goal release's signed bundle (repeatable, one per app and release; default: the one the"
              " --plan was made with, else the cached one, else built here, which only the local sandbox and the"
              " donor's own data center accept).")
@click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the JSON report here (default: next to the state file).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of a table.")
@click.pass_obj
def upgrade(ws: Any, app: str | None, to: str | None, regulation: str | None, advisory: str | None,
            plan_file: Path | None,
            selector: str, canary: str | None, batch_size: int, max_failures: int, resume: bool,
            retry_failed: bool, bundles: tuple[Path, ...], report: Path | None, as_json: bool) -> None:
    """Upgrade APP (--to VERSION, --regulation TEXT, --advisory ID, or a reviewed --plan FILE) on many
    targets: the canary first and alone, then batches in parallel; once failures pass
    --max-failures no new batch starts. Each target's step is the single-target operation
    with all of its checks. The goal bundle is chosen and checked once, before anything starts:
    a bundle that some target would refuse (none given for an adopter's data center) stops it
    there. The state file makes it resumable (--resume); every step is in the audit log. Exit 0
    when every target is done, else the exit code of the first failure."""
    from .. import audit
    from ..errors import PartlyFailed, SpbeError
    from ..fleet import upgrade as fu
    from ..fleet.rollout import summary
    from ..ops.context import OpContext
    from ..remote.interrupts import interrupts
    from .selection import selected_targets

    if plan_file is not None and (app or to or regulation or advisory):
        raise click.UsageError("give --plan FILE, or APP --to VERSION / --regulation TEXT / --advisory ID, not both")
    if retry_failed and not resume:
        raise click.UsageError("--retry-failed goes with --resume")
    plan = None
    if plan_file is not None:
        from ..fleet.plan import read_plan

        plan = read_plan(plan_file)
        key = fu.plan_key(plan)
    else:
        key = fu.args_key(app=app, to=to, regulation=regulation, selector=selector, advisory=advisory)
    path = fu.state_path(ws, key)
    ctx = OpContext.create(ws, say=info)

    def items() -> list[Any]:
        from ..fleet.plan import make_plan

        if plan is not None:
            return fu.items_of(plan.items, with_blocked=False)
        targets = selected_targets(ws, selector)
        with interrupts(ctx.cancel):
            fresh = make_plan(ws, targets=targets, selector=selector, app=app, to=to, regulation=regulation,
                              advisory=advisory, preflight=False, cancel=ctx.cancel, now=ctx.now)  # fmt: skip
        for i in fresh.items:
            if i.action == "current":
                info(f"{i.target}: {i.app} {i.from_version} already at or past {i.to_version}, skipped")
        return fu.items_of(fresh.items, with_blocked=True)

    chosen: dict[tuple[str, str], Any] = {}

    def prepare(todo: list[Any]) -> None:  # the goal bundles, checked once before anything starts
        run = [i for i in todo if retry_failed or i.status != "failed"]
        chosen.update(fu.rollout_bundles(ws, run, given=bundles, plan=plan, plan_path=plan_file))
        if not as_json:
            for b in chosen.values():
                info(f"goal bundle of {b.describe()}")

    state = fu.start_or_resume(path, key=key, items=items, canary=canary, batch_size=batch_size,
                               max_failures=max_failures, resume=resume, prepare=prepare)  # fmt: skip

    def event(kind: str, item: Any) -> None:
        if kind == "stopped" or item is None or as_json:
            return
        if kind == "canary":
            info(f"canary: {item.target}")
        elif kind == "start":
            info(f"{item.target}: {item.app} {item.from_version or '?'} -> {item.to_version} ...")
        elif kind == "done":
            info(f"{item.target}: done ({item.result}, {item.seconds:.0f}s)")
        elif kind in ("failed", "cancelled"):
            info(f"{item.target}: {kind.upper()} (exit {item.exit_code}): {item.error}")

    done_before = [i.target for i in state.items if i.status in ("done", "skipped")]
    if resume and done_before:
        info(f"resuming: skipping {len(done_before)} target(s) already done: {', '.join(done_before)}")
    audit.record(ws, who=ctx.operator, what="fleet upgrade", where=selector, result="started", key=key,
                 targets=[i.target for i in state.items], canary=state.canary, batch_size=state.batch_size,
                 max_failures=state.max_failures, run=state.runs)  # fmt: skip
    fanout = fu.CancelFanout()
    step = fu.make_step(ws, fanout, bundles=chosen, say=None if as_json else info, operator=ctx.operator)
    with interrupts(fanout):
        state = fu.run_rollout(state, path=path, step=step, fanout=fanout, event=event, retry_failed=retry_failed)
    counts = summary(state)
    audit.record(ws, who=ctx.operator, what="fleet upgrade", where=selector,
                 result=_outcome(state), key=key,
                 **{k: v for k, v in counts.items() if k not in ("stopped", "finished")})  # fmt: skip
    doc = {"key": key, "state_file": str(path), **counts, "items": [i.model_dump(mode="json") for i in state.items]}
    report_path = report or path.with_name(path.name.replace(".state.json", ".report.json"))
    report_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
    else:
        _summary_table(state)
        info(f"state: {path}; report: {report_path}")
    if state.stopped:
        info(f"stopped: {state.stopped}; continue with --resume")
    failed = [i for i in state.items if i.status in ("failed", "cancelled")]
    if failed:
        first = SpbeError(failed[0].error or failed[0].status)
        first.exit_code = ExitCode(failed[0].exit_code or 1)
        raise PartlyFailed(f"fleet upgrade: {len(failed)} of {len(state.items)} targets not upgraded"
                           f" ({', '.join(i.target for i in failed)})", first=first)  # fmt: skip
    if state.stopped:
        from ..errors import Cancelled

        raise Cancelled(f"fleet upgrade stopped: {state.stopped}")

__all__ = ["execution_node_option", "fleet"]
