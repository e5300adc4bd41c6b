"""How this control node's ssh connects to every target: the workspace's ``settings.yml``.

``<workspace>/settings.yml`` (optional; absent means every default)::

    format: 1
    ssh:
      # default: ssh's own choice (OpenSSH 9 on Debian 12: the post-quantum hybrid
      #   sntrup761x25519-sha512, safe against "record now, decrypt later");
      # classic: curve25519-sha256 only (about 6x less CPU per connection on both sides: the
      #   figure that matters when one control node reads 550 Pemda; no post-quantum protection);
      # or an explicit list for ssh's KexAlgorithms, e.g. "curve25519-sha256,ecdh-sha2-nistp256".
      kex: default
    ansible:
      # mitogen: Ansible's tasks run through one persistent Python on each target (mitogen's
      #   strategy): the module code crosses the link once per run, not once per task, and the
      #   control node spends about half the CPU; linear: Ansible's own, one ssh round trip and
      #   one module payload per task (the choice when an execution node runs the playbooks).
      strategy: mitogen

``SPBE_SHARE_SSH_KEX`` and ``SPBE_SHARE_ANSIBLE_STRATEGY`` in the environment override the
file (same values). The choice reaches
every ssh spbe-share starts: direct reads (``fleet status``, ``plan``), shipping, leases, and
Ansible's connections (``ansible_ssh_extra_args``). Trade-off and figures: ``docs/fleet.md``.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput
from ..yamlio import load_model

if TYPE_CHECKING:
    from pathlib import Path

    from ..workspace import Workspace

ENV_KEX = "SPBE_SHARE_SSH_KEX"
ENV_STRATEGY = "SPBE_SHARE_ANSIBLE_STRATEGY"
STRATEGIES = ("mitogen", "linear")
CLASSIC = "curve25519-sha256,curve25519-sha256@libssh.org"
KEX_PATTERN = r"^(default|classic|[a-z0-9][a-z0-9@.+-]*(,[a-z0-9][a-z0-9@.+-]*)*)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SshSettings(_Strict):
    kex: Annotated[str, Field(pattern=KEX_PATTERN, max_length=500)] = "default"


class AnsibleSettings(_Strict):
    strategy: Literal["mitogen", "linear"] = "mitogen"


class Settings(_Strict):
    format: Literal[1] = 1
    ssh: SshSettings = Field(default_factory=SshSettings)
    ansible: AnsibleSettings = Field(default_factory=AnsibleSettings)


def settings_file(ws: Workspace) -> Path:
    return ws.home / "settings.yml"


def load_settings(ws: Workspace) -> Settings:
    """The workspace's settings (defaults when the file is absent); a bad file is an
    InvalidInput naming file, line and field."""
    path = settings_file(ws)
    if not path.is_file():
        return Settings()
    return load_model(Settings, path)


def kex_algorithms(ws: Workspace) -> str | None:
    """ssh's ``KexAlgorithms`` value for this workspace; None: ssh's own choice."""
    wanted = os.environ.get(ENV_KEX) or load_settings(ws).ssh.kex
    if re.fullmatch(KEX_PATTERN, wanted) is None:
        raise InvalidInput(f"{ENV_KEX}={wanted!r}: not 'default', 'classic' or a comma-separated list of algorithms")
    if wanted == "default":
        return None
    return CLASSIC if wanted == "classic" else wanted


def kex_options(ws: Workspace) -> list[str]:
    """``-o KexAlgorithms=...`` for ssh, or nothing (ssh's own choice)."""
    kex = kex_algorithms(ws)
    return [] if kex is None else ["-o", f"KexAlgorithms={kex}"]


def ansible_strategy(ws: Workspace) -> str:
    """How Ansible runs the tasks of this workspace's playbooks: ``mitogen`` or ``linear``."""
    wanted = os.environ.get(ENV_STRATEGY) or load_settings(ws).ansible.strategy
    if wanted not in STRATEGIES:
        raise InvalidInput(f"{ENV_STRATEGY}={wanted!r}: not one of {', '.join(STRATEGIES)}")
    return wanted


__all__ = ["CLASSIC", "ENV_KEX", "ENV_STRATEGY", "STRATEGIES", "AnsibleSettings", "ansible_strategy", "Settings", "SshSettings", "kex_algorithms", "kex_options", "load_settings",
           "settings_file"]
