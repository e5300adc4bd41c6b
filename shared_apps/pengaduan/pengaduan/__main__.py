"""``python3 -m pengaduan serve|migrate``."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "serve"
    from .config import ConfigError, load_config

    try:
        config = load_config()
        if command == "migrate":
            from . import db

            conn = db.connect(config.database)
            applied = db.migrate(conn)
            print(f"schema {db.schema_version(conn)}; applied {applied or 'nothing'}")
            return 0
        if command == "serve":
            from waitress import serve

            from .app import create_app

            app = create_app(config)
            print(f"pengaduan {config.app_version} for {config.pemda_name} on :{config.port}", flush=True)
            serve(app, host=config.listen, port=config.port, threads=config.threads, ident="pengaduan")
            return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"usage: python3 -m pengaduan [serve|migrate] (got {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
