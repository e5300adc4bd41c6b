"""``spbe-share bundle``: build, verify and show signed app bundles."""

from __future__ import annotations

from pathlib import Path

import click

from ..workspace import Workspace
from .output import emit_json, info, json_option, table
from .progress import byte_meter


@click.group()
def bundle() -> None:
    """Build and verify signed app bundles (<app>-<version>.spbe)."""


@bundle.command("build")
@click.argument("app")
@click.option(
    "--version", "version", required=True, help="Release version (from the entry's releases)."
)
@click.option("--key", "key_name", default="donor", show_default=True, help="Signing key name.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Bundle file to write."
)
@click.option("--no-build", is_flag=True, help="Require the images to be present; never build.")
@click.option("--force", is_flag=True, help="Replace an existing bundle file.")
@click.option(
    "--compression",
    type=click.Choice(["zstd", "none"]),
    default="zstd",
    show_default=True,
    help="How image blobs are stored in the bundle (and sent to targets).",
)
@json_option
@click.pass_obj
def build(
    ws: Workspace,
    app: str,
    version: str,
    key_name: str,
    output: Path | None,
    no_build: bool,
    force: bool,
    compression: str,
    as_json: bool,
) -> None:
    """Pack APP's images, entry, templates and playbooks into a signed bundle."""
    from ..bundle.keys import load_private_key, passphrase_from_env
    from ..bundle.pack import build_bundle
    from ..catalog.loader import get_entry

    loaded = get_entry(ws, app)
    key = load_private_key(ws, key_name, passphrase=passphrase_from_env())
    built = build_bundle(
        ws,
        loaded,
        version=version,
        key=key,
        output=output,
        build="never" if no_build else "missing",
        force=force,
        progress=info,
        compression=compression,  # type: ignore[arg-type]
        meter=byte_meter(as_json=as_json),
    )
    if as_json:
        emit_json(
            {
                "path": str(built.path),
                "sha256": built.sha256,
                "size": built.size,
                "signer": built.manifest.signer,
            }
        )
        return
    click.echo(
        f"{built.path} sha256:{built.sha256} {built.size} bytes, signed by {built.manifest.signer}"
    )


@bundle.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
def verify(ws: Workspace, file: Path, as_json: bool) -> None:
    """Check FILE's signature (trusted keys) and every member's digest and size.

    Prints who signed it and which donor that key is trusted for, and warns when an install
    would refuse it (the key is not trusted for the donor the bundle's entry names).
    """
    import tempfile

    from ..bundle.trust import require_signer_trusted, trust_records
    from ..bundle.verify import extract_bundle
    from ..catalog.models import Entry
    from ..errors import InvalidInput, VerificationFailed
    from ..yamlio import load_model

    records = trust_records(ws)
    refusal: str | None = None
    with tempfile.TemporaryDirectory(prefix="spbe-verify-") as tmp:
        m = extract_bundle(
            file, Path(tmp) / "b", trusted_keys={k: r.public_key for k, r in records.items()},
            want=lambda p: p == "entry/spbe-app.yaml",
        )  # fmt: skip
        try:
            entry: Entry | None = load_model(Entry, Path(tmp) / "b" / "entry" / "spbe-app.yaml")
        except InvalidInput as exc:
            entry, refusal = None, f"its entry is invalid: {(exc.details or [exc.message])[0]}"
    signer = records[m.signer]
    donor = entry.donor.kode_wilayah if entry else None
    if entry is not None:
        try:
            require_signer_trusted(ws, key_id=m.signer, donor_kode=entry.donor.kode_wilayah, app=entry.id)
            refusal = None
        except VerificationFailed as exc:
            refusal = exc.message
    if as_json:
        emit_json(
            {
                "ok": True,
                "app": m.app,
                "version": m.version,
                "signer": m.signer,
                "signer_name": signer.name,
                "signer_fingerprint": signer.fingerprint,
                "trusted_for": signer.trusted_for(),
                "donor_kode_wilayah": donor,
                "installable": refusal is None,
                "refusal": refusal,
                "files": len(m.files),
                "bytes": m.total_size,
            }
        )
        return
    click.echo(f"OK {m.app} {m.version}: signed by {m.signer}, {len(m.files)} members verified")
    click.echo(f"  signer: {signer.name} {signer.fingerprint}, trusted for {signer.trusted_for()}")
    if entry is not None:
        click.echo(f"  donor named in the bundle: {entry.donor.pemda} ({donor})")
    if refusal:
        info(f"warning: an install would refuse this bundle: {refusal}")


@bundle.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
def show(ws: Workspace, file: Path, as_json: bool) -> None:
    """Print FILE's manifest summary (verifies it first)."""
    _show(ws, file, as_json)


@bundle.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sbom", "sbom", is_flag=True,
              help="Print the CycloneDX SBOM of the bundle's images (JSON) instead of the summary.")
@click.option("--component", default=None, metavar="NAME",
              help="With --sbom: only this image's SBOM, exactly as signed (default: every image, by component).")
@json_option
@click.pass_obj
def inspect(ws: Workspace, file: Path, sbom: bool, component: str | None, as_json: bool) -> None:
    """Print FILE's manifest summary, or with --sbom the SBOM of its images (verifies it first:
    the SBOM is a member of the bundle, covered by its signature)."""
    if not sbom:
        if component is not None:
            raise click.UsageError("--component goes with --sbom")
        _show(ws, file, as_json)
        return
    import json

    from ..bundle.keys import trusted_keys
    from ..bundle.verify import bundle_sboms
    from ..errors import NotFound

    manifest, docs = bundle_sboms(file, trusted_keys=trusted_keys(ws))
    if not docs:
        raise NotFound(f"{file}: {manifest.app} {manifest.version} has no SBOM (a bundle built before SBOMs:"
                       " build it again with this version)")  # fmt: skip
    if component is not None:
        if component not in docs:
            raise NotFound(f"{file}: no SBOM of component {component!r} (components: {', '.join(sorted(docs))})")
        click.echo(docs[component].decode("utf-8"), nl=False)
        return
    if len(docs) == 1:
        click.echo(next(iter(docs.values())).decode("utf-8"), nl=False)
        return
    emit_json({c: json.loads(d) for c, d in sorted(docs.items())})


def _show(ws: Workspace, file: Path, as_json: bool) -> None:
    from ..bundle.keys import trusted_keys
    from ..bundle.manifest import summary
    from ..bundle.verify import verify_bundle

    s = summary(verify_bundle(file, trusted_keys=trusted_keys(ws)))
    if as_json:
        emit_json(s)
        return
    click.echo(f"app      {s['app']} {s['version']}")
    click.echo(f"created  {s['created']}")
    click.echo(f"signer   {s['signer']}")
    click.echo(
        f"members  {s['files']} ({_mb(int(s['bytes']))}, {_mb(int(s['stored_bytes']))} stored"  # type: ignore[call-overload]
        f"{', ' + '+'.join(s['compression']) if s['compression'] else ''})"  # type: ignore[arg-type]
    )
    for part, size in s["bytes_by_part"].items():  # type: ignore[attr-defined]
        click.echo(f"  {part:<10} {_mb(size)}")
    rows = []
    for img in s["images"]:  # type: ignore[attr-defined]
        rows.append(
            (img["component"], img["ref"], img["id"][:19], len(img["layers"]), _mb(img["size"]))
        )
    table(["COMPONENT", "REF", "ID", "LAYERS", "SIZE"], rows, title="images")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
