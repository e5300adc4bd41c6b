"""Runtime configuration: ``/etc/pengaduan/config.json`` (rendered per Pemda) and secrets files.

Secrets are read from files under ``/run/secrets`` (never from environment variables).
The ``PENGADUAN_*`` environment variables only move these paths, for development and tests.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import logic

CONFIG_PATH = Path(os.environ.get("PENGADUAN_CONFIG", "/etc/pengaduan/config.json"))
SECRETS_DIR = Path(os.environ.get("PENGADUAN_SECRETS_DIR", "/run/secrets"))
DATABASE = Path(os.environ.get("PENGADUAN_DB", "/data/pengaduan.db"))


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    pemda_name: str
    kode_wilayah: str
    unit_name: str
    categories: tuple[str, ...] = logic.DEFAULT_CATEGORIES
    contact: str = ""
    database: Path = DATABASE
    listen: str = "0.0.0.0"
    port: int = 8080
    threads: int = 8
    app_version: str = "0.0.0-dev"
    extra: dict[str, Any] = field(default_factory=dict)


def parse_config(data: Any, *, source: str = "config") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    missing = [k for k in ("pemda_name", "kode_wilayah", "unit_name") if not str(data.get(k, "")).strip()]
    if missing:
        raise ConfigError(f"{source}: missing {', '.join(missing)}")
    categories = data.get("categories") or list(logic.DEFAULT_CATEGORIES)
    if not isinstance(categories, list) or not all(isinstance(c, str) and c.strip() for c in categories):
        raise ConfigError(f"{source}: categories must be a list of non-empty strings")
    known = {"pemda_name", "kode_wilayah", "unit_name", "categories", "contact", "database",
             "listen", "port", "threads", "app_version"}  # fmt: skip
    return Config(
        pemda_name=str(data["pemda_name"]).strip(),
        kode_wilayah=str(data["kode_wilayah"]).strip(),
        unit_name=str(data["unit_name"]).strip(),
        categories=tuple(c.strip() for c in categories),
        contact=str(data.get("contact", "")).strip(),
        database=Path(os.environ.get("PENGADUAN_DB") or data.get("database") or DATABASE),
        listen=str(data.get("listen", "0.0.0.0")),
        port=int(data.get("port", 8080)),
        threads=int(data.get("threads", 8)),
        app_version=str(data.get("app_version") or os.environ.get("APP_VERSION", "0.0.0-dev")),
        extra={k: v for k, v in data.items() if k not in known},
    )


def load_config(path: Path = CONFIG_PATH) -> Config:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    return parse_config(data, source=str(path))


def read_secret(name: str, directory: Path = SECRETS_DIR) -> str:
    path = directory / name
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"secret {path} not found") from None
    except PermissionError:
        raise ConfigError(f"secret {path} is not readable by uid {os.getuid()}") from None
    if len(value) < 8:
        raise ConfigError(f"secret {path} is too short")
    return value
