"""Flask app: web UI (Bahasa Indonesia) + JSON API under /api/v1/ + /healthz."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
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
from flask.json.provider import DefaultJSONProvider

from . import aturan, firstlogin, migrations, seleksi, store
from .config import Config
from .db import UNREACHABLE, Pool, connect
from .security import ROLES, can

log = logging.getLogger("ppdb")
HEALTH_TIMEOUT_S = 3.0
# Health probes run here so a hanging database lookup cannot hold a request thread.
health_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


class JSONProvider(DefaultJSONProvider):
    ensure_ascii = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.date):
            return o.isoformat()
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)


def public_school(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s[k] for k in ("id", "npsn", "nama", "jenjang", "alamat", "lat", "lon", "daya_tampung", "kuota",
                              "pendaftar")} | {"kuota_sesuai_regulasi": not s["masalah_kuota"],
                                               "masalah_kuota": s["masalah_kuota"]}  # fmt: skip


def public_rank(h: seleksi.Hasil, jalur: str) -> dict[str, Any]:
    out = {"peringkat": h.peringkat, "nomor": h.calon.nomor, "nama": seleksi.samarkan(h.calon.nama),
           "jarak_m": h.calon.jarak_m, "dalam_kuota": h.diterima}  # fmt: skip
    if aturan.PERINGKAT[jalur] == "nilai":
        out["nilai"] = h.calon.nilai
    return out


def create_app(cfg: Config, version: str) -> Flask:
    app = Flask(__name__, static_folder=cfg.static_dir, static_url_path="/static")
    app.json = JSONProvider(app)
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8),
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    expected_schema = len(migrations.for_version(migrations.discover(), version))
    pool = Pool(cfg, size=cfg.threads + 1)
    tahun = cfg.tahun
    initial = firstlogin.InitialPassword(cfg.admin_password)

    def conn() -> Any:
        if "conn" not in g:
            g.conn = pool.get()
        return g.conn

    @app.teardown_request
    def _give_back(exc: BaseException | None) -> None:
        c = g.pop("conn", None)
        if c is not None:
            pool.put(c, broken=exc is not None or bool(g.pop("conn_broken", False)))

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "pemda": cfg.pemda_name, "logo_url": cfg.logo_url or url_for("static", filename="logo.svg"),
            "version": version, "tahun": tahun, "tahun_ajaran": cfg.tahun_ajaran, "sebutan": aturan.SEBUTAN,
            "sebutan_panjang": aturan.SEBUTAN_PANJANG, "regulasi": aturan.REGULASI_KODE,
            "regulasi_nama": aturan.REGULASI_NAMA, "label_jalur": aturan.LABEL_JALUR, "me": g.get("user"),
            "csrf": _csrf_token(), "can": lambda a: bool(g.get("user")) and can(g.user["role"], a),
            "samarkan": seleksi.samarkan,
        }  # fmt: skip

    # -- errors -----------------------------------------------------------------------
    def is_api() -> bool:
        return request.path.startswith("/api/")

    @app.errorhandler(store.AppError)
    def _app_error(exc: store.AppError) -> Any:
        if is_api():
            body: dict[str, Any] = {"error": str(exc)}
            if exc.details:
                body["details"] = exc.details
            return jsonify(body), exc.status
        return render_template("error.html", message=str(exc), details=exc.details), exc.status

    def _db_down(exc: Exception) -> Any:
        g.conn_broken = True
        log.error("database tidak tersedia: %s", exc)
        if is_api():
            return jsonify(error="database tidak tersedia, coba lagi"), 503
        return render_template("error.html", message="Database tidak tersedia, coba lagi.", details=[]), 503

    for err in UNREACHABLE:
        app.register_error_handler(err, _db_down)

    @app.errorhandler(404)
    def _nf(_e: Any) -> Any:
        if is_api():
            return jsonify(error="tidak ditemukan"), 404
        return render_template("error.html", message="Halaman tidak ditemukan.", details=[]), 404

    @app.errorhandler(405)
    def _405(_e: Any) -> Any:
        if is_api():
            return jsonify(error="metode tidak diizinkan"), 405
        return render_template("error.html", message="Metode tidak diizinkan.", details=[]), 405

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
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if token:
                g.user = store.user_by_token(conn(), token)
                if g.user is None:
                    return jsonify(error="token tidak sah"), 401
        else:
            if request.method == "POST" and request.endpoint != "login":
                if not secrets.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
                    abort(400)
            uid = session.get("uid")
            if uid is not None:
                g.user = store.user_by_id(conn(), int(uid))
                if g.user is None or not g.user["aktif"]:
                    session.pop("uid", None)
                    g.user = None
        # 2.0.1: the first admin reaches nothing but the change of the initial password.
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

    def form() -> dict[str, Any]:
        return {k: v for k, v in request.form.items() if k != "csrf"}

    # -- health -----------------------------------------------------------------------
    def _probe() -> int:
        c = connect(cfg, timeout=HEALTH_TIMEOUT_S)
        try:
            c.run("SELECT 1")
            return migrations.schema_version(c)
        finally:
            c.close()

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            schema = health_pool.submit(_probe).result(timeout=HEALTH_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            return jsonify(status="error", version=version, db="error: timeout"), 503
        except Exception as exc:  # noqa: BLE001 - any DB failure means unhealthy
            return jsonify(status="error", version=version, db=f"error: {type(exc).__name__}"), 503
        if schema < expected_schema:
            return jsonify(status="error", version=version, db="ok", schema=schema,
                           error=f"skema {schema} < {expected_schema}"), 503  # fmt: skip
        return jsonify(status="ok", version=version, db="ok", schema=schema)

    # -- API ----------------------------------------------------------------------------
    @app.get("/api/v1/info")
    def api_info() -> Any:
        return jsonify(app="ppdb", version=version, pemda=cfg.pemda_name, tahun=tahun, tahun_ajaran=cfg.tahun_ajaran,
                       sebutan=aturan.SEBUTAN, regulasi=aturan.REGULASI_KODE, regulasi_nama=aturan.REGULASI_NAMA,
                       jenjang=list(aturan.JENJANG), jalur=aturan.LABEL_JALUR, aturan_peringkat=aturan.PERINGKAT,
                       batas_kuota=aturan.tabel_batas(), bukti=aturan.BUKTI, roles=list(ROLES),
                       peta_jalur_permendikbud_1_2021=aturan.PETA_JALUR_2021)  # fmt: skip

    @app.post("/api/v1/tokens")
    def api_token() -> Any:
        data = body()
        user = store.authenticate(conn(), str(data.get("username", "")).strip().lower(), str(data.get("password", "")))
        if user is None:
            return jsonify(error="username atau kata sandi salah"), 401
        return jsonify(token=store.issue_token(conn(), user["id"], str(data.get("label") or "api")), user=user), 201

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
    @api_auth("users")
    def api_users() -> Any:
        return jsonify(store.list_users(conn()))

    @app.post("/api/v1/users")
    @api_auth("users")
    def api_user_create() -> Any:
        return jsonify(store.create_user(conn(), body())), 201

    @app.get("/api/v1/sekolah")
    def api_schools() -> Any:
        jenjang = (request.args.get("jenjang") or "").upper() or None
        return jsonify([public_school(s) for s in store.list_schools(conn(), tahun, jenjang)])

    @app.post("/api/v1/sekolah")
    @api_auth("sekolah")
    def api_school_create() -> Any:
        return jsonify(public_school(store.create_school(conn(), body(), tahun))), 201

    @app.get("/api/v1/sekolah/<int:sid>")
    def api_school(sid: int) -> Any:
        return jsonify(public_school(store.get_school(conn(), sid, tahun)))

    @app.put("/api/v1/sekolah/<int:sid>/kuota")
    @api_auth("sekolah")
    def api_school_quota(sid: int) -> Any:
        return jsonify(public_school(store.set_quota(conn(), sid, body(), tahun)))

    @app.get("/api/v1/sekolah/<int:sid>/peringkat")
    def api_ranking(sid: int) -> Any:
        school = store.get_school(conn(), sid, tahun)
        jalur = request.args.get("jalur") or aturan.jalur_tersedia(school["jenjang"])[0]
        limit = max(1, min(request.args.get("limit", 100, type=int) or 100, 1000))
        offset = max(0, request.args.get("offset", 0, type=int) or 0)
        result = store.ranking(conn(), school, jalur, tahun)
        return jsonify(sekolah=school["nama"], jalur=jalur, aturan=aturan.PERINGKAT[jalur],
                       kuota=school["kuota"][jalur], pendaftar=len(result),
                       peringkat=[public_rank(h, jalur) for h in result[offset:offset + limit]])  # fmt: skip

    @app.post("/api/v1/pendaftaran")
    def api_register() -> Any:
        reg = store.register(conn(), body(), tahun)
        return jsonify(reg | {"posisi": store.my_rank(conn(), reg)}), 201

    @app.get("/api/v1/pendaftaran")
    @api_auth("verifikasi")
    def api_registrations() -> Any:
        return jsonify(store.list_registrations(
            conn(), request.args.get("tahun", tahun, type=int), sekolah_id=request.args.get("sekolah_id", type=int),
            limit=request.args.get("limit", 500, type=int), offset=request.args.get("offset", 0, type=int)))

    @app.get("/api/v1/pendaftaran/<nomor>")
    def api_registration(nomor: str) -> Any:
        if g.user is not None and can(g.user["role"], "verifikasi"):
            reg = store.get_registration(conn(), nomor)
        else:
            reg = store.get_registration(conn(), nomor, request.args.get("nik", ""))
        return jsonify(reg | {"posisi": store.my_rank(conn(), reg)})

    @app.post("/api/v1/pendaftaran/<nomor>/tolak")
    @api_auth("verifikasi")
    def api_reject(nomor: str) -> Any:
        return jsonify(store.reject(conn(), nomor, str(body().get("catatan") or ""), tahun))

    @app.post("/api/v1/pengumuman")
    @api_auth("pengumuman")
    def api_publish() -> Any:
        return jsonify(store.publish(conn(), tahun, g.user["id"])), 201

    @app.get("/api/v1/pengumuman")
    def api_announcement() -> Any:
        return jsonify(store.summary(conn(), request.args.get("tahun", tahun, type=int)))

    @app.get("/api/v1/pengumuman/sekolah/<int:sid>")
    def api_announcement_school(sid: int) -> Any:
        t = request.args.get("tahun", tahun, type=int)
        store.summary(conn(), t)
        return jsonify(store.accepted(conn(), t, sid))

    @app.get("/api/v1/pengumuman/hasil/<nomor>")
    def api_announcement_result(nomor: str) -> Any:
        return jsonify(store.result_of(conn(), request.args.get("tahun", tahun, type=int), nomor,
                                       request.args.get("nik", "")))  # fmt: skip

    # -- UI: public ------------------------------------------------------------------------
    @app.get("/")
    def index() -> Any:
        return render_template("beranda.html", counts=store.counts(conn(), tahun), batas=aturan.tabel_batas(),
                               jenjang=aturan.JENJANG, jalur=aturan.JALUR, diumumkan=store.announced(conn(), tahun))

    @app.get("/sekolah")
    def sekolah_list() -> Any:
        jenjang = (request.args.get("jenjang") or "").upper() or None
        return render_template("sekolah_list.html", jenjang=jenjang, semua_jenjang=aturan.JENJANG,
                               schools=store.list_schools(conn(), tahun, jenjang))  # fmt: skip

    @app.get("/sekolah/<int:sid>")
    def sekolah_detail(sid: int) -> Any:
        school = store.get_school(conn(), sid, tahun)
        open_ = aturan.jalur_tersedia(school["jenjang"])
        jalur = request.args.get("jalur") or open_[0]
        if jalur not in open_:
            abort(404)
        return render_template("sekolah_detail.html", s=school, jalur=jalur, jalur_list=open_,
                               aturan_peringkat=aturan.PERINGKAT[jalur], hasil=store.ranking(conn(), school, jalur, tahun))

    @app.route("/daftar", methods=["GET", "POST"])
    def daftar() -> Any:
        schools = store.list_schools(conn(), tahun)
        jalur_per_jenjang = {jj: aturan.jalur_tersedia(jj) for jj in aturan.JENJANG}
        if request.method == "POST":
            data = form()
            try:
                reg = store.register(conn(), data, tahun)
            except store.AppError as exc:
                flash(str(exc), "error")
                return render_template("daftar.html", schools=schools, form=data, jalur_per_jenjang=jalur_per_jenjang,
                                       bukti=aturan.BUKTI), exc.status  # fmt: skip
            return render_template("bukti.html", r=reg, posisi=store.my_rank(conn(), reg)), 201
        return render_template("daftar.html", schools=schools, form={"sekolah_id": request.args.get("sekolah", "")},
                               jalur_per_jenjang=jalur_per_jenjang, bukti=aturan.BUKTI)  # fmt: skip

    @app.route("/cek", methods=["GET", "POST"])
    def cek() -> Any:
        reg, posisi, hasil = None, None, None
        if request.method == "POST":
            try:
                reg = store.get_registration(conn(), request.form.get("nomor", ""), request.form.get("nik", ""))
                posisi = store.my_rank(conn(), reg)
                if store.announced(conn(), reg["tahun"]):
                    hasil = store.result_of(conn(), reg["tahun"], reg["nomor"], reg["nik"])
            except store.AppError as exc:
                flash(str(exc), "error")
                return render_template("cek.html", reg=None, form=form()), exc.status
        return render_template("cek.html", reg=reg, posisi=posisi, hasil=hasil, form=form())

    @app.get("/pengumuman")
    def pengumuman() -> Any:
        head = store.announced(conn(), tahun)
        schools = store.list_schools(conn(), tahun) if head else []
        sid = request.args.get("sekolah", type=int)
        daftar_diterima = store.accepted(conn(), tahun, sid) if head and sid else None
        return render_template("pengumuman.html", head=head, schools=schools, sid=sid, diterima=daftar_diterima)

    # -- UI: admin ---------------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST":
            user = store.authenticate(conn(), request.form.get("username", "").strip().lower(),
                                      request.form.get("password", ""))  # fmt: skip
            if user is None:
                flash("Username atau kata sandi salah.", "error")
                return render_template("login.html"), 401
            session.clear()
            session["uid"] = user["id"]
            session.permanent = True
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for("admin"))
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
            return redirect(url_for("admin"))
        return render_template("ganti_sandi.html", forced=forced, minimum=firstlogin.NEW_PASSWORD_MIN)

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect(url_for("index"))

    @app.get("/admin")
    @ui_auth()
    def admin() -> Any:
        return render_template("admin.html", counts=store.counts(conn(), tahun), schools=store.list_schools(conn(), tahun),
                               diumumkan=store.announced(conn(), tahun))  # fmt: skip

    @app.post("/admin/pengumuman")
    @ui_auth("pengumuman")
    def admin_publish() -> Any:
        try:
            store.publish(conn(), tahun, g.user["id"])
            flash(f"Hasil seleksi {sebutan_tahun()} diumumkan.", "ok")
        except store.AppError as exc:
            flash(str(exc) + (": " + " | ".join(exc.details) if exc.details else ""), "error")
        return redirect(url_for("admin"))

    def sebutan_tahun() -> str:
        return f"{aturan.SEBUTAN} {cfg.tahun_ajaran}"

    @app.route("/admin/sekolah/baru", methods=["GET", "POST"])
    @ui_auth("sekolah")
    def sekolah_baru() -> Any:
        if request.method == "POST":
            data = form()
            try:
                s = store.create_school(conn(), data, tahun)
            except store.AppError as exc:
                flash(str(exc) + (": " + " | ".join(exc.details) if exc.details else ""), "error")
                return render_template("sekolah_form.html", form=data, semua_jenjang=aturan.JENJANG), exc.status
            flash(f"Sekolah {s['nama']} ditambahkan dengan kuota bawaan sesuai {aturan.REGULASI_KODE}.", "ok")
            return redirect(url_for("kuota_form", sid=s["id"]))
        return render_template("sekolah_form.html", form={}, semua_jenjang=aturan.JENJANG)

    @app.route("/admin/sekolah/<int:sid>/kuota", methods=["GET", "POST"])
    @ui_auth("sekolah")
    def kuota_form(sid: int) -> Any:
        school = store.get_school(conn(), sid, tahun)
        open_ = aturan.jalur_tersedia(school["jenjang"])
        batas = aturan.tabel_batas()[school["jenjang"]]
        if request.method == "POST":
            data = {"daya_tampung": request.form.get("daya_tampung"),
                    "kuota": {j: request.form.get(f"kuota_{j}", "") for j in open_}}  # fmt: skip
            try:
                store.set_quota(conn(), sid, data, tahun)
            except store.AppError as exc:
                flash(str(exc) + (": " + " | ".join(exc.details) if exc.details else ""), "error")
                return render_template("kuota_form.html", s=school, jalur_list=open_, batas=batas), exc.status
            flash("Kuota disimpan.", "ok")
            return redirect(url_for("admin"))
        return render_template("kuota_form.html", s=school, jalur_list=open_, batas=batas)

    @app.get("/admin/pendaftar")
    @ui_auth("verifikasi")
    def pendaftar() -> Any:
        sid = request.args.get("sekolah", type=int)
        return render_template("pendaftar.html", items=store.list_registrations(conn(), tahun, sekolah_id=sid),
                               schools=store.list_schools(conn(), tahun), sid=sid)  # fmt: skip

    @app.post("/admin/pendaftar/<nomor>/tolak")
    @ui_auth("verifikasi")
    def tolak(nomor: str) -> Any:
        try:
            store.reject(conn(), nomor, request.form.get("catatan", ""), tahun)
            flash(f"Pendaftaran {nomor} ditolak.", "ok")
        except store.AppError as exc:
            flash(str(exc), "error")
        return redirect(url_for("pendaftar"))

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    return app
