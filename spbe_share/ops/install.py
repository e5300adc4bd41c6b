"""``spbe-share install``: the install operation, on the core (:mod:`.core`).

Checks, in order, all read-only (nothing changes on the target before every one passed):

1. target resolved, its host key compared with the pinned one;
2. agreement (MoU/PKS) covering app, adopter and scope ``install`` today, when the entry's
   ``sharing.mou_required`` says so (the built-in ``local`` target is a sandbox: exempt, said);
3. values checked against the entry's settings;
4. bundle located, verified, extracted (:func:`.bundles.verified_bundle`); the entry INSIDE the
   verified bundle is what gets installed; it must name the donor that the operator's catalog
   names for the app (the agreement is required when the CATALOG's entry says so); its signer
   trusted for that donor, the agreement's donor (:func:`.bundles.trusted_for_target`; a bundle
   built here from the catalog only for the local sandbox, the donor's own data center, or with
   ``allow_self_signed``);
5. config templates rendered locally;
6. the no-op check (:func:`noop_check`, :mod:`.noop`): in one SSH round trip, under the app's
   lock, is the target already running exactly this release (record, bundle files, rendered
   config, secrets, blobs, images, containers with their image ids and settings, health)?
   Then the install records that nothing changed (cache, audit) and stops here;
7. otherwise preflight on the target.

Then the blobs the target lacks, shipped as one resumable stream and verified there
(:mod:`spbe_share.remote.ship`; content-addressed, so before the lock, while the old release still serves), and
``playbooks/install.yml`` under the lock: check blobs, load images, config, secrets, network,
volumes, containers, health, release record, unlock (also on failure).
Every outcome, refusals and cancellations included, is one line in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import Cancelled, InvalidInput, RemoteFailed, SpbeError
from ..plans.builders import deploy_vars, install_vars, release_record
from ..plans.containers import app_urls
from ..plans.firewall import access_rules, nftables_on
from ..plans.imageuser import component_users
from ..plans.login import LoginHint, explicit_workspace, login_hint
from ..plans.placement import (
    PER_HOST,
    HostPart,
    behind_proxy,
    host_entry,
    host_vars_of,
    part_health,
    part_urls,
    placement,
    split_vars,
)
from ..plans.render import render_configs
from ..plans.upgradeplan import older_refusals
from ..plans.values import ResolvedValues, resolve_values, template_variables
from ..records import state
from ..records.state import InstallStats, LockOwner, ReleaseRecord
from ..remote.outcome import host_data
from ..remote.runner import RunResult
from .bundles import (
    VerifiedBundle,
    catalog_entry,
    files_tar,
    trusted_for_target,
    verified_bundle,
)
from .checks import agreement_for, checked_target, key_proven, require_slug
from .context import OpContext
from .core import Attempt, Operation, new_lock, operation, run_locked
from .preflight import preflight_ok
from .tls import ProxyPlan, app_target, distribute_ca_hint, proxy_plan, ship_proxy, tls_material

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..remote.ship import ShipResult
    from ..targets.inventory import Target
    from .noop import NoopAnswer
    from .preflight import PreflightReport


class PartsPlan(Protocol):
    """A plan of an app across the hosts of a data center (install, upgrade): what
    :func:`ship_parts` and :func:`share_part_secrets` read."""

    target: Target
    bundle: VerifiedBundle
    parts: list[HostPart] | None
    extravars: dict[str, Any]

    @property
    def app(self) -> str: ...


@dataclass
class InstallPlan:
    """Everything decided before the target is touched."""

    target: Target
    bundle: VerifiedBundle
    values: ResolvedValues
    release: ReleaseRecord
    extravars: dict[str, Any]
    lock: LockOwner
    urls: list[str]
    agreement: str
    attempt: Attempt
    preflight: PreflightReport | None = None
    trust: str = ""  # why the bundle's signer is trusted (bundle/trust.py), for the audit line
    proxy: ProxyPlan | None = None  # --domain: the TLS proxy in front
    parts: list[HostPart] | None = None  # several hosts: each one's components (None: one host)
    host_vars: dict[str, dict[str, Any]] | None = None  # several hosts: each one's variables

    @property
    def app(self) -> str:
        return self.bundle.app

    @property
    def version(self) -> str:
        return self.bundle.version

    def as_dict(self) -> dict[str, Any]:
        """What the install will do (printable, ``--json``; no secrets)."""
        return {
            "app": self.app,
            "version": self.version,
            "target": self.target.name,
            "bundle": str(self.bundle.path),
            "bundle_digest": self.bundle.digest,
            "signer": self.bundle.manifest.signer,
            "trust": self.trust,
            "agreement": self.agreement,
            "values": self.values.as_dict(),
            "containers": list(self.release.containers),
            "urls": self.urls,
            "blobs_total": len(self.bundle.blob_sizes()),
            "bytes_total": sum(self.bundle.blob_sizes().values()),
            **({"tls": self.proxy.as_dict()} if self.proxy is not None else {}),
            **({"hosts": {p.host.name: list(p.names) for p in self.parts}} if self.parts is not None else {}),
        }


@dataclass
class InstallResult:
    app: str
    version: str
    target: str
    changed: bool
    new_release: bool
    urls: list[str]
    blobs_sent: int
    bytes_sent: int
    blobs_total: int
    bytes_total: int
    run_dir: Path
    seconds: float
    phase_seconds: dict[str, float] = field(default_factory=dict)
    record: ReleaseRecord | None = None
    changed_tasks: list[str] = field(default_factory=list)
    login: LoginHint | None = None  # how to log in first (no secret in it)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "version": self.version,
            "target": self.target,
            "changed": self.changed,
            "new_release": self.new_release,
            "urls": self.urls,
            "blobs_sent": self.blobs_sent,
            "bytes_sent": self.bytes_sent,
            "blobs_total": self.blobs_total,
            "bytes_total": self.bytes_total,
            "run_dir": str(self.run_dir),
            "seconds": round(self.seconds, 2),
            "phase_seconds": {k: round(v, 2) for k, v in self.phase_seconds.items()},
            "changed_tasks": self.changed_tasks,
            "login": self.login.as_dict() if self.login else None,
        }


def plan_install(
    ctx: OpContext,
    *,
    app: str,
    target_name: str,
    version: str | None = None,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    bundle: Path | None = None,
    run_preflight: bool = True,
    allow_self_signed: bool = False,
    reset_data: bool = False,
    base: Mapping[str, str] | None = None,
    domain: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    compare_host_key: bool = True,
) -> InstallPlan:
    """Every check of an install; touches the target only to read (host key, preflight).

    ``app`` is ``APP`` or ``SOURCE/APP`` (an app of the catalog source ``SOURCE``). With
    ``domain``: the TLS proxy in front (:mod:`.tls`), the pair checked (or issued) first.
    ``compare_host_key=False``: the caller compares the target's host key itself before it
    changes anything (:func:`install`: the no-op check's own ssh connection proves the pinned
    key first, its keyscan is needed only when the install goes on).
    """
    from ..imaging import dockerarchive

    source, _, app_id = app.rpartition("/")
    require_slug(app_id, what="app")
    if source:
        require_slug(source, what="catalog source")
    target = checked_target(ctx, target_name, compare_key=compare_host_key)
    if domain is None and (tls_cert is not None or tls_key is not None):
        raise InvalidInput("--tls-cert and --tls-key need --domain (the domain the certificate is for)")
    tls = tls_material(ctx, target=target, domain=domain, cert=tls_cert, key=tls_key) if domain else None
    catalog: Entry | None = None
    agreement = ""
    if bundle is None:
        # the catalog's entry: refuse early, before a bundle is built
        catalog = catalog_entry(ctx, app)
        agreement = agreement_for(ctx, target=target, entry=catalog, scope="install")
        resolve_values(catalog, sets=sets, values_file=values_file)
    vb = verified_bundle(ctx, app=app, version=version, bundle=bundle)
    ctx.cancel.check()
    entry = vb.entry
    if catalog is None:  # --bundle: the donor and the agreement's terms are the catalog's, never the bundle's
        catalog = catalog_entry(ctx, app)
        agreement = agreement_for(ctx, target=target, entry=catalog, scope="install")
    # the bundle's donor is the catalog's, its signer trusted for that donor, the agreement's donor
    trust = trusted_for_target(ctx, vb, target=target, catalog=catalog, agreement=agreement,
                               allow_self_signed=allow_self_signed)  # fmt: skip
    values = resolve_values(entry, sets=sets, values_file=values_file, base=base)
    variables = template_variables(
        values, app=entry.id, version=vb.version, target=target.name, pemda=target.pemda,
        kode_wilayah=target.kode_wilayah,
    )
    configs = render_configs(entry, template_root=vb.dir, variables=variables)
    users = component_users(entry, vb.manifest, blob_dir=vb.blob_dir)
    report = (preflight_ok(ctx, target=target, entry=entry, proxy=bool(domain), across_hosts=True)
              if run_preflight else None)  # fmt: skip
    inner = app_target(target, domain)  # with a domain, the app's ports on loopback only
    release = release_record(
        target=inner, entry=entry, manifest=vb.manifest, digest=vb.digest, values=values, who=ctx.operator,
        now=ctx.now,
    ).model_copy(update={"operation": "install", "host": state.controller_host(),
                         "deploy": state.deploy_name(stamp=state.stamp(ctx.now), version=vb.version),
                         **({"domain": domain, "urls": [f"https://{domain}/"]} if domain else {})})
    parts = placement(entry, target)
    if parts is not None:
        if domain:  # the proxy on the web component's host (the first), the app's ports there on loopback
            parts = behind_proxy(entry, parts, target=target.name)
        release = release.model_copy(update={"health": part_health(entry, parts, target=target.name),
                                             **({} if domain else {"urls": part_urls(entry, parts)})})  # fmt: skip
    proxy = None
    if tls is not None:
        proxy = proxy_plan(ctx, target=target, entry=entry, version=vb.version, pair=tls[0], issued_by=tls[1],
                           ca_created=tls[2])  # fmt: skip
    extravars = install_vars(
        target=inner, entry=entry, manifest=vb.manifest, release=release, bundle_dir=vb.dir,
        files_tar=files_tar(vb.dir), configs=configs, users=users, now=ctx.now,
        dockerarchive=Path(dockerarchive.__file__),
    )
    extravars.update(deploy_vars(extravars, entry=entry, root=target.root, bundle_digest=vb.digest))
    extravars["spbe_refuse_current"] = older_refusals(entry, app=entry.id, target=target.name, version=vb.version)
    if reset_data:  # data found without its secrets is archived on the target, then removed (issue 12)
        extravars["spbe_reset_data"] = True
    if proxy is not None:
        extravars.update(proxy.extravars)
    host_vars = None
    if parts is not None:  # each host its part (host vars), the lock host's variables the common ones
        full = part_vars(parts, entry=entry, target=inner, manifest=vb.manifest, release=release, bundle_dir=vb.dir,
                         configs=configs, users=users, now=ctx.now, bundle_digest=vb.digest)  # fmt: skip
        host_vars = {name: {k: v[k] for k in HOST_KEYS if k in v} for name, v in full.items()}
        if nftables_on():  # the database host: only the web host reaches its port (where it has nft)
            for name, rules in access_rules(parts, target).items():
                host_vars[name]["spbe_firewall"] = rules
        extravars = split_vars(extravars, host_vars)
        if proxy is not None:  # the proxy runs on the web's host only (behind_proxy: the first host)
            host_vars[target.name]["spbe_proxy"] = extravars.pop("spbe_proxy")
    return InstallPlan(
        target=target,
        bundle=vb,
        values=values,
        release=release,
        extravars=extravars,
        lock=new_lock(ctx, operation=f"install {entry.id} {vb.version}"),
        urls=list(release.urls) if domain or parts is not None else app_urls(entry, bind_address=target.bind_address),
        agreement=agreement,
        attempt=Attempt(
            path=state.attempt_path(target.root, entry.id, stamp=state.stamp(ctx.now), version=vb.version),
            record=release.model_dump(mode="json"),
        ),
        preflight=report,
        trust=trust.describe(),
        proxy=proxy,
        parts=parts,
        host_vars=host_vars,
    )


# the keys of each host's variables (host vars): what host_vars_of gives
HOST_KEYS = (*PER_HOST, "spbe_start_first", "spbe_record_here")


def part_vars(
    parts: list[HostPart], *, entry: Entry, target: Target, manifest: Any, release: ReleaseRecord, bundle_dir: Path,
    configs: list[dict[str, Any]], users: dict[str, tuple[int, int]], now: Any, bundle_digest: str,
) -> dict[str, dict[str, Any]]:
    """Each host's install variables, complete (its part of the entry, its root and address, what
    it starts first, whether it keeps the record, its deploy spec), by inventory host name
    (pure but for reading the bundle's files list). ``target``: the data center as the app
    sees it (its name)."""
    from ..imaging import dockerarchive

    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        sub = host_entry(entry, part)
        here = target.model_copy(update={"bind_address": part.host.bind_address, "root": part.host.root})
        v = install_vars(
            target=here, entry=sub, manifest=manifest, release=release, bundle_dir=bundle_dir,
            files_tar=files_tar(bundle_dir), configs=configs, users=users, now=now,
            dockerarchive=Path(dockerarchive.__file__),
        )
        v["spbe_health"] = [h.model_dump(mode="json") for h in part_health(entry, [part], target=target.name)]
        v.update(host_vars_of(part, v))
        v["spbe_deploy_spec"] = deploy_vars(v, entry=sub, root=part.host.root,
                                            bundle_digest=bundle_digest)["spbe_deploy_spec"]  # fmt: skip
        out[part.host.name] = v
    return out


def execute(ctx: OpContext, op: Operation, plan: InstallPlan, *, break_lock: bool = False) -> InstallResult:
    """Ship the blobs the target lacks (no lock needed: content-addressed), then run
    ``install.yml`` with a prepared plan, under the lock."""
    from ..remote.ship import bundle_files, env_bwlimit, ship_bundle

    def cancelled() -> Cancelled:
        op.note(stopped_at="Ship: the blob stream (before the lock)")
        return Cancelled(
            f"{op.name} of {plan.app} on {plan.target.name} stopped by {ctx.cancel.signal_name} while shipping"
            " blobs, before the lock: nothing of the app changed (the blobs verified there are kept;"
            " the next install sends only the rest)"
        )

    def stop_if_cancelled(_sent: int) -> None:
        if ctx.cancel.requested:
            raise cancelled()  # ship_blobs kills its ssh on the way out

    try:
        if plan.parts is None:
            ctx.say(f"Ship: sending the blobs {plan.target.name} lacks (one resumable stream, each verified there)")
            shipped = ship_bundle(
                ctx.ws, plan.target, plan.bundle.manifest, plan.bundle.dir, progress=stop_if_cancelled,
                bwlimit=env_bwlimit(), meter=ctx.meter, files=bundle_files(plan.extravars),
            )
        else:  # each host the images of the components it runs
            shipped = ship_parts(ctx, plan, progress=stop_if_cancelled)
    except SpbeError:
        # Cancelled from the signal handler itself (it raises where the stream was), from
        # stop_if_cancelled, or a stream the same signal cut: one message, saying where
        if ctx.cancel.requested:
            raise cancelled() from None
        raise
    if ctx.cancel.requested:
        raise cancelled()
    if plan.proxy is not None:  # the proxy image's blobs, and the key staged (never a playbook variable)
        ctx.say(f"Ship: the TLS proxy of {plan.proxy.pair.domain} (nginx image, certificate)")
        shipped.bytes_sent += ship_proxy(ctx, plan.target, plan.proxy, app=plan.app)
    if plan.parts is not None:
        share_part_secrets(ctx, plan)
    run = run_locked(
        ctx, op, playbook="install.yml", target=plan.target, extravars=plan.extravars, lock=plan.lock,
        attempt=plan.attempt, break_lock=break_lock, hosts=[p.host for p in plan.parts or ()],
        host_vars=plan.host_vars,
    )
    done = host_data(run, target=plan.target.name, key="spbe_install", model=InstallStats)
    sizes = plan.bundle.blob_sizes()
    phases = phase_seconds(run)
    phases["Ship"] = phases.get("Ship", 0.0) + shipped.seconds
    # the target is not trusted: the record must name what was asked; the cache path comes from
    # the request (validated slugs), never from the record
    record = state.validated_record(
        done.current, app=plan.app, target=plan.target.name, version=plan.version, source=plan.target.name
    )
    state.save_cached(ctx.ws, target=plan.target.name, app=plan.app, record=record)
    return InstallResult(
        app=plan.app,
        version=plan.version,
        target=plan.target.name,
        changed=run.changed > 0 or bool(shipped.sent),
        new_release=done.new_release,
        urls=plan.urls,
        blobs_sent=len(shipped.sent),
        bytes_sent=shipped.bytes_sent,
        blobs_total=len(sizes),
        bytes_total=sum(sizes.values()),
        run_dir=run.run_dir,
        seconds=run.seconds + shipped.seconds,
        phase_seconds=phases,
        record=record,
        changed_tasks=run.changed_tasks,
        login=login_hint(plan.bundle.entry, target=plan.target.name, urls=plan.urls,
                         workspace=explicit_workspace(ctx.ws)),
    )


def ship_parts(ctx: OpContext, plan: PartsPlan, *, progress: Callable[[int], None] | None = None) -> ShipResult:
    """Ship to each host of the data center the blobs of the images it runs, and the bundle's
    files every host's ``tasks/ship.yml`` installs (one stream per host, each resumable and
    verified there); the totals of every host."""
    from ..remote.ship import ShipResult, bundle_files, env_bwlimit, ship_blobs, ship_bundle

    files = bundle_files(plan.extravars)
    total = ShipResult()
    for part in plan.parts or ():
        if not part.components:  # the lock host may run none: no image to send, only the files
            ctx.say(f"Ship: sending {part.host.name} the bundle's files it lacks")
            r = ship_blobs(ctx.ws, part.host, [], progress=progress, bwlimit=env_bwlimit(), files=files)
        else:
            components = ", ".join(part.names)
            ctx.say(f"Ship: sending the blobs {part.host.name} lacks for {components}")
            r = ship_bundle(ctx.ws, part.host, plan.bundle.manifest, plan.bundle.dir, progress=progress,
                            bwlimit=env_bwlimit(), components=part.names, files=files)  # fmt: skip
        total.add(r)
    return total


def share_part_secrets(ctx: OpContext, plan: PartsPlan) -> None:
    """The deployment's secrets, one value each across the data center: made on the first host
    (the lock host) where missing, put on every other host that mounts them (memory only)."""
    from ..plans.values import secret_specs
    from ..remote.secretsync import share_secrets

    entry = plan.bundle.entry
    specs = [(s.name, s.length) for s in secret_specs(entry)]
    others = [(p.host, sorted({n for c in p.components for n in c.secrets})) for p in plan.parts or ()
              if p.host.name != plan.target.name]  # fmt: skip
    receivers = ", ".join(h.name for h, names in others if names)
    if receivers:
        ctx.say(f"Configure: the secrets of {plan.app} made on {plan.target.name}, handed to {receivers}")
    made = ", ".join(share_secrets(ctx.ws, plan.target, others, app=plan.app, specs=specs))
    if made:
        ctx.say(f"Configure: generated on {plan.target.name}: {made}")


def noop_check(ctx: OpContext, plan: InstallPlan) -> NoopAnswer:
    """Does ``plan``'s target already run exactly that release? Verified on the target under the
    app's lock, in one round trip (:mod:`.noop`); reads only (the lock is taken and released)."""
    from ..remote.runner import run_dir_name
    from .noop import check_unchanged, noop_request

    ev = plan.extravars
    request = noop_request(
        ev, lock=plan.lock, files_tar_sha256=ev["spbe_files_tar_sha256"], tool_sha256=ev["spbe_dockerarchive_sha256"],
    )
    ctx.cancel.check()
    run_dir = ctx.ws.runs_dir / run_dir_name("noop-check", plan.target.name, plan.app, ctx.now)
    n = 1
    while run_dir.exists():  # a second check in one operation (install keeping the deployment's settings)
        n += 1
        run_dir = run_dir.with_name(f"{run_dir.name.split('~')[0]}~{n}")
    with ctx.cancel.deferred():  # the check holds the lock for a moment: let it release it
        return check_unchanged(ctx.ws, target=plan.target, request=request, run_dir=run_dir)


