"""Issue 20 items 3 and 4, the parts that need no target: settings declared with types, choices,
limits and ``immutable``; what ``config set`` changes (pure); the playbook variables; the
redaction run on the target (secrets, e-mail, phone, NIK, the entry's rules); the support bundle
file (sealed, inspected without and with the key, refused when tampered with); the last failed
run's events."""

from __future__ import annotations

import importlib
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from test_deploy import make_entry

from spbe_share.catalog.models import Entry, Setting
from spbe_share.errors import InvalidInput, ValidationFailed, VerificationFailed
from spbe_share.ops.support import last_failed_run, parse_since, run_events
from spbe_share.ops.supportfile import open_bundle, write_bundle
from spbe_share.plans.settings import changed_configs, settings_change
from spbe_share.plans.values import resolve_values

REPO = Path(__file__).resolve().parents[2]


def entry(**over: Any) -> Entry:
    settings = [
        {"name": "pemda_name", "description": "Nama Pemda", "required": True},
        {"name": "color", "description": "Warna", "default": "biru", "choices": ["biru", "merah", "hijau"]},
        {"name": "workers", "description": "Proses", "default": "4", "type": "integer", "minimum": 1, "maximum": 64},
        {"name": "debug", "description": "Debug", "default": "false", "type": "boolean"},
        {"name": "db_name", "description": "Nama basis data", "default": "demo", "immutable": True},
    ]
    return make_entry(settings=settings, **over)


NOW = {"pemda_name": "Kota Sorong", "color": "biru", "workers": "4", "debug": "false", "db_name": "demo"}


# ---------------------------------------------------------------- the entry's declarations


