"""The regulation this release implements: routes (jalur), their quotas per school level
(jenjang) and how each route ranks its applicants. Pure data and functions, no I/O.

Release 2.0.0 follows Permendikdasmen 3/2025 on SPMB (Sistem Penerimaan Murid Baru), which
replaced Permendikbud 1/2021 on PPDB. Zonasi becomes domisili, perpindahan tugas orang
tua/wali becomes mutasi, and the prestasi route gets a minimum instead of the seats left over
(Pasal 30 ayat (2), as quoted in the sources named in the catalog entry's docs):

| jenjang | domisili | afirmasi | mutasi | prestasi |
|---|---|---|---|---|
| SD  | paling sedikit 70% | paling sedikit 15% | paling banyak 5% | tidak ada |
| SMP | paling sedikit 40% | paling sedikit 20% | paling banyak 5% | paling sedikit 25% |
| SMA | paling sedikit 30% | paling sedikit 30% | paling banyak 5% | paling sedikit 30% |

Percentages are of the school's daya tampung, in whole seats: a minimum rounds up, a
maximum rounds down. SMK is not covered.
"""

from __future__ import annotations

from dataclasses import dataclass

REGULASI_KODE = "Permendikdasmen 3/2025"
REGULASI_NAMA = "Peraturan Menteri Pendidikan Dasar dan Menengah Nomor 3 Tahun 2025 tentang Sistem Penerimaan Murid Baru"
SEBUTAN = "SPMB"
SEBUTAN_PANJANG = "Sistem Penerimaan Murid Baru"
NOMOR_AWALAN = "SPMB"  # registration numbers: SPMB-2026-000123 (those made by 1.0.0 keep PPDB-...)

JENJANG = ("SD", "SMP", "SMA")
JALUR = ("domisili", "afirmasi", "mutasi", "prestasi")
# Routes of Permendikbud 1/2021 (release 1.0.0) -> routes of this regulation: migration 0002
# moves every registration and quota along this map (and keeps the old route in jalur_asal).
PETA_JALUR_2021 = {"zonasi": "domisili", "afirmasi": "afirmasi", "perpindahan_tugas": "mutasi", "prestasi": "prestasi"}
LABEL_JALUR = {
    "domisili": "Domisili",
    "afirmasi": "Afirmasi",
    "mutasi": "Mutasi",
    "prestasi": "Prestasi",
    # routes of 1/2021, still shown on announcements published by release 1.0.0
    "zonasi": "Zonasi (Permendikbud 1/2021)",
    "perpindahan_tugas": "Perpindahan tugas orang tua/wali (Permendikbud 1/2021)",
}
# How a route ranks its applicants (seleksi.py): by distance, or by score.
PERINGKAT = {"domisili": "jarak", "afirmasi": "jarak", "mutasi": "jarak", "prestasi": "nilai"}
# Routes that need a document number at registration, and what it is.
BUKTI = {
    "afirmasi": "nomor Kartu Indonesia Pintar (KIP), PKH atau DTKS",
    "mutasi": "nomor surat penugasan orang tua/wali",
}


@dataclass(frozen=True)
class Batas:
    """A route's share of the daya tampung: at least ``min_persen``, at most ``max_persen``;
    ``sisa``: the route takes the seats the others leave (and may take none)."""

    min_persen: int | None = None
    max_persen: int | None = None
    sisa: bool = False

    def teks(self) -> str:
        if self.sisa:
            return "sisa kuota"
        if self.min_persen is not None and self.max_persen is not None:
            return f"{self.min_persen}%-{self.max_persen}%"
        if self.min_persen is not None:
            return f"paling sedikit {self.min_persen}%"
        if self.max_persen is not None:
            return f"paling banyak {self.max_persen}%"
        return "bebas"


# A route missing from a level is not open at that level.
BATAS: dict[str, dict[str, Batas]] = {
    "SD": {"domisili": Batas(min_persen=70), "afirmasi": Batas(min_persen=15), "mutasi": Batas(max_persen=5)},
    "SMP": {"domisili": Batas(min_persen=40), "afirmasi": Batas(min_persen=20), "mutasi": Batas(max_persen=5),
            "prestasi": Batas(min_persen=25)},
    "SMA": {"domisili": Batas(min_persen=30), "afirmasi": Batas(min_persen=30), "mutasi": Batas(max_persen=5),
            "prestasi": Batas(min_persen=30)},
}  # fmt: skip


