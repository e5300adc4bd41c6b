"""The bundle check of an operation: :func:`verified_bundle` locates, verifies and extracts;
:func:`trusted_for_target` decides whether its signer may install it on a target.

One function, so every operation gets the same guarantee: what it installs is what the donor
signed. The bundle is the one given (``--bundle``), else the cached one in ``ws.bundles_dir``,
else built now from the catalog and signed with the workspace key. It is verified against the
trusted keys and extracted once (cache keyed by the manifest digest, small files re-hashed
when reused); the entry INSIDE the verified bundle is what the operation uses. ``app`` may be
``SOURCE/APP`` (a catalog source's app); the bundle then holds app ``APP`` and is cached in
``ws.bundles_dir/SOURCE/``.

A valid signature is not enough: the donor is the one the operator's pinned catalog names for
the app (:func:`catalog_entry`), the entry inside the bundle must name that donor (and an
upgrade must keep the installed release's donor), the signer must be trusted for it, and it
must be the covering agreement's donor; the agreement is required when the CATALOG's entry
says so (:func:`trusted_for_target`, the policy is :func:`spbe_share.bundle.trust.decide_install_trust`).

Seams (other work extends these, callers do not change): :func:`verify_and_extract` (how a
bundle is verified and read: one read, signature over the raw manifest, trust per donor) and
:func:`files_tar` (how the small files travel to the target).
"""

from __future__ import annotations

import fcntl
import hashlib
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound, VerificationFailed
from ..files import atomic_file

if TYPE_CHECKING:
    from ..bundle.manifest import BundleManifest
    from ..bundle.trust import TrustDecision
    from ..catalog.models import Entry
    from ..meter import Meter
    from ..records.state import ReleaseRecord
    from ..targets.inventory import Target
    from ..workspace import Workspace
    from .context import OpContext

Say = Callable[[str], None]
FILES_TAR = "spbe-files.tar.zst"  # kept on the target as <app>/bundles/<version>.tar.zst


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature and digests were checked, extracted to ``dir``."""

    path: Path  # the bundle file
    manifest: BundleManifest
    dir: Path  # the verified, extracted copy (ws.cache_dir/bundles/<digest>)
    digest: str  # sha256 of the signed manifest
    entry: Entry  # the catalog entry inside the bundle
    built_here: bool = False  # built and signed on this machine from the catalog (no --bundle)

    @property
    def app(self) -> str:
        return self.manifest.app

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def blob_dir(self) -> Path:
        return self.dir / "blobs" / "sha256"

    def blob_sizes(self) -> dict[str, int]:
        """hex digest -> size of every blob of the bundle (as stored: compressed when it is)."""
        return {f.sha256: f.member_size for f in self.manifest.blobs}


def manifest_digest(manifest: BundleManifest) -> str:
    return "sha256:" + hashlib.sha256(manifest.to_bytes()).hexdigest()


def signing_key_id(ws: Workspace) -> str | None:
    """The id of the key :func:`ensure_signing_key` signs with; None when it would create one."""
    from ..bundle import keys

    own = keys.own_public_keys(ws)
    if not own:
        return None
    return own[keys.DEFAULT_KEY_NAME if keys.DEFAULT_KEY_NAME in own else sorted(own)[0]][0].key_id


def ensure_signing_key(ws: Workspace, say: Say) -> Any:
    """The workspace's donor key; created (and trusted) when the workspace has none."""
    from ..bundle import keys

    own = keys.own_public_keys(ws)
    if own:
        name = keys.DEFAULT_KEY_NAME if keys.DEFAULT_KEY_NAME in own else sorted(own)[0]
        return keys.load_private_key(ws, name, passphrase=keys.passphrase_from_env())
    info = keys.generate_key(ws)
    say(
        f"note: created a signing key for this workspace: {info.name} ({info.key_id}, {info.fingerprint}),"
        f" trusted for bundles it signs; private key {info.path}"
    )
    return keys.load_private_key(ws, info.name)


def locate_bundle(
    ws: Workspace, *, app: str, version: str | None, bundle: Path | None, say: Say, meter: Meter | None = None,
    build: bool = True,
) -> Path:
    """The bundle file to use: given, cached, or built now from the catalog (``build=False``:
    :class:`NotFound` instead of building)."""
    if bundle is not None:
        return bundle
    from ..catalog.loader import get_entry

    loaded = get_entry(ws, app)
    version = version or loaded.entry.latest.version
    try:
        loaded.entry.release(version)
    except KeyError:
        known = ", ".join(r.version for r in loaded.entry.releases)
        raise NotFound(f"app {app!r} has no release {version!r} (releases: {known})") from None
    from ..bundle.pack import build_bundle, bundle_filename

    cached = ws.bundles_dir / bundle_filename(app, version)
    if cached.exists():
        say(f"using bundle {cached}")
        return cached
    if not build:
        raise NotFound(f"bundle {cached.name} is not built yet")
    key = ensure_signing_key(ws, say)
    say(f"building bundle {cached.name} (images built when missing)")
    built = build_bundle(ws, loaded, version=version, key=key, output=cached, progress=say, meter=meter)  # SOURCE/APP: own folder
    return built.path


