"""Settings: ``/etc/ppdb/config.json`` + secret files in ``/run/secrets``.

Local runs may point elsewhere with ``PPDB_CONFIG`` and ``PPDB_SECRETS_DIR``.
Secrets are read from files only, never from the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = "/etc/ppdb/config.json"
DEFAULT_SECRETS = "/run/secrets"
DEFAULT_STATIC = str(Path(__file__).resolve().parents[1] / "static")
_TAHUN_AJARAN = re.compile(r"^(\d{4})/(\d{4})$")


class ConfigError(Exception):
    """The config file or a secret is missing or malformed."""


@dataclass(frozen=True)
class Config:
    pemda_name: str
    domain: str
    logo_url: str
    kode_wilayah: str
    tahun: int  # first year of the tahun ajaran: 2026 for 2026/2027
    workers: int
    threads: int
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    secret_key: str
    admin_password: str
    static_dir: str

    @property
    def tahun_ajaran(self) -> str:
        return f"{self.tahun}/{self.tahun + 1}"


def read_secret(secrets_dir: Path, name: str) -> str:
    path = secrets_dir / name
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"secret {name} tidak terbaca di {path}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"secret {name} kosong ({path})")
    return value


def parse_tahun_ajaran(value: str, today: dt.date | None = None) -> int:
    """``"2026/2027"`` -> 2026; empty: the current year (PPDB runs before the July start)."""
    value = value.strip()
    if not value:
        return (today or dt.date.today()).year
    m = _TAHUN_AJARAN.match(value)
    if not m or int(m.group(2)) != int(m.group(1)) + 1:
        raise ConfigError(f"tahun_ajaran {value!r} harus berbentuk TTTT/TTTT+1, mis. 2026/2027")
    return int(m.group(1))


def _int(name: str, raw: object, lo: int, hi: int) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise ConfigError(f"{name} bukan angka: {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} harus {lo}..{hi}, bukan {value}")
    return value


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    cfg_path = Path(env.get("PPDB_CONFIG", DEFAULT_CONFIG))
    secrets_dir = Path(env.get("PPDB_SECRETS_DIR", DEFAULT_SECRETS))
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
    return Config(
        pemda_name=pemda,
        domain=str(data.get("domain") or ""),
        logo_url=str(data.get("logo_url") or ""),
        kode_wilayah=str(data.get("kode_wilayah") or ""),
        tahun=parse_tahun_ajaran(str(data.get("tahun_ajaran") or "")),
        workers=_int("web_workers", data.get("web_workers") or 4, 1, 64),
        threads=_int("web_threads", data.get("web_threads") or 4, 1, 64),
        db_host=env.get("DB_HOST", "db"),
        db_port=_int("DB_PORT", env.get("DB_PORT", data.get("db_port", 5432)), 1, 65535),
        db_name=str(data.get("db_name") or "ppdb"),
        db_user="ppdb",
        db_password=read_secret(secrets_dir, "DB_PASSWORD"),
        secret_key=read_secret(secrets_dir, "SECRET_KEY"),
        admin_password=read_secret(secrets_dir, "ADMIN_PASSWORD"),
        static_dir=env.get("PPDB_STATIC_DIR", DEFAULT_STATIC),
    )
