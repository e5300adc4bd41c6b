#!/usr/bin/env python3
"""Benchmark (not a test): catalog search over 30,000 entries and ``spbe-share --help`` start-up.

    python3 bench/bench_catalog.py [--entries 30000] [--keep DIR]

1. Generates a catalog of N realistic, varied entries (donors from many Pemda, SPBE domains,
   regulations, keywords, both languages) in a temp dir, laid out as a catalog *source*
   (a donor's git catalog at a recorded commit: the way a large catalog reaches an operator)
   next to a small built-in catalog, with every file the entries name.
2. Builds the search index (timed), then times ``search_catalog`` in-process exactly as
   ``spbe-share catalog search`` calls it (index freshness check included), median of 7
   runs per query; baseline: a naive linear scan over the same entries loaded in memory.
3. Times ``spbe-share --help`` as a subprocess (median of 10); baseline: ``python3 -c pass``.
4. Prints absolute figures, ratios, and whether the targets are met
   (search < 100 ms, --help < 150 ms).

Also reported: the extra cost per query when the same 30,000 entries are the built-in
catalog (a working tree: one stat per entry file on every query).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spbe_share.catalog.index import _scan, open_index, search_catalog  # noqa: E402
from spbe_share.catalog.sources import Source, SourcesFile, write_sources  # noqa: E402
from spbe_share.workspace import Workspace  # noqa: E402

PEMDA = [
    ("Provinsi Aceh", "11"), ("Kota Medan", "12.71"), ("Provinsi Sumatera Barat", "13"),
    ("Kota Pekanbaru", "14.71"), ("Kabupaten Muaro Jambi", "15.05"), ("Kota Palembang", "16.71"),
    ("Provinsi Lampung", "18"), ("Provinsi DKI Jakarta", "31"), ("Kota Bandung", "32.73"),
    ("Kabupaten Banyumas", "33.02"), ("Provinsi Jawa Tengah", "33"), ("Kota Surabaya", "35.78"),
    ("Kabupaten Banyuwangi", "35.10"), ("Provinsi Jawa Timur", "35"), ("Kota Denpasar", "51.71"),
    ("Provinsi Nusa Tenggara Barat", "52"), ("Kabupaten Kupang", "53.01"), ("Kota Pontianak", "61.71"),
    ("Provinsi Kalimantan Timur", "64"), ("Kota Makassar", "73.71"), ("Kabupaten Gowa", "73.06"),
    ("Provinsi Sulawesi Utara", "71"), ("Kota Ambon", "81.71"), ("Provinsi Papua", "94"),
    ("Kota Jayapura", "94.71"), ("Kabupaten Merauke", "94.01"), ("Provinsi Papua Barat", "91"),
]
DOMAINS = [
    ("Kearsipan dan Persuratan", ["surat", "arsip", "disposisi", "naskah dinas", "tnde"]),
    ("Kepegawaian", ["pegawai", "asn", "cuti", "absensi", "kinerja"]),
    ("Keuangan Daerah", ["anggaran", "belanja", "pendapatan", "kas", "akuntansi"]),
    ("Perencanaan Pembangunan", ["musrenbang", "rpjmd", "renja", "usulan", "perencanaan"]),
    ("Pelayanan Publik", ["pengaduan", "perizinan", "antrian", "layanan", "survei kepuasan"]),
    ("Kesehatan", ["puskesmas", "rekam medis", "imunisasi", "stunting", "rujukan"]),
    ("Pendidikan", ["sekolah", "ppdb", "beasiswa", "guru", "rapor"]),
    ("Kependudukan", ["kependudukan", "akta", "ktp", "kartu keluarga", "mutasi penduduk"]),
    ("Pengadaan Barang dan Jasa", ["tender", "lpse", "penyedia", "kontrak", "katalog"]),
    ("Aset Daerah", ["barang milik daerah", "inventaris", "aset", "penyusutan", "kendaraan dinas"]),
    ("Pertanian", ["petani", "pupuk", "lahan", "panen", "penyuluhan"]),
    ("Perhubungan", ["terminal", "angkutan", "parkir", "uji kendaraan", "lalu lintas"]),
]
KINDS = ["Sistem Informasi", "Aplikasi", "Portal", "Layanan Elektronik", "Dasbor"]
EN = {
    "Kearsipan dan Persuratan": "records and correspondence", "Kepegawaian": "civil service staff",
    "Keuangan Daerah": "regional finance", "Perencanaan Pembangunan": "development planning",
    "Pelayanan Publik": "public services", "Kesehatan": "health", "Pendidikan": "education",
    "Kependudukan": "civil registration", "Pengadaan Barang dan Jasa": "procurement",
    "Aset Daerah": "regional assets", "Pertanian": "agriculture", "Perhubungan": "transport",
}
REGULATIONS = [
    ("Peraturan Presiden Nomor 95 Tahun 2018 tentang SPBE", "https://peraturan.go.id/id/perpres-no-95-tahun-2018"),
    ("Peraturan Presiden Nomor 132 Tahun 2022 tentang Arsitektur SPBE Nasional", "https://peraturan.go.id/id/perpres-no-132-tahun-2022"),
    ("Undang-Undang Nomor 43 Tahun 2009 tentang Kearsipan", "https://peraturan.go.id/id/uu-no-43-tahun-2009"),
    ("Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik", "https://peraturan.go.id/id/uu-no-25-tahun-2009"),
    ("Undang-Undang Nomor 27 Tahun 2022 tentang Pelindungan Data Pribadi", "https://peraturan.go.id/id/uu-no-27-tahun-2022"),
    ("Peraturan Pemerintah Nomor 12 Tahun 2019 tentang Pengelolaan Keuangan Daerah", "https://peraturan.go.id/id/pp-no-12-tahun-2019"),
    ("Peraturan Presiden Nomor 12 Tahun 2021 tentang Pengadaan Barang/Jasa", "https://peraturan.go.id/id/perpres-no-12-tahun-2021"),
]
DOCS = ["docs/instalasi.md", "docs/panduan-pengguna.md", "docs/sop/hak-akses.md", "docs/sop/backup.md",
        "docs/sop/eskalasi.md", "docs/sop/manajemen-perubahan.md", "docs/sop/risiko-keamanan.md", "compose.yaml"]


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def entry_yaml(rng: random.Random, n: int) -> tuple[str, str]:
    domain, words = rng.choice(DOMAINS)
    pemda, kode = rng.choice(PEMDA)
    word = rng.choice(words)
    kind = rng.choice(KINDS)
    app_id = f"{slug(word)}-{slug(pemda)}-{n}"[:64].rstrip("-")
    name = f"{kind} {word.title()} {pemda.split(' ', 1)[1]}"
    jenis = "umum" if domain in ("Kearsipan dan Persuratan", "Kepegawaian", "Keuangan Daerah", "Pengadaan Barang dan Jasa", "Aset Daerah") else rng.choice(["umum", "khusus"])
    layanan = "publik" if domain in ("Pelayanan Publik", "Kesehatan", "Kependudukan", "Pendidikan") else "administrasi_pemerintahan"
    regs = rng.sample(REGULATIONS, rng.randint(0, 2))
    n_rel = rng.randint(1, 4)
    releases = []
    for i in range(n_rel):
        reg_lines = "".join(f"\n      - name: {r[0]}\n        uri: {r[1]}" for r in (regs if i == n_rel - 1 else []))
        releases.append(
            f"  - version: 1.{i}.{rng.randint(0, 9)}\n    date: 202{3 + i}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}\n"
            f"    changelog: [\"Perbaikan {word}\"]\n    regulations:{reg_lines if reg_lines else ' []'}"
        )
    keywords = rng.sample(words, 3)
    text = f"""id: {app_id}
