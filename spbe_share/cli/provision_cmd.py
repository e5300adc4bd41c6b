"""``spbe-share provision-bundle build|verify`` and ``spbe-share target provision``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .output import emit_json, info, json_option


@click.group("provision-bundle")
def provision_bundle() -> None:
    """Offline provision bundles: the .deb files a fresh server needs, signed.

    \b
    Built on a machine that reaches a mirror; `target provision` ships one to a server
    that has no network (Docker Engine, python3-docker, python3-requests, zstd and what
    they need, resolved against a minimal system, not this machine).
    Tested: debian-12. ubuntu-22.04 and ubuntu-24.04 take the same path, untested.
    """


@provision_bundle.command("build")
@click.option("--os", "os_id", required=True, help="debian-12, ubuntu-22.04 or ubuntu-24.04.")
@click.option("--arch", default=None, help="dpkg architecture [default: this machine's].")
@click.option("--mirror", default=None, help="Archive mirror URI [default: this machine's apt sources].")
@click.option("--security-mirror", default=None, help="Security mirror URI [default: this machine's apt sources].")
@click.option("--key", "key_name", default=None, help="Signing key name [default: the workspace's key].")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Bundle file to write.")
@click.option("--force", is_flag=True, help="Replace an existing bundle file.")
@json_option
@click.pass_obj
def build(ws: Any, os_id: str, arch: str | None, mirror: str | None, security_mirror: str | None,
          key_name: str | None, output: Path | None, force: bool, as_json: bool) -> None:
    """Collect the packages with apt and pack them into a signed provision bundle."""
    from ..bundle.keys import load_private_key, passphrase_from_env
    from ..ops.bundles import ensure_signing_key
    from ..provision.build import build_provision_bundle, profile_of

    profile = profile_of(os_id)
    key = (
        load_private_key(ws, key_name, passphrase=passphrase_from_env())
        if key_name
        else ensure_signing_key(ws, info)
    )
    built = build_provision_bundle(
        ws, os_id=os_id, key=key, arch=arch, mirror=mirror, security_mirror=security_mirror,
        output=output, force=force, progress=info,
    )  # fmt: skip
    m = built.manifest
    if as_json:
        emit_json({
            "path": str(built.path), "os": m.os, "arch": m.arch, "sha256": built.sha256, "bytes": built.size,
            "packages": [f"{p.name}={p.version}" for p in m.packages], "downloaded_bytes": built.downloaded,
            "signer": m.signer, "tested": profile.tested, "notes": built.notes,
        })  # fmt: skip
        return
    click.echo(f"{built.path}: {m.os}/{m.arch}, {len(m.packages)} packages, {built.size / 1e6:.1f} MB,"
               f" signed by {m.signer}")  # fmt: skip
    if not profile.tested:
        info(f"note: {m.os} bundles are built the same way as debian-12 ones, but were never tried on a server")


@provision_bundle.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
def verify(ws: Any, file: Path, as_json: bool) -> None:
    """Check FILE's signature, the digest of every file in it, and that its signer is trusted
    for provisioning (this workspace's own key, or `keys trust KEY.pub --provision`)."""
    from ..provision.bundle import verify_for_provisioning

    m, signer = verify_for_provisioning(ws, file)
    if as_json:
        emit_json({**m.model_dump(mode="json"), "signer_trust": signer.as_dict()})
        return
    click.echo(f"ok: {file}: {m.os}/{m.arch}, {len(m.packages)} packages, {m.total_size / 1e6:.1f} MB,"
               f" signed by {m.signer} on {m.created.isoformat()}")  # fmt: skip
    click.echo(f"  {signer.describe()}")


def docker_daemon_option(f: Any) -> Any:
    return click.option(
        "--docker-daemon-opt", "daemon_opts", multiple=True, metavar="KEY=VALUE",
        help="A daemon.json setting of this target, saved in the inventory (repeatable; VALUE is JSON"
        " when it parses, e.g. iptables=false; KEY=null removes it).",
    )(f)  # fmt: skip


def run_provision(ws: Any, name: str, bundle: Path | None, options: dict[str, Any], as_json: bool) -> None:
    """Provision and print the result (shared by `target provision` and `target add --provision`)."""
    from ..ops.context import OpContext
    from ..ops.provision import provision_all
    from ..remote.interrupts import interrupts
    from .deploy_cmd import _Progress

    ctx = OpContext.create(ws, say=info, progress=_Progress(quiet=as_json))
    with interrupts(ctx.cancel):
        results = provision_all(ctx, target_name=name, bundle=bundle, docker_daemon_options=options)
    if as_json:  # one host: its result, as always; several: one per host
        emit_json(results[0].as_dict() if len(results) == 1 else [r.as_dict() for r in results])
        return
    for result in results:
        _show(result)


def _show(result: Any) -> None:
    for warning in result.warnings:
        info(f"warning: {warning}")
    if not result.changed:
        click.echo(f"already provisioned: {result.target} ({result.os}, Docker {result.docker_version}),"
                   " nothing changed")  # fmt: skip
    else:
        click.echo(f"provisioned: {result.target} ({result.os}/{result.arch}, Docker {result.docker_version},"
                   f" {result.seconds:.0f}s)")  # fmt: skip
        if result.installed:
            click.echo(f"  installed {len(result.installed)} packages: {', '.join(result.installed)}")
        for task in result.changed_tasks:
            click.echo(f"  changed: {task}")
    click.echo(f"  bundle {result.bundle}: {result.signer.describe()}")
    click.echo(f"  clock: {result.clock.get('message')}")
    info(f"log: {result.run_dir}")


@click.command("provision")
@click.argument("name")
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="Provision bundle [default: the workspace's one for the target's OS].")
@docker_daemon_option
@json_option
@click.pass_obj
def target_provision(ws: Any, name: str, bundle: Path | None, daemon_opts: tuple[str, ...], as_json: bool) -> None:
    """Make target NAME ready for apps, offline: Docker Engine, Python libraries, zstd, root.

    \b
    Reads first (bundle signature, its signer trusted for provisioning, host key, OS), then
    runs playbooks/provision.yml:
    clock check, the spbe-share root, /etc/docker/daemon.json (log rotation), missing
    packages from the signed provision bundle (no network needed on the target), the
    engine started (systemd, else by hand). Running it again changes nothing.
    """
    from ..ops.provision import parse_daemon_options

    run_provision(ws, name, bundle, parse_daemon_options(daemon_opts), as_json)