def unchanged(ctx: OpContext, op: Operation, plan: InstallPlan, *, quiet: bool = False) -> tuple[InstallResult | None, NoopAnswer]:
    """The result of an install that changes nothing, when the target runs exactly the plan's
    release (:func:`noop_check`); else None (the caller installs); and the check's answer."""
    answer = noop_check(ctx, plan)
    run_dir = answer.run_dir or ctx.ws.runs_dir
    ctx.cancel.check()
    if not answer.same:
        if not quiet and (answer.current is not None or answer.locked is not None or answer.error):
            ctx.say(f"{plan.target.name}: {plan.app} is not already installed as asked ({answer.why_not}): installing")
        op.note(noop_check=answer.why_not[:300])
        return None, answer
    # the target is not trusted: the record must name what was asked
    record = state.validated_record(
        answer.current, app=plan.app, target=plan.target.name, version=plan.version, source=plan.target.name
    )
    state.save_cached(ctx.ws, target=plan.target.name, app=plan.app, record=record)
    sizes = plan.bundle.blob_sizes()
    return InstallResult(
        app=plan.app, version=plan.version, target=plan.target.name, changed=False, new_release=False,
        urls=plan.urls, blobs_sent=0, bytes_sent=0, blobs_total=len(sizes), bytes_total=sum(sizes.values()),
        run_dir=run_dir, seconds=answer.seconds, phase_seconds={"Verify": answer.seconds}, record=record,
        login=login_hint(plan.bundle.entry, target=plan.target.name, urls=plan.urls,
                         workspace=explicit_workspace(ctx.ws)),
    ), answer


