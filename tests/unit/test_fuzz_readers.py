"""Property-based fuzzing of every YAML reader: 0 tracebacks, every error a one-line message naming the file.

Readers: catalog entry, inventory, agreement, values file, sources file, trusted-key record; and the
JSON that comes from targets or is kept of them (the end of the file): backup manifest, fleet answer,
sealed-secrets file, fleet state file. Inputs are
(a) valid documents mutated at random places with YAML's sharp edges (aliases, anchors, tags,
merge keys, flow brackets, documents, control characters, huge numbers, bad dates) and
(b) valid documents with a random part replaced by random data (so the models' validators see
wrong types in every field). Deterministic (``derandomize``) and bounded, so CI time stays small.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from catalog_fixtures import entry_data, write_entry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spbe_share.agreements import _to_yaml_data, build_agreement, load_agreements
from spbe_share.catalog.loader import check_entry
from spbe_share.catalog.models import Entry
from spbe_share.catalog.sources import read_sources, source_roots
from spbe_share.errors import InvalidInput, SpbeError
from spbe_share.plans.values import read_values_file, resolve_values
from spbe_share.targets.inventory import Target, inventory_document, list_targets
from spbe_share.workspace import Workspace

SETTINGS = settings(
    max_examples=80,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FRAGMENTS = [
    "&a ", "*a", "&a [*a]", "!!binary ", "!!bool ", "!!int ", "!!float ", "!!timestamp ", "!!set ",
    "!!omap ", "!!python/object:os.system ", "!!str ", "!<tag:x> ", "<<: ", "<<: *a", "? ", "- ", ": ",
    "{", "}", "[", "]", ",", "'", '"', "|", ">", "#", "%YAML 1.1\n", "%TAG ! tag:x\n", "---\n", "...\n",
    "\n", "  ", "\t", "\x00", "\x07", "\ufeff", "\u2028", "2026-13-45", "2026-02-30T25:00:00", "1e999",
    "-0x1F", "0o777", "~", "null", "yes", "no", ".nan", ".inf", "9" * 5000, "x" * 300, "[" * 50, "{a: " * 40,
    "é", "\U0001f600", "\\", "\\x", "@", "`", "%",
]


def _mutate(text: str, ops: list[tuple[float, int, str]]) -> str:
    for where, kind, fragment in ops:
        i = int(where * len(text))
        if kind == 0:  # insert
            text = text[:i] + fragment + text[i:]
        elif kind == 1:  # replace a few characters
            text = text[:i] + fragment + text[i + len(fragment) % 7 + 1 :]
        elif kind == 2:  # delete a line
            lines = text.splitlines(keepends=True)
            if lines:
                del lines[int(where * len(lines)) % len(lines)]
            text = "".join(lines)
        else:  # duplicate a line
            lines = text.splitlines(keepends=True)
            if lines:
                j = int(where * len(lines)) % len(lines)
                lines.insert(j, lines[j])
            text = "".join(lines)
    return text


mutations = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1, allow_nan=False),
        st.integers(min_value=0, max_value=3),
        st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)),
    ),
    min_size=1,
    max_size=6,
)

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.text(max_size=20), st.dates(min_value=dt.date(1900, 1, 1)),
    st.sampled_from(["91", "96.71", "install", "1.0.0", "ssh", "local", "e-office", "127.0.0.1", "", " "]),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(["name", "id", "version", "x"])), inner, max_size=4),
    ),
    max_leaves=20,
)


def _replace_somewhere(data: Any, rng: random.Random, new: Any) -> Any:
    """``data`` with one randomly chosen value (at any depth) replaced by ``new``."""
    if isinstance(data, dict) and data and rng.random() < 0.8:
        key = rng.choice(list(data))
        return {**data, key: _replace_somewhere(data[key], rng, new)}
    if isinstance(data, list) and data and rng.random() < 0.8:
        i = rng.randrange(len(data))
        return [*data[:i], _replace_somewhere(data[i], rng, new), *data[i + 1 :]]
    return new


def documents(valid: dict[str, Any]) -> st.SearchStrategy[str]:
    text = yaml.safe_dump(valid, sort_keys=False, allow_unicode=True)
    mutated = mutations.map(lambda ops: _mutate(text, ops))
    replaced = st.tuples(st.integers(0, 2**32), trees).map(
        lambda seed_new: yaml.safe_dump(
            _replace_somewhere(valid, random.Random(seed_new[0]), seed_new[1]), sort_keys=False, allow_unicode=True
        )
    )
    return st.one_of(mutated, replaced, st.text(max_size=200))


def assert_names_file(exc: SpbeError, path: Path) -> None:
    assert isinstance(exc, InvalidInput), f"{type(exc).__name__} is not exit 2: {exc.message}"
    lines = [exc.message, *exc.details]
    for line in lines:
        assert "\n" not in line and "\r" not in line, repr(line)
    if exc.details:
        assert all(line.startswith(f"{path}:") for line in exc.details), lines
    else:
        assert exc.message.startswith(f"{path}:"), exc.message


def read_or_refuse(path: Path, reader: Callable[[], object]) -> None:
    try:
        reader()
    except SpbeError as exc:
        assert_names_file(exc, path)


# ---------------------------------------------------------------- the readers


ENTRY = entry_data("fuzz-app", settings=[{"name": "pemda_name", "description": "Nama Pemda", "required": True}])


@pytest.fixture(scope="module")
def entry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_entry(tmp_path_factory.mktemp("fuzz") / "repo", "fuzz-app", **ENTRY)


@SETTINGS
@given(text=documents(ENTRY))
def test_entry_reader(entry_file: Path, text: str) -> None:
    entry_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    loaded, problems = check_entry(entry_file)
    assert (loaded is None) == bool(problems)
    for line in problems:
        assert line.startswith(f"{entry_file}:") and "\n" not in line, line


def _ws(tmp: str) -> Workspace:
    return Workspace(home=Path(tmp) / "home", root=Path(tmp) / "repo")


INVENTORY = inventory_document(
    Workspace(home=Path("/ws"), root=Path("/repo")),
    [
        Target(name="kota-sorong", host="10.20.0.5", user="spbe", key=Path("/k"), pemda="Kota Sorong",
               kode_wilayah="96.71", bind_address="10.20.0.5"),
    ],
)  # fmt: skip


@SETTINGS
@given(documents(INVENTORY))
def test_inventory_reader(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = _ws(tmp)
        ws.home.mkdir()
        ws.inventory_file.write_text(text, encoding="utf-8", errors="surrogatepass")
        read_or_refuse(ws.inventory_file, lambda: list_targets(ws))


AGREEMENT = _to_yaml_data(
    build_agreement(
        number="NK/001/2026", apps=["e-office"], donor="Provinsi Papua", donor_kode="91", adopter="Kota Sorong",
        adopter_kode="96.71", scope=["install"], signed="2026-01-15", valid_until="2028-01-15",
    )
)  # fmt: skip


@SETTINGS
@given(documents(AGREEMENT))
def test_agreement_reader(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = _ws(tmp)
        ws.agreements_dir.mkdir(parents=True)
        path = ws.agreements_dir / "NK_001_2026.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_agreements(ws)
        except SpbeError as exc:
            assert isinstance(exc, InvalidInput)
            assert all(line.startswith(f"{path}:") and "\n" not in line for line in exc.details), exc.details
            assert exc.details or str(ws.agreements_dir) in exc.message


VALUES = {"pemda_name": "Pemerintah Kota Sorong", "logo_url": "https://contoh.go.id/logo.png"}


@SETTINGS
@given(documents(VALUES))
def test_values_reader(text: str) -> None:
    entry = Entry.model_validate(ENTRY)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "values.yml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        read_or_refuse(path, lambda: read_values_file(path))
        try:
            resolve_values(entry, values_file=path)
        except SpbeError as exc:
            assert isinstance(exc, InvalidInput)
            for line in [exc.message, *exc.details]:
                assert "\n" not in line
            assert all(line.startswith((f"{path}:", "setting ")) for line in exc.details)


SOURCES = {
    "version": 1,
    "sources": [{"name": "papua", "url": "/srv/katalog", "branch": "main", "commit": "a" * 40,
                 "fetched": "2026-01-15T10:00:00Z"}],
}  # fmt: skip


@SETTINGS
@given(documents(SOURCES))
def test_sources_reader(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = _ws(tmp)
        ws.home.mkdir()
        ws.sources_file.write_text(text, encoding="utf-8", errors="surrogatepass")
        read_or_refuse(ws.sources_file, lambda: read_sources(ws))
        read_or_refuse(ws.sources_file, lambda: source_roots(ws))


TRUST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl spbe-share:papua"
TRUST_RECORD = {
    "format": 1, "key": TRUST_KEY, "name": "papua", "donor_kode_wilayah": "91", "donor": "Provinsi Papua",
    "apps": ["e-office"], "own": False, "trusted_at": "2026-01-15T10:00:00Z", "trusted_by": "budi@laptop",
}  # fmt: skip


@SETTINGS
@given(documents(TRUST_RECORD))
def test_trusted_key_reader(text: str) -> None:
    from spbe_share.bundle.keyformat import key_id_of, parse_public_key
    from spbe_share.bundle.trust import trust_records

    kid = key_id_of(parse_public_key(TRUST_KEY, source="k")[0])
    with tempfile.TemporaryDirectory() as tmp:
        ws = _ws(tmp)
        path = ws.keys_dir / "trusted" / f"{kid}.yml"
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        read_or_refuse(path, lambda: trust_records(ws))


# ---------------------------------------------------------------- JSON from targets (issue 17)
# The backup manifest a target sends before a fetch, the fleet read's answer, the sealed-secrets
# file and its record, the fleet state file: whatever the bytes, the documented error in one
# line (or a valid value), never a traceback; a fetch's every destination inside its folder.

JSON_FRAGMENTS = [
    "[" * 3000, "{\"a\":" * 3000, '"', '\\"' * 500, '\\"' * 20_000, "\\", "\\u2028", "\u2028", "\x00", "\x1b]52;c;eA==\x07",
    "../", "/", "..", "/etc/passwd", "NaN", "Infinity", "1e999", "9" * 5000, "null", "[]", "{}", ",", ":", "\ufeff",
]


def json_documents(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bytes near ``valid``: a value anywhere replaced, the text mutated, random bytes, deep nesting."""
    text = json.dumps(valid)
    replaced = st.tuples(st.integers(0, 2**32), trees).map(
        lambda seed_new: json.dumps(_replace_somewhere(valid, random.Random(seed_new[0]), seed_new[1]),
                                    default=str).encode())  # fmt: skip
    mutated = st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.integers(0, 1),
                                 st.one_of(st.sampled_from(JSON_FRAGMENTS), st.text(max_size=12))),
                       min_size=1, max_size=5).map(lambda ops: _mutate(text, ops).encode("utf-8", "surrogatepass"))
    deep = st.tuples(st.integers(1, 300_000), st.sampled_from(["[", '{"a":', '[{"b":'])).map(
        lambda d: (text[:-1] + ', "x": ' + d[1] * d[0]).encode())
    return st.one_of(replaced, mutated, st.binary(max_size=300), deep)


