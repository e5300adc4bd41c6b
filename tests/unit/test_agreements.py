"""MoU/PKS agreements: the rule, the file format, CLI-style validation; and the audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest

from spbe_share import audit
from spbe_share.agreements import (
    add_agreement,
    build_agreement,
    document_status,
    get_agreement,
    load_agreements,
    require_agreement,
)
from spbe_share.cli import main
from spbe_share.errors import Conflict, InvalidInput, NoAgreement, NotFound
from spbe_share.workspace import Workspace

D = dt.date.fromisoformat


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(home=tmp_path / "ws", root=tmp_path / "repo")


def mou(number: str = "NK/001/2026", **kw: object):
    args: dict = dict(
        number=number, apps=["e-office"], donor="Provinsi Papua", donor_kode="91",
        adopter="Kota Sorong", adopter_kode="96.71", scope=["install,support"],
        signed="2026-01-15", valid_until="2028-01-15", signatories=["Budi, Kepala Diskominfo"],
    )  # fmt: skip
    args.update(kw)
    return build_agreement(**args)


def need(ws: Workspace, *, app: str = "e-office", kode: str = "96.71", scope: str = "install",
         today: str = "2026-11-22"):  # fmt: skip
    return require_agreement(ws, app=app, adopter_kode_wilayah=kode, scope=scope, today=D(today))


def test_rule_ok_and_every_refusal(ws: Workspace) -> None:
    with pytest.raises(NoAgreement, match="no agreement .* 'e-office' and adopter kode wilayah 96.71"):
        need(ws)
    add_agreement(ws, mou())
    assert need(ws).number == "NK/001/2026"
    assert need(ws, today="2026-01-15").number == "NK/001/2026"  # first day
    assert need(ws, today="2028-01-15").number == "NK/001/2026"  # last day
    with pytest.raises(NoAgreement, match=r"^agreement NK/001/2026 expired on 2028-01-15$"):
        need(ws, today="2028-01-16")
    with pytest.raises(NoAgreement, match=r"^agreement NK/001/2026 valid only from 2026-01-15"):
        need(ws, today="2026-01-14")
    with pytest.raises(NoAgreement, match=r"^agreement NK/001/2026 does not cover scope source"):
        need(ws, scope="source")
    with pytest.raises(NoAgreement, match="no agreement .* adopter kode wilayah 51.08"):
        need(ws, kode="51.08")  # another adopter
    with pytest.raises(NoAgreement, match="no agreement .* 'pengaduan'"):
        need(ws, app="pengaduan")
    with pytest.raises(InvalidInput, match="unknown scope 'deploy'"):
        need(ws, scope="deploy")
    assert int(NoAgreement("x").exit_code) == 4


def test_renewal_wins_over_expired_one(ws: Workspace) -> None:
    add_agreement(ws, mou("NK/001/2024", signed="2024-01-01", valid_until="2025-12-31"))
    add_agreement(ws, mou("NK/007/2026", apps=["pengaduan", "e-office"], signed="2026-01-01",
                          valid_until="2027-01-01", scope=["install", "training"]))  # fmt: skip
    assert need(ws).number == "NK/007/2026"
    assert need(ws, app="pengaduan", scope="training").number == "NK/007/2026"
    with pytest.raises(NoAgreement, match="NK/007/2026 does not cover scope support"):
        need(ws, scope="support")


def test_stored_file_round_trip_and_document(ws: Workspace, tmp_path: Path) -> None:
    doc = tmp_path / "PKS signed.PDF"
    doc.write_bytes(b"%PDF-1.4 signed")
    path = add_agreement(ws, mou(), document=doc)
    assert path == ws.agreements_dir / "NK_001_2026.yml"
    a = get_agreement(ws, "NK/001/2026")
    assert a == mou().model_copy(update={"document": a.document})
    assert a.document is not None and a.document.sha256 == hashlib.sha256(b"%PDF-1.4 signed").hexdigest()
    assert a.document.file == "documents/NK_001_2026.pdf" and a.document.original_name == "PKS signed.PDF"
    assert (ws.agreements_dir / a.document.file).read_bytes() == b"%PDF-1.4 signed"
    assert document_status(ws, a) == "ok"
    (ws.agreements_dir / a.document.file).write_bytes(b"tampered")
    assert document_status(ws, a) == "modified"
    text = path.read_text()
    assert "signed: 2026-01-15\n" in text and "kode_wilayah: '96.71'" in text
    with pytest.raises(Conflict, match="already recorded"):
        add_agreement(ws, mou())
    with pytest.raises(NotFound):
        get_agreement(ws, "NK/404/2026")


BAD = """\
number: NK/009/2026
apps: [e-office]
donor: {pemda: Provinsi Papua, kode_wilayah: "91"}
adopter:
  pemda: Kota Sorong
  kode_wilayah: 96.71
