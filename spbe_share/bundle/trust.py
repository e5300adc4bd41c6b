"""Who is trusted to sign what: the trust store and the trust policy of an install.
One file on purpose (~510 lines): the trust store and the policy that reads it change together.

The trust store is ``ws.keys_dir/trusted/<key-id>.yml`` (:class:`TrustRecord`), one file per
donor key the operator trusts, written by ``spbe-share keys trust FILE --donor-kode K``::

    format: 1
    key: ssh-ed25519 AAAAC3Nza... spbe-share:papua
    name: papua
    donor_kode_wilayah: "91"        # the only donor this key may sign for
    donor: Provinsi Papua           # for people; the kode is what is checked
    apps: []                        # empty: every app of that donor; else only these
    provision: false                # true: may sign provision bundles (keys trust FILE --provision)
    own: false                      # true: this workspace's own key (keys generate)
    trusted_at: 2026-01-15T10:00:00Z
    trusted_by: budi@laptop

Older workspaces hold ``trusted/<key-id>.pub`` files: keys trusted without naming a donor.
Their signatures still verify (``bundle verify`` says they are unbound), but an install refuses
them, naming the command that re-trusts the key for its donor. This workspace's own key, made
by ``keys generate`` without ``--donor-kode`` (or by ``install`` when it builds a bundle),
is trusted for no donor either.

The policy (:func:`decide_install_trust`): a bundle installs only when the donor named in the
entry INSIDE the verified bundle is the donor that the operator's catalog names for the app,
its signer is trusted for that donor (and for that app, if the key is limited to apps), and
that donor is the donor of the covering agreement. A bundle built and
signed on this machine from the catalog is allowed for the local sandbox and for a donor
installing into its own data center; for an adopter's target only with the loud option
``--self-signed-i-know-this-skips-the-donor-signature``, which the audit log records.

The donor is the catalog's, never the bundle's: the entry inside a bundle names a donor and
its sharing terms, but an install or upgrade takes the donor of the app id from the operator's
pinned catalog (and, for an upgrade, the donor of the release installed on the target) and
requires the bundle's to be that one; ``mou_required`` comes from the catalog entry only.

Provision bundles have a trust of their own (the ``provision`` flag of a record, checked by
:func:`spbe_share.provision.bundle.require_provision_signer`): their .debs
are installed as root on every server the operator provisions, so a key trusted for a donor's
apps signs none. Only this workspace's own key (it builds them: ``provision-bundle build``)
and keys trusted with ``spbe-share keys trust FILE --provision`` do.
"""

