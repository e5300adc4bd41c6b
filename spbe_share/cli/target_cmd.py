"""``spbe-share target``: Pemda data centers (a standard Ansible inventory + pinned host keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .output import emit_json, info, json_option, table
from .provision_cmd import docker_daemon_option, run_provision, target_provision


def _target_json(t: Any) -> dict[str, Any]:
    from ..targets.hostkeys import HostKey
    from ..targets.selectors import groups_of

    data = t.model_dump(mode="json")
    data["host_key_fingerprints"] = [HostKey(*ln.split()[1:3]).fingerprint for ln in t.host_keys]
    for h, view in zip(data["extra_hosts"], t.extra_hosts, strict=True):
        h["host_key_fingerprints"] = [HostKey(*ln.split()[1:3]).fingerprint for ln in view.host_keys]
    data["all_groups"] = list(groups_of(t))
    return data


@click.group()
def target() -> None:
    """Manage Pemda data centers (Ansible inventory, pinned SSH host keys).

    \b
    The built-in target `local` is this machine (Ansible local connection). Its Pemda,
    kode wilayah, root and bind address come from SPBE_SHARE_LOCAL_PEMDA,
    SPBE_SHARE_LOCAL_KODE_WILAYAH, SPBE_SHARE_LOCAL_ROOT, SPBE_SHARE_LOCAL_BIND_ADDRESS,
    else from `spbe-share target set-local`, else defaults ("Pemda Lokal (uji coba)", "00",
    /var/lib/spbe-share, 127.0.0.1).
    """


@target.command("add")
@click.argument("name")
@click.option("--host", "host_values", required=True, multiple=True, metavar="ADDRESS | ROLES=[USER@]ADDRESS[:PORT]",
              help="Address or DNS name of the data center's server. A data center with several servers:"
              " one --host per server with the roles it carries, e.g. --host web=10.1.2.3 --host"
              " database=10.1.2.4 --host backup=10.1.2.5 (the first is the target's own host).")
@click.option("--port", type=int, default=22, show_default=True)
@click.option("--user", required=True, help="SSH login user.")
@click.option("--key", "key_values", required=True, multiple=True, metavar="[ROLE=]FILE",
              help="SSH private key file; ROLE=FILE: the one of the host carrying ROLE.")
@click.option("--pemda", required=True, help='Adopter Pemda, e.g. "Kota Sorong".')
@click.option("--kode-wilayah", required=True, help="Kemendagri region code, e.g. 96.71.")
@click.option("--root", "root_values", multiple=True, metavar="[ROLE=]PATH",
              help="Data dir on the target [default: /var/lib/spbe-share]. ROLE=PATH: the one of the host"
              " carrying ROLE (e.g. backup=/srv/backup: a backup host keeps the copies there).")
@click.option("--bind-address", "bind_values", multiple=True, metavar="[ROLE=]IP",
              help="IP address to publish app ports on [default: --host, resolved to its one IP address]."
              " ROLE=IP: the one of the host carrying ROLE (its private address).")
@click.option("--python", "python_values", multiple=True, metavar="[ROLE=]PATH",
              help="Python interpreter on the target (ansible_python_interpreter); preflight and every"
              " operation use it. ROLE=PATH: the one of the host carrying ROLE.")
@click.option(
    "--host-key-fingerprint", "fingerprint_values", multiple=True, metavar="[ROLE=]SHA256:...",
    help="Require this SHA256:... fingerprint (obtained from the Pemda out of band); several hosts:"
    " ROLE=SHA256:... for each.",
)
@click.option(
    "--host-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Pin the key(s) in this public key file instead of asking the server (ssh-keyscan).",
)
@click.option(
    "--trust-on-first-use",
    is_flag=True,
    help="Pin whatever key the server offers now, unchecked (scripts; prefer --host-key-fingerprint).",
)
@click.option(
    "--accept-new-host-key", "accept_values", multiple=True,
    metavar="[ROLE=]SHA256:...",
    help="With --replace: the server was reinstalled; pin its new key, which must have this fingerprint.",
)
@click.option("--replace", is_flag=True, help="Overwrite an existing target of this name.")
@click.option("--provision", is_flag=True, help="Then provision it (see `target provision`).")
@click.option("--provision-bundle", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --provision: the provision bundle [default: the workspace's one for its OS].")
@docker_daemon_option
@click.option("--group", "groups", multiple=True, metavar="NAME",
              help="Put the target in this group (repeatable), e.g. papua_barat_daya. Every target is"
              " also in its province group prov_NN.")
@click.pass_obj
def add(ws: Any, name: str, host_values: tuple[str, ...], port: int, user: str, key_values: tuple[str, ...],
        pemda: str, kode_wilayah: str, root_values: tuple[str, ...], bind_values: tuple[str, ...],
        python_values: tuple[str, ...],
        fingerprint_values: tuple[str, ...], host_key_file: Path | None, trust_on_first_use: bool,
        accept_values: tuple[str, ...], replace: bool, provision: bool, provision_bundle: Path | None,
        daemon_opts: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Add target NAME: pin its host key, prove an SSH login works, then save it.

    \b
    The host key is pinned only when it is checked: --host-key-fingerprint SHA256:... (ask
    the Pemda for `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), --host-key-file, or on
    a terminal by answering the question showing the fingerprint. In scripts without those,
    --trust-on-first-use pins it unchecked. A pinned key that changed is replaced only with
    --replace --accept-new-host-key SHA256:new.

    With --provision, then make it ready for apps (`target provision NAME`).

    \b
    A data center with several servers (an app's roles: web, database, backup):
      spbe-share target add dinas-pendidikan-sorong --host web=10.1.2.3 \\
        --host database=10.1.2.4 --host backup=10.1.2.5 --user spbe --key ~/.ssh/id_ed25519 \\
        --host-key-fingerprint web=SHA256:... --host-key-fingerprint database=SHA256:... ...
    Every server's key is pinned and its login proved before anything is saved.
    """
    from .. import audit
    from ..errors import InvalidInput
    from ..ops.provision import parse_daemon_options, set_docker_daemon_options
    from ..ops.target_add import add_target
    from ..targets.hostkeys import HostKey
    from ..targets.inventory import DEFAULT_ROOT, parse_host_spec, per_role

    specs = [parse_host_spec(v) for v in host_values]
    if len(specs) > 1 or any(s.roles for s in specs):
        if not all(s.roles for s in specs):
            raise InvalidInput("--host: with several hosts, name the roles each carries: --host web=10.1.2.3"
                               " --host database=10.1.2.4")  # fmt: skip
    roles = [r for s in specs for r in s.roles]
    key_s, keys = per_role(key_values, "--key", roles)
    python, pythons = per_role(python_values, "--python", roles)
    root, roots = per_role(root_values, "--root", roles)
    bind_address, binds = per_role(bind_values, "--bind-address", roles)
    host_key_fingerprint, fingerprints = per_role(fingerprint_values, "--host-key-fingerprint", roles)
    accept_new_host_key, accept_new = per_role(accept_values, "--accept-new-host-key", roles)
    if key_s is None and not all(any(r in keys for r in s.roles) for s in specs):
        raise InvalidInput("--key: give a key file for every host (FILE, or ROLE=FILE for each)")

    options = parse_daemon_options(daemon_opts)  # bad input is refused before anything changes
    if replace:  # a re-added server keeps its daemon settings unless given anew
        from ..targets.inventory import load_targets

        old = load_targets(ws).get(name)
        options = {**(old.docker_daemon_options if old else {}), **options}
    result = add_target(
        ws, name=name, hosts=specs, port=port, user=user, key=Path(key_s or next(iter(keys.values()))),
        pemda=pemda, kode_wilayah=kode_wilayah, root=root or DEFAULT_ROOT, bind_address=bind_address, python=python,
        host_key_fingerprint=host_key_fingerprint, host_key_file=host_key_file,
        trust_on_first_use=trust_on_first_use, accept_new_host_key=accept_new_host_key,
        confirm=_ask_host_key if _interactive() else None, replace=replace, groups=groups,
        keys={r: Path(k) for r, k in keys.items()}, pythons=pythons, fingerprints=fingerprints,
        accept_new=accept_new, roots=roots, binds=binds,
    )  # fmt: skip
    t = result.target
    for h in t.hosts():
        click.echo(f"pinned host key(s) of {h.known_hosts_name} ({result.how}):")
        for line in h.host_keys:
            k = HostKey(*line.split()[1:3])
            click.echo("  " + k.describe(h.known_hosts_name))
    click.echo(f"target {t.name} added: {t.destination} port {t.port} ({t.pemda}, {t.kode_wilayah}),"
               f" app ports on {t.bind_address}")
    for h in t.hosts():
        if h.roles:
            click.echo(f"  host {h.name}: {h.destination} port {h.port}, roles {', '.join(h.roles)},"
                       f" app ports on {h.bind_address}")
    audit.record(
        ws, what="target add", where=t.name, result="ok", host=t.host, port=t.port, user=t.user,
        pemda=t.pemda, kode_wilayah=t.kode_wilayah, bind_address=t.bind_address,
        fingerprints=[k.fingerprint for k in result.pinned], pinned_by=result.how, replace=replace,
        groups=list(t.groups), roles={h.name: list(h.roles) for h in t.hosts() if h.roles},
    )  # fmt: skip
    if provision:
        run_provision(ws, t.name, provision_bundle, options, as_json=False)
    elif options:
        set_docker_daemon_options(ws, t.name, options)


