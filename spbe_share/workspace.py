"""The operator's workspace: targets, agreements, keys, sources, run logs, audit log.

Chosen by ``--workspace``, else ``$SPBE_SHARE_HOME``, else ``~/.local/share/spbe-share``.
Creating a :class:`Workspace` touches nothing on disk; :meth:`ensure` creates folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "SPBE_SHARE_HOME"
ENV_CATALOG = "SPBE_SHARE_CATALOG"
ENV_BUILD_CACHE = "SPBE_SHARE_BUILD_CACHE"


def default_home() -> Path:
    if os.environ.get(ENV_HOME):
        return Path(os.environ[ENV_HOME]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "spbe-share"


def repo_root() -> Path:
    """The repository this package runs from (holds catalog/, playbooks/, shared_apps/)."""
    if os.environ.get(ENV_CATALOG):
        return Path(os.environ[ENV_CATALOG]).expanduser().resolve()
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Workspace:
    home: Path
    root: Path  # the built-in catalog repository (catalog/, shared_apps/, playbooks/, templates/)

    @classmethod
    def from_options(cls, home: Path | None = None, root: Path | None = None) -> Workspace:
        return cls(home=(home or default_home()).resolve(), root=(root or repo_root()).resolve())

    # -- repository parts
    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def playbooks_dir(self) -> Path:
        return self.root / "playbooks"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def shared_apps_dir(self) -> Path:
        return self.root / "shared_apps"

    # -- operator state
    @property
    def inventory_file(self) -> Path:
        return self.home / "inventory.yml"

    @property
    def known_hosts_file(self) -> Path:
        return self.home / "known_hosts"

    @property
    def agreements_dir(self) -> Path:
        return self.home / "agreements"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def sources_file(self) -> Path:
        return self.home / "sources.yml"

    @property
    def sources_dir(self) -> Path:
        return self.home / "sources"

    @property
    def bundles_dir(self) -> Path:
        return self.home / "bundles"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def build_cache_dir(self) -> Path:
        """What image builds and bundle packing reuse (wheels, normalized layers, compressed
        blobs): ``$SPBE_SHARE_BUILD_CACHE`` when set, else ``cache/``. Every entry is named by
        its content or inputs and written whole (temp file, rename), so several workspaces may
        share one folder (e.g. the test runs' donor and operator workspaces)."""
        shared = os.environ.get(ENV_BUILD_CACHE)
        return Path(shared).expanduser() if shared else self.cache_dir

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    def ensure(self) -> Workspace:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self
