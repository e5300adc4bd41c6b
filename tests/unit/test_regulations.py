"""Regulations as data: index, citations, matching, what an install misses (pure)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from catalog_fixtures import entry_data

from spbe_share.catalog.loader import load_entry
from spbe_share.catalog.models import Entry
from spbe_share.errors import InvalidInput, NotFound
from spbe_share.fleet.regulations import (
    Citation,
    find,
    find_one,
    missing_for,
    parse_citation,
    regulation_index,
    releases_behind,
)

REPO = Path(__file__).resolve().parents[2]
P83 = "https://peraturan.bpk.go.id/Details/247841/Permendagri%20No.%2083%20Tahun%202022"
UU43 = "https://peraturan.bpk.go.id/Details/38788/uu-no-43-tahun-2009"


def real(app: str) -> Entry:
    return load_entry(REPO / "catalog" / app / "spbe-app.yaml").entry


def release(version: str, *regs: tuple[str, str], upgrades_from: str | None = None) -> dict:
    return {"version": version, "date": dt.date(2026, 1, 1).isoformat(), "changelog": ["x"],
            "regulations": [{"name": n, "uri": u} for n, u in regs], "upgrades_from": upgrades_from}  # fmt: skip


def synthetic() -> Entry:
    data = entry_data(
        "arsip",
        releases=[
            release("1.0.0"),
            release("1.2.0", ("Permendagri Nomor 83 Tahun 2022", P83)),
            release("1.10.0", ("Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022 (lampiran)", P83),
                    ("Perpres Nomor 95 Tahun 2018 tentang SPBE", "https://peraturan.go.id/perpres-95-2018")),
        ],
    )  # fmt: skip
    return Entry.model_validate(data)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Permendagri 83/2022", Citation("permendagri", "83", "2022")),
        ("Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022 tentang Kode Klasifikasi Arsip",
         Citation("permendagri", "83", "2022")),
        ("UU No. 43 Tahun 2009", Citation("uu", "43", "2009")),
        ("Undang-Undang Nomor 43 Tahun 2009 tentang Kearsipan (Pasal 40 ayat 4)", Citation("uu", "43", "2009")),
        ("Perpres 95/2018", Citation("perpres", "95", "2018")),
        ("Peraturan Presiden Nomor 76 Tahun 2013", Citation("perpres", "76", "2013")),
        ("Permenpan RB Nomor 6 Tahun 2025", Citation("permenpanrb", "6", "2025")),
        ("83/2022", Citation(None, "83", "2022")),
        ("PP 071/2019", Citation("pp", "71", "2019")),
        ("Kode Klasifikasi Arsip", None),
    ],
)  # fmt: skip
def test_parse_citation(text: str, want: Citation | None) -> None:
    assert parse_citation(text) == want


def test_index_of_the_real_catalog() -> None:
    index = regulation_index([real("e-office"), real("pengaduan")])
    by_uri = {r.uri: r for r in index}
    p83 = by_uri[P83]
    assert p83.apps == ["e-office"] and p83.first_release("e-office") == "1.1.0"
    uu = by_uri[UU43]
    assert len(uu.names) == 2  # "... (Pasal 40 ayat 4)" is the same regulation
    assert uu.name == "Undang-Undang Nomor 43 Tahun 2009 tentang Kearsipan"
    assert uu.first_release("e-office") == "1.0.0"
    assert uu.first_release("pengaduan") is None
    assert [r.name for r in index] == sorted((r.name for r in index), key=str.lower)


def test_find_by_citation_text_and_uri() -> None:
    index = regulation_index([real("e-office"), real("pengaduan")])
    assert [r.uri for r in find(index, "Permendagri 83/2022")] == [P83]
    assert [r.uri for r in find(index, "UU 43/2009")] == [UU43]
    assert [r.uri for r in find(index, UU43)] == [UU43]
    assert [r.uri for r in find(index, "pengaduan pelayanan publik")] == ["https://peraturan.go.id/id/perpres-no-76-tahun-2013"]
    assert find(index, "Permendagri 84/2022") == []
    assert find_one(index, "Klasifikasi Arsip").uri == P83
    with pytest.raises(NotFound):
        find_one(index, "Perpres 1/1999")
    with pytest.raises(InvalidInput, match="matches 3 regulations") as exc:
        find_one(index, "peraturan")
    assert len(exc.value.details) == 3
    with pytest.raises(InvalidInput):
        find(index, "  ")


def test_first_release_is_by_semver_not_text() -> None:
    index = regulation_index([synthetic()])
    p83 = next(r for r in index if r.uri == P83)
    assert p83.first_release("arsip") == "1.2.0"  # not "1.10.0" < "1.2.0" as text
    assert p83.as_dict()["apps"] == [{"app": "arsip", "first_release": "1.2.0", "releases": ["1.2.0", "1.10.0"]}]


def test_missing_and_behind() -> None:
    e = synthetic()
    assert releases_behind(e, "1.0.0") == 2 and releases_behind(e, "1.10.0") == 0
    assert missing_for(e, "1.0.0") == [("Permendagri Nomor 83 Tahun 2022", P83),
                                       ("Perpres Nomor 95 Tahun 2018 tentang SPBE", "https://peraturan.go.id/perpres-95-2018")]  # fmt: skip
    assert missing_for(e, "1.2.0") == [("Perpres Nomor 95 Tahun 2018 tentang SPBE", "https://peraturan.go.id/perpres-95-2018")]
    assert missing_for(e, "1.10.0") == []
    eoffice = real("e-office")
    assert [u for _, u in missing_for(eoffice, "1.0.0")] == [P83]  # UU 43/2009 is already in 1.0.0


PERMENDIKDASMEN_3_2025 = "https://peraturan.bpk.go.id/Details/315671/permendikdasmen-no-3-tahun-2025"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Permendikdasmen 3/2025", Citation("permendikdasmen", "3", "2025")),
        ("Peraturan Menteri Pendidikan Dasar dan Menengah Nomor 3 Tahun 2025 tentang Sistem Penerimaan Murid Baru",
         Citation("permendikdasmen", "3", "2025")),
        ("Permendikbud No. 1 Tahun 2021", Citation("permendikbud", "1", "2021")),
        ("Peraturan Menteri Pendidikan dan Kebudayaan Nomor 1 Tahun 2021 tentang Penerimaan Peserta Didik Baru",
         Citation("permendikbud", "1", "2021")),
        ("Peraturan Menteri Pendidikan, Kebudayaan, Riset, dan Teknologi Nomor 47 Tahun 2023",
         Citation("permendikbudristek", "47", "2023")),
        ("Permendikbud Ristek 47/2023", Citation("permendikbudristek", "47", "2023")),
    ],
)  # fmt: skip
def test_parse_education_ministry_citations(text: str, want: Citation) -> None:
    assert parse_citation(text) == want


def test_permendikdasmen_names_only_its_regulation() -> None:
    """'Permendikdasmen 3/2025' is the SPMB regulation of ppdb 2.0.0, not any other number 3 of
    2025 (a Perpres 3/2025 of another app), and ppdb 1.0.0 misses it."""
    other = Entry.model_validate(entry_data("lain", releases=[
        release("1.0.0"), release("1.1.0", ("Peraturan Presiden Nomor 3 Tahun 2025 tentang Contoh", "https://peraturan.go.id/perpres-3-2025")),
    ]))  # fmt: skip
    index = regulation_index([real("ppdb"), other])
    assert [r.uri for r in find(index, "Permendikdasmen 3/2025")] == [PERMENDIKDASMEN_3_2025]
    reg = find_one(index, "Permendikdasmen 3/2025")
    assert reg.apps == ["ppdb"] and reg.first_release("ppdb") == "2.0.0"
    assert [r.apps for r in find(index, "Permendikbud 1/2021")] == [["ppdb"]]
    assert [u for _, u in missing_for(real("ppdb"), "1.0.0")] == [PERMENDIKDASMEN_3_2025]
    assert missing_for(real("ppdb"), "2.0.0") == []
