"""Versions: SemVer ordering (migrations are tagged with the release that introduced them)."""

from __future__ import annotations

import re

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key for a SemVer string; a pre-release sorts before its release."""
    m = _SEMVER.match(version.strip())
    if not m:
        raise ValueError(f"bukan versi SemVer: {version!r}")
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")