# Over 500 lines on purpose: who may sign what, in one place: the trust records and every decision made from them.

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.models import KODE_WILAYAH, SLUG
from ..errors import Conflict, InvalidInput, NoAgreement, NotFound, VerificationFailed
from ..files import atomic_write_text
from ..workspace import Workspace
from ..yamlio import MAX_YAML_BYTES, dump_yaml, load_yaml, read_bounded, validate_model
from .keyformat import (
    KEY_ID_RE,
    fingerprint_of,
    key_id_of,
    parse_public_key,
    public_line,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ..catalog.loader import LoadedEntry
    from ..catalog.models import Entry
    from ..targets.inventory import Target

SELF_SIGNED_OPTION = "--self-signed-i-know-this-skips-the-donor-signature"


class TrustRecord(BaseModel):
    """``keys/trusted/<key-id>.yml``: one trusted key and what it may sign."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    format: Literal[1] = 1
    key: str = Field(min_length=1, max_length=2000, description="OpenSSH line: ssh-ed25519 AAAA... [comment]")
    name: str = Field(min_length=1, max_length=200, description="label shown in lists")
    donor_kode_wilayah: Annotated[str, Field(pattern=KODE_WILAYAH)] | None = Field(
        description="the donor this key signs for (null: none, e.g. this workspace's own key)"
    )
    donor: str | None = Field(default=None, max_length=200, description="the donor Pemda's name")
    apps: list[Annotated[str, Field(pattern=SLUG)]] = Field(
        default_factory=list, description="empty: every app of the donor"
    )
    provision: bool = Field(default=False, description="may sign provision bundles (keys trust --provision)")
    own: bool = False
    trusted_at: dt.datetime
    trusted_by: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True)
class TrustedKey:
    """A key of the trust store, loaded."""

    key_id: str
    fingerprint: str
    name: str
    path: Path
    public_key: Ed25519PublicKey
    donor_kode_wilayah: str | None = None
    donor: str | None = None
    apps: tuple[str, ...] = ()
    own: bool = False
    legacy: bool = False  # a ``.pub`` file from before keys were bound to donors
    provision: bool = False  # may sign provision bundles (``keys trust FILE --provision``)
    trusted_at: dt.datetime | None = None
    trusted_by: str | None = None

    def trusted_for(self) -> str:
        if self.donor_kode_wilayah is None:
            if self.legacy:
                return "no donor (trusted before keys were bound to donors: re-trust it with --donor-kode)"
            if self.provision and not self.own:
                return "provision bundles only"
            return "no donor (this workspace's own key: local sandbox, self-signed installs and provision bundles)"
        who = f"donor {self.donor_kode_wilayah}" + (f" ({self.donor})" if self.donor else "")
        who += f", apps {', '.join(self.apps)}" if self.apps else ", every app"
        return who + ("; provision bundles" if self.provision or self.own else "")

    def as_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "fingerprint": self.fingerprint,
            "name": self.name,
            "path": str(self.path),
            "donor_kode_wilayah": self.donor_kode_wilayah,
            "donor": self.donor,
            "apps": list(self.apps),
            "own": self.own,
            "legacy": self.legacy,
            "provision": self.provision,
            "trusted_for": self.trusted_for(),
        }


# ---------------------------------------------------------------- the store


def trusted_dir(ws: Workspace) -> Path:
    return ws.keys_dir / "trusted"


def _load_record(path: Path) -> TrustedKey:
    doc = load_yaml(path)
    record = validate_model(TrustRecord, doc)
    line = doc.line_of(("key",))
    try:
        pub, _ = parse_public_key(record.key, source=str(path))
    except InvalidInput:
        raise InvalidInput(f"{path}:{line}: key: not an Ed25519 public key ('ssh-ed25519 AAAA...')") from None
    kid = key_id_of(pub)
    if kid != path.stem:
        raise InvalidInput(f"{path}:{line}: key: the file name says key {path.stem}, the key's id is {kid}")
    return TrustedKey(
        key_id=kid, fingerprint=fingerprint_of(pub), name=record.name, path=path, public_key=pub,
        donor_kode_wilayah=record.donor_kode_wilayah, donor=record.donor, apps=tuple(record.apps),
        own=record.own, provision=record.provision, trusted_at=record.trusted_at, trusted_by=record.trusted_by,
    )  # fmt: skip


def _load_legacy(path: Path) -> TrustedKey:
    raw = read_bounded(path, limit=MAX_YAML_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}:1: (file): not valid UTF-8") from None
    pub, name = parse_public_key(text, source=str(path))
    kid = key_id_of(pub)
    return TrustedKey(kid, fingerprint_of(pub), name or kid, path, pub, legacy=True)


def trust_records(ws: Workspace) -> dict[str, TrustedKey]:
    """key id -> trusted key, for every record (``.yml``) and legacy key (``.pub``)."""
    d = trusted_dir(ws)
    out: dict[str, TrustedKey] = {}
    if not d.is_dir():
        return out
    for path in sorted(d.glob("*.yml")):
        rec = _load_record(path)
        out[rec.key_id] = rec
    for path in sorted(d.glob("*.pub")):
        rec = _load_legacy(path)
        out.setdefault(rec.key_id, rec)  # a record of the same key wins over a leftover .pub
    return out


def _option_problems(exc: ValidationError) -> list[str]:
    options = {"donor_kode_wilayah": "--donor-kode", "apps": "--app", "name": "--name", "donor": "--donor"}
    out = []
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = err["msg"]
        if field == "donor_kode_wilayah":
            msg = f"invalid kode wilayah {err.get('input')!r} (expected like 91, 96.71, 96.71.01)"
        out.append(f"{options.get(field, field)}: {msg}")
    return out


def write_record(
    ws: Workspace,
    pub: Ed25519PublicKey,
    *,
    name: str,
    donor_kode: str | None,
    donor: str | None = None,
    apps: Sequence[str] = (),
    own: bool = False,
    provision: bool = False,
    who: str | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Write ``trusted/<key-id>.yml`` (replacing it) and drop a legacy ``.pub`` of the same key."""
    try:
        record = TrustRecord(
            key=public_line(pub, name=name).strip(), name=name, donor_kode_wilayah=donor_kode, donor=donor,
            apps=list(dict.fromkeys(apps)), provision=provision, own=own,
            trusted_at=(now or dt.datetime.now(dt.UTC)).replace(microsecond=0), trusted_by=who,
        )  # fmt: skip
    except ValidationError as exc:
        problems = _option_problems(exc)
        raise InvalidInput(problems[0], details=problems[1:]) from None
    kid = key_id_of(pub)
    d = trusted_dir(ws)
    ws.ensure()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = d / f"{kid}.yml"
    header = f"# spbe-share trusted key {kid} (spbe-share keys trust / keys generate)\n"
    atomic_write_text(path, header + dump_yaml(record.model_dump(mode="json")), mode=0o644)
    (d / f"{kid}.pub").unlink(missing_ok=True)
    return path


def trust_key(
    ws: Workspace,
    file: Path,
    *,
    donor_kode: str | None,
    apps: Sequence[str] = (),
    name: str | None = None,
    donor: str | None = None,
    provision: bool = False,
    who: str | None = None,
) -> TrustedKey:
    """Trust the public key in ``file`` to sign bundles of donor ``donor_kode`` (and ``apps``),
    and with ``provision`` provision bundles (at least one of the two).

    A key already trusted for a donor is a :class:`Conflict` when a donor is asked again
    (untrust it first); a key trusted without a donor (a legacy ``.pub``, this workspace's own
    key, a provision key) is bound to ``donor_kode``. ``provision`` adds provision bundles to
    what an existing record allows, keeping the rest.
    """
    from .keyformat import NAME_RE

    if donor_kode is None and not provision:
        raise InvalidInput(
            "give --donor-kode K (the app bundles of that donor) or --provision (provision bundles), or both"
        )
    if donor_kode is None and apps:
        raise InvalidInput("--app goes with --donor-kode (the apps of that donor)")
    try:
        raw = read_bounded(file, limit=64 * 1024)
    except InvalidInput as exc:
        if not file.exists():
            raise NotFound(f"{file}: file not found") from None
        raise exc from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{file}:1: (file): not valid UTF-8") from None
    pub, found_name = parse_public_key(text, source=str(file))
    if name is not None and not re.match(NAME_RE, name):
        raise InvalidInput(f"--name: key name {name!r}: use lowercase letters, digits, '.', '_' and '-'")
    kid = key_id_of(pub)
    existing = trust_records(ws).get(kid)
    if existing is not None and donor_kode is not None and existing.donor_kode_wilayah is not None:
        raise Conflict(
            f"key {kid} is already trusted for {existing.trusted_for()}"
            f" (to change that: spbe-share keys untrust {kid}, then trust it again)"
        )
    if existing is not None and donor_kode is None and (existing.provision or existing.own):
        raise Conflict(f"key {kid} is already trusted for {existing.trusted_for()}")
    label = name or (existing.name if existing else None) or found_name or kid
    keep = existing if existing is not None and donor_kode is None else None  # a donor binding kept as it is
    path = write_record(
        ws, pub, name=label, donor_kode=keep.donor_kode_wilayah if keep else donor_kode,
        donor=keep.donor if keep else donor, apps=keep.apps if keep else apps,
        own=existing.own if existing else False, provision=provision or (existing.provision if existing else False),
        who=who,
    )  # fmt: skip
    return _load_record(path)


def untrust_key(ws: Workspace, key_id: str) -> TrustedKey:
    if not re.match(KEY_ID_RE, key_id):
        raise InvalidInput(f"key id {key_id!r}: expected 16 lowercase hex digits")
    rec = trust_records(ws).get(key_id)
    if rec is None:
        raise NotFound(f"key {key_id} is not trusted (nothing in {trusted_dir(ws)})")
    for suffix in (".yml", ".pub"):
        (trusted_dir(ws) / f"{key_id}{suffix}").unlink(missing_ok=True)
    return rec


# ---------------------------------------------------------------- the policy


def require_signer_trusted(ws: Workspace, *, key_id: str, donor_kode: str, app: str) -> TrustedKey:
    """The trusted key ``key_id`` if it may sign ``app`` of donor ``donor_kode``; else
    :class:`VerificationFailed` (exit 6) saying why and what to do."""
    rec = trust_records(ws).get(key_id)
    where = f"bundle of {app} (donor {donor_kode}) signed by key {key_id}"
    if rec is None:
        raise VerificationFailed(
            f"{where}, which is not trusted (check the key with the donor, then:"
            f" spbe-share keys trust DONOR-KEY.pub --donor-kode {donor_kode})"
        )
    if rec.donor_kode_wilayah is None:
        if rec.legacy:
            raise VerificationFailed(
                f"{where} ({rec.name}), which was trusted without naming its donor. If donor {donor_kode}"
                f" confirms it is their key, re-trust it: spbe-share keys trust {rec.path} --donor-kode {donor_kode}"
            )
        if rec.provision and not rec.own:
            raise VerificationFailed(f"{where} ({rec.name}), which is trusted for {rec.trusted_for()}, not for"
                                     f" donor {donor_kode}")
        raise VerificationFailed(f"{where} ({rec.name}): {rec.trusted_for()}")
    if rec.donor_kode_wilayah != donor_kode:
        raise VerificationFailed(
            f"{where} ({rec.name}), which is trusted for {rec.trusted_for()} only, not for donor {donor_kode}"
        )
    if rec.apps and app not in rec.apps:
        raise VerificationFailed(f"{where} ({rec.name}), which is trusted for {rec.trusted_for()} only")
    return rec


@dataclass(frozen=True)
class TrustDecision:
    """Why this install's bundle is trusted (recorded in the audit line)."""

    signer: str
    how: str  # donor-signed | self-signed-local | self-signed-own-data-center | self-signed-override
    trusted_for: str

    @property
    def self_signed_override(self) -> bool:
        return self.how == "self-signed-override"

    def describe(self) -> str:
        return f"{self.how}: key {self.signer}, trusted for {self.trusted_for}"

    def message(self) -> str:
        """The line an install shows (loud for the override)."""
        if self.self_signed_override:
            return (
                f"WARNING: {SELF_SIGNED_OPTION}: installing a bundle built and signed on this machine"
                f" (key {self.signer}); the donor's signature is NOT checked. Recorded in the audit log."
            )
        return f"bundle signer: key {self.signer}, {self.how}, trusted for {self.trusted_for}"


def require_agreement_donor(ws: Workspace, *, agreement: str, entry: Entry) -> None:
    """The covering agreement ``agreement`` must be with the donor the (catalog's) entry names."""
    from ..agreements import get_agreement

    try:
        a = get_agreement(ws, agreement)
    except NotFound:
        raise NoAgreement(
            f"the catalog's entry of {entry.id} requires an agreement (MoU/PKS); none was checked"
            " (record one with `spbe-share mou add`)"
        ) from None
    if a.donor.kode_wilayah != entry.donor.kode_wilayah:
        raise NoAgreement(
            f"agreement {a.number} is with donor {a.donor.pemda} ({a.donor.kode_wilayah}), but the catalog's"
            f" entry of {entry.id} names donor {entry.donor.pemda} ({entry.donor.kode_wilayah})"
        )


def require_catalog_donor(
    *, bundle_entry: Entry, catalog: Entry, installed_donor: str | None = None, target: str | None = None
) -> None:
    """The donor is the catalog's: the entry inside a bundle must name the donor that the
    operator's pinned catalog names for the app id, and an upgrade must keep the donor of the
    release installed on the target (``installed_donor``, from its release record).
    :class:`VerificationFailed` (exit 6) otherwise."""
    from ..outside import terminal_text

    want = catalog.donor.kode_wilayah
    got = bundle_entry.donor.kode_wilayah
    theirs, ours = (terminal_text(e.donor.pemda, one_line=True) for e in (bundle_entry, catalog))
    if got != want:
        raise VerificationFailed(
            f"the bundle's entry of {catalog.id} names donor {theirs} ({got}), but your catalog"
            f" names donor {ours} ({want}) for {catalog.id}: a bundle does not choose its own donor."
            f" Use the bundle of donor {want}, or, if the app really moved, update the catalog first"
            " (spbe-share catalog update)"
        )
    if installed_donor is not None and installed_donor != want:
        raise VerificationFailed(
            f"{catalog.id} on {target} was installed from donor {installed_donor} (its release record), but your"
            f" catalog and the bundle name donor {ours} ({want}): an upgrade never changes the"
            " donor (uninstall it, record the agreement with the new donor, then install)"
        )


def decide_install_trust(
    ws: Workspace,
    *,
    target: Target,
    entry: Entry,
    catalog: Entry,
    signer: str,
    agreement: str | None,
    built_here: bool,
    allow_self_signed: bool = False,
    installed_donor: str | None = None,
) -> TrustDecision:
    """May this verified bundle (signed by ``signer``, holding ``entry``) install on ``target``?

    ``catalog`` is the app's entry in the operator's pinned catalog: its donor is the donor
    (the bundle's must be the same, and so must ``installed_donor``, the donor of the release an
    upgrade replaces) and its ``sharing.mou_required`` says whether an agreement is needed.
    ``agreement`` is the number of the covering agreement when one was required (not for the
    local sandbox or an entry without ``mou_required``); ``built_here`` is true when the bundle
    came from the catalog on this machine (install without ``--bundle``).
    """
    require_catalog_donor(bundle_entry=entry, catalog=catalog, installed_donor=installed_donor, target=target.name)
    donor = catalog.donor.kode_wilayah
    if agreement is not None and target.connection != "local" and catalog.sharing.mou_required:
        require_agreement_donor(ws, agreement=agreement, entry=catalog)
    records = trust_records(ws)
    rec = records.get(signer)
    if rec is not None and rec.own:
        if target.connection == "local":
            return TrustDecision(signer, "self-signed-local", rec.trusted_for())
        if rec.donor_kode_wilayah == donor and (not built_here or target.kode_wilayah == donor):
            how = "self-signed-own-data-center" if built_here else "donor-signed"
            trusted = require_signer_trusted(ws, key_id=signer, donor_kode=donor, app=catalog.id)
            return TrustDecision(signer, how, trusted.trusted_for())
        if built_here and allow_self_signed:
            return TrustDecision(signer, "self-signed-override", rec.trusted_for())
        if built_here:
            raise VerificationFailed(self_signed_refusal(catalog, signer=signer, target=target))
    trusted = require_signer_trusted(ws, key_id=signer, donor_kode=donor, app=catalog.id)
    return TrustDecision(signer, "donor-signed", trusted.trusted_for())


def self_signed_refusal(catalog: Entry, *, signer: str, target: Target) -> str:
    """Why a bundle built from the catalog and signed here may not go to ``target``."""
    from ..i18n import N_

    donor = catalog.donor.kode_wilayah
    return N_(
        f"{catalog.id} was built from the catalog and signed on this machine (key {signer}), so nothing"
        f" ties it to donor {catalog.donor.pemda} ({donor}) and target {target.name!r} is not the donor's own"
        f" data center. Install the donor's signed bundle (spbe-share keys trust DONOR-KEY.pub --donor-kode"
        f" {donor}; spbe-share install {catalog.id} --bundle FILE ...), or, knowing that this skips the"
        f" donor's signature, add {SELF_SIGNED_OPTION}"
    )


# ---------------------------------------------------------------- who signed the releases (catalog show)


class _ReleaseRecord(BaseModel):
    """The fields of ``catalog/<app>/releases/<version>.json`` (written by publish) read here."""

    model_config = ConfigDict(extra="ignore")
    version: str
    signer: Annotated[str, Field(pattern=KEY_ID_RE)]


@dataclass(frozen=True)
class ReleaseSigner:
    version: str
    signer: str
    trusted_for: str
    ok: bool  # the key is trusted for the entry's donor (and app)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "signer": self.signer, "trusted_for": self.trusted_for, "ok": self.ok}


def release_signers(ws: Workspace, loaded: LoadedEntry) -> list[ReleaseSigner]:
    """Who signed each published release of ``loaded`` (its ``releases/*.json``), and whether
    this workspace trusts that key for the entry's donor. Unreadable records are skipped."""
    entry = loaded.entry
    out = []
    records = trust_records(ws)
    folder = loaded.entry_dir / "releases"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            rec = _ReleaseRecord.model_validate(json.loads(read_bounded(path, limit=1 << 20)))
        except (InvalidInput, ValueError, ValidationError, RecursionError):  # a hostile record is skipped
            continue
        key = records.get(rec.signer)
        try:
            require_signer_trusted(ws, key_id=rec.signer, donor_kode=entry.donor.kode_wilayah, app=entry.id)
            ok = True
        except VerificationFailed:
            ok = False
        out.append(ReleaseSigner(rec.version, rec.signer, key.trusted_for() if key else "not trusted here", ok))
    return out
