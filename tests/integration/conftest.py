"""Fixtures for integration tests against the real Docker engine.

* ``docker_client``: SDK client (tests are skipped only when no engine socket exists at all).
* ``base_image``: makes sure ``spbe-share/base:bookworm`` exists (builds it with debootstrap).
* ``it_workspace``: a session workspace in a temp folder, rooted at this repository.
* ``load_app(app_id)``: the checked catalog entry of this repository.
* ``built_app(app_id, version=None)``: builds an app's images once per session -> [BuiltImage].
* ``app_runner(loaded, version, *, settings=None, secrets=None, name="app")``: starts the app's
  containers (see ``apprunner.run_app``) under a per-test prefix and removes every container,
  volume and network with that prefix at teardown. Calling it again with the same ``name``
  reuses the volumes and secrets (restart/upgrade with data kept).

App images (``spbe-share/<app>:<version>``) are product artifacts and stay after the session
(they are the build cache of the next run); everything else a test starts is removed.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apprunner import RunningApp, remove_prefixed, run_app  # noqa: E402
from buildlock import lock_builders  # noqa: E402
from needs import missing  # noqa: E402

lock_builders()  # pytest-xdist workers take turns building and exporting images (tests/buildlock.py)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _engine_socket_present() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return True
    path = host.removeprefix("unix://") if host else "/var/run/docker.sock"
    return Path(path).exists()


@pytest.fixture(scope="session")
def docker_client() -> Any:
    if not _engine_socket_present():
        missing("dockerd", "no Docker engine socket (/var/run/docker.sock or DOCKER_HOST); scripts/setup starts dockerd")
    from spbe_share.imaging.engine import docker_client as make_client

    return make_client()  # a socket that does not answer is a failure, not a skip


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    from spbe_share.imaging.base import ensure_base_image

    return ensure_base_image()


@pytest.fixture(scope="session")
def it_workspace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from spbe_share.workspace import Workspace

    if os.environ.get("PYTEST_XDIST_WORKER"):  # one per run: the workers share its layer and wheel caches
        home = tmp_path_factory.getbasetemp().parent / "spbe-ws"  # (builds take turns: tests/buildlock.py)
        home.mkdir(exist_ok=True)
        return Workspace(home=home, root=REPO_ROOT)
    return Workspace(home=tmp_path_factory.mktemp("spbe-ws"), root=REPO_ROOT)


@pytest.fixture(scope="session")
def load_app() -> Callable[[str], Any]:
    from spbe_share.catalog.loader import load_entry

    def load(app_id: str) -> Any:
        path = REPO_ROOT / "catalog" / app_id / "spbe-app.yaml"
        if not path.is_file():
            pytest.skip(f"{path.relative_to(REPO_ROOT)} does not exist yet")
        return load_entry(path)

    return load


@pytest.fixture(scope="session")
def built_app(base_image: str, it_workspace: Any, load_app: Callable[[str], Any]) -> Callable[..., list[Any]]:
    from spbe_share.imaging.app import build_app

    cache: dict[tuple[str, str | None], list[Any]] = {}

    def build(app_id: str, version: str | None = None) -> list[Any]:
        key = (app_id, version)
        if key not in cache:
            cache[key] = build_app(it_workspace, load_app(app_id), version)
        return cache[key]

    return build


@pytest.fixture()
def test_prefix() -> str:
    return f"spbe-it-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def app_runner(
    docker_client: Any, tmp_path: Path, test_prefix: str
) -> Iterator[Callable[..., RunningApp]]:
    prefixes: set[str] = set()
    running: list[RunningApp] = []

    def start(
        loaded: Any,
        version: str,
        *,
        settings: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        name: str = "app",
        **kwargs: Any,
    ) -> RunningApp:
        prefix = f"{test_prefix}-{name}"
        prefixes.add(prefix)
        app = run_app(
            docker_client,
            loaded,
            version,
            prefix=prefix,
            workdir=tmp_path / name,
            settings=settings,
            secrets=secrets,
            **kwargs,
        )
        running.append(app)
        return app

    yield start
    for app in running:
        app.stop()
    for prefix in prefixes:
        remove_prefixed(docker_client, prefix)
