"""Settings: ``/etc/e-office/config.json`` + secret files in ``/run/secrets``.

Local runs may point elsewhere with ``EOFFICE_CONFIG`` and ``EOFFICE_SECRETS_DIR``.
Secrets are read from files only, never from the environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "/etc/e-office/config.json"
DEFAULT_SECRETS = "/run/secrets"


class ConfigError(Exception):
    """The config file or a secret is missing or malformed."""


@dataclass(frozen=True)
class Config:
    pemda_name: str
    domain: str
    logo_url: str
    kode_unit: str
    kode_wilayah: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    secret_key: str
    admin_password: str
    extra: dict[str, Any]


def read_secret(secrets_dir: Path, name: str) -> str:
    path = secrets_dir / name
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"secret {name} tidak terbaca di {path}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"secret {name} kosong ({path})")
    return value


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    cfg_path = Path(env.get("EOFFICE_CONFIG", DEFAULT_CONFIG))
    secrets_dir = Path(env.get("EOFFICE_SECRETS_DIR", DEFAULT_SECRETS))
    try:
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{cfg_path}: tidak terbaca: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{cfg_path}:{exc.lineno}: JSON tidak sah: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg_path}: harus berupa objek JSON")
    pemda = str(data.get("pemda_name") or "").strip()
    if not pemda:
        raise ConfigError(f"{cfg_path}: pemda_name wajib diisi")
    try:
        port = int(env.get("DB_PORT", data.get("db_port", 5432)))
    except ValueError as exc:
        raise ConfigError(f"DB_PORT bukan angka: {env.get('DB_PORT')!r}") from exc
    known = {"pemda_name", "domain", "logo_url", "kode_unit", "kode_wilayah", "db_port", "db_name"}
    return Config(
        pemda_name=pemda,
        domain=str(data.get("domain") or ""),
        logo_url=str(data.get("logo_url") or ""),
        kode_unit=str(data.get("kode_unit") or "SETDA"),
        kode_wilayah=str(data.get("kode_wilayah") or ""),
        db_host=env.get("DB_HOST", "db"),
        db_port=port,
        db_name=str(data.get("db_name") or "eoffice"),
        db_user="eoffice",
        db_password=read_secret(secrets_dir, "DB_PASSWORD"),
        secret_key=read_secret(secrets_dir, "SECRET_KEY"),
        admin_password=read_secret(secrets_dir, "ADMIN_PASSWORD"),
        extra={k: v for k, v in data.items() if k not in known},
    )
