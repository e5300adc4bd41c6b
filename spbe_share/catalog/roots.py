"""The catalog repositories taking part in the catalog: the built-in one and the git sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CATALOG_DIR = "catalog"


BUILTIN = "builtin"  # the name of the catalog that ships with (or is pointed at by) spbe-share


@dataclass(frozen=True)
class CatalogRoot:
    """One catalog repository taking part in the catalog: the built-in one or a git source."""

    name: str
    repo_root: Path
    commit: str | None = None

    @property
    def catalog_dir(self) -> Path:
        return self.repo_root / CATALOG_DIR


__all__ = ["BUILTIN", "CATALOG_DIR", "CatalogRoot"]
