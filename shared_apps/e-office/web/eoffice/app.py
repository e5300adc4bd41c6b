"""Flask app: web UI (Bahasa Indonesia) + JSON API under /api/v1/ + /healthz."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import pg8000.native
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
from flask.json.provider import DefaultJSONProvider

from . import firstlogin, migrations, signing, store
from .config import Config
from .security import ROLES, can
from .versioning import has_klasifikasi

log = logging.getLogger("eoffice")
HEALTH_TIMEOUT_S = 3.0
# Health probes run here so a hanging database lookup cannot exhaust the server's threads.
health_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


class JSONProvider(DefaultJSONProvider):
    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


def wait_for_db(cfg: Config, timeout_s: float = 90.0) -> pg8000.native.Connection:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return store.connect(cfg, timeout=5)
        except (pg8000.native.InterfaceError, pg8000.native.DatabaseError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            log.info("menunggu database %s:%s (%s)", cfg.db_host, cfg.db_port, exc)
            time.sleep(1)


def prepare(cfg: Config, version: str) -> tuple[signing.StoredKey, Any]:
    """Migrate, create the first admin, load the signing key. Runs once at startup."""
    conn = wait_for_db(cfg)
    try:
        done = migrations.apply(conn, version)
        for m in done:
            log.info("migrasi %04d_%s diterapkan", m.number, m.name)
        store.ensure_admin(conn, cfg.admin_password)
        key = store.ensure_signing_key(conn, cfg.secret_key)
    finally:
        conn.close()
    try:
        private = signing.open_key(key, cfg.secret_key)
    except Exception:  # noqa: BLE001 - wrong SECRET_KEY: keep serving, signing disabled
        log.error("kunci tanda tangan %s tidak dapat dibuka dengan SECRET_KEY ini; penandatanganan nonaktif",
                  key.key_id)
        private = None
    return key, private


def create_app(cfg: Config, version: str, *, key: signing.StoredKey, private: Any) -> Flask:
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    klas = has_klasifikasi(version)
    initial = firstlogin.InitialPassword(cfg.admin_password)
    expected_schema = len(migrations.for_version(migrations.discover(), version))

    def conn() -> pg8000.native.Connection:
        if "conn" not in g:
            g.conn = store.connect(cfg)
        return g.conn

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        c = g.pop("conn", None)
        if c is not None:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - connection already broken
                pass

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "pemda": cfg.pemda_name, "logo_url": cfg.logo_url or url_for("static", filename="logo.svg"),
            "version": version, "klas": klas, "me": g.get("user"), "csrf": _csrf_token(),
            "can": lambda a: bool(g.get("user")) and can(g.user["role"], a),
        }

    # -- errors -----------------------------------------------------------------------
    def is_api() -> bool:
        return request.path.startswith("/api/")

    @app.errorhandler(store.AppError)
    def _app_error(exc: store.AppError) -> Any:
        if is_api():
            return jsonify(error=str(exc)), exc.status
        return render_template("error.html", message=str(exc)), exc.status

    @app.errorhandler(pg8000.native.InterfaceError)
    @app.errorhandler(OSError)
    def _db_down(exc: Exception) -> Any:
        log.error("database tidak tersedia: %s", exc)
        if is_api():
            return jsonify(error="database tidak tersedia"), 503
        return render_template("error.html", message="Database tidak tersedia, coba lagi."), 503

    @app.errorhandler(404)
    def _nf(_e: Any) -> Any:
        if is_api():
            return jsonify(error="tidak ditemukan"), 404
        return render_template("error.html", message="Halaman tidak ditemukan."), 404

    # -- auth -------------------------------------------------------------------------
    def initial_in_use() -> bool:
        return initial.matches(store.password_hash_of(conn(), firstlogin.FIRST_ADMIN))

    def _csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(24)
        return str(session["csrf"])

    @app.before_request
    def _load_user() -> Any:
        g.user = None
        if is_api():
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-API-Token", "")
            if token:
                g.user = store.user_by_token(conn(), token)
                if g.user is None:
                    return jsonify(error="token tidak sah"), 401
        else:
            if request.method == "POST" and request.endpoint not in ("login", "verifikasi_form"):
                if not secrets.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
                    abort(400)
            uid = session.get("uid")
            if uid is not None:
                g.user = store.user_by_id(conn(), int(uid))
                if g.user is None or not g.user["aktif"]:
                    session.clear()
                    g.user = None
        # 1.1.1: the first admin reaches nothing but the change of the initial password.
        if (g.user is not None and g.user["username"] == firstlogin.FIRST_ADMIN
                and not firstlogin.is_allowed(request.endpoint) and initial_in_use()):
            if is_api():
                return jsonify(firstlogin.forced_error()), 403
            return redirect(url_for("ganti_sandi"))
        return None

    def api_auth(action: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(fn)
            def inner(*a: Any, **kw: Any) -> Any:
                if g.user is None:
                    return jsonify(error="perlu token: header 'Authorization: Bearer <token>'"), 401
                if action and not can(g.user["role"], action):
                    return jsonify(error=f"peran {g.user['role']} tidak berhak ({action})"), 403
                return fn(*a, **kw)
            return inner
        return deco

    def ui_auth(action: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(fn)
            def inner(*a: Any, **kw: Any) -> Any:
                if g.user is None:
                    return redirect(url_for("login", next=request.path))
                if action and not can(g.user["role"], action):
                    raise store.AppError("Peran Anda tidak berhak melakukan ini.", 403)
                return fn(*a, **kw)
            return inner
        return deco

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise store.AppError("body harus JSON (Content-Type: application/json)")
        return data

    # -- health -----------------------------------------------------------------------
    def _probe() -> int:
        c = store.connect(cfg, timeout=HEALTH_TIMEOUT_S)
        try:
            c.run("SELECT 1")
            return migrations.schema_version(c)
        finally:
            c.close()

    @app.get("/healthz")
    def healthz() -> Any:
        # Bounded in time: when the db container is gone, name resolution alone can take
        # 10 s; a health check must answer 503 quickly instead.
        try:
            schema = health_pool.submit(_probe).result(timeout=HEALTH_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            return jsonify(status="error", version=version, db="error: timeout"), 503
        except Exception as exc:  # noqa: BLE001 - any DB failure means unhealthy
            return jsonify(status="error", version=version, db=f"error: {type(exc).__name__}"), 503
        if schema < expected_schema:
            return jsonify(status="error", version=version, db="ok", schema=schema,
                           error=f"skema {schema} < {expected_schema}"), 503
        return jsonify(status="ok", version=version, db="ok", schema=schema)

    # -- API: auth & users --------------------------------------------------------------
    @app.post("/api/v1/tokens")
    def api_token() -> Any:
        data = body()
        user = store.authenticate(conn(), str(data.get("username", "")), str(data.get("password", "")))
        if user is None:
            return jsonify(error="username atau kata sandi salah"), 401
        token = store.issue_token(conn(), user["id"], str(data.get("label") or "api"))
        return jsonify(token=token, user=user), 201

    @app.get("/api/v1/me")
    @api_auth()
    def api_me() -> Any:
        return jsonify(g.user)

    def _change_password(data: dict[str, Any]) -> None:
        store.change_own_password(conn(), g.user, data, initial=cfg.admin_password)
        log.info("audit: pengguna %s mengganti kata sandinya%s (dari %s)", g.user["username"],
                 " (kata sandi awal tidak dipakai lagi)" if g.user["username"] == firstlogin.FIRST_ADMIN else "",
                 request.remote_addr or "-")

    @app.post("/api/v1/me/password")
    @api_auth()
    def api_change_password() -> Any:
        _change_password(body())
        return jsonify(changed=True, message="kata sandi diganti; semua token lama dicabut, minta token baru"), 200

    @app.get("/api/v1/first-login")
    def api_first_login() -> Any:
        # Public like /healthz: one boolean, no secret; spbe-share reads it without credentials.
        return jsonify(initial_password_in_use=initial_in_use())

    @app.get("/api/v1/users")
    @api_auth()
    def api_users() -> Any:
        return jsonify(store.list_users(conn()))

    @app.post("/api/v1/users")
    @api_auth("users")
    def api_user_create() -> Any:
        return jsonify(store.create_user(conn(), body())), 201

    @app.patch("/api/v1/users/<int:uid>")
    @api_auth("users")
    def api_user_update(uid: int) -> Any:
        return jsonify(store.update_user(conn(), uid, body()))

    # -- API: letters -------------------------------------------------------------------
    @app.get("/api/v1/letters")
    @api_auth()
    def api_letters() -> Any:
        return jsonify(store.list_letters(
            conn(), g.user, klasifikasi=klas, jenis=request.args.get("jenis") or None,
            q=request.args.get("q") or None, limit=request.args.get("limit", 100, type=int),
            offset=request.args.get("offset", 0, type=int)))

    @app.post("/api/v1/letters")
    @api_auth("letters.write")
    def api_letter_create() -> Any:
        return jsonify(store.create_letter(conn(), g.user, body(), cfg=cfg, klasifikasi=klas)), 201

    @app.get("/api/v1/letters/<int:lid>")
    @api_auth()
    def api_letter(lid: int) -> Any:
        letter = store.get_letter(conn(), g.user, lid, klasifikasi=klas)
        letter["dispositions"] = store.letter_dispositions(conn(), lid)
        sig = store.signature_of(conn(), lid)
        letter["signature"] = _sig_json(sig) if sig else None
        return jsonify(letter)

    @app.patch("/api/v1/letters/<int:lid>")
    @api_auth("letters.write")
    def api_letter_update(lid: int) -> Any:
        return jsonify(store.update_letter(conn(), g.user, lid, body(), klasifikasi=klas))

    @app.delete("/api/v1/letters/<int:lid>")
    @api_auth("letters.delete")
    def api_letter_delete(lid: int) -> Any:
        store.delete_letter(conn(), g.user, lid, klasifikasi=klas)
        return "", 204

    @app.get("/api/v1/letters/<int:lid>/dispositions")
    @api_auth()
    def api_dispositions(lid: int) -> Any:
        store.get_letter(conn(), g.user, lid, klasifikasi=klas)
        return jsonify(store.letter_dispositions(conn(), lid))

    @app.post("/api/v1/letters/<int:lid>/dispositions")
    @api_auth()
    def api_disposition_create(lid: int) -> Any:
        d = store.create_disposition(conn(), g.user, lid, body(), klasifikasi=klas,
                                     may_dispose=can(g.user["role"], "dispose"))
        return jsonify(d), 201

    @app.get("/api/v1/dispositions")
    @api_auth()
    def api_my_dispositions() -> Any:
        return jsonify(store.my_dispositions(conn(), g.user, request.args.get("status") or None))

    @app.patch("/api/v1/dispositions/<int:did>")
    @api_auth()
    def api_disposition_update(did: int) -> Any:
        return jsonify(store.update_disposition(conn(), g.user, did, body()))

    def _sign(lid: int) -> dict[str, Any]:
        if private is None:
            raise store.AppError("penandatanganan nonaktif: kunci tidak dapat dibuka (periksa SECRET_KEY)", 503)
        return store.sign_letter(conn(), g.user, lid, cfg=cfg, key=key, private=private, klasifikasi=klas)

    def _sig_json(sig: dict[str, Any]) -> dict[str, Any]:
        return {
            "content": json.loads(sig["content_json"]), "signature": sig["signature"],
            "key_id": sig["key_id"], "digest": sig["digest"], "signed_at": sig["signed_at"],
            "kode_verifikasi": sig["kode"],
            "verify_url": url_for("verifikasi", kode=sig["kode"], _external=True),
        }

    @app.post("/api/v1/letters/<int:lid>/sign")
    @api_auth("sign")
    def api_sign(lid: int) -> Any:
        return jsonify(_sig_json(_sign(lid))), 201

    @app.get("/api/v1/letters/<int:lid>/signature")
    @api_auth()
    def api_signature(lid: int) -> Any:
        store.get_letter(conn(), g.user, lid, klasifikasi=klas)
        sig = store.signature_of(conn(), lid)
        if sig is None:
            raise store.AppError("surat belum ditandatangani", 404)
        return jsonify(_sig_json(sig))

    # -- API: public verification --------------------------------------------------------
    @app.post("/api/v1/verify")
    def api_verify() -> Any:
        data = body()
        return jsonify(store.verify(conn(), data.get("content"), data.get("signature"), data.get("key_id")))

    @app.get("/api/v1/public-keys")
    def api_public_keys() -> Any:
        return jsonify([{"key_id": k["key_id"], "algorithm": "Ed25519", "public_key": k["public_key"],
                         "created_at": k["created_at"]} for k in store.public_keys(conn())])

    @app.get("/api/v1/info")
    def api_info() -> Any:
        return jsonify(app="e-office", version=version, pemda=cfg.pemda_name,
                       features={"klasifikasi_arsip": klas}, roles=list(ROLES))

    # -- API: klasifikasi (1.1.0) ------------------------------------------------------------
    if klas:
        @app.get("/api/v1/klasifikasi")
        @api_auth()
        def api_klasifikasi() -> Any:
            return jsonify(store.list_klasifikasi(conn()))

        @app.put("/api/v1/klasifikasi/<kode>")
        @api_auth("klasifikasi")
        def api_klasifikasi_put(kode: str) -> Any:
            return jsonify(store.put_klasifikasi(conn(), kode, body()))

    # -- UI --------------------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST":
            user = store.authenticate(conn(), request.form.get("username", "").strip().lower(),
                                      request.form.get("password", ""))
            if user is None:
                flash("Username atau kata sandi salah.", "error")
                return render_template("login.html"), 401
            session.clear()
            session["uid"] = user["id"]
            session.permanent = True
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for("index"))
        return render_template("login.html")

    @app.route("/ganti-sandi", methods=["GET", "POST"])
    @ui_auth()
    def ganti_sandi() -> Any:
        forced = g.user["username"] == firstlogin.FIRST_ADMIN and initial_in_use()
        if request.method == "POST":
            try:
                _change_password({k: request.form.get(k, "") for k in
                                  ("current_password", "new_password", "confirm_password")})
            except store.AppError as exc:
                flash(str(exc), "error")
                return render_template("ganti_sandi.html", forced=forced,
                                       minimum=firstlogin.NEW_PASSWORD_MIN), exc.status
            flash("Kata sandi diganti.", "ok")
            return redirect(url_for("index"))
        return render_template("ganti_sandi.html", forced=forced, minimum=firstlogin.NEW_PASSWORD_MIN)

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("login"))

    @app.get("/")
    @ui_auth()
    def index() -> Any:
        return render_template("dashboard.html", counts=store.counts(conn()),
                               tugas=store.my_dispositions(conn(), g.user)[:10])

    @app.get("/surat")
    @ui_auth()
    def surat_list() -> Any:
        jenis = request.args.get("jenis") or None
        q = request.args.get("q") or None
        return render_template("surat_list.html", jenis=jenis, q=q or "",
                               letters=store.list_letters(conn(), g.user, klasifikasi=klas, jenis=jenis, q=q))

    @app.route("/surat/baru", methods=["GET", "POST"])
    @ui_auth("letters.write")
    def surat_baru() -> Any:
        jenis = request.args.get("jenis", "keluar")
        signers = [u for u in store.list_users(conn()) if u["role"] == "pejabat" and u["aktif"]]
        klasifikasi = store.list_klasifikasi(conn()) if klas else []
        if request.method == "POST":
            data: dict[str, Any] = {k: v for k, v in request.form.items() if k != "csrf"}
            pid = data.pop("penandatangan_id", "")
            data["penandatangan_id"] = int(pid) if pid.isdigit() else None
            try:
                letter = store.create_letter(conn(), g.user, data, cfg=cfg, klasifikasi=klas)
            except store.AppError as exc:
                flash(str(exc), "error")
                return render_template("surat_form.html", jenis=data.get("jenis", jenis), form=data,
                                       signers=signers, klasifikasi=klasifikasi), 400
            flash(f"Surat dicatat dengan nomor {letter['nomor']}.", "ok")
            return redirect(url_for("surat_detail", lid=letter["id"]))
        return render_template("surat_form.html", jenis=jenis, form={"tanggal": dt.date.today().isoformat()},
                               signers=signers, klasifikasi=klasifikasi)

    @app.get("/surat/<int:lid>")
    @ui_auth()
    def surat_detail(lid: int) -> Any:
        letter = store.get_letter(conn(), g.user, lid, klasifikasi=klas)
        sig = store.signature_of(conn(), lid)
        users = [u for u in store.list_users(conn()) if u["aktif"] and u["id"] != g.user["id"]]
        return render_template(
            "surat_detail.html", letter=letter, dispositions=store.letter_dispositions(conn(), lid),
            sig=_sig_json(sig) if sig else None, users=users,
            sig_json=json.dumps({"content": json.loads(sig["content_json"]), "signature": sig["signature"]},
                                ensure_ascii=False, indent=2) if sig else "",
        )

    @app.post("/surat/<int:lid>/disposisi")
    @ui_auth()
    def surat_disposisi(lid: int) -> Any:
        parent = request.form.get("parent_id", "")
        kepada = request.form.get("kepada_id", "")
        data = {"kepada_id": int(kepada) if kepada.isdigit() else None,
                "instruksi": request.form.get("instruksi", ""),
                "batas_waktu": request.form.get("batas_waktu") or None,
                "parent_id": int(parent) if parent.isdigit() else None}
        try:
            store.create_disposition(conn(), g.user, lid, data, klasifikasi=klas,
                                     may_dispose=can(g.user["role"], "dispose"))
            flash("Disposisi dikirim.", "ok")
        except store.AppError as exc:
            flash(str(exc), "error")
        return redirect(url_for("surat_detail", lid=lid))

    @app.post("/surat/<int:lid>/tandatangani")
    @ui_auth("sign")
    def surat_sign(lid: int) -> Any:
        try:
            _sign(lid)
            flash("Surat ditandatangani secara elektronik.", "ok")
        except store.AppError as exc:
            flash(str(exc), "error")
        return redirect(url_for("surat_detail", lid=lid))

    @app.post("/surat/<int:lid>/arsipkan")
    @ui_auth("letters.write")
    def surat_arsip(lid: int) -> Any:
        try:
            store.update_letter(conn(), g.user, lid, {"status": "diarsipkan"}, klasifikasi=klas)
            flash("Surat diarsipkan.", "ok")
        except store.AppError as exc:
            flash(str(exc), "error")
        return redirect(url_for("surat_detail", lid=lid))

    @app.get("/disposisi")
    @ui_auth()
    def disposisi() -> Any:
        return render_template("disposisi.html", items=store.my_dispositions(conn(), g.user,
                                                                             request.args.get("status") or None))

    @app.post("/disposisi/<int:did>")
    @ui_auth()
    def disposisi_update(did: int) -> Any:
        try:
            store.update_disposition(conn(), g.user, did, {"status": request.form.get("status"),
                                                           "catatan": request.form.get("catatan", "")})
            flash("Status disposisi diperbarui.", "ok")
        except store.AppError as exc:
            flash(str(exc), "error")
        return redirect(request.form.get("back") if str(request.form.get("back", "")).startswith("/")
                        else url_for("disposisi"))

    @app.route("/pengguna", methods=["GET", "POST"])
    @ui_auth("users")
    def pengguna() -> Any:
        if request.method == "POST":
            try:
                if request.form.get("id"):
                    store.update_user(conn(), int(request.form["id"]), {"aktif": request.form.get("aktif") == "1"})
                else:
                    store.create_user(conn(), {k: v for k, v in request.form.items() if k != "csrf"})
                flash("Data pengguna disimpan.", "ok")
            except store.AppError as exc:
                flash(str(exc), "error")
            return redirect(url_for("pengguna"))
        return render_template("pengguna.html", users=store.list_users(conn()), roles=ROLES)

    if klas:
        @app.get("/klasifikasi")
        @ui_auth()
        def klasifikasi_page() -> Any:
            return render_template("klasifikasi.html", items=store.list_klasifikasi(conn()))

    @app.get("/verifikasi/<kode>")
    def verifikasi(kode: str) -> Any:
        sig = store.signature_by_code(conn(), kode)
        if sig is None:
            return render_template("verifikasi.html", found=False, kode=kode), 404
        status = store.verification_status(conn(), sig)
        content = status["content"]
        public = content.get("klasifikasi_keamanan", "biasa") == "biasa"
        return render_template("verifikasi.html", found=True, kode=kode, sig=sig, status=status,
                               content=content, public=public)

    @app.route("/verifikasi", methods=["GET", "POST"])
    def verifikasi_form() -> Any:
        result, text, error = None, "", None
        if request.method == "POST":
            text = request.form.get("data", "")
            try:
                data = json.loads(text)
                if not isinstance(data, dict):
                    raise ValueError
                result = store.verify(conn(), data.get("content"), data.get("signature"), data.get("key_id"))
            except (ValueError, store.AppError):
                error = "Data harus JSON berisi \"content\" (objek) dan \"signature\" (base64)."
        return render_template("verifikasi_form.html", result=result, text=text, error=error)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    return app
