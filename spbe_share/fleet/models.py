"""The JSON that ``spbe-share fleet status --json`` prints (and ``site build --fleet`` reads).

One row per (target, app) that the workspace knows about; a target that cannot be reached
is still a row (``reachable: false``, ``error``), with what is known left ``null``::

    {"schema_version": 1, "generated_at": "2026-12-01T08:00:00+09:00",
     "rows": [{"target": "pbd-dc1", "pemda": "Provinsi Papua Barat Daya", "kode_wilayah": "96",
               "groups": ["papua"], "app": "e-office", "version": "1.0.0", "health": "healthy",
               "last_operation": {"what": "install", "result": "ok", "when": "2026-11-02T10:00:00+09:00"},
               "latest_version": "1.1.0", "releases_behind": 1,
               "missing_regulations": [{"name": "Permendagri 83/2022", "uri": "https://..."}],
               "agreement": {"number": "NK/012/2026", "valid_until": "2027-09-30",
                             "status": "active", "expires_within_90_days": false},
               "reachable": true, "error": null}]}

``missing_regulations``: regulations named by releases newer than the installed one.
``releases_behind``: how many releases of the catalog are newer than ``version``.
``worst_finding``: the worst severity ``spbe-share audit`` finds in the release's SBOM and the
donor's advisories (``none``: nothing; ``null``: not audited).
``watch``: the target's scheduled check (``spbe-share watch``): ``checked_at``, ``age_minutes``
and its ``warnings`` for the row (``null``: no check there).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from ..catalog.models import KODE_WILAYAH, SEMVER, SLUG

Health = Literal["healthy", "unhealthy", "stopped", "missing", "unknown"]
Result = Literal["ok", "changed", "failed", "rolled_back", "interrupted"]
AgreementStatus = Literal["active", "expired", "future", "none"]
Finding = Literal["critical", "high", "medium", "low", "unknown", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class LastOperation(_Strict):
    what: str = Field(min_length=1, description="install, upgrade, rollback, backup, ...")
    result: Result
    when: dt.datetime


class MissingRegulation(_Strict):
    name: str = Field(min_length=1)
    uri: HttpUrl


class AgreementState(_Strict):
    number: str | None = Field(default=None, description="null when status is 'none'")
    valid_until: dt.date | None = None
    status: AgreementStatus
    expires_within_90_days: bool = False


class RowWatch(_Strict):
    """The scheduled check of the row's target (``spbe-share watch``): when it last ran and what
    it warns of for this app (the target's own warnings, disk and a stopped check, included)."""

    checked_at: dt.datetime | None = Field(default=None, description="null: the record is unreadable")
    age_minutes: int | None = Field(default=None, ge=0)
    warnings: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list)
    disk_used_percent: float | None = Field(default=None, ge=0, le=100)
    backup_age_hours: float | None = Field(default=None, ge=0, description="newest verified backup, at the check")
    restarts: int | None = Field(default=None, ge=0)
    certificate_not_after: dt.datetime | None = None


class FleetRow(_Strict):
    target: Annotated[str, Field(min_length=1, max_length=100)]
    pemda: str = Field(min_length=1)
    kode_wilayah: Annotated[str, Field(pattern=KODE_WILAYAH)]
    groups: list[str] = Field(default_factory=list)
    app: Annotated[str, Field(pattern=SLUG)]
    version: Annotated[str, Field(pattern=SEMVER)] | None = Field(default=None, description="null: unknown")
    health: Health = "unknown"
    last_operation: LastOperation | None = None
    latest_version: Annotated[str, Field(pattern=SEMVER)] | None = None
    releases_behind: int | None = Field(default=None, ge=0)
    missing_regulations: list[MissingRegulation] = Field(default_factory=list)
    agreement: AgreementState | None = None
    reachable: bool
    error: str | None = None
    tls_not_after: dt.datetime | None = Field(default=None, description="expiry of the TLS certificate the app's"
                                              " proxy serves (an app with a domain); null: no domain")
    tls_expires_soon: bool | None = Field(default=None, description="the certificate expires within 30 days (or"
                                          " has expired): replace it with `spbe-share tls set`")
    worst_finding: Finding | None = Field(
        default=None, description="the worst known finding of `spbe-share audit` for this release ('none': no"
        " finding; null: not audited: no vulnerability database imported, or no SBOM of the release here)")
    watch: RowWatch | None = Field(default=None, description="null: no scheduled check on the target")
    initial_password_in_use: bool | None = Field(
        default=None, description="the app's first account still has the password it was installed with (the"
        " entry's first_login.state_path, asked on the target); null: not known")
    initial_password_since: dt.datetime | None = Field(default=None, description="when that password was made")
    initial_password_changed_seen: dt.datetime | None = Field(
        default=None, description="the first status that saw it changed (kept in this workspace)")
    first_login_user: str | None = Field(default=None, max_length=64, description="the entry's first_login.user")


class FleetStatus(_Strict):
    schema_version: Literal[1] = 1
    generated_at: dt.datetime
    rows: list[FleetRow]


def load_fleet_status(path: Path) -> FleetStatus:
    """Read a ``fleet status --json`` file; bad input is one line per problem (exit 2)."""

    from ..errors import InvalidInput, ValidationFailed

    try:
        with path.open("rb") as f:
            raw = f.read(50 * 1024 * 1024 + 1)
    except OSError as exc:
        raise InvalidInput(f"--fleet: {path}: {exc.strerror or exc}") from None
    if len(raw) > 50 * 1024 * 1024:
        raise InvalidInput(f"--fleet: {path}: larger than 50 MB")
    from ..outside import OutsideJSONError, loads_json

    try:
        data = loads_json(raw)
    except OutsideJSONError as exc:
        raise InvalidInput(f"{path}: not a fleet status file: {exc}") from None
    from pydantic import ValidationError

    try:
        return FleetStatus.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]).replace(".[", "[")
            problems.append(f"{path}: {loc or '(file)'}: {err['msg']}")
        raise ValidationFailed(problems, message=f"{path}: not a fleet status file") from None