@pytest.mark.parametrize(("setting", "problem"), [
    ({"type": "string", "minimum": 1}, "minimum and maximum are for type: integer"),
    ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum is larger than maximum"),
    ({"type": "integer", "default": "many"}, "default 'many': must be a whole number"),
    ({"type": "boolean", "default": "ya"}, "default 'ya': must be true or false"),
    ({"choices": ["a", "b"], "default": "c"}, "default 'c': must be one of a, b"),
])
def test_a_setting_whose_own_declaration_contradicts_itself_is_refused(setting: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Setting.model_validate({"name": "x", "description": "x", **setting})


@pytest.mark.parametrize("pattern", ["(a+)+", "(a|aa)*", r"(\d{2})+x", "(?:[A-Z]{2}\\d+)+", "("])
def test_a_redaction_rule_that_could_take_exponential_time_or_is_no_regex_is_refused(pattern: str) -> None:
    with pytest.raises(ValidationError):
        make_entry(support={"redact": [{"name": "x", "pattern": pattern}]})
    make_entry(support={"redact": [{"name": "nip", "pattern": r"\bNIP[ .:]*[0-9]{18}\b"}]})


def test_install_refuses_an_invalid_value_naming_the_setting() -> None:
    with pytest.raises(ValidationFailed) as err:
        resolve_values(entry(), sets=["pemda_name=X", "workers=0", "debug=ya", "color=ungu"])
    assert err.value.problems == [
        "setting color: 'ungu' is not valid: must be one of biru, merah, hijau",
        "setting workers: '0' is not valid: must be at least 1",
        "setting debug: 'ya' is not valid: must be true or false",
    ]


def test_the_reference_entries_mark_what_may_not_change() -> None:
    from spbe_share.yamlio import load_model

    pengaduan = load_model(Entry, REPO / "catalog" / "pengaduan" / "spbe-app.yaml")
    fixed = [s.name for s in pengaduan.settings if s.immutable]
    assert fixed == ["berkas_basis_data"]
    ppdb = load_model(Entry, REPO / "catalog" / "ppdb" / "spbe-app.yaml")
    workers = next(s for s in ppdb.settings if s.name == "web_workers")
    assert workers.value_problem("0") == "must be at least 1"


# ---------------------------------------------------------------- config set (pure)


def test_config_set_changes_only_what_was_asked_and_keeps_the_rest() -> None:
    change = settings_change(entry(), current=NOW, sets=["color=merah", "workers=8", "debug=false"])
    assert change.changed == {"color": ("biru", "merah"), "workers": ("4", "8")}
    assert change.values.as_dict() == {**NOW, "color": "merah", "workers": "8"}


def test_the_same_value_again_changes_nothing() -> None:
    assert settings_change(entry(), current=NOW, sets=["color=biru", "db_name=demo"]).changed == {}


@pytest.mark.parametrize(("sets", "message"), [
    (["db_name=lain"], "db_name: cannot change after install (the entry marks it immutable: Nama basis data); it stays"
                       " 'demo'; nothing changed"),
    (["warna=merah"], "warna: not a setting of demo (its settings: color, db_name, debug, pemda_name, workers);"
                      " nothing changed"),
    (["workers=65"], "workers: '65' is not valid: must be at most 64; nothing changed"),
    (["pemda_name="], "pemda_name: is required (Nama Pemda), it cannot be empty; nothing changed"),
    (["workers"], "config set 'workers': expected NAME=value"),
])
def test_config_set_refuses_with_one_line(sets: list[str], message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        settings_change(entry(), current=NOW, sets=sets)
    assert err.value.message == message and not isinstance(err.value, ValidationFailed)


def test_several_problems_are_listed_together() -> None:
    with pytest.raises(ValidationFailed) as err:
        settings_change(entry(), current=NOW, sets=["db_name=x", "debug=ya", "color=merah"])
    assert len(err.value.problems) == 2 and "nothing changed" in err.value.message


def test_only_components_whose_config_file_changed_restart() -> None:
    old = [{"component": "web", "file": "0-app.ini", "content": "a"}, {"component": "worker", "file": "0-w.ini",
                                                                        "content": "w"}]
    new = [{"component": "web", "file": "0-app.ini", "content": "b"}, {"component": "worker", "file": "0-w.ini",
                                                                        "content": "w"}]
    assert changed_configs(old, new) == ["web"]
    assert changed_configs(old, old) == []
    assert changed_configs(old, new[:1]) == ["web", "worker"]


def test_config_vars_keep_the_serving_release_and_swap_its_config() -> None:
    from spbe_share.ops.settings import config_vars
    from spbe_share.records.deployspec import DeploySpec
    from spbe_share.records.state import ReleaseRecord

    root, target, app = "/srv/spbe", "kota-sorong", "demo"
    digest = "sha256:" + "a" * 64
    spec = DeploySpec.model_validate({
        "app": app, "target": target, "version": "1.0.0", "bundle_digest": digest,
        "images": [{"component": "web", "ref": "spbe-share/demo-web:1.0.0", "config": digest, "layers": []}],
        "blobs": [], "configs": [{"component": "web", "file": "0-app.ini", "content": "color=biru\n"}],
        "network": f"spbe-{target}-{app}", "containers": [{"name": f"spbe-{target}-{app}-web", "component": "web",
                                                           "image": digest}],
        "backup": {"app": app, "target": target, "root": root, "components": []},
    })
    record = ReleaseRecord(app=app, version="1.0.0", target=target, pemda="Kota Sorong", kode_wilayah="96.71",
                           bundle_digest=digest, signer="k", who="op", when="2026-12-07T00:00:00Z", operation="config")
    ev = config_vars(spec=spec, configs=[{"component": "web", "file": "0-app.ini", "content": "color=merah\n"}],
                     restart=["web"], record=record, deploy="20261207T000000Z-1.0.0", stamp="20261207T000000Z",
                     root=root)
    assert ev["spbe_old_configs"] == [{"component": "web", "file": "0-app.ini", "content": "color=biru\n"}]
    assert ev["spbe_deploy_spec"]["configs"][0]["content"] == "color=merah\n"
    assert ev["spbe_deploy_spec"]["containers"] == [c.model_dump(mode="json") for c in spec.containers]
    assert ev["spbe_restart_components"] == ["web"] and ev["spbe_record"]["operation"] == "config"


# ---------------------------------------------------------------- redaction, on the target


def _target_module(name: str) -> Any:
    """``playbooks/module_utils/<name>.py``, imported as the target's scripts import it."""
    sys.path.insert(0, str(REPO / "playbooks" / "module_utils"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _redact() -> Any:
    return _target_module("spbe_redact")


@pytest.mark.parametrize(("text", "want"), [
    ("kontak humas.buleleng@example.go.id, 0812-3456-7890", "kontak [email], [phone]"),
    ("NIK 3201234567890123 dan +62 812 3456 7890", "NIK [nik] dan [phone]"),
    ("tel 081234567890.", "tel [phone]."),
    ("version 1.0.0 on :8081 at 2026-12-07T03:00:00Z, 12 rows", "version 1.0.0 on :8081 at 2026-12-07T03:00:00Z, 12 rows"),
    ("NIP 198001012005011002", "[nip]"),
])
def test_personal_data_is_redacted(text: str, want: str) -> None:
    r = _redact()
    rules = r.personal_rules([{"name": "nip", "pattern": r"\bNIP[ .:]*[0-9]{18}\b"}])
    assert r.redact_personal(text, rules) == want


def test_support_collection_redacts_every_file_on_the_target(tmp_path: Path) -> None:
    spbe_support = _target_module("spbe_support")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "SECRET_KEY").write_text("Sup3r-S3cret-Value\n")
    answer = spbe_support.collect({"app_dir": str(tmp_path), "containers": [], "docs": {
        "history.json": '{"cause": "login with Sup3r-S3cret-Value by ani@example.go.id"}'}})
    assert json.loads(answer["files"]["history.json"]) == {"cause": "login with [secret SECRET_KEY] by [email]"}
    assert answer["redactions"] == 1 and {"containers.json", "host.json"} <= set(answer["files"])
    assert json.loads(answer["files"]["host.json"])["disks"]


def test_support_facts_are_redacted_as_values_so_numbers_stay_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI's disk once measured 628... bytes: redacted as text, it became "[phone]"
    spbe_support = _target_module("spbe_support")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "DB_PASSWORD").write_text("Sup3r-S3cret-Value\n")
    facts = {"disks": [{"path": "/", "total": 62812345678, "used": 3201234567890123, "free": 0}],
             "os": "Debian with Sup3r-S3cret-Value", "load": ["0.81", "62812345678"]}
    monkeypatch.setattr(spbe_support, "host_facts", lambda app_dir: facts)
    answer = spbe_support.collect({"app_dir": str(tmp_path), "containers": [], "docs": {
        "history.json": '{"bytes": 62812345678, "cause": "by 0812-3456-7890"}', "run.log": "bytes 62812345678"}})
    host = json.loads(answer["files"]["host.json"])
    assert host["disks"] == facts["disks"]
    assert host["os"] == "Debian with [secret DB_PASSWORD]" and host["load"] == ["0.81", "[phone]"]
    assert json.loads(answer["files"]["history.json"]) == {"bytes": 62812345678, "cause": "by [phone]"}
    assert answer["files"]["run.log"] == "bytes [phone]"  # a log is text: redacted as text
    assert answer["redactions"] == 3


# ---------------------------------------------------------------- the bundle file


def _identity() -> Any:
    from pyrage import x25519

    return x25519.Identity.generate()


def test_a_sealed_bundle_lists_its_files_without_the_key_and_opens_with_it(tmp_path: Path) -> None:
    key = _identity()
    out = tmp_path / "s.tar"
    files = {"logs/web.log": b"line\n", "history.json": b"{}"}
    meta = {"app": "demo", "target": "t", "created": "2026-12-07T00:00:00Z", "created_by": "op", "since_s": 3600,
            "redactions": 0}
    write_bundle(out, files=files, meta=meta, sealed_to=[str(key.to_public())])
    assert out.stat().st_mode & 0o777 == 0o600 and b"line\n" not in out.read_bytes()
    listed = open_bundle(out)
    assert [f.name for f in listed.index.files] == ["history.json", "logs/web.log"] and listed.files is None
    assert open_bundle(out, keys=[key]).files == files
    with pytest.raises(VerificationFailed, match="none of the keys given opens it"):
        open_bundle(out, keys=[_identity()])
    clear = tmp_path / "c.tar"
    write_bundle(clear, files=files, meta=meta, sealed_to=[])
    assert open_bundle(clear).files == files


def _rewrite(path: Path, change: Any) -> None:
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in change(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def test_a_tampered_or_foreign_bundle_is_refused_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "s.tar"
    meta = {"app": "demo", "target": "t", "created": "x", "created_by": "op", "since_s": 1, "redactions": 0}
    write_bundle(out, files={"a.json": b"1"}, meta=meta, sealed_to=[])
    _rewrite(out, lambda ms: [(n, d.replace(b"1", b"2") if n == "payload.tar" else d) for n, d in ms])
    with pytest.raises(VerificationFailed, match="differs from the index"):
        open_bundle(out)
    _rewrite(out, lambda ms: [*ms, ("../evil", b"x")])
    with pytest.raises(InvalidInput, match="not a support bundle"):
        open_bundle(out)
    (tmp_path / "n.tar").write_bytes(b"not a tar")
    with pytest.raises(InvalidInput, match="not a support bundle"):
        open_bundle(tmp_path / "n.tar")


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("24h", 86400), ("7d", 604800), ("45s", 45)])
def test_since(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


def test_since_refuses_anything_else() -> None:
    with pytest.raises(InvalidInput, match="expected a number and a unit"):
        parse_since("1 week")


def test_the_last_failed_run_and_its_failed_tasks(tmp_path: Path) -> None:
    from spbe_share.workspace import Workspace

    ws = Workspace.from_options(tmp_path / "ws")
    for name, status in (("20261201T000000000000-install-t-demo", "failed"),
                         ("20261202T000000000000-config_set-t-demo", "failed"),
                         ("20261203T000000000000-state-t-demo", "successful"),
                         ("20261204T000000000000-install-t-other", "failed")):
        run = ws.runs_dir / name / "artifacts" / "x"
        (run / "job_events").mkdir(parents=True)
        (run / "status").write_text(status)
        (run / "stdout").write_text("TASK [Health]\nfatal: gave up\n")
        (run / "job_events" / "1-a.json").write_text(json.dumps({"event": "playbook_on_task_start",
                                                                 "event_data": {"task": "Health: http"}}))
        (run / "job_events" / "2-b.json").write_text(json.dumps({"event": "runner_on_failed", "event_data": {
            "task": "Health: http", "host": "t", "res": {"msg": "gave up"}}}))
        (run / "job_events" / "3-c.json").write_text("{not json")
    found = last_failed_run(ws, target="t", app="demo")
    assert found is not None and found.name == "20261202T000000000000-config_set-t-demo"
    ev = run_events(found)
    assert ev["events"] == [{"task": "Health: http"}, {"event": "runner_on_failed", "task": "Health: http", "host": "t",
                                                       "msg": "gave up", "stderr": ""}]
    assert "fatal: gave up" in ev["stdout_tail"]
    assert last_failed_run(ws, target="t", app="nothing") is None


def test_an_install_again_keeps_the_values_the_target_runs_with() -> None:
    """install's base values come from the target's record (validated): config set's survive."""
    from spbe_share.ops.install import current_values
    from spbe_share.ops.noop import NoopAnswer

    record = {
        "format": 1, "app": "pengaduan", "version": "1.0.0", "target": "kab-uji", "pemda": "Kab Uji",
        "kode_wilayah": "51.08", "bundle_digest": "sha256:" + "ab" * 32, "signer": "k",
        "values": {"unit_pengelola": "Bidang Uji"}, "images": {}, "containers": [], "urls": [], "health": [],
        "who": "op", "when": "2026-12-07T00:00:00Z", "result": "ok", "message": None, "previous": None,
    }  # fmt: skip
    assert current_values(NoopAnswer(same=False, current=record), app="pengaduan", target="kab-uji") == {
        "unit_pengelola": "Bidang Uji"}  # fmt: skip
    # untrusted: a record of another app, or one that does not validate, is not used
    assert current_values(NoopAnswer(same=False, current=record), app="e-office", target="kab-uji") is None
    assert current_values(NoopAnswer(same=False, current={**record, "values": "x"}), app="pengaduan",
                          target="kab-uji") is None  # fmt: skip
    assert current_values(NoopAnswer(same=False, current=None), app="pengaduan", target="kab-uji") is None


def test_set_args_give_an_install_again_the_same_settings() -> None:
    """What restore tells the operator to install first (an app behind --domain on a new host):
    the release's settings that are not the defaults (a required one has none), as shell words
    that ``install --set`` turns back into the same values; a value from outside stays one line."""
    import shlex

    from spbe_share.plans.values import set_args
    from spbe_share.yamlio import load_model

    ppdb = load_model(Entry, REPO / "catalog" / "ppdb" / "spbe-app.yaml")
    values = resolve_values(ppdb, sets=["pemda_name=Pemerintah Kota Sorong", "web_workers=2"]).as_dict()
    args = set_args(ppdb, values)
    assert " ".join(args) == "--set 'pemda_name=Pemerintah Kota Sorong' --set web_workers=2"
    assert resolve_values(ppdb, sets=shlex.split(" ".join(args))[1::2]).as_dict() == values
    odd = set_args(ppdb, {"pemda_name": "Kota $(reboot); `x`\n\x1b[2Jlagi", "domain": ""})
    assert len(odd) == 2 and "\n" not in odd[1] and "\x1b" not in odd[1]
    assert shlex.split(odd[1]) == ["pemda_name=Kota $(reboot); `x`lagi"]