target.add_command(target_provision)


def _interactive() -> bool:
    return click.get_text_stream("stdin").isatty() and click.get_text_stream("stdout").isatty()


def _ask_host_key(host: str, keys: Any) -> bool:
    click.echo(f"{host} offers these host keys (first connection: nothing is pinned yet):")
    for k in keys:
        click.echo("  " + k.describe(host))
    click.echo("Compare them with what the Pemda reads on the server: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub")
    return click.confirm("Do the fingerprints match?", default=False)


@target.command("list")
@click.option("--group", "group", default=None, metavar="SELECTOR",
              help="Only targets of this group (or any selector: kode:96.*, a name, all).")
@json_option
@click.pass_obj
def list_(ws: Any, group: str | None, as_json: bool) -> None:
    """List targets (the built-in `local` last) and their groups."""
    from ..targets.inventory import list_targets
    from ..targets.selectors import groups_of, select

    targets = list_targets(ws)
    if group is not None:
        chosen = set(select(group, targets).names)
        targets = [t for t in targets if t.name in chosen]
    if as_json:
        emit_json([_target_json(t) for t in targets])
        return
    table(
        ["name", "pemda", "kode", "groups", "address", "user", "root", "connection"],
        [
            [t.name, t.pemda, t.kode_wilayah, ",".join(groups_of(t)),
             f"{t.host}:{t.port}" if t.connection == "ssh" else "-", t.user, t.root, t.connection]
            for t in targets
        ],
    )  # fmt: skip


