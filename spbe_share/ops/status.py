"""``spbe-share status``: which app, which version, where, and is it healthy.

Read from the targets themselves (``playbooks/status.yml``: release records + container state +
http health + the scheduled check's last record, :mod:`spbe_share.records.watch` + each app's
answer whether its initial password is still in use, :mod:`spbe_share.records.firstlogin`), one
run over all targets. A target that cannot be reached is a row saying so
(with the last version this workspace recorded there), never a crash.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..i18n import N_
from ..records import firstlogin
from ..records.state import SLUG, ReleaseRecord, TlsInfo, load_cached, parse_record, tls_infos
from ..tlscerts import WARN_DAYS, expiry_text

if TYPE_CHECKING:
    from ..catalog.models import Entry
    from ..targets.inventory import Target
    from ..workspace import Workspace


@dataclass(frozen=True)
class StatusRow:
    app: str
    version: str
    target: str
    pemda: str
    health: str
    since: str
    urls: list[str] = field(default_factory=list)
    detail: str = ""
    tls_expires: str = ""  # the TLS proxy's certificate: "2027-01-05 (395 days)" (app with a domain)
    tls_warning: str = ""  # it expires within 30 days, or expired
    watch: str = "-"  # the scheduled check (spbe-share watch): "ok (5 min ago)", "2 warnings (...)", "-"
    warnings: list[str] = field(default_factory=list)
    first_login: str = "-"  # the initial password: "IN USE (3 days)", "changed", "?" or "-"
    first_login_json: dict[str, Any] = field(default_factory=lambda: {"initial_password_in_use": None})

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "version": self.version,
            "target": self.target,
            "pemda": self.pemda,
            "health": self.health,
            "since": self.since,
            "urls": self.urls,
            "detail": self.detail,
            "tls_expires": self.tls_expires,
            "tls_warning": self.tls_warning,
            "watch": self.watch,
            "warnings": self.warnings,
            **self.first_login_json,
        }


def health_of(record: ReleaseRecord, states: dict[str, dict[str, Any]], http: dict[str, int]) -> tuple[str, str]:
    """``healthy`` / ``unhealthy`` / ``stopped`` / ``missing`` with a short reason (pure)."""
    problems = []
    for name in record.containers:
        st = states.get(name)
        if not st:
            problems.append(f"{name} missing")
            continue
        if not st.get("Running"):
            problems.append(f"{name} {st.get('Status', 'stopped')}")
            continue
        docker_health = (st.get("Health") or {}).get("Status")
        if docker_health and docker_health not in ("healthy", "starting"):
            problems.append(f"{name} {docker_health}")
    for h in record.health:
        if h.url and http.get(h.url, -1) != 200:
            problems.append(f"{h.url} -> {http.get(h.url, 'no answer')}")
    if not problems:
        return "healthy", ""
    if all("missing" in p for p in problems):
        return "missing", "; ".join(problems)
    if any("missing" in p or "exited" in p or "stopped" in p for p in problems):
        return "stopped", "; ".join(problems)
    return "unhealthy", "; ".join(problems)


def tls_column(info: TlsInfo | None, now: dt.datetime) -> tuple[str, str]:
    """The expiry shown for an app's certificate, and a warning (within 30 days, or expired)."""
    if info is None:
        return "", ""
    text, warn = expiry_text(info.not_after, now)
    if not warn:
        return text, ""
    if info.not_after <= now:
        return text, N_(f"the TLS certificate of {info.domain} expired: replace it (spbe-share tls set)")
    return text, N_(f"the TLS certificate of {info.domain} expires within {WARN_DAYS} days: spbe-share tls set")


