"""Property-based fuzzing of every YAML reader: 0 tracebacks, every error a one-line message naming the file.

Readers: catalog entry, inventory, agreement, values file, sources file, trusted-key record. Inputs are
(a) valid documents mutated at random places with YAML's sharp edges (aliases, anchors, tags,
merge keys, flow brackets, documents, control characters, huge numbers, bad dates) and
(b) valid documents with a random part replaced by random data (so the models' validators see
wrong types in every field). Deterministic (``derandomize``) and bounded, so CI time stays small.
"""

from __future__ import annotations

import datetime as dt
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
from spbe_share.deploy.values import read_values_file, resolve_values
from spbe_share.errors import InvalidInput, SpbeError
from spbe_share.targets import Target, inventory_document, list_targets
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
    from spbe_share.bundle.keys import key_id_of, parse_public_key
    from spbe_share.bundle.trust import trust_records

    kid = key_id_of(parse_public_key(TRUST_KEY, source="k")[0])
    with tempfile.TemporaryDirectory() as tmp:
        ws = _ws(tmp)
        path = ws.keys_dir / "trusted" / f"{kid}.yml"
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        read_or_refuse(path, lambda: trust_records(ws))