@target.command("group")
@click.argument("name")
@click.option("--add", "add_", multiple=True, metavar="GROUP", help="Put the target in GROUP (repeatable).")
@click.option("--remove", multiple=True, metavar="GROUP", help="Take the target out of GROUP (repeatable).")
@click.pass_obj
def group_(ws: Any, name: str, add_: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Change the groups of target NAME (the province group prov_NN follows its kode wilayah)."""
    from .. import audit
    from ..targets.inventory import set_groups
    from ..targets.selectors import groups_of

    t = set_groups(ws, name, add=add_, remove=remove)
    click.echo(f"target {t.name}: groups {', '.join(groups_of(t))}")
    audit.record(ws, what="target group", where=t.name, result="ok", added=list(add_), removed=list(remove),
                 groups=list(t.groups))


@target.command("show")
@click.argument("name")
@json_option
@click.pass_obj
def show(ws: Any, name: str, as_json: bool) -> None:
    """Show one target and its pinned host key fingerprints."""
    from ..targets.hostkeys import HostKey
    from ..targets.inventory import get_target

    t = get_target(ws, name)
    data = _target_json(t)
    if as_json:
        emit_json(data)
        return
    for k in ("name", "connection", "host", "port", "user", "key", "pemda", "kode_wilayah",
              "root", "bind_address", "python"):  # fmt: skip
        if data.get(k) is not None:
            click.echo(f"{k}: {data[k]}")
    click.echo(f"groups: {', '.join(data['all_groups'])}")
    for fp in data["host_key_fingerprints"]:
        click.echo(f"host_key: {fp}")
    if t.roles:
        click.echo(f"roles: {', '.join(t.roles)}")
    for h in t.extra_hosts:
        click.echo(f"host {h.name}: {h.user}@{h.host} port {h.port}, roles {', '.join(h.roles)},"
                   f" app ports on {h.bind_address}")
        for ln in h.host_keys:
            click.echo(f"  host_key: {HostKey(*ln.split()[1:3]).fingerprint}")


@target.command("remove")
@click.argument("name")
@click.pass_obj
def remove(ws: Any, name: str) -> None:
    """Remove target NAME and its pinned host key."""
    from .. import audit
    from ..targets.inventory import remove_target

    gone = remove_target(ws, name)
    info(f"target {gone.name} removed")
    audit.record(ws, what="target remove", where=gone.name, result="ok", host=gone.host, port=gone.port)


@target.command("check")
@click.argument("name")
@click.pass_obj
def check(ws: Any, name: str) -> None:
    """Check that NAME still offers its pinned host key and accepts the login."""
    from ..remote.ssh import check_host_key, verify_connection
    from ..targets.inventory import get_target

    t = get_target(ws, name)
    fps = check_host_key(ws, t)
    if t.connection == "ssh":
        verify_connection(ws, t)
    for h in t.hosts()[1:]:  # a data center's other hosts
        check_host_key(ws, h)
        verify_connection(ws, h)
    click.echo(f"target {t.name}: ok" + (f" (host key {', '.join(fps)})" if fps else "")
               + (f", {len(t.extra_hosts)} more host(s) ok" if t.extra_hosts else ""))


@target.command("set-local")
@click.option("--pemda", default=None)
@click.option("--kode-wilayah", default=None)
@click.option("--root", default=None)
@click.option("--bind-address", default=None)
@click.pass_obj
def set_local(ws: Any, pemda: str | None, kode_wilayah: str | None, root: str | None,
              bind_address: str | None) -> None:
    """Save settings of the built-in target `local` (environment variables still win)."""
    from ..targets.inventory import set_local as do

    t = do(ws, pemda=pemda, kode_wilayah=kode_wilayah, root=root, bind_address=bind_address)
    click.echo(f"local: {t.pemda} ({t.kode_wilayah}), root {t.root}, bind {t.bind_address}")