def rows_for_host(target: Target, data: dict[str, Any], *, now: dt.datetime | None = None,
                  first_login: dict[str, firstlogin.FirstLoginState] | None = None,
                  users: dict[str, str] | None = None) -> list[StatusRow]:
    """Rows of one target's answer (pure). ``first_login``: the apps' initial-password states
    (already parsed and remembered); ``users``: app -> the entry's first-login user."""
    from ..records.watch import summary, view_of

    now = now or dt.datetime.now(dt.UTC)
    certs = tls_infos(data.get("tls"))
    states = {str(name): dict(st or {}) for name, st in data.get("containers") or []}
    http = {str(url): int(code) for url, code in data.get("http") or []}
    view = None if data.get("watch") is None else view_of(data["watch"], target=target.name,
                                                          now=now or dt.datetime.now(dt.UTC))
    rows = []
    for raw in data.get("records") or []:
        rec = parse_record(raw)  # from the target: untrusted
        if rec is None or rec.target != target.name or not SLUG.match(rec.app):
            rows.append(StatusRow("?", "?", target.name, target.pemda, "unknown", "", [], "unreadable record"))
            continue
        health, detail = health_of(rec, states, http)
        expires, warning = tls_column(certs.get(rec.app), now)
        watch, warnings = summary(view, rec.app)
        login = (first_login or {}).get(rec.app)
        login_warning = firstlogin.warning(login, now, user=(users or {}).get(rec.app))
        rows.append(StatusRow(rec.app, rec.version, target.name, rec.pemda, health, rec.when, rec.urls, detail,
                              expires, warning, watch, [*warnings, *([login_warning] if login_warning else [])],
                              firstlogin.cell(login, now), firstlogin.as_json(login)))
    return sorted(rows, key=lambda r: r.app)


def collect_status(ws: Workspace, *, target_name: str | None = None) -> list[StatusRow]:
    from ..targets.inventory import get_target, list_targets

    if target_name:
        targets: Sequence[Target] = [get_target(ws, target_name)]
    else:
        targets = list_targets(ws, include_local=True)
    entries = catalog_entries(ws)
    rows: list[StatusRow] = []
    for t in targets:
        rows.extend(_status_of(ws, t, entries))
    return rows


def catalog_entries(ws: Workspace) -> list[Entry]:
    """The workspace catalog's entries (first source wins); none when it cannot be opened (status
    still reads the targets, without asking the apps about their first login)."""
    from ..catalog.loader import open_catalog
    from ..errors import SpbeError

    try:
        found = open_catalog(ws).entries
    except SpbeError:
        return []
    seen: dict[str, Entry] = {}
    for le in found:
        seen.setdefault(le.id, le.entry)
    return list(seen.values())


HOST_KEY_MISMATCH = "host-key-mismatch"


def host_key_mismatches(rows: Sequence[StatusRow]) -> list[StatusRow]:
    """Rows of targets whose host key does not match the pinned one (the CLI exits 6 for them)."""
    return [r for r in rows if r.health == HOST_KEY_MISMATCH]


def _status_of(ws: Workspace, target: Target, entries: Sequence[Entry] = ()) -> list[StatusRow]:
    from ..errors import Cancelled, HostKeyMismatch, SpbeError
    from ..remote.runner import run_playbook
    from ..remote.ssh import check_host_key

    try:
        check_host_key(ws, target)
        result = run_playbook(
            ws,
            op="status",
            target=target.name,
            app=None,
            playbook="status.yml",
            targets=[target],
            extravars={"spbe_target": target.name, "spbe_root": target.root,
                       "spbe_status_first_login": firstlogin.items_for(entries)},
        )
    except Cancelled:
        raise
    except HostKeyMismatch as exc:
        return _unreachable(ws, target, exc.message, health=HOST_KEY_MISMATCH)
    except SpbeError as exc:
        return _unreachable(ws, target, exc.message)
    if result.cancelled:
        raise Cancelled(f"status of {target.name} stopped; it changes nothing")
    if result.host_key_failed:
        why = result.unreachable_message or result.failed_message or "host key verification failed"
        return _unreachable(ws, target, why, health=HOST_KEY_MISMATCH)
    if not result.ok:
        why = result.unreachable_message or result.failed_message or result.status
        return _unreachable(ws, target, why)
    data = result.stats.get(target.name, {}).get("spbe_status") or {}
    now = dt.datetime.now(dt.UTC)
    states = firstlogin.remember(ws, target.name, firstlogin.parse_answers(data.get("first_login")), now)
    users = {e.id: e.first_login.user for e in entries if e.first_login is not None}
    return rows_for_host(target, data, now=now, first_login=states, users=users)


def _unreachable(ws: Workspace, target: Target, why: str, *, health: str = "unreachable") -> list[StatusRow]:
    cached = load_cached(ws, target.name)
    if not cached:
        return [StatusRow("-", "-", target.name, target.pemda, health, "", [], why)]
    return [
        StatusRow(r.app, f"{r.version} (last seen)", target.name, r.pemda, health, r.when, r.urls, why)
        for r in cached
    ]
