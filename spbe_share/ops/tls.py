"""TLS on the Pemda's own domain: the proxy's material for install, and ``spbe-share tls set``.

``install --domain D [--tls-cert F --tls-key F]`` (:func:`tls_material`, :func:`proxy_plan`):
the Pemda's certificate and key are checked before anything changes (they parse, the key
matches, the certificate names D, it is valid now); without them, one is issued by the
Pemda's internal CA in the operator's workspace (:mod:`spbe_share.tlscerts`). The proxy image
(:mod:`spbe_share.imaging.proxy`) is exported as blobs and shipped like an app's; the key is
staged on the target over SSH stdin (:func:`spbe_share.remote.secretsync.stage_tls_key`),
never in a playbook's variables; ``tasks/proxy.yml`` puts it in place under the lock.

``tls set APP --target T --cert F --key F`` (:func:`set_tls`): the same checks against the
domain of the serving release, then ``tls.yml`` under the lock (on the target's first host:
an app across hosts has its proxy there, :func:`spbe_share.plans.placement.behind_proxy`,
beside its lock and release record; the first host also holds every secret to seal): the new pair in place,
``nginx -t``, ``nginx -s reload``, the app must answer through the proxy over https, else
the previous pair is put back. The key is sealed again for backups afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from ..i18n import N_
from ..plans.proxy import APP_BIND, proxy_vars
from ..records import state
from ..tlscerts import TlsPair, check_domain, issue_for, load_pair
from .context import OpContext

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..remote.ship import BlobToShip
    from ..targets.inventory import Target


@dataclass
class ProxyPlan:
    """What the proxy of an app needs: variables (no key), the pair (key in memory), blobs."""

    pair: TlsPair = field(repr=False)
    extravars: dict[str, Any]
    blobs: list[BlobToShip]
    issued_by: Path | None = None  # the Pemda's internal CA certificate, when spbe-share issued it
    ca_created: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"domain": self.pair.domain, "not_after": self.pair.info()["not_after"],
                "sha256": self.pair.sha256, "issuer": self.pair.issuer,
                "internal_ca": str(self.issued_by) if self.issued_by else None}  # fmt: skip


def tls_material(
    ctx: OpContext, *, target: Target, domain: str, cert: Path | None, key: Path | None,
) -> tuple[TlsPair, Path | None, bool]:
    """The Pemda's pair for ``domain``, checked; or one issued by its internal CA."""
    check_domain(domain)
    if (cert is None) != (key is None):
        raise InvalidInput("--tls-cert and --tls-key go together (or neither: the Pemda's internal CA issues one)")
    if cert is not None and key is not None:
        return load_pair(cert, key, domain=domain, now=ctx.now), None, False
    pair, ca, created = issue_for(ctx.ws.home, domain=domain, pemda=target.pemda, kode_wilayah=target.kode_wilayah,
                                  now=ctx.now)  # fmt: skip
    return pair, ca, created


def proxy_image(ctx: OpContext) -> tuple[dict[str, Any], list[BlobToShip]]:
    """The proxy image (built when missing) as an image spec for ``spbe_image_load`` and its
    blobs to ship (kept in ``<cache>/proxy-blobs``)."""
    from ..bundle.pack import docker_client, export_image
    from ..imaging.proxy import ensure_proxy_image
    from ..remote.ship import BlobToShip

    ref = ensure_proxy_image(ctx.ws, progress=ctx.say)
    blob_dir = ctx.ws.cache_dir / "proxy-blobs"
    img = export_image(docker_client(), component="proxy", ref=ref, blob_dir=blob_dir,
                       cache=ctx.ws.build_cache_dir / "layers")  # fmt: skip
    digests = [img.config, *img.layers]
    sizes = {d: (blob_dir / d.split(":", 1)[1]).stat().st_size for d in digests}
    blobs = [BlobToShip(hex=d.split(":", 1)[1], path=blob_dir / d.split(":", 1)[1], stored_size=sizes[d],
                        content_size=sizes[d], compression="none") for d in digests]  # fmt: skip
    spec = {"component": "proxy", "ref": ref, "config": img.config, "layers": list(img.layers), "sizes": sizes}
    return spec, blobs


def proxy_plan(
    ctx: OpContext, *, target: Target, entry: Entry, version: str, pair: TlsPair, issued_by: Path | None = None,
    ca_created: bool = False,
) -> ProxyPlan:
    """Everything the proxy needs for a checked ``pair``; nothing on the target touched."""
    image, blobs = proxy_image(ctx)
    spbe_proxy = proxy_vars(
        entry, target=target.name, root=target.root, bind_address=target.bind_address, version=version,
        domain=pair.domain, image=image, cert_pem=pair.cert_pem.decode("ascii"), info=pair.info(),
    )
    return ProxyPlan(pair=pair, extravars={"spbe_proxy": spbe_proxy}, blobs=blobs, issued_by=issued_by,
                     ca_created=ca_created)


