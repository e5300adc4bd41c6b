"""``spbe-share publish``: validate, build, bundle, sign and record a release (donor)."""

from __future__ import annotations

from pathlib import Path

import click

from ..workspace import Workspace
from .output import emit_json, info, json_option
from .progress import byte_meter


@click.command()
@click.argument("app")
@click.option("--version", "version", required=True, help="Release version to publish.")
@click.option("--key", "key_name", default="donor", show_default=True, help="Signing key name.")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Catalog git repository (default: the built-in catalog).",
)
@click.option(
    "--allow-dirty", is_flag=True, help="Publish even with uncommitted changes in the app's files."
)
@json_option
@click.pass_obj
def publish(
    ws: Workspace,
    app: str,
    version: str,
    key_name: str,
    repo: Path | None,
    allow_dirty: bool,
    as_json: bool,
) -> None:
    """Publish APP VERSION: bundle + sign it, commit its release record and tag <app>/v<version>."""
    from ..bundle.keys import load_private_key, passphrase_from_env
    from ..bundle.publish import publish_release

    key = load_private_key(ws, key_name, passphrase=passphrase_from_env())
    p = publish_release(
        ws,
        app=app,
        version=version,
        key=key,
        repo_root=repo,
        allow_dirty=allow_dirty,
        progress=info,
        meter=byte_meter(as_json=as_json),
    )
    if as_json:
        emit_json(
            {
                "app": p.app,
                "version": p.version,
                "bundle": str(p.bundle.path),
                "sha256": p.bundle.sha256,
                "record": str(p.record),
                "commit": p.commit,
                "tag": p.tag,
            }
        )
        return
    click.echo(f"published {p.app} {p.version}: {p.bundle.path} (sha256:{p.bundle.sha256})")
    click.echo(f"recorded {p.record} in commit {p.commit[:12]}, tag {p.tag}")