name: {name}
summary:
  id: {kind} untuk {word} di bidang {domain.lower()} {pemda}
  en: {EN[domain].capitalize()} application ({word}) by {pemda}
description:
  id: {name} dipakai oleh perangkat daerah {pemda} untuk mengelola {word} secara elektronik, terintegrasi dengan layanan {domain.lower()} lainnya.
  en: {name} is used by the units of {pemda} to manage {EN[domain]} electronically.
source_url: https://git.example.go.id/{slug(pemda)}/{app_id}
donor:
  pemda: {pemda}
  kode_wilayah: "{kode}"
  unit: Dinas Komunikasi dan Informatika
  contacts:
    - name: Admin Aptika {pemda}
      email: aptika@{slug(pemda)}.go.id
license: {rng.choice(["EUPL-1.2", "GPL-3.0-or-later", "MIT", "Apache-2.0", "AGPL-3.0-only"])}
classification:
  jenis: {jenis}
  layanan: {layanan}
  domain: {domain}
sharing:
  mou_required: true
  scope: [install, support]
  support_months: {rng.choice([6, 12, 24])}
requirements:
  cpu_cores: {rng.randint(1, 8)}
  memory_mb: {rng.choice([512, 1024, 2048, 4096])}
  disk_gb: {rng.randint(5, 200)}
  os:
    - name: debian
      versions: ["12"]
  ports: [{rng.randint(8000, 8999)}]
  concurrent_users: {rng.choice([20, 50, 100, 500])}
