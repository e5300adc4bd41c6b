"""Benchmark (not a test): e-office backup and restore times and sizes at 1k, 10k, 100k letters.

    python3 bench/bench_backup.py [--sizes 1000,10000,100000] [--version 1.1.0]

Starts e-office (db + web) on the local Docker engine with the integration tests' runner,
makes users, 24 letters with dispositions and 4 signatures through the API, then grows the
letters table to each size with one bulk INSERT (through psql: 100k letters through the API
would take most of an hour; the rows are shaped like the API's). For each size it prints:

* ``pg_dump``: a bare ``docker exec pg_dump -Fc > /dev/null`` (the baseline, same run);
* ``create``: the engine's backup (pg_dump to the target's disk + SHA-256 + manifest), also
  as a ratio to the baseline: the engine's own cost;
* ``verify``: sums read back + ``pg_restore --list`` + a full ``pg_restore`` read;
* ``restore``: stop web, restore into a new database, swap, start web (the web component's
  ``docker stop`` waits up to 10 s: its Python server runs as PID 1 and ignores SIGTERM);
* dump size and the live database size (``pg_database_size``), and a check that the
  restored data has the same row counts and checksums.

Needs the Docker engine; builds the e-office images when missing. Leaves nothing behind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
from buildlock import lock_builders  # noqa: E402 - tests/buildlock.py

lock_builders()  # take turns with the tests (and other runs) building and exporting the app images

GROW_SQL = """
INSERT INTO letters (jenis, nomor, seq, tahun, kode, unit, tanggal, perihal, pengirim, nomor_asal, tujuan,
                     sifat, isi, status, penandatangan_id, created_by)
SELECT CASE WHEN g % 2 = 0 THEN 'masuk' ELSE 'keluar' END,
       lpad(g::text, 6, '0') || '/000/BENCH/XI/2030', g, 2030, '000', 'BENCH', DATE '2030-11-01' + (g % 28)::int,
       'Surat massal ' || g || ': koordinasi layanan SPBE dan tindak lanjut rapat',
       'Instansi ' || (g % 97), 'B/' || g || '/X/2030', 'Dinas ' || (g % 53), 'biasa',
       'Dengan hormat, isi surat massal nomor ' || g || ': ' || repeat(md5(g::text) || ' ', 8), 'diterima', NULL,
       (SELECT min(id) FROM users)
FROM generate_series((SELECT coalesce(max(seq), 0) + 1 FROM letters WHERE tahun = 2030),
                     :target - (SELECT count(*) FROM letters WHERE tahun <> 2030)) AS g;
"""


def psql(container: str, sql: str, **variables: str) -> str:
    argv = ["docker", "exec", "-i", "-u", "postgres", container, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
            "-d", "eoffice"]
    for k, v in variables.items():
        argv += ["-v", f"{k}={v}"]
    p = subprocess.run(argv, input=sql, capture_output=True, text=True, check=False)  # noqa: S603
    if p.returncode != 0:
        raise SystemExit(f"psql failed: {p.stderr.strip()}")
    return p.stdout.strip()


def timed(fn: Callable[..., Any], *a: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = fn(*a, **kw)
    return out, time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--version", default=None)
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import docker
    from apprunner import remove_prefixed, run_app
    from backuptest import appdata, engine, restorer, store, wait_http_ok, write_current

    from spbe_share.catalog.loader import load_entry
    from spbe_share.imaging.app import build_app
    from spbe_share.imaging.base import ensure_base_image
    from spbe_share.plans.backup import backup_spec
    from spbe_share.workspace import Workspace

    loaded = load_entry(REPO / "catalog" / "e-office" / "spbe-app.yaml")
    version = args.version or loaded.entry.latest.version
    tmp = Path(tempfile.mkdtemp(prefix="spbe-bench-backup-"))
    ensure_base_image()
    build_app(Workspace.from_options(tmp / "ws", REPO), loaded, version)
    client = docker.from_env()
    target = f"bench-{uuid.uuid4().hex[:6]}"
    prefix = f"spbe-{target}-e-office"
    try:
        app = run_app(client, loaded, version, prefix=prefix, workdir=tmp / "app",
                      settings={"pemda_name": "Pemerintah Kota Bench"})
        root = tmp / "root"
        write_current(root, "e-office", version)
        spec = backup_spec(loaded.entry, target=target, root=str(root)).as_data()
        db, web = (c["container"] for c in spec["components"])
        admin_pw = (tmp / "app" / "secrets" / "ADMIN_PASSWORD").read_text().strip()
        appdata.eoffice_seed(app.url, admin_pw, letters=24, signed=4)
        print(f"e-office {version}, Docker storage driver: "
              f"{client.info().get('Driver')}, {sum(1 for _ in open('/proc/cpuinfo') if _.startswith('processor'))} cpus")
        print(f"{'letters':>8} {'db MB':>7} {'dump MB':>8} {'pg_dump s':>9} {'create s':>8} {'x base':>6} "
              f"{'verify s':>8} {'restore s':>9}  data back")
        for n in sizes:
            psql(db, GROW_SQL, target=str(n))
            letters = int(psql(db, "SELECT count(*) FROM letters"))
            db_mb = int(psql(db, "SELECT pg_database_size('eoffice')")) / 1e6
            before = appdata.eoffice_measure(db)
            _, base_s = timed(subprocess.run, ["docker", "exec", "-u", "postgres", db, "pg_dump", "-Fc", "-d",  # noqa: S607
                                               "eoffice"], stdout=subprocess.DEVNULL, check=True)
            m, create_s = timed(engine.create, spec, why="manual", who="bench")
            v, verify_s = timed(engine.verify, spec, m["id"])
            assert v["ok"], v["cause"]
            psql(db, "UPDATE letters SET perihal = 'rusak' WHERE id % 7 = 0")
            _, restore_s = timed(restorer.restore, spec, m["id"], expect_version=version)
            wait_http_ok(web)
            after = appdata.eoffice_measure(db)
            dump_mb = m["items"][0]["size"] / 1e6
            print(f"{letters:>8} {db_mb:>7.1f} {dump_mb:>8.2f} {base_s:>9.2f} {create_s:>8.2f} "
                  f"{create_s / base_s:>6.2f} {verify_s:>8.2f} {restore_s:>9.2f}  "
                  f"{'same rows and checksums' if after.same_data(before) else 'DIFFERENT: ' + '; '.join(after.diff(before))}")
            store.prune(spec, keep=1)
        app.stop()
    finally:
        remove_prefixed(client, prefix)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)  # noqa: S603,S607
    return 0


if __name__ == "__main__":
    sys.exit(main())