def verify_and_extract(ws: Workspace, path: Path) -> tuple[BundleManifest, Path, bool]:
    """Verify ``path`` against the trusted keys and extract it, in ONE read of the file.

    The extracted folder is ``cache/bundles/<sha256 of the verified manifest>``; an existing one
    is re-checked against the verified manifest before it is reused (see ``open_bundle``). A
    bundle verified here before and unchanged since (file and folder by their stat, the
    manifest's signature checked again: :mod:`spbe_share.bundle.memo`) is not read again; the
    third value says so.
    """
    import time

    from ..bundle import memo
    from ..bundle.keys import trusted_keys
    from ..bundle.verify import open_bundle

    trusted = trusted_keys(ws)
    if not trusted:
        raise VerificationFailed(
            f"no trusted donor keys in {ws.keys_dir / 'trusted'}: trust the donor's public key first"
            " (spbe-share keys trust FILE)"
        )
    cache = ws.cache_dir / "bundles"
    cache.mkdir(parents=True, exist_ok=True)
    # one extraction at a time per workspace: operations running at once (a fleet's parallel
    # targets, or two CLI processes) would otherwise find each other's half-extracted folder,
    # take it for a damaged one and delete it under the other's feet
    with open(cache / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        memo_dir = ws.cache_dir / "verified"
        known = memo.recall(memo_dir, path, cache, trusted_keys=trusted)
        if known is not None:
            return known[0], known[1], True
        started = time.time_ns()
        manifest, dest = open_bundle(path, cache, trusted_keys=trusted)
        memo.record(memo_dir, path, dest, manifest, started_ns=started)
        return manifest, dest, False


def verified_bundle(
    ctx: OpContext, *, app: str, version: str | None, bundle: Path | None, digest: str | None = None,
    build: bool = True,
) -> VerifiedBundle:
    """Locate, verify and extract the bundle of ``app`` (``APP`` or ``SOURCE/APP``; ``version``:
    None = newest). ``digest``: it must be exactly that bundle (sha256 of its signed manifest).
    ``build=False``: :class:`NotFound` rather than building a bundle not built yet."""
    from ..catalog.models import Entry as EntryModel
    from ..yamlio import load_model

    path = locate_bundle(ctx.ws, app=app, version=version, bundle=bundle, say=ctx.say, meter=ctx.meter, build=build)
    manifest, dest, known = verify_and_extract(ctx.ws, path)
    if digest is not None and manifest_digest(manifest) != digest:
        raise VerificationFailed(
            f"bundle {path} is {manifest.app} {manifest.version} with digest {manifest_digest(manifest)}, not the"
            f" bundle {digest} that was checked before (it changed since)"
        )
    if known:
        ctx.say(f"bundle verified: {manifest.app} {manifest.version}, signed by {manifest.signer}"
                " (unchanged since its full verification here; its signature checked again)")
    else:
        ctx.say(f"bundle verified: {manifest.app} {manifest.version}, signed by {manifest.signer}")
    app_id = app.rpartition("/")[2]  # SOURCE/APP: the manifest names the app id
    if manifest.app != app_id:
        raise InvalidInput(f"bundle {path} holds app {manifest.app!r}, not {app!r}")
    if version is not None and manifest.version != version:
        raise InvalidInput(f"bundle {path} holds version {manifest.version}, not {version}")
    entry = load_model(EntryModel, dest / "entry" / "spbe-app.yaml")
    if entry.id != app_id:
        raise VerificationFailed(f"bundle {path}: its entry is for app {entry.id!r}, its manifest for {app_id!r}")
    return VerifiedBundle(
        path=path, manifest=manifest, dir=dest, digest=manifest_digest(manifest), entry=entry,
        built_here=bundle is None,
    )


def serving_bundle(ctx: OpContext, *, app: str, record: ReleaseRecord, bundle: Path | None = None) -> VerifiedBundle:
    """The verified bundle of the release that serves now (``record``: its entry and templates),
    for an operation that renders its config again (``config set``): ``bundle`` when given, else
    this workspace's extracted copy (kept since the install: its manifest, signature and small
    files are checked again), else its bundle file in ``ws.bundles_dir``. It must be exactly the
    bundle ``record`` names (its digest); not found here: :class:`NotFound` saying to pass it."""
    from ..bundle.keys import trusted_keys
    from ..bundle.pack import bundle_filename
    from ..bundle.verify import verify_extracted_parts
    from ..catalog.models import Entry as EntryModel
    from ..yamlio import load_model

    digest = record.bundle_digest
    if bundle is None:
        folder = ctx.ws.cache_dir / "bundles" / digest.split(":", 1)[1]  # a validated digest: 64 hex
        if (folder / "spbe-bundle.json").is_file():
            manifest = verify_extracted_parts(folder, digest=digest, parts=("entry/", "templates/"),
                                              trusted_keys=trusted_keys(ctx.ws))
            entry = load_model(EntryModel, folder / "entry" / "spbe-app.yaml")
            if (manifest.app, manifest.version, entry.id) != (app, record.version, app):
                raise VerificationFailed(f"{folder}: holds {manifest.app} {manifest.version}, not {app} {record.version}")
            return VerifiedBundle(path=folder, manifest=manifest, dir=folder, digest=digest, entry=entry)
        cached = ctx.ws.bundles_dir / bundle_filename(app, record.version)
        if not cached.is_file():
            raise NotFound(f"the bundle of {app} {record.version} serving on {record.target} ({digest}) is not in this"
                           " workspace: pass it with --bundle FILE")
        bundle = cached
    return verified_bundle(ctx, app=app, version=record.version, bundle=bundle, digest=digest)


def catalog_entry(ctx: OpContext, app: str) -> Entry:
    """The entry of ``app`` (``APP`` or ``SOURCE/APP``) in the operator's pinned catalog: its
    donor and sharing terms are the ones an operation applies, whatever a bundle says (an app
    missing from the catalog is :class:`NotFound`, also with ``--bundle``)."""
    from ..catalog.loader import get_entry

    return get_entry(ctx.ws, app).entry


def installed_donor(ctx: OpContext, record: ReleaseRecord) -> str | None:
    """The donor of an installed release: its record's, else (a record from before records named
    it) the donor its signer is trusted for here; None when neither says."""
    if record.donor_kode_wilayah is not None:
        return record.donor_kode_wilayah
    from ..bundle.trust import trust_records

    rec = trust_records(ctx.ws).get(record.signer)
    return rec.donor_kode_wilayah if rec is not None else None


def trusted_for_target(
    ctx: OpContext,
    vb: VerifiedBundle,
    *,
    target: Target,
    catalog: Entry,
    agreement: str | None,
    allow_self_signed: bool = False,
    installed: str | None = None,
) -> TrustDecision:
    """May ``vb``'s signer put it on ``target``? Said to the operator (loudly for the override).

    The donor is ``catalog``'s (the app's entry in the operator's pinned catalog): the entry
    inside the bundle must name it, and so must ``installed`` (the donor of the release an
    upgrade replaces). The signer must be trusted for that donor, and that donor must be the
    donor of ``agreement`` (the covering MoU/PKS, when the catalog's entry requires one). A
    bundle built here is allowed for the local sandbox and the donor's own data center;
    elsewhere only with ``allow_self_signed`` (``--self-signed-i-know-this-skips-the-donor-signature``).
    Raises VerificationFailed (exit 6) or NoAgreement (exit 4). ``.describe()`` goes into the audit line.
    """
    from ..bundle.trust import decide_install_trust

    decision = decide_install_trust(
        ctx.ws, target=target, entry=vb.entry, catalog=catalog, signer=vb.manifest.signer, agreement=agreement,
        built_here=vb.built_here, allow_self_signed=allow_self_signed, installed_donor=installed,
    )
    ctx.say(decision.message())
    return decision


def files_tar(dest: Path) -> str:
    """One deterministic tar of the bundle's small files (shipped as one file, not dozens),
    zstd-compressed: e-office's is 737 KB as a tar (its SBOMs, playbooks and module_utils),
    128 KB compressed (zstd -9; -19 gains 10 KB for ten times the time), sent with every install
    and upgrade."""
    import zstandard

    out = dest / FILES_TAR
    if out.is_file():
        return FILES_TAR
    paths: list[Path] = []
    for part in ("entry", "templates", "playbooks", "sbom"):
        if (dest / part).is_dir():
            paths += [p for p in (dest / part).rglob("*") if p.is_file()]
    paths += [dest / p for p in ("spbe-bundle.json", "spbe-bundle.json.sig") if (dest / p).is_file()]
    with atomic_file(out, mode=0o644) as raw, \
            zstandard.ZstdCompressor(level=9).stream_writer(raw, closefd=False) as packed, \
            tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(paths):
            info = tarfile.TarInfo(str(p.relative_to(dest)))
            info.size = p.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with p.open("rb") as f:
                tar.addfile(info, f)
    return FILES_TAR


__all__ = [
    "FILES_TAR",
    "VerifiedBundle",
    "catalog_entry",
    "ensure_signing_key",
    "files_tar",
    "installed_donor",
    "locate_bundle",
    "manifest_digest",
    "signing_key_id",
    "trusted_for_target",
    "serving_bundle",
    "verified_bundle",
    "verify_and_extract",
]
