"""``python -m eoffice [serve|migrate]``: serve (default; migrates first) or only migrate."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import app_version, migrations
from .config import ConfigError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eoffice")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "8")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("eoffice")
    version = app_version()
    try:
        cfg = load()
    except ConfigError as exc:
        log.error("konfigurasi: %s", exc)
        return 2
    from .app import create_app, prepare, wait_for_db

    try:
        if args.command == "migrate":
            conn = wait_for_db(cfg)
            try:
                done = migrations.apply(conn, version)
                log.info("skema %d (%d migrasi diterapkan)", migrations.schema_version(conn), len(done))
            finally:
                conn.close()
            return 0
        key, private = prepare(cfg, version)
    except migrations.MigrationError as exc:
        log.error("migrasi: %s", exc)
        return 3
    except Exception as exc:  # noqa: BLE001 - report and exit non-zero; the container restarts
        log.error("gagal memulai: %s: %s", type(exc).__name__, exc)
        return 1
    app = create_app(cfg, version, key=key, private=private)
    from waitress import serve

    log.info("e-Office %s untuk %s, port %d", version, cfg.pemda_name, args.port)
    serve(app, host="0.0.0.0", port=args.port, threads=args.threads, ident="e-office")  # noqa: S104
    return 0


if __name__ == "__main__":
    sys.exit(main())
