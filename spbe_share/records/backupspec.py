"""The backup spec: what to back up on a target (containers, databases, volumes), as the
target-side engine reads it and as the target keeps it (``<root>/apps/<app>/backup-spec.json``).
Built from an entry by :func:`spbe_share.plans.backup.backup_spec`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT: Literal[1] = 1
PG_SUPERUSER = "postgres"
PG_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpecComponent(_Model):
    name: str
    container: str


class PgDatabase(_Model):
    component: str
    engine: Literal["postgresql"] = "postgresql"
    name: str = Field(pattern=PG_IDENT)
    superuser: str = Field(default=PG_SUPERUSER, pattern=PG_IDENT)


class SqliteDatabase(_Model):
    component: str
    engine: Literal["sqlite"] = "sqlite"
    name: str  # absolute path of the file inside the component
    volume: str
    mount: str


class SpecVolume(_Model):
    name: str
    component: str
    mount: str
    method: Literal["archive", "covered"]
    covered_by: str | None = None
    exclude: list[str] = Field(default_factory=list)


class BackupSpec(_Model):
    """The engine's input; ``as_data()`` is exactly what the engine's ``check_spec`` accepts."""

    format: Literal[1] = FORMAT
    app: str
    target: str
    root: str
    components: list[SpecComponent]
    databases: list[PgDatabase | SqliteDatabase] = Field(default_factory=list)
    volumes: list[SpecVolume] = Field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        for v in data["volumes"]:
            if v["covered_by"] is None:
                del v["covered_by"]
            if not v["exclude"]:
                del v["exclude"]
        return data


__all__ = [
    "BackupSpec",
    "PG_IDENT",
    "PG_SUPERUSER",
    "PgDatabase",
    "SpecComponent",
    "SpecVolume",
    "SqliteDatabase",
]
