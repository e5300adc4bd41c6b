"""Wheels of a component's ``requirements.txt``, built on the host (containers cannot reach
PyPI) and cached by the file's SHA-256, so rebuilds are offline."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from ..errors import NotFound
from .engine import BuildFailed, Progress, run_tool

# pip's own wheel, used to install the others inside the image (pinned: same wheels, same layer)
PIP_REQUIREMENT = "pip==24.3.1"


def wheel_argv(requirements: Path, dest: Path, *, python: str = "python3") -> list[str]:
    return [
        python, "-m", "pip", "wheel", "--only-binary=:all:",
        "--wheel-dir", str(dest), "-r", str(requirements), PIP_REQUIREMENT,
    ]  # fmt: skip


def requirements_digest(requirements: Path) -> str:
    """Cache key of a wheel set: the requirements file and the pinned pip."""
    return hashlib.sha256(requirements.read_bytes() + b"\n" + PIP_REQUIREMENT.encode()).hexdigest()


def build_wheels(
    requirements: Path, dest: Path, *, cache_dir: Path | None = None, progress: Progress | None = None
) -> Path:
    """Wheels for ``requirements`` plus pip's own wheel in ``dest`` (with requirements.txt copied in).

    With ``cache_dir``, wheels are built once into ``cache_dir/<sha256 of requirements.txt>``
    and copied from there afterwards (no network needed for rebuilds).
    """
    if not requirements.is_file():
        raise NotFound(f"{requirements}: file not found")
    say = progress or (lambda _m: None)
    if cache_dir is None:
        _pip_wheel(requirements, dest, say)
    else:
        cached = cache_dir / requirements_digest(requirements)
        if not (cached / ".complete").is_file():
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
            try:
                _pip_wheel(requirements, partial, say)
                (partial / ".complete").write_text("ok\n", encoding="utf-8")
                if cached.exists():
                    shutil.rmtree(cached)
                partial.rename(cached)
            finally:
                if partial.exists():
                    shutil.rmtree(partial)
        else:
            say(f"wheels from cache {cached.name[:12]}")
        dest.mkdir(parents=True, exist_ok=True)
        for whl in sorted(cached.glob("*.whl")):
            shutil.copy2(whl, dest / whl.name)
    shutil.copyfile(requirements, dest / "requirements.txt")
    return dest


def _pip_wheel(requirements: Path, dest: Path, say: Progress) -> None:
    import sys

    dest.mkdir(parents=True, exist_ok=True)
    say(f"building wheels for {requirements}")
    run_tool(wheel_argv(requirements, dest, python=sys.executable), what="pip wheel")
    if not any(dest.glob("pip-*.whl")):
        raise BuildFailed(f"pip wheel made no pip wheel in {dest}")


__all__ = ["PIP_REQUIREMENT", "build_wheels", "requirements_digest", "wheel_argv"]
