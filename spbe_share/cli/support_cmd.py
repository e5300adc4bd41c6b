"""``spbe-share support-bundle APP --target T --out FILE`` and ``support-bundle inspect FILE``
(thin wrappers over :mod:`spbe_share.ops.support` and :mod:`spbe_share.ops.supportfile`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..outside import terminal_text
from .lang import raw_echo
from .ops_cmd import _DefaultGroup
from .output import emit_json, info, json_option, table


class _SupportGroup(_DefaultGroup):
    default_command = "create"

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "APP --target T --out FILE [--since 24h] | inspect FILE")


@click.group("support-bundle", cls=_SupportGroup)
def support_bundle() -> None:
    """What the donor needs to help: versions, deploy spec, history and journal, the last failed
    run, container states and logs, disk and memory, preflight. Secrets and personal data are
    redacted on the target; the bundle is sealed to the donor's age key.

    \b
      spbe-share support-bundle APP --target T --out FILE [--since 24h] [--seal-to KEY|FILE]
      spbe-share support-bundle inspect FILE [--identity FILE]
    """


@support_bundle.command("create")
@click.argument("app")
@click.option("--target", "-t", "target", required=True, help="Target name.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the bundle here (never overwritten).")
@click.option("--since", "since", default="24h", show_default=True, help="Container logs since: 30m, 24h, 7d.")
@click.option("--seal-to", "seal_to", multiple=True, metavar="KEY|FILE",
              help="The donor's age public key (age1...) or a file holding it (default: the entry's"
                   " support.age_recipient). Repeatable.")
@click.option("--no-seal", is_flag=True, help="Write it in clear (still redacted) when no donor key is known.")
@json_option
@click.pass_obj
def support_create(ws: Any, app: str, target: str, out: Path, since: str, seal_to: tuple[str, ...], no_seal: bool,
                   as_json: bool) -> None:
    """Collect a support bundle of APP on a target into FILE."""
    from ..ops.context import OpContext
    from ..ops.support import parse_since
    from ..ops.support import support_bundle as make
    from ..remote.interrupts import interrupts

    since_s = parse_since(since)
    ctx = OpContext.create(ws, say=info)
    with interrupts(ctx.cancel):
        r = make(ctx, app=app, target_name=target, out=out, since_s=since_s, seal_to=seal_to, no_seal=no_seal)
    if as_json:
        emit_json(r.as_dict())
        return
    ix = r.index
    sealed = f"sealed to {', '.join(ix.sealed_to)}" if ix.sealed_to else "NOT sealed (--no-seal)"
    click.echo(f"support bundle: {r.out} ({len(ix.files)} files, {ix.payload_size} bytes), {sealed};"
               f" {ix.redactions} files had secrets or personal data redacted")
    info(f"check what is inside before sending it: spbe-share support-bundle inspect {r.out}")


@support_bundle.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--identity", "identity", type=click.Path(dir_okay=False, path_type=Path),
              help="An age identity the bundle is sealed to (the donor's): also show the contents.")
@json_option
def support_inspect(file: Path, identity: Path | None, as_json: bool) -> None:
    """Show what a support bundle holds: its files and sizes; with --identity, their contents."""
    from ..ops.supportfile import open_bundle
    from ..sealing import read_identity

    keys: list[Any] = [read_identity(identity)] if identity is not None else []
    opened = open_bundle(file, keys=keys)
    ix = opened.index
    if as_json:
        data: dict[str, Any] = ix.model_dump(mode="json")
        if opened.files is not None:
            data["contents"] = {k: v.decode("utf-8", "replace") for k, v in opened.files.items()}
        emit_json(data)
        return
    sealed = f"sealed to {', '.join(ix.sealed_to)}" if ix.sealed_to else "not sealed"
    table(["file", "bytes"], [(f.name, f.size) for f in ix.files],
          title=f"support bundle of {ix.app} on {ix.target}, made {ix.created} by {ix.created_by}, {sealed}")
    if opened.files is None:
        info("contents sealed: give the donor's identity with --identity FILE to read them")
        return
    for name, content in opened.files.items():
        raw_echo(f"===== {name}")
        raw_echo(terminal_text(content.decode("utf-8", "replace")))
