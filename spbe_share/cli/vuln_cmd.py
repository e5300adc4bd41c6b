"""``spbe-share vulndb import | status`` and ``spbe-share audit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .output import emit_json, info, table

SEVERITY_CHOICES = ["critical", "high", "medium", "low", "unknown"]


@click.group()
def vulndb() -> None:
    """The offline vulnerability database: OSV exports (e.g. the Debian and PyPI ecosystems'
    all.zip), carried in and imported; `spbe-share audit` matches the fleet against it."""


@vulndb.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sha256", "expect", default=None, metavar="HEX",
              help="The export's SHA-256 as its publisher or the person who carried it says: refused if it differs.")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@click.pass_obj
def import_cmd(ws: Any, file: Path, expect: str | None, as_json: bool) -> None:
    """Import FILE: a zip of OSV JSON records, or one OSV JSON file (a record or a list).
    Records its name, SHA-256, date and the newest 'modified' of its records; a record imported
    before is replaced. A file that does not validate changes nothing."""
    from .. import audit as audit_log
    from ..vuln.db import import_file

    done = import_file(ws, file, expect_sha256=expect)
    audit_log.record(ws, what="vulndb import", where=file.name, result="ok", sha256=done.sha256,
                     records=done.records, withdrawn=done.withdrawn, ecosystems=done.ecosystems)  # fmt: skip
    if as_json:
        emit_json(done.model_dump(mode="json"))
        return
    click.echo(f"imported {file}: {done.records} records ({', '.join(done.ecosystems) or '-'}), data as of"
               f" {done.newest_modified or 'unknown'}, sha256 {done.sha256}")  # fmt: skip
    if done.withdrawn:
        click.echo(f"  {done.withdrawn} withdrawn records removed")


@vulndb.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the imports as JSON.")
@click.pass_obj
def status_cmd(ws: Any, as_json: bool) -> None:
    """Every import: file, SHA-256, when, data as of, records, ecosystems."""
    from ..vuln.db import read_imports

    imports = read_imports(ws)
    if as_json:
        emit_json([i.model_dump(mode="json") for i in imports])
        return
    if not imports:
        info("no vulnerability database imported: spbe-share vulndb import FILE")
        return
    table(["file", "sha256", "imported", "data as of", "records", "ecosystems"],
          [(i.file, i.sha256[:16], f"{i.imported_at:%Y-%m-%d %H:%M}", i.newest_modified or "-", i.records,
            ", ".join(i.ecosystems)) for i in imports], title="vulnerability database")  # fmt: skip


def _fixed(f: Any) -> str:
    return ", ".join(f.fixed) if f.fixed else "-"


@click.command("audit")
@click.argument("app", required=False)
@click.option("--target", "-t", "selector", default="all", show_default=True, metavar="SELECTOR",
              help="Targets: a name, a group, kode:96.*, all, comma-separated, !NAME excludes.")
@click.option("--bundle", "bundles", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="A release's signed bundle whose SBOM to use when this workspace has not cached it (repeatable).")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default=None,
              help="Exit 14 when a finding is at or above this severity (unknown: any finding), or when an install"
              " could not be audited.")
@click.option("--timeout", type=click.IntRange(1, 3600), default=30, show_default=True,
              help="Seconds one target may take to answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
@click.pass_obj
def audit(ws: Any, app: str | None, selector: str, bundles: tuple[Path, ...], fail_on: str | None, timeout: int,
          as_json: bool) -> None:  # fmt: skip
    """Which Pemda run a release with a known flaw: the SBOM of the release each target runs
    (from that release's signed bundle) matched against the imported OSV records, and the
    donor's advisories in the catalog. Per Pemda and release, findings by severity with the
    versions that fix them. Changes nothing."""
    from ..errors import FindingsAbove
    from ..fleet.audit import audit as run_audit
    from ..ops.context import OpContext
    from ..remote.interrupts import interrupts
    from .selection import selected_targets

    targets = selected_targets(ws, selector)
    ctx = OpContext.create(ws, say=info)
    with interrupts(ctx.cancel):
        report = run_audit(ws, targets=targets, app=app, bundles=bundles, timeout=timeout, cancel=ctx.cancel,
                           now=ctx.now)  # fmt: skip
    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        _print(report)
    if fail_on is None:
        return
    bad, unaudited = report.failing(fail_on)
    if bad or unaudited:
        parts = []
        if bad:
            parts.append(f"{len(bad)} install(s) with findings at or above {fail_on}: "
                         + ", ".join(f"{i.target} ({i.app} {i.version})" for i in bad))  # fmt: skip
        if unaudited:
            parts.append("not audited: " + ", ".join(unaudited))
        raise FindingsAbove("audit --fail-on " + fail_on + ": " + "; ".join(parts))


def _print(report: Any) -> None:
    if not report.vulndb:
        info("no vulnerability database imported (spbe-share vulndb import FILE): only the donors' advisories"
             " are checked")  # fmt: skip
    else:
        for i in report.vulndb:
            info(f"vulnerability database: {i.file} ({i.records} records, data as of {i.newest_modified or '?'},"
                 f" sha256 {i.sha256[:16]})")  # fmt: skip
    by_pemda: dict[tuple[str, str], list[Any]] = {}
    for i in report.installs:
        by_pemda.setdefault((i.pemda, i.kode_wilayah), []).append(i)
    for (pemda, kode), installs in sorted(by_pemda.items()):
        click.echo(f"{pemda} ({kode})")
        for i in installs:
            counts: dict[str, int] = {}
            for f in i.findings:
                counts[f.severity] = counts.get(f.severity, 0) + 1
            summary = ", ".join(f"{n} {s}" for s in ("critical", "high", "medium", "low", "unknown")
                                if (n := counts.get(s))) or ("no finding" if i.worst == "none" else "not audited")  # fmt: skip
            click.echo(f"  {i.target}: {i.app} {i.version}: {summary}")
            if i.worst is None:
                why = {"missing": "the release's bundle is not on this machine (give it with --bundle FILE)",
                       "none": "the release's bundle has no SBOM (built before SBOMs)",
                       "found": "no vulnerability database imported"}[i.sbom]  # fmt: skip
                click.echo(f"    packages not audited: {why}")
            for f in i.findings:
                where = f.package + (f" ({', '.join(f.binaries)})" if f.binaries and f.binaries != [f.package] else "")
                click.echo(f"    {f.severity.upper():<8} {f.id} {where} {f.version} -> fixed in {_fixed(f)}"
                           + (f" [{', '.join(f.components)}]" if f.components else ""))  # fmt: skip
    for u in report.unreachable:
        click.echo(f"{u.pemda}: {u.target}: UNREACHABLE, not audited ({u.error})")
    if not report.installs and not report.unreachable:
        info("no selected target runs an app")