def jalur_tersedia(jenjang: str) -> tuple[str, ...]:
    """The routes open at ``jenjang``, in the regulation's order."""
    if jenjang not in BATAS:
        raise ValueError(f"jenjang harus salah satu dari {', '.join(JENJANG)}, bukan {jenjang!r}")
    return tuple(j for j in JALUR if j in BATAS[jenjang])


def kursi(batas: Batas, daya_tampung: int) -> tuple[int, int]:
    """(fewest, most) seats ``batas`` allows out of ``daya_tampung``: minimums round up,
    maximums round down."""
    lo = 0 if batas.min_persen is None else -(-batas.min_persen * daya_tampung // 100)
    hi = daya_tampung if batas.max_persen is None else batas.max_persen * daya_tampung // 100
    return lo, hi


def periksa_kuota(jenjang: str, daya_tampung: int, kuota: dict[str, int]) -> list[str]:
    """Every way ``kuota`` (route -> seats) breaks the regulation for a school of
    ``jenjang`` with ``daya_tampung`` seats; empty when it complies."""
    open_ = jalur_tersedia(jenjang)
    problems = []
    if daya_tampung < 1:
        return ["daya tampung harus paling sedikit 1"]
    for j in kuota:
        if j not in open_:
            problems.append(f"jalur {j!r} tidak ada untuk {jenjang} menurut {REGULASI_KODE}")
    for j in open_:
        n = kuota.get(j)
        if n is None:
            problems.append(f"kuota jalur {LABEL_JALUR[j].lower()} belum diisi")
            continue
        if n < 0:
            problems.append(f"kuota jalur {LABEL_JALUR[j].lower()} tidak boleh negatif")
            continue
        lo, hi = kursi(BATAS[jenjang][j], daya_tampung)
        if not lo <= n <= hi:
            batas = BATAS[jenjang][j]
            need = f"paling sedikit {lo}" if n < lo else f"paling banyak {hi}"
            problems.append(
                f"kuota jalur {LABEL_JALUR[j].lower()} {n} kursi: {REGULASI_KODE} menetapkan"
                f" {batas.teks()} dari daya tampung {daya_tampung}, yaitu {need} kursi"
            )
    total = sum(kuota.get(j, 0) for j in open_)
    if total != daya_tampung:
        problems.append(f"jumlah kuota semua jalur {total} kursi, harus sama dengan daya tampung {daya_tampung}")
    return problems


def kuota_bawaan(jenjang: str, daya_tampung: int) -> dict[str, int]:
    """A quota that complies: every route at its minimum, then each route with only a maximum
    up to that maximum as far as seats remain, the rest to the route that takes the remaining
    seats (else the first route: domisili). ValueError when the minimums alone, rounded up to
    whole seats, exceed ``daya_tampung``."""
    open_ = jalur_tersedia(jenjang)
    out = {j: kursi(BATAS[jenjang][j], daya_tampung)[0] for j in open_}
    if sum(out.values()) > daya_tampung:
        raise ValueError(f"daya tampung {daya_tampung} terlalu kecil untuk kuota minimum {jenjang} ({REGULASI_KODE})")
    for j in open_:
        batas = BATAS[jenjang][j]
        if batas.max_persen is not None and batas.min_persen is None:
            out[j] = min(kursi(batas, daya_tampung)[1], daya_tampung - sum(out.values()))
    takes_rest = next((j for j in open_ if BATAS[jenjang][j].sisa), open_[0])
    out[takes_rest] += daya_tampung - sum(out.values())
    return out


def tabel_batas() -> dict[str, dict[str, str]]:
    """jenjang -> route -> its rule in words (for the API and the pages)."""
    return {jj: {j: BATAS[jj][j].teks() for j in jalur_tersedia(jj)} for jj in JENJANG}


def jalur_baru(jalur_lama: str) -> str:
    """The route of this regulation for a route of Permendikbud 1/2021."""
    try:
        return PETA_JALUR_2021[jalur_lama]
    except KeyError:
        raise ValueError(f"jalur Permendikbud 1/2021 tidak dikenal: {jalur_lama!r}") from None
