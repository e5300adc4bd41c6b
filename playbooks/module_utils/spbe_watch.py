"""The scheduled check of a target (standard library only, Python 3.11): ``spbe-share watch``.

Run by cron or a systemd timer on the target, with no controller and no internet::

    python3 <root>/lib/spbe_watch.py --config <root>/watch/watch.json

Each run reads, for every installed app (``<root>/apps/*/current.json``): its health (the same
reading as ``spbe-share status``: ``spbe_status.read_status``, installed beside this file), the
restarts of its containers, the age of its newest verified backup, and when the settings name
one, its TLS certificate's expiry; and the use of the disk holding ``<root>``. It writes ONE
record, ``<root>/watch/last.json`` (read back by ``status`` and ``fleet status``, untrusted), and
sends an alert for each condition that is new since the previous run, by email through the
Pemda's SMTP relay and/or to a webhook on its network, as configured. A condition alerted once
is not alerted again until it has cleared (``<root>/watch/alerts.json`` remembers which were
sent on which channel; a channel that failed is tried again on the next run).

Exit 0 whatever the app's state (the record says it); 2 on a config it cannot use.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import smtplib
import socket
import ssl
import sys
import urllib.error
import urllib.request
from email.message import EmailMessage

try:  # as Ansible module_utils
    from ansible.module_utils import spbe_backup_store as store
except ImportError:  # a script in <root>/lib/ (installed beside it, with spbe_files and spbe_lockfile it imports)
    import spbe_backup_store as store  # type: ignore[no-redef]

FORMAT = 1
KIND = "spbe-share-watch"
RECORD = "last.json"
ALERTS = "alerts.json"
DEFAULTS = {"disk_percent": 85.0, "backup_hours": 26.0, "cert_days": 21.0, "restarts": 3}
MAX_APPS = 200
MAX_MESSAGE = 300


class ConfigError(Exception):
    pass


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- config


def check_config(data: object) -> dict:
    """The config spbe-share wrote (``spbe_share.plans.watch``), checked enough to use it."""
    if not isinstance(data, dict) or data.get("kind") != KIND or data.get("format") != FORMAT:
        raise ConfigError(f"not a {KIND} config of format {FORMAT}")
    for key in ("target", "root"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"config: {key} is missing")
    if not os.path.isabs(data["root"]):
        raise ConfigError("config: root must be an absolute path")
    thresholds = dict(DEFAULTS)
    thresholds.update({k: v for k, v in (data.get("thresholds") or {}).items() if k in DEFAULTS})
    for k, v in thresholds.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"config: thresholds.{k} must be a number >= 0")
    certs = data.get("certificates") or {}
    if not isinstance(certs, dict) or not all(isinstance(v, str) and os.path.isabs(v) for v in certs.values()):
        raise ConfigError("config: certificates maps an app to an absolute path")
    return {**data, "thresholds": thresholds, "certificates": certs}


def load_json(path: str) -> dict:
    return store.read_json(path)


# ---------------------------------------------------------------- readings (each never raises)


def disk_use(path: str) -> dict:
    try:
        u = shutil.disk_usage(path)
    except OSError as exc:
        return {"path": path, "error": exc.strerror or str(exc)}
    return {"path": path, "total": u.total, "free": u.free,
            "used_percent": round(100.0 * (u.total - u.free) / u.total, 1) if u.total else 0.0}


def last_verified_backup(root: str, app: str) -> str | None:
    """When the newest backup of ``app`` whose last verification passed was verified."""
    spec = {"root": root, "app": app}
    try:
        ids, _ = store.list_ids(spec)
    except OSError:
        return None
    for backup_id in reversed(ids):
        v = store.load_verification(spec, backup_id)
        if v is not None and v.get("ok") is True:
            when = parse_iso(v.get("when"))
            return iso(when) if when else None
    return None


def certificate_expiry(path: str) -> dict:
    """``{"path", "not_after"}`` of the PEM certificate at ``path`` (or ``error``): a small
    optional reader; the file belongs to the app's TLS set-up."""
    if not os.path.isfile(path):
        return {"path": path, "error": "no certificate file"}
    try:
        decoded = ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined] # stdlib's own PEM reader
        not_after = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]), dt.UTC)
    except (OSError, ssl.SSLError, KeyError, ValueError, AttributeError) as exc:
        return {"path": path, "error": f"unreadable certificate: {exc}"[:MAX_MESSAGE]}
    return {"path": path, "not_after": iso(not_after)}


