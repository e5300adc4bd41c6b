"""``spbe-share tls``: the TLS certificate of an app's proxy on the Pemda's own domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .output import emit_json, info, json_option
from .progress import byte_meter


@click.group("tls")
def tls() -> None:
    """The TLS certificate of an app served on the Pemda's domain (install --domain)."""


@tls.command("set")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name.")
@click.option("--cert", "cert", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The new certificate chain (PEM, e.g. fullchain.pem).")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Its private key (PEM, e.g. privkey.pem): a secret, stored 0600 on the target.")
@click.option("--break-lock", is_flag=True, help="Break a lock left by a dead operation (audited).")
@json_option
@click.pass_obj
def set_cmd(ws: Any, app: str, target: str, cert: Path, key: Path, break_lock: bool, as_json: bool) -> None:
    """Replace the certificate and key of APP's proxy on a target, without a reinstall.

    Refused before anything changes when the files do not parse, the key does not match the
    certificate, the certificate is not for the app's domain, or it is expired. On the target
    the new pair must pass nginx -t and the app must answer over https, else the previous
    pair is put back.
    """
    from ..ops.context import OpContext
    from ..ops.tls import set_tls
    from ..remote.interrupts import interrupts

    ctx = OpContext.create(ws, say=info, meter=byte_meter(as_json=as_json))
    with interrupts(ctx.cancel):
        result = set_tls(ctx, app=app, target_name=target, cert=cert, key=key, break_lock=break_lock)
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(f"TLS certificate of {result.domain} replaced on {result.target}: valid until {result.not_after}"
               f" (sha256 {result.sha256[:16]})")
