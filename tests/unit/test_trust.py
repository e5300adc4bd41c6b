"""The trust chain ends at the donor: trust records bound to a donor, and the install policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from catalog_fixtures import entry_data, write_entry
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from entrybundle import entry_bundle

from spbe_share.agreements import add_agreement, build_agreement
from spbe_share.bundle import keys as k
from spbe_share.bundle import trust as t
from spbe_share.catalog.loader import load_entry
from spbe_share.catalog.models import Entry
from spbe_share.errors import Conflict, InvalidInput, NoAgreement, VerificationFailed
from spbe_share.provision.bundle import require_provision_signer
from spbe_share.targets.inventory import Target
from spbe_share.workspace import Workspace
from spbe_share.yamlio import load_model

DONOR = "94.71"  # the fixture entry's donor (Kota Contoh)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(home=tmp_path / "home", root=tmp_path / "repo")


def pub_file(tmp_path: Path, name: str) -> tuple[Path, str]:
    pub = Ed25519PrivateKey.generate().public_key()
    path = tmp_path / f"{name}.pub"
    path.write_text(k.public_line(pub, name=name))
    return path, k.key_id_of(pub)


def entry(**over: object) -> Entry:
    return Entry.model_validate(entry_data("contoh-app", **over))


def target(kode: str = "96.71", connection: str = "ssh") -> Target:
    return Target(name="kota-sorong", connection=connection, host="10.0.0.5", user="root", pemda="Kota Sorong",  # type: ignore[arg-type]
                  kode_wilayah=kode, bind_address="10.0.0.5")  # fmt: skip


def test_trust_record_is_a_typed_file_bound_to_one_donor(ws: Workspace, tmp_path: Path) -> None:
    path, kid = pub_file(tmp_path, "kota-contoh")
    rec = t.trust_key(ws, path, donor_kode=DONOR, donor="Kota Contoh", apps=["contoh-app"], who="budi@laptop")
    assert (rec.key_id, rec.donor_kode_wilayah, rec.apps, rec.legacy) == (kid, DONOR, ("contoh-app",), False)
    stored = load_model(t.TrustRecord, ws.keys_dir / "trusted" / f"{kid}.yml")
    assert (stored.donor_kode_wilayah, stored.donor, stored.apps, stored.trusted_by) == (
        DONOR, "Kota Contoh", ["contoh-app"], "budi@laptop",
    )  # fmt: skip
    with pytest.raises(Conflict, match=f"already trusted for donor {DONOR}"):
        t.trust_key(ws, path, donor_kode="91")
    with pytest.raises(InvalidInput, match="^--donor-kode: invalid kode wilayah '9471'"):
        t.trust_key(ws, pub_file(tmp_path, "x")[0], donor_kode="9471")
    # the file format is strict: an unknown key is a file:line: field error
    f = ws.keys_dir / "trusted" / f"{kid}.yml"
    f.write_text(f.read_text() + "signs_everything: true\n")
    with pytest.raises(InvalidInput) as err:
        t.trust_records(ws)
    assert f"{f}:" in str(err.value.details) and "signs_everything: unknown key" in str(err.value.details)


def test_legacy_keys_verify_but_are_refused_for_installs_until_retrusted(ws: Workspace, tmp_path: Path) -> None:
    """Migration: a trusted/<id>.pub from before keys were bound to donors."""
    path, kid = pub_file(tmp_path, "lama")
    legacy = ws.keys_dir / "trusted" / f"{kid}.pub"
    legacy.parent.mkdir(parents=True)
    shutil.copy(path, legacy)
    assert kid in k.trusted_keys(ws)  # signatures still verify (bundle verify says it is unbound)
    (rec,) = t.trust_records(ws).values()
    assert rec.legacy and rec.trusted_for().startswith("no donor (trusted before keys were bound")
    with pytest.raises(VerificationFailed) as err:
        t.require_signer_trusted(ws, key_id=kid, donor_kode=DONOR, app="contoh-app")
    assert f"spbe-share keys trust {legacy} --donor-kode {DONOR}" in err.value.message
    # the command the message gives re-trusts it in place
    t.trust_key(ws, legacy, donor_kode=DONOR)
    assert not legacy.exists() and (ws.keys_dir / "trusted" / f"{kid}.yml").is_file()
    assert t.require_signer_trusted(ws, key_id=kid, donor_kode=DONOR, app="contoh-app").name == "lama"


def test_signer_must_be_trusted_for_the_entrys_donor_and_app(ws: Workspace, tmp_path: Path) -> None:
    path, kid = pub_file(tmp_path, "papua")
    with pytest.raises(VerificationFailed, match=f"signed by key {kid}, which is not trusted"):
        t.require_signer_trusted(ws, key_id=kid, donor_kode=DONOR, app="contoh-app")
    t.trust_key(ws, path, donor_kode="91", apps=["e-office"])
    with pytest.raises(VerificationFailed, match="trusted for donor 91, apps e-office only, not for donor 94.71"):
        t.require_signer_trusted(ws, key_id=kid, donor_kode=DONOR, app="contoh-app")
    with pytest.raises(VerificationFailed, match="trusted for donor 91, apps e-office only"):
        t.require_signer_trusted(ws, key_id=kid, donor_kode="91", app="pengaduan")
    assert t.require_signer_trusted(ws, key_id=kid, donor_kode="91", app="e-office").key_id == kid


def agreement(ws: Workspace, number: str, donor_kode: str) -> None:
    add_agreement(ws, build_agreement(
        number=number, apps=["contoh-app"], donor="Donor", donor_kode=donor_kode, adopter="Kota Sorong",
        adopter_kode="96.71", scope=["install"], signed="2026-01-01", valid_until="2027-01-01",
    ))  # fmt: skip


def test_donor_signed_bundle_needs_the_agreements_donor(ws: Workspace, tmp_path: Path) -> None:
    path, kid = pub_file(tmp_path, "kota-contoh")
    t.trust_key(ws, path, donor_kode=DONOR)
    agreement(ws, "PKS/LAIN/2026", "91")
    agreement(ws, "PKS/OK/2026", DONOR)
    decide = dict(ws=ws, target=target(), entry=entry(), catalog=entry(), signer=kid, built_here=False)
    with pytest.raises(NoAgreement, match=r"PKS/LAIN/2026 is with donor Donor \(91\), but the catalog's entry of contoh-app names"):
        t.decide_install_trust(agreement="PKS/LAIN/2026", **decide)  # type: ignore[arg-type]
    got = t.decide_install_trust(agreement="PKS/OK/2026", **decide)  # type: ignore[arg-type]
    assert (got.how, got.trusted_for) == ("donor-signed", f"donor {DONOR}, every app")
    with pytest.raises(NoAgreement, match="requires an agreement"):
        t.decide_install_trust(agreement="not required by the entry", **decide)  # type: ignore[arg-type]


def test_self_signed_bundles_from_the_catalog(ws: Workspace, tmp_path: Path) -> None:
    own = k.generate_key(ws, name="donor")  # like install's workspace key: bound to no donor
    agreement(ws, "PKS/OK/2026", DONOR)
    base = dict(ws=ws, entry=entry(), catalog=entry(), signer=own.key_id, agreement="PKS/OK/2026")
    # the local sandbox: allowed
    assert t.decide_install_trust(target=target(connection="local"), built_here=True, **base).how == "self-signed-local"  # type: ignore[arg-type]
    # an adopter's target: refused, naming the loud option ...
    with pytest.raises(VerificationFailed) as err:
        t.decide_install_trust(target=target(), built_here=True, **base)  # type: ignore[arg-type]
    assert t.SELF_SIGNED_OPTION in err.value.message and "nothing ties it to donor" in err.value.message
    # ... which allows it, and says so loudly
    got = t.decide_install_trust(target=target(), built_here=True, allow_self_signed=True, **base)  # type: ignore[arg-type]
    assert got.self_signed_override and got.message().startswith("WARNING: " + t.SELF_SIGNED_OPTION)
    # the same own key given as --bundle is not a donor's signature either
    with pytest.raises(VerificationFailed, match="this workspace's own key"):
        t.decide_install_trust(target=target(), built_here=False, allow_self_signed=True, **base)  # type: ignore[arg-type]


def test_a_donor_installs_its_own_app_in_its_own_data_center(ws: Workspace) -> None:
    own = k.generate_key(ws, name="kota-contoh", donor_kode=DONOR)
    base = dict(ws=ws, entry=entry(), catalog=entry(), signer=own.key_id, agreement=None)
    got = t.decide_install_trust(target=target(kode=DONOR), built_here=True, **base)  # type: ignore[arg-type]
    assert got.how == "self-signed-own-data-center"
    # the donor's own key, building from the catalog for an adopter: still needs the option
    no_mou = entry(sharing={"mou_required": False, "scope": ["install"], "support_months": 12})
    with pytest.raises(VerificationFailed, match=t.SELF_SIGNED_OPTION):
        t.decide_install_trust(target=target(kode="96.71"), built_here=True, **{**base, "catalog": no_mou})  # type: ignore[arg-type]
    # a bundle the donor built and signed (bundle build) is the donor's signature
    got = t.decide_install_trust(target=target(kode="96.71"), built_here=False, **{**base, "catalog": no_mou})  # type: ignore[arg-type]
    assert got.how == "donor-signed"
    with pytest.raises(InvalidInput, match="^--donor-kode: invalid"):
        k.generate_key(ws, name="lain", donor_kode="x")
    assert not (ws.keys_dir / "private" / "lain.key").exists()


def test_release_signers_for_catalog_show(ws: Workspace, tmp_path: Path) -> None:
    path = write_entry(tmp_path / "repo", "contoh-app")
    loaded = load_entry(path)
    assert t.release_signers(ws, loaded) == []
    pub, kid = pub_file(tmp_path, "kota-contoh")
    releases = loaded.entry_dir / "releases"
    releases.mkdir()
    (releases / "1.0.0.json").write_text(json.dumps({"format": 1, "version": "1.0.0", "signer": kid}))
    (releases / "broken.json").write_text("{")
    (releases / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (got,) = t.release_signers(ws, loaded)
    assert (got.version, got.signer, got.trusted_for, got.ok) == ("1.0.0", kid, "not trusted here", False)
    t.trust_key(ws, pub, donor_kode=DONOR)
    (got,) = t.release_signers(ws, loaded)
    assert (got.trusted_for, got.ok) == (f"donor {DONOR}, every app", True)


def test_catalog_show_prints_who_signed_and_for_which_donor(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spbe_share.cli import main

    repo = tmp_path / "repo"
    path = write_entry(repo, "contoh-app")
    pub, kid = pub_file(tmp_path, "kota-contoh")
    (path.parent / "releases").mkdir()
    (path.parent / "releases" / "1.0.0.json").write_text(json.dumps({"version": "1.0.0", "signer": kid}))

    def show(*args: str) -> str:
        env = {"SPBE_SHARE_HOME": str(tmp_path / "home"), "SPBE_SHARE_CATALOG": str(repo)}
        with CliRunner().isolation(env=env) as (out, _err, _):
            try:
                main(["catalog", "show", "contoh-app", *args])
            except SystemExit as exc:
                assert not exc.code
            return out.getvalue().decode()

    text = show()
    assert f"1.0.0: key {kid}, trusted for not trusted here [NOT trusted for donor {DONOR}" in text
    t.trust_key(Workspace.from_options(tmp_path / "home", repo), pub, donor_kode=DONOR, donor="Kota Contoh")
    text = show()
    assert f"1.0.0: key {kid}, trusted for donor {DONOR} (Kota Contoh), every app [ok]" in text
    assert json.loads(show("--json"))["signatures"] == [
        {"version": "1.0.0", "signer": kid, "trusted_for": f"donor {DONOR} (Kota Contoh), every app", "ok": True}
    ]


def test_source_qualified_app_matches_the_manifests_app_id(ws: Workspace, tmp_path: Path) -> None:
    """Before: `install src/demo --bundle B` failed with "B holds app 'demo', not 'src/demo'"."""
    from test_bundle_verify import craft  # same folder (pytest rootdir-relative import)

    from spbe_share.errors import ValidationFailed
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import plan_install

    ctx = OpContext.create(ws)
    k.generate_key(ws, name="donor")
    path, _ = craft(tmp_path, k.load_private_key(ws, "donor"))
    with pytest.raises(InvalidInput) as err:
        plan_install(ctx, app="src/demo", target_name="local", bundle=path)
    assert "holds app" not in err.value.message
    assert isinstance(err.value, ValidationFailed)  # got past the app check to the bundle's (toy) entry
    with pytest.raises(InvalidInput, match="holds app 'demo', not 'src/other'"):
        plan_install(ctx, app="src/other", target_name="local", bundle=path)
    with pytest.raises(InvalidInput, match="catalog source '../x' is not a valid name"):
        plan_install(ctx, app="../x/demo", target_name="local", bundle=path)


def test_provision_trust_is_its_own_record(ws: Workspace, tmp_path: Path) -> None:
    """`keys trust FILE --provision`: a key for provision bundles, apart from donor bindings."""
    path, kid = pub_file(tmp_path, "ops")
    with pytest.raises(InvalidInput, match="give --donor-kode K .* or --provision"):
        t.trust_key(ws, path, donor_kode=None)
    with pytest.raises(InvalidInput, match="--app goes with --donor-kode"):
        t.trust_key(ws, path, donor_kode=None, apps=["e-office"], provision=True)
    rec = t.trust_key(ws, path, donor_kode=None, provision=True, who="budi@laptop")
    assert (rec.provision, rec.donor_kode_wilayah, rec.trusted_for()) == (True, None, "provision bundles only")
    assert require_provision_signer(ws, key_id=kid).why.startswith("trusted for provision bundles (keys trust")
    with pytest.raises(VerificationFailed, match="trusted for provision bundles only, not for donor"):  # no app
        t.require_signer_trusted(ws, key_id=kid, donor_kode=DONOR, app="contoh-app")
    with pytest.raises(Conflict, match="already trusted for provision bundles only"):
        t.trust_key(ws, path, donor_kode=None, provision=True)
    # binding it to a donor as well keeps its provision trust
    both = t.trust_key(ws, path, donor_kode=DONOR)
    assert both.provision and both.trusted_for() == f"donor {DONOR}, every app; provision bundles"
    # a donor key gets provision trust only when asked, keeping its donor binding
    donor_path, donor_kid = pub_file(tmp_path, "donor")
    t.trust_key(ws, donor_path, donor_kode="91", apps=["pengaduan"])
    with pytest.raises(VerificationFailed, match="trusted for donor 91, apps pengaduan, not for provision bundles"):
        require_provision_signer(ws, key_id=donor_kid)
    added = t.trust_key(ws, donor_path, donor_kode=None, provision=True)
    assert (added.donor_kode_wilayah, added.apps, added.provision) == ("91", ("pengaduan",), True)
    # this workspace's own key signs provision bundles (provision-bundle build uses it)
    own = k.generate_key(ws, name="donor")
    assert require_provision_signer(ws, key_id=own.key_id).why == "this workspace's own key"
    with pytest.raises(VerificationFailed, match="which is not trusted .* --provision"):
        require_provision_signer(ws, key_id="0123456789abcdef")


def test_a_bundle_does_not_choose_its_own_donor(ws: Workspace, tmp_path: Path) -> None:
    """Issue 17 finding 3: a bundle relabelled as another donor's, with `mou_required: false`,
    signed by a key trusted for that other donor, was installed: the donor came from inside the
    bundle. Now the catalog's donor for the app id decides (and its mou_required)."""
    from spbe_share.ops.context import OpContext
    from spbe_share.ops.install import plan_install

    write_entry(ws.root, "contoh-app")  # the operator's catalog: donor Kota Contoh (94.71), MoU required
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "papua.pub"
    pub.write_text(k.public_line(key.public_key(), name="papua"))
    t.trust_key(ws, pub, donor_kode="91")  # trusted, but for donor 91 only
    relabelled = entry_data("contoh-app", donor={"pemda": "Provinsi Papua", "kode_wilayah": "91", "unit": "Diskominfo",
                                                 "contacts": [{"name": "X", "email": "x@papua.go.id"}]},
                            sharing={"mou_required": False, "scope": ["install"], "support_months": 12})  # fmt: skip
    bundle = entry_bundle(tmp_path / "contoh-app.spbe", key, relabelled)
    with pytest.raises(VerificationFailed) as err:
        plan_install(OpContext.create(ws), app="contoh-app", target_name="local", bundle=bundle)
    assert err.value.message.startswith(
        "the bundle's entry of contoh-app names donor Provinsi Papua (91), but your catalog names donor Kota Contoh"
        " (94.71) for contoh-app: a bundle does not choose its own donor"
    )
    # mou_required is the catalog's: a relabelled `mou_required: false` waives nothing
    terms = entry()
    assert terms.sharing.mou_required and not Entry.model_validate(relabelled).sharing.mou_required
    with pytest.raises(NoAgreement, match="the catalog's entry of contoh-app requires an agreement"):
        t.decide_install_trust(ws, target=target(kode="96.71"), entry=terms, catalog=terms, agreement="x",
                               signer=k.key_id_of(key.public_key()), built_here=False)  # fmt: skip