def app_target(target: Target, domain: str | None) -> Target:
    """The target as the app's containers see it: with a domain, their ports are published on
    loopback only (the proxy alone is on the public address)."""
    return target.model_copy(update={"bind_address": APP_BIND}) if domain else target


def distribute_ca_hint(ca: Path, *, domain: str) -> str:
    """What the operator does with the Pemda's internal CA certificate."""
    return N_(
        f"{domain}: certificate issued by the Pemda's internal CA {ca} (its key stays in this workspace, 0600)."
        " Browsers trust it once that CA certificate is installed on the Pemda's devices: Debian/Ubuntu:"
        " copy it to /usr/local/share/ca-certificates/ and run update-ca-certificates; Windows: certutil"
        " -addstore Root; or by the Pemda's device management. Replace it with a public certificate later:"
        " spbe-share tls set"
    )


def ship_proxy(ctx: OpContext, target: Target, plan: ProxyPlan, *, app: str) -> int:
    """Ship the proxy image's blobs the target lacks and stage the key there; bytes sent."""
    from ..remote.secretsync import stage_tls_key
    from ..remote.ship import env_bwlimit, ship_blobs

    shipped = ship_blobs(ctx.ws, target, plan.blobs, bwlimit=env_bwlimit(), meter=ctx.meter)
    stage_tls_key(ctx.ws, target, app=app, key_pem=plan.pair.key_pem)
    return shipped.bytes_sent


@dataclass
class TlsSetResult:
    app: str
    target: str
    domain: str
    not_after: str
    sha256: str
    sealed: str

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "target": self.target, "domain": self.domain, "not_after": self.not_after,
                "sha256": self.sha256, "sealed": self.sealed}  # fmt: skip


def set_tls(
    ctx: OpContext, *, app: str, target_name: str, cert: Path, key: Path, break_lock: bool = False,
) -> TlsSetResult:
    """Replace the certificate and key of ``app``'s proxy on ``target_name``, gated by health."""
    from .backups import catalog_entry, op_attempt, seal_secrets
    from .checks import checked_target, read_state, require_slug
    from .core import new_lock, operation, run_locked

    with operation(ctx, name="tls set", app=app, target=target_name) as op:
        require_slug(app, what="app")
        target = checked_target(ctx, target_name)
        st = read_state(ctx, target=target, app=app)
        current = st.current
        if current is None or current.result != "ok":
            raise NotFound(f"{app} is not installed on {target.name}")
        if not current.domain:
            raise InvalidInput(
                f"{app} on {target.name} has no domain: install it with --domain first (spbe-share install {app}"
                f" --target {target.name} --domain ...)"
            )
        entry = catalog_entry(ctx, app)
        pair = load_pair(cert, key, domain=current.domain, now=ctx.now)  # refused here: nothing changed
        op.note(domain=current.domain, not_after=pair.info()["not_after"], sha256=pair.sha256)
        plan = proxy_plan(ctx, target=target, entry=entry, version=current.version, pair=pair)
        lock = new_lock(ctx, operation=f"tls set {app} {current.domain}")
        ship_proxy(ctx, target, plan, app=app)
        extravars = {
            "spbe_target": target.name, "spbe_root": target.root, "spbe_app": app,
            "spbe_network": state.network_name(target.name, app), **plan.extravars,
        }
        run = run_locked(
            ctx, op, playbook="tls.yml", target=target, extravars=extravars, lock=lock, break_lock=break_lock,
            attempt=op_attempt(target, app=app, op="tls-set", who=ctx.operator, stamp=state.stamp(ctx.now),
                               details={"domain": current.domain, "sha256": pair.sha256}),
            hosts=target.hosts()[:1] if target.multi_host else (),  # the proxy's host: the first (install --domain)
        )  # fmt: skip
        sealed = seal_secrets(ctx, target, app, entry)
        op.note(run=str(run.run_dir), sealed=sealed.state)
        return TlsSetResult(app=app, target=target.name, domain=current.domain, not_after=pair.info()["not_after"],
                            sha256=pair.sha256, sealed=sealed.state)  # fmt: skip


__all__ = [
    "ProxyPlan",
    "TlsSetResult",
    "app_target",
    "distribute_ca_hint",
    "proxy_image",
    "proxy_plan",
    "set_tls",
    "ship_proxy",
    "tls_material",
]