def health(record: dict, containers: dict, http: dict) -> tuple[str, str]:
    """``healthy`` or ``unhealthy`` with why (the rule of ``spbe-share status``)."""
    problems = []
    for name in record.get("containers") or []:
        st = containers.get(name)
        if not st:
            problems.append(f"{name} missing")
        elif not st.get("Running"):
            problems.append(f"{name} {st.get('Status') or 'stopped'}")
        elif (st.get("Health") or {}).get("Status") not in (None, "", "healthy", "starting"):
            problems.append(f"{name} {st['Health']['Status']}")
    for h in record.get("health") or []:
        url = h.get("url") if isinstance(h, dict) else None
        if url and http.get(url, -1) != 200:
            problems.append(f"{url} -> {http.get(url, 'no answer')}")
    return ("healthy", "") if not problems else ("unhealthy", "; ".join(problems)[:MAX_MESSAGE])


def proxy_certificate(app: str, info: object) -> dict | None:
    """``{"path", "not_after"}`` of the certificate an app's TLS proxy serves, from the
    ``proxy/tls.json`` spbe-share writes beside it (``install --domain``, ``tls set``)."""
    if not isinstance(info, dict):
        return None
    path = f"apps/{app}/proxy/tls.json"
    when = parse_iso(info.get("not_after"))
    if when is None:
        return {"path": path, "error": "unreadable certificate record"}
    return {"path": path, "not_after": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def read_apps(root: str, status: dict, previous: dict, certs: dict, now: dt.datetime) -> list[dict]:
    """Every installed app's readings. A certificate: the file ``watch.yml`` names for the app,
    else the one its TLS proxy serves."""
    proxies = {a: i for a, i in status.get("tls") or [] if isinstance(a, str)}
    containers = {n: s for n, s in status.get("containers") or []}
    http = {u: c for u, c in status.get("http") or []}
    before = {a.get("app"): a for a in previous.get("apps") or [] if isinstance(a, dict)}
    apps = []
    for rec in (status.get("records") or [])[:MAX_APPS]:
        if not isinstance(rec, dict) or not isinstance(rec.get("app"), str) or not store.SLUG.match(rec["app"]):
            continue
        app = rec["app"]
        busy = os.path.exists(os.path.join(root, "locks", f"{app}.lock"))
        state, detail = ("busy", "an operation holds the app's lock") if busy else health(rec, containers, http)
        restarts = {n: int(containers.get(n, {}).get("RestartCount") or 0) for n in rec.get("containers") or []}
        old = (before.get(app) or {}).get("restarts") or {}
        grew = sum(max(0, r - int(old[n])) for n, r in restarts.items() if isinstance(old.get(n), int))
        backup = last_verified_backup(root, app)
        row = {"app": app, "version": str(rec.get("version") or ""), "health": state, "detail": detail,
               "restarts": restarts, "restarts_since_last_check": grew, "last_verified_backup": backup,
               "certificate": certificate_expiry(certs[app]) if app in certs else proxy_certificate(app, proxies.get(app))}
        apps.append(row)
    return apps


# ---------------------------------------------------------------- conditions (pure)


def conditions(record: dict, thresholds: dict, now: dt.datetime) -> list[dict]:
    """What is wrong now: ``[{key, app, message}]``; ``key`` names the condition for dedupe."""
    out = []
    disk = record.get("disk") or {}
    pct = disk.get("used_percent")
    if isinstance(pct, (int, float)) and pct >= thresholds["disk_percent"]:
        out.append({"key": "disk", "app": None,
                    "message": f"disk of {disk.get('path')} {pct:g}% used (threshold {thresholds['disk_percent']:g}%);"
                               " old releases' images: `spbe-share prune APP --target TARGET --dry-run`"})
    elif disk.get("error"):
        out.append({"key": "disk", "app": None, "message": f"disk of {disk.get('path')}: {disk['error']}"})
    for a in record.get("apps") or []:
        app = a["app"]
        if a["health"] == "unhealthy":
            out.append({"key": f"health:{app}", "app": app, "message": f"{app} unhealthy: {a['detail']}"})
        if a.get("restarts_since_last_check", 0) >= max(1, thresholds["restarts"]):
            out.append({"key": f"restarts:{app}", "app": app,
                        "message": f"{app}: containers restarted {a['restarts_since_last_check']} times since the last check"})
        last = parse_iso(a.get("last_verified_backup"))
        if last is None:
            out.append({"key": f"backup:{app}", "app": app, "message": f"{app}: no verified backup"})
        else:
            hours = (now - last).total_seconds() / 3600
            if hours > thresholds["backup_hours"]:
                out.append({"key": f"backup:{app}", "app": app,
                            "message": f"{app}: last verified backup {hours:.0f} h old "
                                       f"(threshold {thresholds['backup_hours']:g} h)"})
        cert = a.get("certificate")
        if cert:
            expiry = parse_iso(cert.get("not_after"))
            if expiry is None:
                out.append({"key": f"certificate:{app}", "app": app,
                            "message": f"{app}: certificate {cert.get('path')}: {cert.get('error')}"})
            else:
                days = (expiry - now).total_seconds() / 86400
                if days < thresholds["cert_days"]:
                    out.append({"key": f"certificate:{app}", "app": app,
                                "message": f"{app}: certificate expires {cert['not_after']} ({days:.0f} days; "
                                           f"threshold {thresholds['cert_days']:g})"})
    return out


def due(active: dict, now_conditions: list[dict], channels: list[str]) -> tuple[dict, list[tuple[str, dict]]]:
    """The new alert state and which (channel, condition) to send (pure): a condition is sent
    once per channel while it lasts; one that cleared is forgotten (sent again if it returns)."""
    state = {}
    send = []
    for c in now_conditions:
        entry = dict(active.get(c["key"]) or {})
        sent = {ch: v for ch, v in (entry.get("sent") or {}).items() if ch in channels and v}
        state[c["key"]] = {"since": entry.get("since"), "message": c["message"], "sent": sent}
        send += [(ch, c) for ch in channels if ch not in sent]
    return state, send


# ---------------------------------------------------------------- sending


def send_email(cfg: dict, target: str, condition: dict, when: str) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"[spbe-share] {target}: {condition['message']}"[:200]
    msg["From"] = cfg["sender"]
    msg["To"] = ", ".join(cfg["to"])
    msg.set_content(
        f"spbe-share watch on {target} ({socket.gethostname()}), {when}:\n\n{condition['message']}\n\n"
        "This alert is sent once; the next comes when the condition has cleared and returns.\n"
        "See it with: spbe-share status --target " + target + "\n")
    with smtplib.SMTP(cfg["host"], int(cfg.get("port") or 25), timeout=float(cfg.get("timeout") or 20)) as smtp:
        if cfg.get("starttls"):
            smtp.starttls(context=ssl.create_default_context())
        smtp.send_message(msg)


def send_webhook(cfg: dict, target: str, condition: dict, when: str) -> None:
    url = cfg["url"]
    if not url.startswith(("http://", "https://")):
        raise ValueError("webhook url must be http:// or https://")
    body = json.dumps({"source": "spbe-share", "target": target, "when": when, **condition}).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=float(cfg.get("timeout") or 20)) as resp:  # noqa: S310 - the Pemda's own receiver
        resp.read(65536)


