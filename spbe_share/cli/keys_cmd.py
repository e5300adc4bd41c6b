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
@click.option(
    "--donor-kode",
    default=None,
    help="Kode wilayah of the donor Pemda this workspace is: its own bundles install as that donor's.",
)
@click.pass_obj
def generate(ws: Workspace, name: str, donor_kode: str | None) -> None:
    """Create a signing key pair (private key 0600; encrypted if $SPBE_SHARE_KEY_PASSPHRASE is set).

    This workspace trusts the new key for donor --donor-kode (none if not given: then it
    signs only bundles for the local sandbox). Never overwrites a key.
    """
    from ..bundle.keys import generate_key, passphrase_from_env

    k = generate_key(ws, name=name, passphrase=passphrase_from_env(), donor_kode=donor_kode)
    info(f"private key: {k.path} ({'encrypted' if k.encrypted else 'not encrypted'})")
    click.echo(f"{k.key_id} {k.fingerprint} {k.name}")


@keys.command("list")
@json_option
@click.pass_obj
def list_(ws: Workspace, as_json: bool) -> None:
    """List your own keys and the keys you trust, with the donor each is trusted for."""
    from ..bundle.keys import list_keys

    found = list_keys(ws)
    if as_json:
        emit_json([k.as_dict() for k in found])
        return
    table(
        ["KIND", "NAME", "KEY ID", "FINGERPRINT", "TRUSTED FOR"],
        [(k.kind, k.name, k.key_id, k.fingerprint, k.trusted_for or "") for k in found],
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
@click.option("--donor-kode", default=None,
              help="Kode wilayah of the donor Pemda whose key this is (e.g. 91): the only donor it may sign for.")
@click.option("--app", "apps", multiple=True, help="Only for this app of the donor (repeatable; default: every app).")
@click.option("--donor", default=None, help='Name of the donor Pemda, for people (e.g. "Provinsi Papua").')
@click.option("--provision", is_flag=True,
              help="May sign provision bundles (their packages are installed as root on the servers you provision).")
@click.option("--name", default=None, help="Label for the key (default: the comment in the file).")
@click.pass_obj
def trust(ws: Workspace, file: Path, donor_kode: str | None, apps: tuple[str, ...], donor: str | None,
          provision: bool, name: str | None) -> None:
    """Trust a public key FILE: to sign the bundles of one donor (--donor-kode), or provision
    bundles (--provision), or both.

    Check the key's fingerprint with its owner (out of band) first. A key trusted by an
    older spbe-share without a donor is bound to the donor by trusting it again.
    """
    from .. import audit
    from ..bundle.trust import trust_key

    k = trust_key(ws, file, donor_kode=donor_kode, apps=apps, name=name, donor=donor, provision=provision,
                  who=audit.operator())  # fmt: skip
    click.echo(f"trusted {k.key_id} {k.fingerprint} {k.name} for {k.trusted_for()}")
    audit.record(ws, what="keys trust", where=k.key_id, result="ok", fingerprint=k.fingerprint,
                 donor_kode_wilayah=k.donor_kode_wilayah, apps=list(k.apps), provision=k.provision)  # fmt: skip


@keys.command("untrust")
@click.argument("key_id")
@click.pass_obj
def untrust(ws: Workspace, key_id: str) -> None:
    """Stop trusting the key KEY_ID."""
    from .. import audit
    from ..bundle.trust import untrust_key

    k = untrust_key(ws, key_id)
    click.echo(f"untrusted {k.key_id} {k.name}")
    audit.record(ws, what="keys untrust", where=k.key_id, result="ok", fingerprint=k.fingerprint)
