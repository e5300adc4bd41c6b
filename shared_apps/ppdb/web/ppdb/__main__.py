"""``python -m ppdb [serve|migrate]``.

``serve`` (default): migrate the schema and create the first admin (once, before any worker
starts), then replace this process with gunicorn: ``web_workers`` processes with
``web_threads`` threads each (config.json), all loading ``ppdb.wsgi:application``.
``migrate``: only migrate.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import app_version, migrations
from .config import ConfigError, load


def gunicorn_argv(*, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "--bind", f"0.0.0.0:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads), "--timeout", "60", "--graceful-timeout", "20",
        "--keep-alive", "5", "--max-requests", "20000", "--max-requests-jitter", "2000",
        "--worker-tmp-dir", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",  # noqa: S108
        "--log-level", "warning", "--name", "ppdb", "ppdb.wsgi:application",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ppdb")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("ppdb")
    version = app_version()
    try:
        cfg = load()
    except ConfigError as exc:
        log.error("konfigurasi: %s", exc)
        return 2
    from . import store
    from .db import wait_for_db

    try:
        conn = wait_for_db(cfg, log=log)
        try:
            done = migrations.apply(conn, version)
            for m in done:
                log.info("migrasi %04d_%s diterapkan", m.number, m.name)
            log.info("skema %d", migrations.schema_version(conn))
            if args.command == "serve":
                store.ensure_admin(conn, cfg.admin_password)
        finally:
            conn.close()
    except migrations.MigrationError as exc:
        log.error("migrasi: %s", exc)
        return 3
    except Exception as exc:  # noqa: BLE001 - report and exit non-zero; the container restarts
        log.error("gagal memulai: %s: %s", type(exc).__name__, exc)
        return 1
    if args.command == "migrate":
        return 0
    log.info("PPDB %s untuk %s, tahun ajaran %s, port %d, %d worker x %d thread", version, cfg.pemda_name,
             cfg.tahun_ajaran, args.port, cfg.workers, cfg.threads)  # fmt: skip
    sys.stdout.flush()
    argv_g = gunicorn_argv(port=args.port, workers=cfg.workers, threads=cfg.threads)
    os.execv(argv_g[0], argv_g)  # noqa: S606 - a fixed argument list, no shell
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