components:
  - name: web
    image: spbe-share/{app_id}-web
    build:
      context: shared_apps/bench/web
    ports:
      - container: 8080
    health:
      type: http
      port: 8080
releases:
{chr(10).join(releases)}
docs:
  install: docs/instalasi.md
  user_manual: docs/panduan-pengguna.md
  sop:
    hak_akses: docs/sop/hak-akses.md
    backup: docs/sop/backup.md
    eskalasi: docs/sop/eskalasi.md
    manajemen_perubahan: docs/sop/manajemen-perubahan.md
    risiko_keamanan: docs/sop/risiko-keamanan.md
manifests:
  compose: compose.yaml
keywords: [{", ".join(json.dumps(k) for k in keywords)}]
"""
    return app_id, text


def generate(repo: Path, n: int, seed: int = 95) -> None:
    rng = random.Random(seed)
    (repo / "shared_apps" / "bench" / "web").mkdir(parents=True, exist_ok=True)
    (repo / "shared_apps" / "bench" / "web" / "Dockerfile").write_text("FROM spbe-share/base:bookworm\n")
    entries = [entry_yaml(rng, i) for i in range(n)]

    def write(item: tuple[str, str]) -> None:
        app_id, text = item
        d = repo / "catalog" / app_id
        (d / "docs" / "sop").mkdir(parents=True, exist_ok=True)
        (d / "spbe-app.yaml").write_text(text, encoding="utf-8")
        for rel in DOCS:
            (d / rel).write_text("# dokumen\n", encoding="utf-8")

    with ThreadPoolExecutor(8) as pool:  # file creation is syscall-bound
        list(pool.map(write, entries))


def git_checkout_at_commit(repo: Path) -> str:
    """Make ``repo`` what ``catalog source add`` leaves: a git clone checked out (detached) at
    one commit, the commit ``sources.yml`` pins. Returns that commit."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.go.id",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.go.id",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}  # fmt: skip

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,  # noqa: S603,S607
                              text=True).stdout.strip()  # fmt: skip

    if not (repo / ".git").is_dir():
        git("init", "-q", "-b", "main")
        git("add", "-A")
        git("commit", "-q", "--no-gpg-sign", "-m", "bench catalog")
    commit = git("rev-parse", "HEAD")
    git("checkout", "-q", "--detach", commit)
    return commit


