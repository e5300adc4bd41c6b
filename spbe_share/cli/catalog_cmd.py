"""``spbe-share catalog ...``: list, search, show, validate, schema, sources, update.
One file on purpose (~510 lines): the ``catalog`` command group, one thin command each.

Thin wrappers over :mod:`spbe_share.catalog`; heavy modules (pydantic models, sqlite,
git, rich) are imported inside the commands so ``spbe-share --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..i18n import gettext as _
from ..i18n import translate as _t
from .output import emit_json, info, json_option, table
from .publiccode_cmd import export_publiccode, import_publiccode

if TYPE_CHECKING:
    from ..catalog.index import SearchResult
    from ..catalog.loader import LoadedEntry
    from ..workspace import Workspace


@click.group()
def catalog() -> None:
    """Browse, search, validate and source the app catalog.

    The catalog is the built-in one (this repository's catalog/, or $SPBE_SHARE_CATALOG)
    plus every git source added with `catalog source add`. An app id that is in several
    sources is named SOURCE/APP.
    """


catalog.add_command(export_publiccode, "export-publiccode")
catalog.add_command(import_publiccode, "import-publiccode")


def _display(path: Path) -> Path:
    """``path`` relative to the current folder when it is below it (shorter messages)."""
    try:
        return Path(os.path.relpath(path)) if path.resolve().is_relative_to(Path.cwd()) else path
    except (ValueError, OSError):
        return path


def _warn(result: SearchResult) -> None:
    from ..catalog.loader import duplicate_warnings

    for line in duplicate_warnings(result.duplicates):
        info(f"warning: {line}")
    if result.invalid:
        n = result.invalid
        info(f"warning: {n} catalog entr{'ies are' if n != 1 else 'y is'} invalid and not listed; "
             "run: spbe-share catalog validate")


def _print_rows(ws: Workspace, result: SearchResult, as_json: bool) -> None:
    from ..lint.run import add_quality

    _warn(result)
    add_quality(ws, result.rows)
    if as_json:
        emit_json(result.rows)
        return
    if not result.rows:
        info("no apps match")
        return
    dups = set(result.duplicates)
    table(
        ["APP", "VERSION", "JENIS", "DOMAIN", "DONOR", "QUALITY", "SUMMARY"],
        [
            (
                f"{r['source']}/{r['id']}" if r["id"] in dups or r["source"] != "builtin" else r["id"],
                r["version"],
                r["jenis"],
                r["domain"],
                r["donor"],
                f"{r['quality']['level']} {r['quality']['name']}",
                r["summary"]["id"],
            )
            for r in result.rows
        ],
    )


@catalog.command("list")
@click.option("--source", help="Only apps of this source ('builtin' = the built-in catalog).")
@json_option
@click.pass_obj
def list_cmd(ws: Workspace, source: str | None, as_json: bool) -> None:
    """List every app in the catalog."""
    from ..catalog.index import search_catalog

    _print_rows(ws, search_catalog(ws, "", source=source), as_json)


@catalog.command()
@click.argument("text", nargs=-1)
@click.option("--jenis", type=click.Choice(["umum", "khusus"]), help="Aplikasi umum or khusus.")
@click.option("--domain", help="Business domain contains this text, e.g. 'kearsipan'.")
@click.option("--donor", help="Donor Pemda, unit or kode wilayah contains this text.")
@click.option("--regulation", help="A release names a regulation containing this text.")
@click.option("--source", help="Only apps of this source.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="At most this many results, best first (0: all).")
@json_option
@click.pass_obj
def search(
    ws: Workspace,
    text: tuple[str, ...],
    jenis: str | None,
    domain: str | None,
    donor: str | None,
    regulation: str | None,
    source: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Search apps by name, summary, description, keywords, donor, domain, regulations.

    Every word of TEXT must match, anywhere inside a word ("arsip" finds "kearsipan");
    filters combine with AND. Without TEXT, filters alone select.
    """
    from ..catalog.index import search_catalog

    result = search_catalog(
        ws, " ".join(text), jenis=jenis, domain=domain, donor=donor, regulation=regulation,
        source=source, limit=limit + 1 if limit else None,
    )
    more = bool(limit) and len(result.rows) > limit
    del result.rows[limit or len(result.rows):]
    _print_rows(ws, result, as_json)
    if more:
        info(f"showing the first {limit} matches; --limit 0 shows all")


def _show_json(le: LoadedEntry, signers: list[Any]) -> dict[str, Any]:
    return {
        "source": le.source,
        "commit": le.commit,
        "path": str(le.path),
        "entry": le.entry.model_dump(mode="json"),
        "signatures": [s.as_dict() for s in signers],
    }


def _kv(rows: list[tuple[str, Any]], *, labels: bool = True) -> None:
    """``label: value`` lines; labels are translated unless they are data (setting names)."""
    rows = [(_(k) if labels else k, v) for k, v in rows]
    width = max(len(k) for k, _v in rows)
    for k, v in rows:
        if v is None or v == "" or v == []:
            continue
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        click.echo(f"  {k + ':':<{width + 1}} {v}")


def _signers_text(le: LoadedEntry, signers: list[Any]) -> None:
    e = le.entry
    click.echo(f"Signed releases (who signed each published bundle; the donor is {e.donor.kode_wilayah})")
    if not signers:
        click.echo(f"  none recorded in {_display(le.entry_dir)}/releases/ (a bundle built on this machine is"
                   " signed by this workspace's own key)")  # fmt: skip
    for s in signers:
        verdict = "ok" if s.ok else f"NOT trusted for donor {e.donor.kode_wilayah}: an install would refuse it"
        click.echo(f"  {s.version}: key {s.signer}, trusted for {s.trusted_for} [{verdict}]")


def _show_text(le: LoadedEntry) -> None:
    from ..catalog.models import semver_key

    e = le.entry
    where = f"{le.source}" + (f" @ {le.commit[:12]}" if le.commit else "")
    click.echo(f"{e.id} {e.latest.version}: {e.name}  [{where}]")
    click.echo(f"  {e.summary.id}")
    click.echo(f"  ({e.summary.en})")
    click.echo("Donor")
    _kv([
        ("Pemda", _t(f"{e.donor.pemda} (kode wilayah {e.donor.kode_wilayah})")),
        ("Unit", e.donor.unit),
        ("Contacts", [
            " ".join(x for x in (c.name, f"({c.role})" if c.role else "", c.email, c.phone) if x)
            for c in e.donor.contacts
        ]),
        ("Source code", str(e.source_url)),
        ("License", e.license),
    ])
    click.echo("Classification (SPBE)")
    _kv([
        ("Jenis", f"aplikasi {e.classification.jenis.value}"),
        ("Layanan", e.classification.layanan.value.replace("_", " ")),
        ("Domain", e.classification.domain),
    ])
    click.echo("Sharing terms")
    _kv([
        ("MoU/PKS required", _("yes") if e.sharing.mou_required else _("no")),
        ("Scope", [s.value for s in e.sharing.scope]),
        ("Support", _t(f"{e.sharing.support_months} months")),
        ("Adopter provides", e.sharing.adopter_provides),
    ])
    r = e.requirements
    click.echo("Requirements")
    _kv([
        ("CPU", _t(f"{r.cpu_cores} core{'s' if r.cpu_cores != 1 else ''}")),
        ("Memory", f"{r.memory_mb} MB"),
        ("Disk", f"{r.disk_gb} GB"),
        ("OS", [f"{o.name} {'/'.join(o.versions)}" for o in r.os]),
        ("Free ports", [str(p) for p in r.ports]),
        ("Concurrent users", r.concurrent_users),
    ])
    if e.settings:
        click.echo("Settings (set per Pemda at install)")
        _kv([
            (s.name, f"{s.description}" + (" " + _("[required]") if s.required else "")
             + (" " + _t(f"(default: {s.default})") if s.default is not None else ""))
            for s in e.settings
        ], labels=False)
    if e.secrets:
        click.echo("Secrets (generated per deployment)")
        _kv([(s.name, s.description or "-") for s in e.secrets], labels=False)
    if e.backup.volumes or e.backup.databases:
        click.echo("Backup")
        _kv([
            ("Volumes", e.backup.volumes),
            ("Databases", [f"{d.engine} {d.name} ({d.component})" for d in e.backup.databases]),
        ])
    click.echo()
    table(
        ["COMPONENT", "IMAGE", "PORTS", "VOLUMES", "HEALTH", "SECRETS", "DEPENDS ON"],
        [
            (
                c.name,
                f"{c.image}:{e.latest.version}",
                ", ".join(f"{p.host_port}->{p.container}/{p.protocol}" for p in c.ports),
                ", ".join(f"{v.name}:{v.path}" for v in c.volumes),
                ("" if c.health is None else
                 f"http :{c.health.port}{c.health.path}" if c.health.type == "http"
                 else "command"),
                ", ".join(c.secrets),
                ", ".join(c.depends_on),
            )
            for c in e.components
        ],
        title="Components",
    )
    click.echo()
    table(
        ["VERSION", "DATE", "MIGRATES DATA", "UPGRADES FROM", "REGULATIONS", "CHANGES"],
        [
            (
                rel.version,
                rel.date.isoformat(),
                _("yes") if rel.migrates_data else _("no"),
                rel.upgrades_from or "",
                "; ".join(reg.name for reg in rel.regulations),
                "; ".join(rel.changelog),
            )
            for rel in sorted(e.releases, key=lambda x: semver_key(x.version), reverse=True)
        ],
        title="Releases",
    )
    advisories = e.advisories()
    if advisories:
        click.echo()
        table(
            ["ADVISORY", "SEVERITY", "AFFECTED", "FIXED IN", "DESCRIPTION"],
            [(a.id, a.severity.value.upper(), a.affected, a.fixed_in or _("no fix yet"), a.description)
             for _r, a in advisories],
            title="Security advisories",
        )  # fmt: skip
    click.echo()
    click.echo(f"Docs (in {_display(le.entry_dir)}/)")
    _kv([
        ("Install", e.docs.install),
        ("User manual", e.docs.user_manual),
        *[(f"SOP {k.replace('_', ' ')}", v) for k, v in e.docs.sop.model_dump().items()],
        ("Compose", e.manifests.compose),
        ("Ansible vars", e.manifests.ansible_vars),
    ])
    if e.keywords:
        click.echo(f"Keywords: {', '.join(e.keywords)}")


@catalog.command()
@click.argument("app")
@json_option
@click.pass_obj
def show(ws: Workspace, app: str, as_json: bool) -> None:
    """Everything about one app (APP or SOURCE/APP)."""
    from ..bundle.trust import release_signers
    from ..catalog.loader import get_entry

    le = get_entry(ws, app)
    signers = release_signers(ws, le)
    if as_json:
        emit_json(_show_json(le, signers))
    else:
        _show_text(le)
        click.echo()
        _signers_text(le, signers)


@catalog.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@json_option
@click.pass_obj
def validate(ws: Workspace, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check entry files, entry folders or catalog repositories (PATHs).

    Default: the built-in catalog. Prints every problem as `file:line: field: message`;
    exits 2 if there is any.
    """
    from ..catalog.loader import validate_paths
    from ..errors import InvalidInput

    targets = list(paths) or [_display(ws.catalog_dir)]
    report = validate_paths(targets)
    if as_json:
        emit_json({
            "ok": report.ok,
            "checked": report.checked,
            "valid": [str(e.path) for e in report.entries],
            "problems": report.problems,
        })
    else:
        for line in report.problems:
            click.echo(line)
    if report.problems:
        n = len(report.problems)
        raise InvalidInput(
            f"{n} problem{'s' if n != 1 else ''} in {report.checked} entr{'ies' if report.checked != 1 else 'y'}"
        )
    if not as_json:
        n = report.checked
        click.echo(f"OK: {n} entr{'ies' if n != 1 else 'y'} valid ({', '.join(str(t) for t in targets)})")


@catalog.command()
@click.argument("app", required=False)
@json_option
@click.pass_obj
def lint(ws: Workspace, app: str | None, as_json: bool) -> None:
    """Check the documentation quality of APP (default: every entry); give each a level 0-4.

    Every finding is `file:line: [field:] check (severity): message [docs/lint.md#check]`.
    Levels: 0 invalid, 1 has errors, 2 has warnings, 3 only infos, 4 no findings.
    Exits 2 if an entry is at level 0 or 1 (see docs/lint.md).
    """
    from ..errors import InvalidInput
    from ..lint.checks import LEVELS
    from ..lint.run import lint_catalog

    results = lint_catalog(ws, app)
    if as_json:
        emit_json({
            "ok": all(r.level >= 2 for r in results),
            "entries": [{**r.as_dict(), "file": str(_display(r.entry_file))} for r in results],
        })
    else:
        for r in results:
            c = r.counts()
            click.echo(f"{r.source}/{r.app}: level {r.level} ({LEVELS[r.level][1]}): "
                       f"{c['error']} errors, {c['warning']} warnings, {c['info']} infos")
            for f in r.findings:
                click.echo("  " + f.line_text(_display(f.file)))
    if not results:
        info("no catalog entries to lint")
    bad = [r for r in results if r.level <= 1]
    if bad:
        raise InvalidInput(f"{len(bad)} of {len(results)} entries have errors (level 0 or 1): "
                           + ", ".join(f"{r.source}/{r.app}" for r in bad))


@catalog.command()
def schema() -> None:
    """Print the JSON Schema of spbe-app.yaml."""
    from ..catalog.schema import committed_schema_text

    click.echo(committed_schema_text(), nl=False)


# ---------------------------------------------------------------- sources


@catalog.group()
def source() -> None:
    """Git repositories of donors' catalogs."""


@source.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--branch", help="Branch to follow (default: the repository's default branch).")
@click.option("--allowed-signers", type=click.Path(dir_okay=False, path_type=Path),
              help="OpenSSH allowed-signers file of the donor's keys: every pinned commit must be signed"
              " (git commit -S / tag -s with gpg.format=ssh) by one of them.")
@click.pass_obj
def source_add(ws: Workspace, name: str, url: str, branch: str | None, allowed_signers: Path | None) -> None:
    """Clone a donor's catalog repository as source NAME, pinned to its current commit."""
    from .. import audit
    from ..catalog.sources import add_source

    s = add_source(ws, name=name, url=url, branch=branch, allowed_signers=allowed_signers)
    click.echo(f"added source {s.name}: {s.url} ({s.branch} @ {(s.commit or '')[:12]})")
    if s.allowed_signers:
        info(f"pinned commit signature checked against {s.allowed_signers}")
    audit.record(ws, what="catalog source add", where=s.name, result="ok", url=s.url, commit=s.commit,
                 signed=bool(s.allowed_signers))  # fmt: skip


@source.command("list")
@json_option
@click.pass_obj
def source_list(ws: Workspace, as_json: bool) -> None:
    """List catalog sources and the commit in use."""
    from ..catalog.sources import list_sources

    sources = list_sources(ws)
    if as_json:
        emit_json([s.model_dump(mode="json") for s in sources])
        return
    if not sources:
        info("no catalog sources; add one with: spbe-share catalog source add NAME URL")
        return
    table(
        ["NAME", "URL", "BRANCH", "PINNED", "PENDING", "SIGNED", "FETCHED", "LAST ERROR"],
        [
            (s.name, s.url, s.branch, (s.commit or "")[:12], (s.pending or "")[:12],
             "required" if s.allowed_signers else "-", s.fetched.isoformat() if s.fetched else "", s.error or "")
            for s in sources
        ],
    )


@source.command("remove")
@click.argument("name")
@click.pass_obj
def source_remove(ws: Workspace, name: str) -> None:
    """Forget source NAME and delete its local copy."""
    from ..catalog.sources import remove_source

    remove_source(ws, name=name)
    click.echo(f"removed source {name}")


@catalog.command()
@click.argument("name", required=False)
@click.option("--accept", "accept", metavar="COMMIT", help="Move NAME's pin to this fetched commit.")
@click.pass_obj
def update(ws: Workspace, name: str | None, accept: str | None) -> None:
    """Fetch every source (or NAME) and show what is new; the pin moves only when accepted.

    \b
    Entries are read from each source's pinned commit. A newer commit is shown with the log
    since the pin; accept it with --accept COMMIT (or answer the question on a terminal).
    A source with allowed signers refuses unsigned or wrongly signed commits (exit 6).
    A source that cannot be reached keeps its pinned copy in use (a warning); the command
    fails (exit 10) only if such a source has no usable copy at all.
    """
    from .. import audit
    from ..catalog.sources import accept_commit, update_sources
    from ..errors import InvalidInput, Unreachable

    if accept and not name:
        raise InvalidInput("--accept needs the source NAME: spbe-share catalog update NAME --accept COMMIT")
    results = update_sources(ws, name=name)
    if not results:
        info("no catalog sources; add one with: spbe-share catalog source add NAME URL")
        return
    dead = []
    interactive = click.get_text_stream("stdin").isatty() and click.get_text_stream("stdout").isatty()
    for r in results:
        if r.error and r.usable:
            info(f"warning: {r.name}: {r.error}; still using the pinned copy @ {(r.new or '')[:12]}")
        elif r.error:
            dead.append(r)
        elif r.pending:
            click.echo(f"{r.name}: pinned @ {(r.new or '')[:12]}; new commit {r.pending[:12]} ({len(r.log)}"
                       f"{'+' if len(r.log) >= 20 else ''} commit{'s' if len(r.log) != 1 else ''}):")  # fmt: skip
            for line in r.log:
                click.echo(f"  {line}")
            if r.signed:
                click.echo(f"  {r.signed}")
        else:
            click.echo(f"{r.name}: up to date @ {(r.new or '')[:12]}")
    for r in results:
        wanted = accept
        if wanted is None and r.pending and not r.error and interactive and click.confirm(
            f"Accept {r.pending[:12]} for source {r.name} (entries are then read from it)?", default=False
        ):
            wanted = r.pending
        if wanted is None:
            if r.pending and not r.error:
                info(f"{r.name}: not accepted, the pin stays @ {(r.new or '')[:12]};"
                     f" to accept: spbe-share catalog update {r.name} --accept {r.pending[:12]}")  # fmt: skip
            continue
        s = accept_commit(ws, name=r.name, commit=wanted)
        click.echo(f"{s.name}: pinned @ {(s.commit or '')[:12]}")
        audit.record(ws, what="catalog accept", where=s.name, result="ok", old=r.new, commit=s.commit)
        dead = [d for d in dead if d.name != s.name]
    if dead:
        raise Unreachable(
            "; ".join(f"{r.name}: {r.error} (no usable copy)" for r in dead)
        )