def one_line(exc: SpbeError, kind: type[SpbeError], start: str) -> None:
    assert isinstance(exc, kind), f"{type(exc).__name__}: {exc.message}"
    assert exc.message.startswith(start) and "\n" not in exc.message and "\x1b" not in exc.message, exc.message


BACKUP_DATA = b"SQLite format 3\x00"
BACKUP_MANIFEST = {
    "kind": "spbe-share-backup", "format": 1, "id": "20261122T101500Z-manual-3fa2", "app": "pengaduan",
    "target": "kota-sorong", "release": {"version": "1.0.0", "bundle_digest": "sha256:" + "b" * 64},
    "created": "2026-11-22T10:15:00Z", "finished": "2026-11-22T10:15:04Z", "who": "budi", "why": "manual",
    "items": [{"type": "sqlite", "component": "web", "container": "spbe-kota-sorong-pengaduan-web",
               "path": "/data/pengaduan.db", "volume": "data", "mount": "/data", "uid": 0, "gid": 0, "mode": 420,
               "file": "db-0-web.sqlite3", "size": 16, "sha256": "0" * 64}],
    "secrets": None,
}  # fmt: skip


@SETTINGS
@given(json_documents(BACKUP_MANIFEST))
def test_backup_manifest_before_a_fetch(raw: bytes) -> None:
    from spbe_share.errors import RemoteFailed, VerificationFailed
    from spbe_share.records.fetch import check_copy, plan_fetch

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "t" / "pengaduan"
        base.mkdir(parents=True)
        try:
            plan = plan_fetch(raw, base=base, remote_dir="/srv/backups", manifest_sha256="a" * 64,
                              where="kota-sorong: backup manifest")  # fmt: skip
        except SpbeError as exc:
            one_line(exc, RemoteFailed, "kota-sorong: backup manifest")
            assert list(base.iterdir()) == []
        else:
            assert all(f.dest.parent == plan.partial and "/" not in f.name for f in plan.files)
            assert plan.partial.parent == base and sorted(p.name for p in Path(tmp).rglob("*")) == sorted(
                ["t", "pengaduan", plan.partial.name])
        copy = Path(tmp) / "copy"  # the same bytes as a local copy given to restore --from
        copy.mkdir()
        (copy / "manifest.json").write_bytes(raw)
        (copy / "db-0-web.sqlite3").write_bytes(BACKUP_DATA)
        try:
            check_copy(copy)
        except SpbeError as exc:
            one_line(exc, VerificationFailed, str(copy))