scope: [install, deploy]
signed: 2026-01-15
valid_until: 2028-01-15
signatory: Budi
"""


def test_hand_edited_bad_file_reports_lines(ws: Workspace) -> None:
    ws.agreements_dir.mkdir(parents=True)
    bad = ws.agreements_dir / "NK_009_2026.yml"
    bad.write_text(BAD)
    with pytest.raises(InvalidInput) as err:
        load_agreements(ws)
    assert err.value.details == [
        f"{bad}:6: adopter.kode_wilayah: Value error, kode wilayah must be quoted text,"
        ' e.g. "96.71" (YAML read a number)',
        f"{bad}:7: scope[1]: Input should be 'install', 'support', 'source' or 'training'",
        f"{bad}:10: signatory: unknown key",
    ]
    bad.write_text(BAD.replace("96.71", '"96.71"').replace(", deploy", "").replace("signatory: Budi\n", "")
                   .replace("valid_until: 2028-01-15", "valid_until: 2025-01-15"))  # fmt: skip
    with pytest.raises(InvalidInput) as err:
        load_agreements(ws)
    assert err.value.details == [
        f"{bad}:1: (file): Value error, valid_until (2025-01-15) must be after signed (2026-01-15)"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"adopter_kode": "9671"}, "--adopter-kode: invalid kode wilayah '9671'"),
        ({"donor_kode": "Papua"}, "--donor-kode: invalid kode wilayah 'Papua'"),
        ({"scope": ["install,deploy"]}, "--scope: unknown scope 'deploy'"),
        ({"signed": "15/01/2026"}, "--signed: '15/01/2026' is not a date"),
        ({"valid_until": "2026-01-15"}, "--valid-until: 2026-01-15 must be after --signed 2026-01-15"),
        ({"apps": ["E Office"]}, "--app: "),
        ({"number": "/bad"}, "--number: "),
        ({"adopter": ""}, "--adopter: "),
    ],
)
def test_option_errors_name_the_option(change: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        mou(**change)
    assert err.value.message.startswith(message)


def test_cli_mou_add_list_check(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--workspace", str(ws.home), "mou"]
    add = [*base, "add", "--app", "e-office", "--app", "pengaduan", "--donor", "Provinsi Papua",
           "--donor-kode", "91", "--adopter", "Kota Sorong", "--adopter-kode", "96.71",
           "--number", "NK/001/2026", "--signed", "2026-01-15", "--valid-until", "2028-01-15",
           "--scope", "install,support"]  # fmt: skip
    main(add)
    with pytest.raises(SystemExit) as ex:
        main(add)
    assert ex.value.code == 9  # Conflict
    capsys.readouterr()
    main([*base, "list", "--json", "--on", "2026-06-01"])
    items = json.loads(capsys.readouterr().out)
    assert [(i["number"], i["apps"], i["state"]) for i in items] == [
        ("NK/001/2026", ["e-office", "pengaduan"], "active")
    ]
    main([*base, "list", "--json", "--active", "--on", "2029-01-01"])
    assert json.loads(capsys.readouterr().out) == []
    with pytest.raises(SystemExit) as ex:
        main([*base, "check", "--app", "pengaduan", "--adopter-kode", "96.71", "--scope", "source"])
    assert ex.value.code == 4
    assert "does not cover scope source" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        main([*base, "add", *add[4:-2], "--scope", "instal"])
    assert ex.value.code == 2
    assert "--scope: unknown scope 'instal'" in capsys.readouterr().err
    assert [e["what"] for e in audit.read(ws)] == ["mou add"]


def test_audit_record_and_read(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPBE_SHARE_OPERATOR", "tim-pusat@kemendagri")
    line = audit.record(ws, what="install", where="kota-sorong", result="ok", app="e-office", version="1.1.0")
    monkeypatch.delenv("SPBE_SHARE_OPERATOR")
    audit.record(ws, who="ops", what="upgrade", where="kota-sorong", result="failed", error="health")
    entries = audit.read(ws)
    assert entries[0] == line
    assert entries[0]["who"] == "tim-pusat@kemendagri"
    assert entries[0]["details"] == {"app": "e-office", "version": "1.1.0"}
    assert dt.datetime.fromisoformat(entries[0]["ts"].replace("Z", "+00:00")).tzinfo is not None
    assert [(e["who"], e["what"], e["result"]) for e in entries[1:]] == [("ops", "upgrade", "failed")]
    assert "@" in audit.operator()
    assert (os.stat(ws.audit_log).st_mode & 0o777) == 0o600
    assert len(ws.audit_log.read_text().splitlines()) == 2
    with ws.audit_log.open("a") as f:
        f.write("{not json\n")
    with pytest.raises(InvalidInput, match=rf"^{ws.audit_log}:3: not a JSON line"):
        audit.read(ws)
