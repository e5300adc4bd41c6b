"""The search index: text and filters, incremental refresh, duplicates, invalid entries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from catalog_fixtures import entry_data, write_entry

from spbe_share.catalog.index import CatalogIndex, open_index, search_catalog, split_words
from spbe_share.catalog.roots import BUILTIN, CatalogRoot
from spbe_share.workspace import Workspace

REG_ARSIP = {"name": "Undang-Undang Nomor 43 Tahun 2009 tentang Kearsipan", "uri": "https://peraturan.go.id/id/uu-no-43-tahun-2009"}
REG_LAYANAN = {"name": "Permenpan RB Nomor 62 Tahun 2018", "uri": "https://peraturan.go.id/id/permenpan-no-62-tahun-2018"}


def _release(version: str, *regs: dict[str, str]) -> dict[str, object]:
    return {"version": version, "date": "2026-05-01", "regulations": list(regs)}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(home=tmp_path / "home", root=tmp_path / "repo")
    write_entry(
        ws.root, "surat-masuk", name="Surat Masuk",
        summary={"id": "Pencatatan surat masuk dan disposisi", "en": "Incoming mail and dispositions"},
        classification={"jenis": "umum", "layanan": "administrasi_pemerintahan", "domain": "Kearsipan dan Persuratan"},
        releases=[_release("1.0.0"), _release("1.2.0", REG_ARSIP)],
        keywords=["persuratan", "tnde"],
    )
    write_entry(
        ws.root, "lapor-warga", name="Lapor Warga",
        summary={"id": "Pengaduan masyarakat", "en": "Citizen complaints"},
        donor={**entry_data()["donor"], "pemda": "Kabupaten Jayapura", "kode_wilayah": "94.03"},
        classification={"jenis": "khusus", "layanan": "publik", "domain": "Pelayanan Publik"},
        releases=[_release("2.0.0", REG_LAYANAN)],
        keywords=["aduan"],
    )
    write_entry(
        ws.root, "arsip-statis", name="Arsip Statis",
        summary={"id": "Pengelolaan arsip statis", "en": "Archives management"},
        classification={"jenis": "khusus", "layanan": "administrasi_pemerintahan", "domain": "Kearsipan"},
        releases=[_release("0.9.0", REG_ARSIP)],
    )
    return ws


def ids(result: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in result]


def test_split_words_quotes_every_word() -> None:
    assert split_words("surat  masuk") == ('"surat" "masuk"', [])
    assert split_words('a"bcd OR c*') == ('"bcd"', ["a", "OR", "c"])
    assert split_words(" -- ") == (None, [])


def test_search_text_and_filters(ws: Workspace) -> None:
    s = search_catalog
    assert ids(s(ws, "").rows) == ["arsip-statis", "lapor-warga", "surat-masuk"]
    assert ids(s(ws, "surat").rows) == ["surat-masuk"]            # name
    assert ids(s(ws, "disposisi").rows) == ["surat-masuk"]        # summary (id)
    assert ids(s(ws, "complaints").rows) == ["lapor-warga"]       # summary (en)
    assert ids(s(ws, "tnde").rows) == ["surat-masuk"]             # keyword
    assert ids(s(ws, "jayapura").rows) == ["lapor-warga"]         # donor
    assert ids(s(ws, "arsip").rows) == ["arsip-statis", "surat-masuk"]  # name ranks first
    assert set(ids(s(ws, "kearsipan").rows)) == {"surat-masuk", "arsip-statis"}  # domain/regulation
    assert ids(s(ws, "Persur").rows) == ["surat-masuk"]           # part of a word, any case
    assert ids(s(ws, "layan").rows) == ["lapor-warga"]            # inside "Pelayanan"
    assert ids(s(ws, "RB 62").rows) == ["lapor-warga"]            # short words: regulation name
    assert ids(s(ws, "surat aduan").rows) == []                   # every word must match
    assert ids(s(ws, "", jenis="khusus").rows) == ["arsip-statis", "lapor-warga"]
    assert ids(s(ws, "", domain="kearsipan").rows) == ["arsip-statis", "surat-masuk"]
    assert ids(s(ws, "", donor="94.03").rows) == ["lapor-warga"]
    assert ids(s(ws, "", regulation="43 Tahun 2009").rows) == ["arsip-statis", "surat-masuk"]
    assert ids(s(ws, "", regulation="43 Tahun 2009", jenis="umum").rows) == ["surat-masuk"]
    assert ids(s(ws, "arsip", domain="persuratan", jenis="umum").rows) == ["surat-masuk"]
    assert ids(s(ws, "arsip", jenis="khusus").rows) == ["arsip-statis"]
    assert ids(s(ws, "", domain="100%").rows) == []               # LIKE wildcards are literal
    assert ids(s(ws, "", limit=2).rows) == ["arsip-statis", "lapor-warga"]


def test_rows_carry_the_summary(ws: Workspace) -> None:
    [row] = search_catalog(ws, "surat").rows
    assert row["version"] == "1.2.0"  # the latest release
    assert row["source"] == BUILTIN
    assert row["regulations"] == [REG_ARSIP["name"]]
    assert row["summary"]["en"] == "Incoming mail and dispositions"
    assert row["path"] == str(ws.catalog_dir / "surat-masuk" / "spbe-app.yaml")


def test_index_is_cached_and_refreshed_incrementally(ws: Workspace) -> None:
    first = search_catalog(ws, "")
    assert first.refresh.parsed == 3
    again = search_catalog(ws, "")
    assert (again.refresh.parsed, again.refresh.removed) == (0, 0)  # nothing re-read
    # an edited entry is re-read (mtime/size changed), alone
    path = ws.catalog_dir / "lapor-warga" / "spbe-app.yaml"
    path.write_text(path.read_text().replace("Lapor Warga", "Lapor Warga Cepat"))
    os.utime(path, ns=(1, 1))
    edited = search_catalog(ws, "cepat")
    assert edited.refresh.parsed == 1 and ids(edited.rows) == ["lapor-warga"]
    # a new entry appears, a deleted one disappears
    write_entry(ws.root, "baru")
    (ws.catalog_dir / "arsip-statis" / "spbe-app.yaml").unlink()
    changed = search_catalog(ws, "")
    assert (changed.refresh.parsed, changed.refresh.removed) == (1, 1)
    assert ids(changed.rows) == ["baru", "lapor-warga", "surat-masuk"]


def test_invalid_entries_are_counted_not_listed(ws: Workspace) -> None:
    write_entry(ws.root, "rusak", files=False)
    result = search_catalog(ws, "")
    assert result.invalid == 1
    assert "rusak" not in ids(result.rows)
    index, _ = open_index(ws)
    assert len(index.problems()) == 9 and index.problems()[0].startswith(str(ws.catalog_dir / "rusak"))
    index.close()


def test_git_source_is_trusted_by_commit(tmp_path: Path, ws: Workspace) -> None:
    write_entry(tmp_path / "donor", "surat-masuk")
    write_entry(tmp_path / "donor", "sipd")
    roots = [CatalogRoot(BUILTIN, ws.root), CatalogRoot("donor", tmp_path / "donor", "c1")]
    index = CatalogIndex(tmp_path / "idx.sqlite3")
    assert index.refresh(roots).parsed == 5
    assert index.duplicates() == {"surat-masuk": ["builtin", "donor"]}
    assert [r["source"] for r in index.search("surat masuk")] == ["builtin", "donor"]
    # same commit: the source's files are not even looked at
    (tmp_path / "donor" / "catalog" / "sipd" / "spbe-app.yaml").unlink()
    stats = index.refresh(roots)
    assert (stats.scanned_roots, stats.parsed, stats.removed) == (1, 0, 0)  # only builtin scanned
    # new commit: compared again
    roots[1] = CatalogRoot("donor", tmp_path / "donor", "c2")
    assert index.refresh(roots).removed == 1
    # a source that is gone takes its entries with it
    assert index.refresh(roots[:1]).removed == 1
    assert index.duplicates() == {}
    index.close()


def test_corrupt_or_old_index_is_rebuilt(ws: Workspace) -> None:
    ws.cache_dir.mkdir(parents=True)
    (ws.cache_dir / "catalog-index.sqlite3").write_bytes(b"not a database at all" * 100)
    assert len(search_catalog(ws, "").rows) == 3


def test_parallel_analysis_gives_the_same_index(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import spbe_share.catalog.index as index_mod

    write_entry(ws.root, "rusak", files=False)
    roots = [CatalogRoot(BUILTIN, ws.root)]
    serial = CatalogIndex(tmp_path / "serial.sqlite3")
    serial.refresh(roots)
    monkeypatch.setattr(index_mod, "PARALLEL_FROM", 2)  # the threshold only: same code, in workers
    parallel = CatalogIndex(tmp_path / "parallel.sqlite3")
    assert parallel.refresh(roots).parsed == 4
    assert parallel.search("") == serial.search("") and len(serial.search("")) == 3
    assert parallel.search("arsip") == serial.search("arsip")
    assert parallel.problems() == serial.problems() and len(serial.problems()) == 9
    serial.close()
    parallel.close()


def test_very_common_words_rank_name_and_keyword_matches_first(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spbe_share.catalog.index as index_mod

    index = CatalogIndex(tmp_path / "idx.sqlite3")
    index.refresh([CatalogRoot(BUILTIN, ws.root)])
    ranked = ids(index.search("arsip"))
    monkeypatch.setattr(index_mod, "RANK_ALL", 1)  # "arsip" matches 2 entries: now "very common"
    assert ids(index.search("arsip")) == ranked == ["arsip-statis", "surat-masuk"]
    assert ids(index.search("aplikasi")) == ["arsip-statis", "lapor-warga", "surat-masuk"]  # description only: by id
    assert ids(index.search("kearsipan")) == ["arsip-statis", "surat-masuk"]  # none by name: by id
    assert ids(index.search("kearsipan", limit=1)) == ["arsip-statis"]
    assert ids(index.search("tnde kearsipan")) == ["surat-masuk"]
    assert ids(index.search("arsip", jenis="umum")) == ["surat-masuk"]
    index.close()
