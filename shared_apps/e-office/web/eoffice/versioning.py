"""Versions: SemVer ordering, and the release that introduced each feature (signed content
and letters made by older releases stay readable)."""

from __future__ import annotations

import re

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")

#: The release that introduced the Permendagri 83/2022 features (kode klasifikasi arsip,
#: klasifikasi keamanan, jadwal retensi on every letter).
KLASIFIKASI_RELEASE = "1.1.0"


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key for a SemVer string; a pre-release sorts before its release."""
    m = _SEMVER.match(version.strip())
    if not m:
        raise ValueError(f"bukan versi SemVer: {version!r}")
    pre = m.group(4)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre or "")


def at_least(version: str, release: str) -> bool:
    return version_key(version) >= version_key(release)


def has_klasifikasi(version: str) -> bool:
    """True when this version implements kode klasifikasi arsip / keamanan / retensi."""
    return at_least(version, KLASIFIKASI_RELEASE)
