"""Flask application: warga mengirim dan melacak pengaduan; petugas memverifikasi dan menindaklanjuti."""

from __future__ import annotations

import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from . import db, logic
from .config import Config, read_secret

STAFF_NAME = "petugas"
MAX_LOGIN_FAILURES = 5
LOCKOUT_SECONDS = 300


class _LoginGuard:
    """Slows password guessing: after 5 failures from one address, refuse for 5 minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}

    def blocked(self, who: str) -> bool:
        with self._lock:
            recent = [t for t in self._failures.get(who, []) if time.monotonic() - t < LOCKOUT_SECONDS]
            self._failures[who] = recent
            return len(recent) >= MAX_LOGIN_FAILURES

    def failed(self, who: str) -> None:
        with self._lock:
            self._failures.setdefault(who, []).append(time.monotonic())

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)


def create_app(config: Config, *, staff_password: str | None = None, secret_key: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or read_secret("SECRET_KEY"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="pengaduan_sesi",
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    password = staff_password or read_secret("STAFF_PASSWORD")
    guard = _LoginGuard()

    config.database.parent.mkdir(parents=True, exist_ok=True)
    conn = db.connect(config.database)
    try:
        db.migrate(conn)
    finally:
        conn.close()

    def get_db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = db.connect(config.database)
        return g.db  # type: ignore[no-any-return]

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Content-Security-Policy"] = "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
        return resp

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"cfg": config, "labels": logic.STATUS_LABELS, "csrf_token": _csrf_token, "staff": _is_staff()}

    # ------------------------------------------------------------------ helpers
    def _csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(24)
        return str(session["csrf"])

    def _check_csrf() -> None:
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, str(session.get("csrf", ""))):
            abort(400, "Formulir kedaluwarsa, silakan muat ulang halaman.")

    def _is_staff() -> bool:
        return bool(session.get("staff"))

    def _bearer_ok() -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(token.strip(), password)

    def staff_only(view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not _is_staff():
                return redirect(url_for("login", next=request.path))
            return view(*args, **kwargs)

        wrapped.__name__ = view.__name__
        return wrapped

    def api_error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
        return jsonify({"error": message, **extra}), status

    # ------------------------------------------------------------------ health
    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            facts = db.check_health(get_db())
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            return jsonify({"status": "error", "error": str(exc)}), 503
        return jsonify({"status": "ok", "app": "pengaduan", "version": config.app_version, **facts}), 200

    # ------------------------------------------------------------------ citizens (HTML)
    @app.get("/")
    def index() -> str:
        return render_template("index.html", categories=config.categories, form={}, errors={})

    @app.post("/pengaduan")
    def submit() -> Any:
        _check_csrf()
        try:
            new = logic.validate_complaint(request.form.to_dict(), config.categories)
        except logic.InvalidComplaint as exc:
            return render_template(
                "index.html", categories=config.categories, form=request.form, errors=exc.errors
            ), 400
        ticket = db.create_complaint(get_db(), new)
        flash(f"Pengaduan Anda tercatat dengan nomor tiket {ticket}. Simpan nomor ini untuk melacaknya.")
        return redirect(url_for("show_ticket", ticket=ticket))

    @app.get("/lacak")
    def track() -> Any:
        ticket = logic.normalize_ticket(request.args.get("tiket", ""))
        if ticket is None:
            flash("Nomor tiket tidak valid. Contoh: ADU-2026-000123.")
            return redirect(url_for("index"))
        return redirect(url_for("show_ticket", ticket=ticket))

    @app.get("/pengaduan/<ticket>")
    def show_ticket(ticket: str) -> Any:
        found = db.get_complaint(get_db(), ticket)
        if found is None:
            return render_template("tidak_ditemukan.html", ticket=ticket), 404
        return render_template("tiket.html", c=logic.public_view(*found))

    # ------------------------------------------------------------------ staff (HTML)
    @app.route("/petugas/masuk", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST":
            _check_csrf()
            who = request.remote_addr or "?"
            if guard.blocked(who):
                return render_template("masuk.html", error="Terlalu banyak percobaan. Coba lagi 5 menit lagi."), 429
            if hmac.compare_digest(request.form.get("password", ""), password):
                guard.succeeded(who)
                session.clear()
                session["staff"] = True
                target = request.args.get("next", "")
                return redirect(target if target.startswith("/petugas") else url_for("staff_list"))
            guard.failed(who)
            return render_template("masuk.html", error="Kata sandi salah."), 401
        return render_template("masuk.html", error=None)

    @app.post("/petugas/keluar")
    def logout() -> Any:
        _check_csrf()
        session.clear()
        return redirect(url_for("index"))

    @app.get("/petugas")
    @staff_only
    def staff_list() -> str:
        status = request.args.get("status") or None
        if status not in (None, *logic.STATUSES):
            status = None
        rows = db.list_complaints(get_db(), status=status, limit=200)
        return render_template("petugas.html", rows=rows, counts=db.count_by_status(get_db()), status=status)

    @app.get("/petugas/pengaduan/<ticket>")
    @staff_only
    def staff_detail(ticket: str) -> Any:
        found = db.get_complaint(get_db(), ticket)
        if found is None:
            abort(404)
        return render_template("petugas_detail.html", c=logic.staff_view(*found), error=None)

    @app.post("/petugas/pengaduan/<ticket>/status")
    @staff_only
    def staff_change(ticket: str) -> Any:
        _check_csrf()
        try:
            db.change_status(
                get_db(), ticket, request.form.get("status", ""), request.form.get("catatan", ""), oleh=STAFF_NAME
            )
        except KeyError:
            abort(404)
        except logic.InvalidTransition as exc:
            found = db.get_complaint(get_db(), ticket)
            assert found is not None
            return render_template("petugas_detail.html", c=logic.staff_view(*found), error=str(exc)), 400
        flash(f"Status {ticket} diperbarui.")
        return redirect(url_for("staff_detail", ticket=ticket))

    # ------------------------------------------------------------------ JSON API
    @app.post("/api/v1/complaints")
    def api_create() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return api_error(400, "body must be a JSON object")
        try:
            new = logic.validate_complaint(data, config.categories)
        except logic.InvalidComplaint as exc:
            return api_error(422, "invalid complaint", fields=exc.errors)
        ticket = db.create_complaint(get_db(), new)
        found = db.get_complaint(get_db(), ticket)
        assert found is not None
        resp = jsonify(logic.public_view(*found))
        resp.headers["Location"] = url_for("api_get", ticket=ticket)
        return resp, 201

    @app.get("/api/v1/complaints/<ticket>")
    def api_get(ticket: str) -> Any:
        normalized = logic.normalize_ticket(ticket)
        found = db.get_complaint(get_db(), normalized) if normalized else None
        if found is None:
            return api_error(404, f"no complaint {ticket}")
        view = logic.staff_view(*found) if _bearer_ok() else logic.public_view(*found)
        return jsonify(view)

    @app.get("/api/v1/complaints")
    def api_list() -> Any:
        if not _bearer_ok():
            return api_error(401, "staff token required (Authorization: Bearer ...)")
        status = request.args.get("status") or None
        if status is not None and status not in logic.STATUSES:
            return api_error(400, f"unknown status {status!r}", statuses=list(logic.STATUSES))
        try:
            limit = int(request.args.get("limit", 50))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return api_error(400, "limit and offset must be integers")
        return jsonify({"items": db.list_complaints(get_db(), status=status, limit=limit, offset=offset)})

    @app.post("/api/v1/complaints/<ticket>/status")
    def api_status(ticket: str) -> Any:
        if not _bearer_ok():
            return api_error(401, "staff token required (Authorization: Bearer ...)")
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return api_error(400, 'body must be {"status": "...", "catatan": "..."}')
        try:
            db.change_status(get_db(), ticket, data["status"], str(data.get("catatan") or ""), oleh=STAFF_NAME)
        except KeyError:
            return api_error(404, f"no complaint {ticket}")
        except logic.InvalidTransition as exc:
            return api_error(409, str(exc))
        found = db.get_complaint(get_db(), ticket)
        assert found is not None
        return jsonify(logic.staff_view(*found))

    @app.errorhandler(413)
    def _too_large(_e: Any) -> Any:
        return api_error(413, "request too large")

    return app