FLEET_ANSWER = {
    "records": [{"format": 1, "app": "pengaduan", "version": "1.0.0", "target": "sorong", "pemda": "Kota Sorong",
                 "kode_wilayah": "96.71", "bundle_digest": "sha256:" + "ab" * 32, "signer": "k", "values": {}, "images": {},
                 "containers": ["spbe-sorong-pengaduan-web"], "urls": [], "health": [], "who": "op",
                 "when": "2026-11-02T10:00:00Z", "result": "ok", "message": None, "previous": None}],
    "last": [], "containers": [["spbe-sorong-pengaduan-web", {"Running": True}]], "http": [],
}  # fmt: skip


@SETTINGS
@given(json_documents(FLEET_ANSWER))
def test_fleet_answer(raw: bytes) -> None:
    import time

    from spbe_share.fleet.direct import RawAnswer, answer_read

    target = Target(name="sorong", host="10.0.0.1", user="root", key=Path("/k"), pemda="Kota Sorong",
                    kode_wilayah="96.71", bind_address="10.0.0.1", root="/srv/spbe")  # fmt: skip
    t0 = time.monotonic()
    read = answer_read(target, RawAnswer(rc=0, stdout=raw), timeout=30)
    assert time.monotonic() - t0 < 5
    assert read.reachable
    if read.error is not None:
        assert read.error.startswith("invalid status from the target:") and "\n" not in read.error
    for problem in read.problems:
        assert "\n" not in problem


