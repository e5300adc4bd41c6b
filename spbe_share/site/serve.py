"""``spbe-share site serve``: preview a built site with Python's own HTTP server (loopback)."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from ..errors import InvalidInput, NotFound
from .build import MARKER


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".json": "application/json",
        ".yml": "text/plain; charset=utf-8",
        ".js": "text/javascript",
        ".svg": "image/svg+xml",
    }

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # a preview: quiet


def make_server(site: Path, *, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for the built site in ``site`` (not started; call ``serve_forever``)."""
    if not (site / MARKER).is_file():
        raise NotFound(f"{site}: no site built here (run: spbe-share site build --output {site})")
    handler = functools.partial(_Handler, directory=str(site))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise InvalidInput(f"--host/--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
