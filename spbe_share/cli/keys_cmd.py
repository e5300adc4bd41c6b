"""``spbe-share keys``: the donor's Ed25519 signing keys and the trusted donor keys."""

from __future__ import annotations

from pathlib import Path

import click

from ..workspace import Workspace
from .output import emit_json, info, json_option, table


@click.group()
def keys() -> None:
    """Manage the donor's Ed25519 signing keys and the donor keys you trust."""


@keys.command("generate")
@click.option(
    "--name", default="donor", show_default=True, help="Key name (lowercase, digits, . _ -)."
)
@click.pass_obj
def generate(ws: Workspace, name: str) -> None:
    """Create a signing key pair (private key 0600; encrypted if $SPBE_SHARE_KEY_PASSPHRASE is set).

    The new public key is also trusted by this workspace. Never overwrites a key.
    """
    from ..bundle.keys import generate_key, passphrase_from_env

    k = generate_key(ws, name=name, passphrase=passphrase_from_env())
    info(f"private key: {k.path} ({'encrypted' if k.encrypted else 'not encrypted'})")
    click.echo(f"{k.key_id} {k.fingerprint} {k.name}")


@keys.command("list")
@json_option
@click.pass_obj
def list_(ws: Workspace, as_json: bool) -> None:
    """List your own keys and the donor keys you trust."""
    from ..bundle.keys import list_keys

    found = list_keys(ws)
    if as_json:
        emit_json([k.as_dict() for k in found])
        return
    table(
        ["KIND", "NAME", "KEY ID", "FINGERPRINT"],
        [(k.kind, k.name, k.key_id, k.fingerprint) for k in found],
    )


@keys.command("export")
@click.argument("name")
@click.pass_obj
def export(ws: Workspace, name: str) -> None:
    """Print the public key NAME (give it to adopters: spbe-share keys trust FILE)."""
    from ..bundle.keys import export_public

    click.echo(export_public(ws, name), nl=False)


@keys.command("trust")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Label for the key (default: the comment in the file).")
@click.pass_obj
def trust(ws: Workspace, file: Path, name: str | None) -> None:
    """Trust a donor's public key FILE to sign bundles."""
    from ..bundle.keys import trust_key

    k = trust_key(ws, file, name=name)
    click.echo(f"trusted {k.key_id} {k.fingerprint} {k.name}")


@keys.command("untrust")
@click.argument("key_id")
@click.pass_obj
def untrust(ws: Workspace, key_id: str) -> None:
    """Stop trusting the donor key KEY_ID."""
    from ..bundle.keys import untrust_key

    k = untrust_key(ws, key_id)
    click.echo(f"untrusted {k.key_id} {k.name}")
