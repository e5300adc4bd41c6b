"""``spbe-share mou``: MoU/PKS agreements between donor and adopter Pemda."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from .output import emit_json, json_option, table


def _day(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        from ..errors import InvalidInput

        raise InvalidInput(f"--on: {value!r} is not a date (use YYYY-MM-DD)") from None


@click.group()
def mou() -> None:
    """Record MoU/PKS agreements; installs need one that is active and covers the scope."""


@mou.command("add")
@click.option("--app", "apps", multiple=True, required=True, help="App id (repeat for several apps).")
@click.option("--donor", required=True, help='Donor Pemda, e.g. "Provinsi Papua".')
@click.option("--donor-kode", required=True, help="Donor's kode wilayah, e.g. 91.")
@click.option("--adopter", required=True, help='Adopter Pemda, e.g. "Kota Sorong".')
@click.option("--adopter-kode", required=True, help="Adopter's kode wilayah, e.g. 96.71.")
@click.option("--number", required=True, help='Agreement number, e.g. "NK/001/2026".')
@click.option("--signed", required=True, help="Date signed (YYYY-MM-DD); valid from this day.")
@click.option("--valid-until", required=True, help="Last valid day (YYYY-MM-DD).")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="Comma list of install, support, source, training.")  # fmt: skip
@click.option("--signatory", "signatories", multiple=True, help='"Name, Title" (repeatable).')
@click.option("--document", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Signed document (PDF); copied into the workspace with its SHA-256.")  # fmt: skip
@click.option("--replace", is_flag=True, help="Overwrite an agreement with the same number.")
@click.pass_obj
def add(ws: Any, apps: tuple[str, ...], donor: str, donor_kode: str, adopter: str,
        adopter_kode: str, number: str, signed: str, valid_until: str, scopes: tuple[str, ...],
        signatories: tuple[str, ...], document: Path | None, replace: bool) -> None:
    """Record an agreement."""
    from .. import audit
    from ..agreements import add_agreement, build_agreement, load_agreement

    a = build_agreement(
        number=number, apps=apps, donor=donor, donor_kode=donor_kode, adopter=adopter,
        adopter_kode=adopter_kode, scope=scopes, signed=signed, valid_until=valid_until,
        signatories=signatories,
    )  # fmt: skip
    path = add_agreement(ws, a, document=document, replace=replace)
    a = load_agreement(path)
    click.echo(f"agreement {a.number} recorded: {path}")
    audit.record(
        ws, what="mou add", where=a.adopter.kode_wilayah, result="ok", number=a.number,
        apps=a.apps, scope=[s.value for s in a.scope], valid_until=a.valid_until.isoformat(),
        document_sha256=a.document.sha256 if a.document else None,
    )  # fmt: skip


@mou.command("list")
@json_option
@click.option("--active", is_flag=True, help="Only agreements valid today (or --on).")
@click.option("--on", "on", default=None, help="Day to judge validity on (YYYY-MM-DD).")
@click.pass_obj
def list_(ws: Any, as_json: bool, active: bool, on: str | None) -> None:
    """List agreements with their state (active, expired, future)."""
    from ..agreements import load_agreements

    day = _day(on)
    items = [a for a in load_agreements(ws) if not active or a.state_on(day) == "active"]
    if as_json:
        emit_json([{**a.model_dump(mode="json"), "state": a.state_on(day)} for a in items])
        return
    table(
        ["number", "apps", "donor", "adopter", "scope", "signed", "valid until", "state"],
        [
            [a.number, ",".join(a.apps), f"{a.donor.pemda} ({a.donor.kode_wilayah})",
             f"{a.adopter.pemda} ({a.adopter.kode_wilayah})", ",".join(s.value for s in a.scope),
             a.signed, a.valid_until, a.state_on(day)]
            for a in items
        ],
    )  # fmt: skip


@mou.command("show")
@click.argument("number")
@json_option
@click.pass_obj
def show(ws: Any, number: str, as_json: bool) -> None:
    """Show one agreement and verify its stored signed document (exit 6 if changed or missing)."""
    from ..agreements import document_status, get_agreement

    a = get_agreement(ws, number)
    data = {**a.model_dump(mode="json"), "state": a.state_on(dt.date.today()),
            "document_status": document_status(ws, a)}  # fmt: skip
    if as_json:
        emit_json(data)
        _verify_document(a, data["document_status"])
        return
    click.echo(f"number: {a.number}")
    click.echo(f"apps: {', '.join(a.apps)}")
    click.echo(f"donor: {a.donor.pemda} ({a.donor.kode_wilayah})")
    click.echo(f"adopter: {a.adopter.pemda} ({a.adopter.kode_wilayah})")
    click.echo(f"scope: {', '.join(s.value for s in a.scope)}")
    click.echo(f"signed: {a.signed}")
    click.echo(f"valid_until: {a.valid_until}")
    click.echo(f"state: {data['state']}")
    for s in a.signatories:
        click.echo(f"signatory: {s}")
    if a.document:
        click.echo(f"document: {a.document.file} sha256 {a.document.sha256} ({data['document_status']})")
    _verify_document(a, data["document_status"])


def _verify_document(a: Any, status: str | None) -> None:
    from ..errors import VerificationFailed

    if status == "missing":
        raise VerificationFailed(f"agreement {a.number}: the signed document {a.document.file} is missing")
    if status == "modified":
        raise VerificationFailed(
            f"agreement {a.number}: the signed document {a.document.file} has changed "
            f"(its SHA-256 is not the recorded {a.document.sha256})"
        )


@mou.command("draft")
@click.option("--app", required=True, help="App id (APP or SOURCE/APP).")
@click.option("--adopter", required=True, help='Adopter Pemda, e.g. "Kota Sorong".')
@click.option("--adopter-kode", required=True, help="Adopter's kode wilayah, e.g. 96.71.")
@click.option("--format", "fmt", type=click.Choice(["docx", "md"]), default="docx", show_default=True,
              help="Word (what legal staff edit) or Markdown.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: pks-APP-KODE.docx/.md in this folder).")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Template to fill instead of templates/mou/pks.docx (or pks.md.j2).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.pass_obj
def draft(ws: Any, app: str, adopter: str, adopter_kode: str, fmt: str, output: Path | None,
          template: Path | None, force: bool) -> None:
    """Draft an MoU/PKS for APP from the catalog: parties, scope, obligations, license, data.

    Clauses only legal staff can write are left as marked placeholders
    («[DIISI OLEH BAGIAN HUKUM: ...]»); nothing legal is invented.
    """
    from ..catalog.loader import get_entry
    from ..mou.context import draft_context
    from ..mou.draft import find_template, render_docx, render_markdown, write_new

    le = get_entry(ws, app)
    context = draft_context(le.entry, adopter=adopter, adopter_kode=adopter_kode)
    tpl = find_template(ws, le, fmt, template)
    data = render_docx(tpl, context) if fmt == "docx" else render_markdown(tpl, context)
    kode = context["adopter"]["kode_wilayah"].replace(".", "-")
    out = output or Path(f"pks-{le.id}-{kode}.{fmt}")
    write_new(out, data, force=force)
    click.echo(f"draft written: {out} (template {tpl}); legal staff fill the «[DIISI OLEH BAGIAN HUKUM: ...]» parts")


@mou.command("check")
@click.option("--app", required=True)
@click.option("--adopter-kode", required=True)
@click.option("--scope", default="install", show_default=True)
@click.option("--on", "on", default=None, help="Day to judge validity on (YYYY-MM-DD).")
@click.pass_obj
def check(ws: Any, app: str, adopter_kode: str, scope: str, on: str | None) -> None:
    """Exit 0 if an active agreement covers APP for the adopter and scope; else exit 4 and why."""
    from ..agreements import require_agreement

    a = require_agreement(ws, app=app, adopter_kode_wilayah=adopter_kode, scope=scope, today=_day(on))
    click.echo(f"covered by agreement {a.number} (valid until {a.valid_until})")
