"""The local Docker engine for image builds: a client that answered, the build error, and
external build tools run with their last error line kept (argument lists only)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, SpbeError

Progress = Callable[[str], None]


class BuildFailed(SpbeError):
    """``docker build`` (or a step it needs) failed; the message is the engine's last error line."""


def docker_client() -> Any:
    """A Docker SDK client that answered a ping, or :class:`EnvironmentProblem`."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover
        raise EnvironmentProblem("the Python package 'docker' is missing: pip install docker") from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        raise EnvironmentProblem(
            f"cannot reach the Docker engine ({exc}); start it (e.g. bash scripts/setup) "
            "or set DOCKER_HOST"
        ) from None
    return client


def image_exists(client: Any, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True


def run_tool(argv: list[str], *, what: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]} is not installed (needed to {what})") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise BuildFailed(f"{what} failed: {last}", details=lines[-20:])


__all__ = ["BuildFailed", "Progress", "docker_client", "image_exists", "run_tool"]