_SEAL_KEY: list[Any] = []


def _seal_key() -> Any:
    if not _SEAL_KEY:
        from pyrage import x25519

        _SEAL_KEY.append(x25519.Identity.generate())
    return _SEAL_KEY[0]


ENVELOPE = {"app": "pengaduan", "target": "kota-sorong", "sealed_at": "2026-11-22T10:15:00Z",
            "secrets": {"SECRET_KEY": "s" * 32, "STAFF_PASSWORD": "p" * 20}}  # fmt: skip


@SETTINGS
@given(json_documents(ENVELOPE), st.booleans())
def test_sealed_secrets_file(raw: bytes, sealed: bool) -> None:
    import pyrage

    from spbe_share.errors import VerificationFailed
    from spbe_share.sealing import parse_meta, unseal

    key = _seal_key()
    data = pyrage.encrypt(raw, [key.to_public()]) if sealed else raw  # anyone can seal to the operator's key
    try:
        unseal(data, keys=[key], where="backup x: secrets.age")
    except SpbeError as exc:
        one_line(exc, VerificationFailed, "backup x: secrets.age")
    try:
        parse_meta(json.loads(raw), where="backup x: sealed-secrets.json")
    except (ValueError, RecursionError):
        pass  # not JSON: the record arrives parsed (a manifest's field), only its model is fuzzed here
    except SpbeError as exc:
        one_line(exc, VerificationFailed, "backup x: sealed-secrets.json")


def _state() -> dict[str, Any]:
    from spbe_share.fleet.rollout import ItemState, new_state

    state = new_state([ItemState(target=n, app="pengaduan", to_version="1.1.0") for n in ("t00", "t01")], key="k",
                      canary="t00", batch_size=2, max_failures=0)  # fmt: skip
    return json.loads(state.model_dump_json())


@SETTINGS
@given(json_documents(_state()))
def test_fleet_state_file(raw: bytes) -> None:
    from spbe_share.fleet.rollout import load_state

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upgrade-k.state.json"
        path.write_bytes(raw)
        read_or_refuse(path, lambda: load_state(path))
