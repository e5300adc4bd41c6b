"""One machine-wide lock around the tests' image builds and bundle exports.

The tests run in several pytest-xdist workers (pyproject ``addopts``), and the app images
have fixed tags (``spbe-share/pengaduan:1.0.0``...). A bundle is exported from the image a
tag names *now*, and a builder that finds a tag missing builds it: two workers building or
re-tagging the same tag while a third exports it could give that bundle another worker's
image. Every test code path that builds, tags or exports the catalog's app images holds
:func:`image_build_lock` for that step, so they take turns; the builders are idempotent, so
the second one finds the images there and only exports. :func:`lock_builders` makes
``build_bundle`` and ``build_app`` take it in this process (the e2e and integration
conftests call it), so a test's own helpers need it only around steps between two calls
(a ``docker tag``) or around a CLI subprocess that may build.

stdlib only (``fcntl.flock``): the lock goes away with the process that held it. Reentrant
within a process (a bundle build calls the image build).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOCK_PATH = Path(os.environ.get("SPBE_SHARE_TEST_BUILD_LOCK", "/tmp/spbe-share-test-image-build.lock"))  # noqa: S108

_mutex = threading.RLock()
_held: dict[str, Any] = {"depth": 0, "file": None}


@contextlib.contextmanager
def image_build_lock(path: Path = LOCK_PATH) -> Iterator[None]:
    """Hold the machine-wide image build lock (blocks until the holder lets go)."""
    with _mutex:
        if _held["depth"] == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX)
            except BaseException:
                f.close()
                raise
            _held["file"] = f
        _held["depth"] += 1
        try:
            yield
        finally:
            _held["depth"] -= 1
            if _held["depth"] == 0:
                f = _held["file"]
                _held["file"] = None
                fcntl.flock(f, fcntl.LOCK_UN)
                f.close()


LOCAL_TARGET_LOCK_PATH = LOCK_PATH.with_name("spbe-share-test-local-target.lock")


@contextlib.contextmanager
def local_target_lock(path: Path = LOCAL_TARGET_LOCK_PATH) -> Iterator[None]:
    """Hold the machine-wide lock of the built-in ``local`` target: its containers are named
    ``spbe-local-<app>-...`` whoever runs the test, so two test runs take turns with it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(fn, "__spbe_build_locked__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with image_build_lock():
            return fn(*args, **kwargs)

    wrapper.__spbe_build_locked__ = True  # type: ignore[attr-defined]
    return wrapper


def lock_builders() -> None:
    """Make this process's ``build_bundle`` and ``build_app`` (every name they are imported
    under at call time) hold :func:`image_build_lock`."""
    import spbe_share.bundle.pack as pack  # ``spbe_share.bundle.build_bundle`` is looked up here
    import spbe_share.imaging.app as images

    images.build_app = _locked(images.build_app)
    pack.build_bundle = _locked(pack.build_bundle)