def test_an_upgrade_keeps_the_installed_releases_donor(ws: Workspace, tmp_path: Path) -> None:
    from spbe_share.ops.bundles import installed_donor
    from spbe_share.ops.context import OpContext
    from spbe_share.records.state import ReleaseRecord

    path, kid = pub_file(tmp_path, "kota-contoh")
    record = ReleaseRecord(app="contoh-app", version="1.0.0", target="kota-sorong", pemda="Kota Sorong",
                           kode_wilayah="96.71", bundle_digest="sha256:" + "0" * 64, signer=kid, who="x",
                           when="2026-01-01T00:00:00Z")  # fmt: skip
    ctx = OpContext.create(ws)
    assert installed_donor(ctx, record) is None  # an older record, its signer unknown here: the catalog decides
    t.trust_key(ws, path, donor_kode="91")
    assert installed_donor(ctx, record) == "91"  # an older record: the donor its signer is trusted for
    assert installed_donor(ctx, record.model_copy(update={"donor_kode_wilayah": DONOR})) == DONOR
    with pytest.raises(VerificationFailed, match=r"contoh-app on kota-sorong was installed from donor 91 \(its release"):
        t.require_catalog_donor(bundle_entry=entry(), catalog=entry(), installed_donor="91", target="kota-sorong")
    t.require_catalog_donor(bundle_entry=entry(), catalog=entry(), installed_donor=DONOR, target="kota-sorong")
