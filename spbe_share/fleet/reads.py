"""What one target answers to the status read, validated (pure; never raises): its release
records, container health and newest attempts. A target is not trusted, so a malformed,
oversized or foreign record becomes an error or a problem on that target's row."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..catalog.models import SEMVER, SLUG
from ..records.firstlogin import FirstLoginState, parse_answers
from ..records.state import ReleaseRecord, TlsInfo, tls_infos
from .models import LastOperation

if TYPE_CHECKING:
    from ..targets.inventory import Target


_SLUG = re.compile(SLUG)


_SEMVER = re.compile(SEMVER)


_BLOB_NAME = re.compile(r"([0-9a-f]{64})(?:\.zst)?")


class _Probe(BaseModel):
    """``spbe_status`` as published by ``status.yml``; bounded, strictly typed."""

    model_config = ConfigDict(extra="forbid")
    records: list[Any] = Field(default_factory=list, max_length=200)
    last: list[tuple[str, Any]] = Field(default_factory=list, max_length=200)
    containers: list[tuple[str, dict[str, Any]]] = Field(default_factory=list, max_length=2000)
    http: list[tuple[str, int]] = Field(default_factory=list, max_length=2000)
    blobs: list[str] | None = Field(default=None, max_length=20000)
    tls: list[Any] = Field(default_factory=list, max_length=200)  # [[app, proxy/tls.json]]
    watch: Any = None  # the scheduled check's record, validated by records.watch.view_of
    first_login: Any = None  # [[app, status, body, secret mtime]]: records.firstlogin.parse_answers


class _Attempt(BaseModel):
    """The newest attempt record of an app; other fields (added by later versions) are ignored."""

    model_config = ConfigDict(extra="ignore")
    app: str = Field(pattern=SLUG)
    version: str = Field(pattern=SEMVER)
    target: str
    when: dt.datetime
    result: str = Field(max_length=40)
    operation: str | None = Field(default=None, max_length=40)
    previous: dict[str, Any] | None = None


@dataclass
class TargetRead:
    """One target's answer, validated: what runs there and how it is."""

    target: Target
    reachable: bool
    error: str | None = None
    records: list[ReleaseRecord] = field(default_factory=list)
    health: dict[str, tuple[str, str]] = field(default_factory=dict)  # app -> (health, detail)
    last: dict[str, LastOperation] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # records that could not be used
    blobs: frozenset[str] | None = None
    tls: dict[str, TlsInfo] = field(default_factory=dict)  # app -> its proxy's certificate
    watch: Any = None  # the watch record as answered (untrusted; None: no scheduled check there)
    first_login: dict[str, FirstLoginState] = field(default_factory=dict)  # app -> its initial password

    def version_of(self, app: str) -> str | None:
        return next((r.version for r in self.records if r.app == app), None)


def _what(attempt: _Attempt) -> str:
    if attempt.operation:
        return attempt.operation
    prev = (attempt.previous or {}).get("version")
    if not prev:
        return "install"
    if prev == attempt.version:
        return "install"
    from ..catalog.models import semver_key

    try:
        return "upgrade" if semver_key(attempt.version) > semver_key(str(prev)) else "rollback"
    except ValueError:
        return "install"


_RESULTS = {"ok": "ok", "changed": "changed", "failed": "failed", "rolled_back": "rolled_back",
            "rolled-back": "rolled_back", "cancelled": "interrupted", "interrupted": "interrupted"}  # fmt: skip


def parse_read(target: Target, data: Any) -> TargetRead:
    """Validate what ``status.yml`` published for ``target`` (pure; never raises)."""
    from ..ops.status import health_of

    try:
        probe = _Probe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(status)"
        return TargetRead(target, reachable=True, error=f"invalid status from the target: {where}: {first['msg']}")
    read = TargetRead(target, reachable=True, watch=probe.watch)
    states = {name: state for name, state in probe.containers}
    http = dict(probe.http)
    seen: set[str] = set()
    for raw in probe.records:
        try:
            rec = ReleaseRecord.model_validate(raw, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(record)"
            read.problems.append(f"invalid release record: {where}: {first['msg']}")
            continue
        if rec.target != target.name:
            read.problems.append(f"a release record names target {rec.target[:80]!r}, not {target.name!r}")
        elif not _SLUG.match(rec.app) or not _SEMVER.match(rec.version):
            read.problems.append(f"a release record has an invalid app or version ({rec.app[:80]!r} {rec.version[:40]!r})")
        elif rec.app in seen:
            read.problems.append(f"two release records for app {rec.app!r}")
        else:
            seen.add(rec.app)
            read.records.append(rec)
            read.health[rec.app] = health_of(rec, states, http)
    for folder, raw in probe.last:
        try:
            att = _Attempt.model_validate(raw)
        except ValidationError:
            continue  # the newest attempt is shown when it can be read; the record above is what counts
        result = _RESULTS.get(att.result)
        if att.app != folder or att.target != target.name or result is None:
            continue
        read.last[att.app] = LastOperation(what=_what(att), result=result, when=att.when)
    if probe.blobs is not None:
        # the target's blob store names each blob <sha256 of its stored bytes>[.zst]
        read.blobs = frozenset(m.group(1) for b in probe.blobs if (m := _BLOB_NAME.fullmatch(b)))
    read.tls = tls_infos(probe.tls)
    read.first_login = parse_answers(probe.first_login)
    read.records.sort(key=lambda r: r.app)
    return read


__all__ = ["TargetRead", "parse_read"]