def median_ms(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def naive_search(rows: list[dict[str, Any]], text: str, **f: str | None) -> list[dict[str, Any]]:
    words = text.lower().split()
    out = []
    for r in rows:
        hay = " ".join([r["name"], r["summary"]["id"], r["summary"]["en"],
                        " ".join(r["keywords"]), r["donor"], r["domain"], " ".join(r["regulations"])]).lower()
        if not all(w in hay for w in words):
            continue
        if f.get("jenis") and r["jenis"] != f["jenis"]:
            continue
        if f.get("domain") and f["domain"].lower() not in r["domain"].lower():
            continue
        if f.get("donor") and f["donor"].lower() not in (r["donor"] + " " + r["kode_wilayah"]).lower():
            continue
        if f.get("regulation") and not any(f["regulation"].lower() in g.lower() for g in r["regulations"]):
            continue
        out.append(r)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=30_000)
    ap.add_argument("--keep", type=Path, help="generate into (and keep) this folder")
    args = ap.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="spbe-bench-catalog-"))
    base.mkdir(parents=True, exist_ok=True)
    ws = Workspace(home=base / "home", root=base / "builtin")
    try:
        # a small built-in catalog + the big donor catalog as a source at a recorded commit
        generate(ws.root, 20, seed=1)
        big = ws.sources_dir / "bench"
        t = time.perf_counter()
        if not (big / "catalog").is_dir():
            generate(big, args.entries)
        commit = git_checkout_at_commit(big)
        gen_s = time.perf_counter() - t
        write_sources(ws, SourcesFile(sources=[Source(name="bench", url=str(big), branch="main", commit=commit)]))
        print(f"catalog: {args.entries} entries + 20 built-in, generated in {gen_s:.1f} s ({base})")

        t = time.perf_counter()
        index, stats = open_index(ws)
        build_s = time.perf_counter() - t
        total = index.count()
        print(f"index build: {build_s:.1f} s ({stats.parsed} entry files parsed and checked, "
              f"{total} searchable, {index.invalid_count()} invalid)")
        rows = [r for r in index.search("")]
        index.close()
        assert total == args.entries + 20, "generated entries must all be valid"

        queries: list[tuple[str, dict[str, str]]] = [
            ("surat", {}),
            ("arsip surabaya", {}),
            ("pengaduan", {"jenis": "umum"}),
            ("", {"jenis": "khusus", "domain": "kesehatan"}),
            ("layanan", {"donor": "papua"}),
            ("layanan", {}),  # in every description: the very-common-word path
            ("", {"regulation": "95 Tahun 2018"}),
            ("puskesmas rujukan", {"regulation": "data pribadi", "jenis": "khusus"}),
            ("tidakadaapapun", {}),
        ]
        limit = 50  # the CLI's default for `catalog search`
        print(f"\nsearch (in-process search_catalog, limit {limit}, median of 7; baseline: linear scan of "
              f"{len(rows)} loaded entries)")
        print(f"  {'query':<52} {'index ms':>9} {'scan ms':>9} {'speed-up':>9} {'matches':>8}")
        index_ms = []
        for text, filters in queries:
            search_catalog(ws, text, limit=limit, **filters)  # warm
            ms = median_ms(lambda t=text, f=filters: search_catalog(ws, t, limit=limit, **f), 7)
            scan = median_ms(lambda t=text, f=filters: naive_search(rows, t, **f)[:limit], 3)
            matches = len(naive_search(rows, text, **filters))
            label = " ".join([repr(text)] + [f"--{k} {v!r}" for k, v in filters.items()])
            print(f"  {label:<52} {ms:>9.1f} {scan:>9.1f} {scan / ms:>8.1f}x {matches:>8}")
            index_ms.append(ms)
        worst = max(index_ms)
        print(f"  median {statistics.median(index_ms):.1f} ms, worst {worst:.1f} ms -> target < 100 ms: "
              f"{'MET' if worst < 100 else 'NOT MET'}")

        scan_ms = median_ms(lambda: _scan(big / "catalog"), 5)
        print(f"\nif the same {args.entries} entries were the built-in (working-tree) catalog, each query would "
              f"first stat every entry file: +{scan_ms:.0f} ms per query on this machine")

        exe = Path(sys.executable).parent / "spbe-share"
        cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "spbe_share", "--help"]
        py = [sys.executable, "-c", "pass"]

        def run(argv: list[str]) -> None:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - fixed argv

        run(cmd)
        help_ms = median_ms(lambda: run(cmd), 10)
        base_ms = median_ms(lambda: run(py), 10)
        print(f"\nstart-up (subprocess, median of 10): `{' '.join(Path(c).name for c in cmd)}` {help_ms:.0f} ms; "
              f"baseline `python3 -c pass` {base_ms:.0f} ms; ratio {help_ms / base_ms:.2f}x; "
              f"spbe-share's own cost {help_ms - base_ms:.0f} ms")
        print(f"  target --help < 150 ms: {'MET' if help_ms < 150 else 'NOT MET'}"
              + ("" if help_ms < 150 or base_ms < 150 else
                 f" (the interpreter alone takes {base_ms:.0f} ms on this machine right now)"))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.pop("SPBE_SHARE_CATALOG", None)
    raise SystemExit(main())
