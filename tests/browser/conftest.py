"""Browser tests: the built web catalog in Debian's chromium, driven by Playwright for Python.

Playwright's own browser download cannot be reached: it launches /usr/bin/chromium (the
Debian package that scripts/setup installs) headless, with the flags this machine needs,
and a fresh profile for each run. Screenshots are kept in ``.test-artifacts/browser/``
(or ``$SPBE_SHARE_ARTIFACTS/browser``); the folder is printed at the end of the run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(os.environ.get("SPBE_SHARE_ARTIFACTS", REPO / ".test-artifacts")) / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.is_dir() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")


@pytest.fixture(scope="session")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from spbe_share.catalog.loader import load_catalog
    from spbe_share.catalog.roots import CatalogRoot
    from spbe_share.fleet.models import load_fleet_status
    from spbe_share.site.build import build_site
    from spbe_share.site.serve import make_server

    out = tmp_path_factory.mktemp("site") / "site"
    cat = load_catalog([CatalogRoot("builtin", REPO)])
    build_site(cat.entries, out, fleet=load_fleet_status(REPO / "tests" / "fixtures" / "fleet-status.json"))
    server = make_server(out, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/setup does)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Console:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)  # fmt: skip
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh context and page; the test fails if the page logged any error or warning."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID")
    pg = context.new_page()
    console.attach(pg)
    try:
        yield pg
    finally:
        context.close()
    assert console.errors == []


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