def current_values(answer: NoopAnswer, *, app: str, target: str) -> dict[str, str] | None:
    """The settings of the release the target runs now (``config set`` may have changed them),
    from the no-op check's answer; None when there is no valid record of ``app`` (untrusted:
    a record that does not validate is not used)."""
    if answer.current is None:
        return None
    try:
        record = state.validated_record(answer.current, app=app, target=target, version=None, source=target)
    except RemoteFailed:
        return None
    return dict(record.values)


def install(
    ctx: OpContext,
    *,
    app: str,
    target_name: str,
    version: str | None = None,
    sets: Sequence[str] = (),
    values_file: Path | None = None,
    bundle: Path | None = None,
    break_lock: bool = False,
    allow_self_signed: bool = False,
    reset_data: bool = False,
    domain: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> InstallResult:
    """Check, then install ``app`` (``APP`` or ``SOURCE/APP``) on ``target_name``.

    Audited (one line), refusals and cancellations included; the line names the app id, its
    catalog ``source`` when one was named, and why the bundle's signer was trusted (``trust``).
    """
    source, _, app_id = app.rpartition("/")
    with operation(ctx, name="install", app=app_id, target=target_name) as op:
        op.note(version=version, **({"source": source} if source else {}))
        plan = plan_install(
            ctx, app=app, target_name=target_name, version=version, sets=sets, values_file=values_file,
            bundle=bundle, allow_self_signed=allow_self_signed, reset_data=reset_data, run_preflight=False,
            domain=domain, tls_cert=tls_cert, tls_key=tls_key, compare_host_key=False,
        )
        op.note(version=plan.version, bundle=plan.bundle.digest, trust=plan.trust)
        if plan.proxy is not None:  # no key: domain, expiry, fingerprint, issuer
            op.note(tls=plan.proxy.as_dict())
        # several hosts: the no-op check reads one host; the play runs (it changes nothing when all is as asked)
        skip_check = break_lock or reset_data or plan.parts is not None
        same, answer = (None, None) if skip_check else unchanged(ctx, op, plan, quiet=True)
        kept = current_values(answer, app=plan.app, target=plan.target.name) if answer is not None else None
        if same is None and kept and kept != plan.values.as_dict():
            # installed already, with settings of its own (config set, an earlier --set): an install
            # again keeps them, like an upgrade; --values and --set still change them
            plan = plan_install(
                ctx, app=app, target_name=target_name, version=version, sets=sets, values_file=values_file,
                bundle=bundle, allow_self_signed=allow_self_signed, reset_data=reset_data, run_preflight=False,
                domain=domain, tls_cert=tls_cert, tls_key=tls_key, base=kept, compare_host_key=False,
            )
            same, answer = unchanged(ctx, op, plan, quiet=True)
        if domain:  # a domain always runs the play: the no-op check does not cover the proxy
            same = None
        if same is None and answer is not None and not answer.error:
            key_proven(ctx, plan.target)  # the no-op check's ssh connection got its answer: pinned key
        if same is None:  # the install goes on: the host key compared before anything else (exit 6)
            checked_target(ctx, target_name)
        if same is None and answer is not None and (answer.current is not None or answer.locked is not None
                                                    or answer.error):  # fmt: skip
            ctx.say(f"{plan.target.name}: {plan.app} is not already installed as asked ({answer.why_not}): installing")
        if same is not None:
            op.result = "ok: nothing changed"
            op.note(agreement=plan.agreement, values=plan.values.as_dict(), blobs_sent=0, bytes_sent=0,
                    run=str(same.run_dir), check="no-op verified under the lock")
            return same
        plan.preflight = preflight_ok(ctx, target=plan.target, entry=plan.bundle.entry, proxy=plan.proxy is not None,
                                      across_hosts=True)  # fmt: skip
        result = execute(ctx, op, plan, break_lock=break_lock)
        op.result = "ok" if result.changed or result.new_release else "ok: nothing changed"
        op.note(
            agreement=plan.agreement,
            values=plan.values.as_dict(),
            blobs_sent=result.blobs_sent,
            bytes_sent=result.bytes_sent,
            run=str(result.run_dir),
        )
        if plan.proxy is not None and plan.proxy.issued_by is not None:
            ctx.say(distribute_ca_hint(plan.proxy.issued_by, domain=plan.proxy.pair.domain))
        return result


__all__ = [
    "InstallPlan",
    "InstallResult",
    "PHASES",
    "execute",
    "install",
    "noop_check",
    "phase_seconds",
    "plan_install",
    "unchanged",
]


# install.yml's task names start with one of these ("Ship: copy the blobs ..."); timed per phase
PHASES = ("Lock", "Ship", "Load", "Configure", "Start", "Health", "Record")


def phase_seconds(result: RunResult, phases: Sequence[str] = PHASES) -> dict[str, float]:
    """Seconds per phase, from the task names (``"Ship: ..."``)."""
    out: dict[str, float] = dict.fromkeys(phases, 0.0)
    for t in result.timings:
        phase = t.name.split(":", 1)[0].strip()
        if phase in out:
            out[phase] += t.seconds
    return out