SENDERS = {"email": send_email, "webhook": send_webhook}


# ---------------------------------------------------------------- one run


def run(config: dict, *, now: dt.datetime | None = None, read_status=None) -> dict:
    """One check: read, write the record, send what is due. Returns the record."""
    if read_status is None:
        import spbe_status  # installed beside this file: the reading of `spbe-share status`

        read_status = spbe_status.read_status
    now = now or utc_now()
    root = config["root"].rstrip("/") or "/"
    folder = os.path.join(root, "watch")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        previous = load_json(os.path.join(folder, RECORD))
    except (OSError, store.BackupError):
        previous = {}
    try:
        active = load_json(os.path.join(folder, ALERTS)).get("active") or {}
    except (OSError, store.BackupError):
        active = {}
    status = read_status(root)
    record = {
        "format": FORMAT, "kind": KIND, "target": config["target"], "checked_at": iso(now),
        "every_minutes": int(config.get("every_minutes") or 15), "thresholds": config["thresholds"],
        "disk": disk_use(root), "apps": read_apps(root, status, previous, config["certificates"], now),
    }
    found = conditions(record, config["thresholds"], now)
    channels = [ch for ch in ("email", "webhook") if config.get(ch)]
    state, send = due(active, found, channels)
    errors, sent = [], []
    for key in state:
        state[key]["since"] = state[key]["since"] or iso(now)
    for channel, condition in send:
        try:
            SENDERS[channel](config[channel], config["target"], condition, iso(now))
        except (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError) as exc:
            errors.append(f"{channel}: {condition['key']}: {exc}"[:MAX_MESSAGE])
            continue
        state[condition["key"]]["sent"][channel] = iso(now)
        sent.append(f"{channel}: {condition['key']}")
    record["warnings"] = [{**c, "since": state[c["key"]]["since"]} for c in found]
    record["alerts"] = {"channels": channels, "sent": sent, "errors": errors}
    store.write_json_atomic(os.path.join(folder, ALERTS), {"active": state}, 0o600)
    store.write_json_atomic(os.path.join(folder, RECORD), record, 0o644)
    return record


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--config":
        sys.stderr.write("usage: spbe_watch.py --config <root>/watch/watch.json\n")
        return 2
    try:
        config = check_config(load_json(argv[1]))
    except (OSError, store.BackupError, ConfigError) as exc:
        sys.stderr.write(f"spbe-share watch: {argv[1]}: {exc}\n")
        return 2
    record = run(config)
    sys.stdout.write(f"{record['checked_at']} {config['target']}: {len(record['warnings'])} warning(s); "
                     f"alerts sent: {len(record['alerts']['sent'])}; errors: {len(record['alerts']['errors'])}\n")
    for e in record["alerts"]["errors"]:
        sys.stdout.write(f"  alert not sent: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
