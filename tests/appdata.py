"""Data fixtures for data-safety tests: make real data in a running app, then measure it.

* :func:`eoffice_seed` creates users, letters (surat masuk/keluar), disposition chains and
  Ed25519 signatures through e-office's HTTP API (works on 1.0.0 and 1.1.0).
* :func:`eoffice_measure` reads every table of the ``eoffice`` database (psql inside the db
  container, as the superuser): row counts and a checksum per table, and verifies every
  stored signature independently (Ed25519 over the canonical content, with the deployment's
  public key) and, given the app's URL, through the app itself (API and /verifikasi page).
* :func:`pengaduan_seed` / :func:`pengaduan_measure`: the same for Pengaduan (complaints,
  status changes, SQLite read inside the web container).

A test asserts "the data is back" with ``after.same_data(before)`` (message: ``after.diff(before)``).
Volatile columns the apps update on their own are left out of the checksums:
e-office ``api_tokens.last_used_at`` (set on every API call), pengaduan's ``health`` table
(written by every /healthz).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import unicodedata
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

EOFFICE_VOLATILE = {"api_tokens": ["last_used_at"]}
PENGADUAN_SKIP = {"health"}
TABLE = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Fingerprint:
    """Row counts and row checksums per table; ``signatures`` = how many verified."""

    counts: dict[str, int]
    checksums: dict[str, str]
    signatures: int = 0
    problems: list[str] = field(default_factory=list)

    def same_data(self, other: Fingerprint) -> bool:
        return self.counts == other.counts and self.checksums == other.checksums

    def diff(self, other: Fingerprint) -> list[str]:
        out = []
        for t in sorted(set(self.counts) | set(other.counts)):
            a, b = self.counts.get(t), other.counts.get(t)
            if a != b:
                out.append(f"{t}: {b} rows before, {a} now")
            elif self.checksums.get(t) != other.checksums.get(t):
                out.append(f"{t}: same {a} rows, different content")
        return out

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


# ---------------------------------------------------------------- HTTP


class Api:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, *, expect: int | tuple[int, ...] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310 - loopback
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback test URL
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        if expect is not None:
            allowed = (expect,) if isinstance(expect, int) else expect
            assert status in allowed, f"{method} {path}: HTTP {status} {raw[:300]!r}"
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def login(self, username: str, password: str) -> Api:
        out = self.call("POST", "/api/v1/tokens", {"username": username, "password": password}, expect=201)
        return Api(self.base, out["token"])


# ---------------------------------------------------------------- e-office

#: From 1.1.1 on, e-office makes the first admin replace the initial password before anything
#: else; :func:`eoffice_admin` does so once, to the initial password plus this suffix.
ADMIN_CHANGED_SUFFIX = "-diganti"


def eoffice_admin(base_url: str, initial: str) -> Api:
    """The first admin's API session on any release: on 1.1.1 and later, the first call
    replaces the initial password (the forced change) with ``initial + ADMIN_CHANGED_SUFFIX``;
    later calls, and a restored backup taken after it, log in with that one."""
    public = Api(base_url)
    out = public.call("POST", "/api/v1/tokens", {"username": "admin", "password": initial}, expect=(201, 401))
    if "token" not in out:
        return public.login("admin", initial + ADMIN_CHANGED_SUFFIX)
    admin = Api(base_url, out["token"])
    probe = admin.call("GET", "/api/v1/users", expect=(200, 403))
    if isinstance(probe, dict) and probe.get("required") == "password_change":
        admin.call("POST", "/api/v1/me/password", {"current_password": initial,
                                                   "new_password": initial + ADMIN_CHANGED_SUFFIX}, expect=200)
        return public.login("admin", initial + ADMIN_CHANGED_SUFFIX)
    return admin


def eoffice_seed(base_url: str, admin_password: str, *, letters: int = 24, signed: int = 4,
                 tag: str = "a", workers: int = 4) -> dict[str, Any]:
    """Users ``sekre-<tag>``, ``kadis-<tag>``, ``kabid-<tag>``, ``staf-<tag>``; ``letters``
    letters (every other one keluar, signed by kadis for the first ``signed`` of those);
    a disposition chain sekre -> kadis -> kabid -> staf on every third masuk letter."""
    public = Api(base_url)
    # 1.0.0 as released (a source snapshot since the bundle merge) has no "features" at all
    klas = bool((public.call("GET", "/api/v1/info", expect=200).get("features") or {}).get("klasifikasi_arsip"))
    admin = eoffice_admin(base_url, admin_password)
    users = {}
    for role, name, jabatan in [("sekretariat", "sekre", "Kepala Subbagian TU"), ("pejabat", "kadis", "Kepala Dinas"),
                                ("pejabat", "kabid", "Kepala Bidang"), ("staf", "staf", "Pranata Komputer")]:
        username = f"{name}-{tag}"
        users[name] = admin.call("POST", "/api/v1/users", {
            "username": username, "role": role, "nama": f"{name.title()} {tag.upper()}", "jabatan": jabatan,
            "password": f"sandi-{username}-123"}, expect=201)
    tu, kadis, kabid, staf = (public.login(f"{n}-{tag}", f"sandi-{n}-{tag}-123") for n in ("sekre", "kadis", "kabid", "staf"))

    def make(i: int) -> dict[str, Any]:
        jenis = "keluar" if i % 2 else "masuk"
        body: dict[str, Any] = {
            "jenis": jenis, "tanggal": f"2026-{1 + i % 12:02d}-{1 + i % 27:02d}",
            "perihal": f"Surat uji {tag}-{i}: koordinasi layanan SPBE – Papua ✓",
            "isi": f"Dengan hormat, isi surat nomor {i}. " * 3,
        }
        if jenis == "masuk":
            body.update(pengirim=f"Instansi {i}", nomor_asal=f"B/{i}/X/2026", sifat="rahasia" if i % 10 == 0 else "biasa")
        else:
            body.update(tujuan=f"Dinas {i}", penandatangan_id=users["kadis"]["id"])
        if klas:
            body["kode_klasifikasi"] = ["000.1.2", "800.1.2", "500"][i % 3]
        else:
            body["kode"] = ["000.1.2", "UM", "KP"][i % 3]
        return tu.call("POST", "/api/v1/letters", body, expect=201)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        made = list(pool.map(make, range(letters)))
    keluar = [lt for lt in made if lt["jenis"] == "keluar"]
    masuk = [lt for lt in made if lt["jenis"] == "masuk"]
    sigs = [kadis.call("POST", f"/api/v1/letters/{lt['id']}/sign", expect=201) for lt in keluar[:signed]]
    chains = 0
    for lt in masuk[::3]:
        d1 = tu.call("POST", f"/api/v1/letters/{lt['id']}/dispositions",
                     {"kepada_id": users["kadis"]["id"], "instruksi": "Mohon arahan"}, expect=201)
        d2 = kadis.call("POST", f"/api/v1/letters/{lt['id']}/dispositions",
                        {"kepada_id": users["kabid"]["id"], "instruksi": "Tindak lanjuti", "parent_id": d1["id"],
                         "batas_waktu": "2026-12-31"}, expect=201)
        d3 = kabid.call("POST", f"/api/v1/letters/{lt['id']}/dispositions",
                        {"kepada_id": users["staf"]["id"], "instruksi": "Siapkan bahan", "parent_id": d2["id"]},
                        expect=201)
        staf.call("PATCH", f"/api/v1/dispositions/{d3['id']}", {"status": "selesai", "catatan": "Selesai"}, expect=200)
        chains += 1
    return {"letters": len(made), "signatures": sigs, "chains": chains, "users": users, "klasifikasi": klas}


def psql_json(db_container: str, sql: str, *, database: str = "eoffice") -> Any:
    """One JSON value from a query run by the superuser inside the db container."""
    p = subprocess.run(  # noqa: S603 - fixed argv
        ["docker", "exec", "-i", "-u", "postgres", db_container, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
         "-d", database],
        input=sql.encode(), capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    if p.returncode != 0:
        raise AssertionError(f"psql in {db_container} failed: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout.decode())


def _canonical(content: Any) -> bytes:
    def norm(v: Any) -> Any:
        if isinstance(v, str):
            return unicodedata.normalize("NFC", v)
        if isinstance(v, dict):
            return {unicodedata.normalize("NFC", k): norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(content), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def verify_signature(content_json: str, digest: str, signature_b64: str, public_b64: str) -> str | None:
    """None when the stored signature verifies (e-office's scheme, checked independently)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    content = json.loads(content_json)
    computed = hashlib.sha256(_canonical(content)).hexdigest()
    if computed != digest:
        return f"digest {digest} != sha256 of the content {computed}"
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        key.verify(base64.b64decode(signature_b64), b"e-office/ttd/v1\n" + bytes.fromhex(computed))
    except (InvalidSignature, ValueError) as exc:
        return f"signature does not verify: {exc!r}"
    return None


def eoffice_measure(db_container: str, *, base_url: str | None = None, database: str = "eoffice") -> Fingerprint:
    """Counts + checksums of every table; every signature verified (independently, and by the
    app when ``base_url`` is given). ``problems`` lists signatures that did not verify."""
    tables = psql_json(db_container, "SELECT coalesce(json_agg(table_name ORDER BY table_name), '[]')"
                       " FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE';",
                       database=database)
    # every table's count and checksum in one query (one `docker exec`, not one per table)
    parts = []
    for t in tables:
        assert TABLE.match(t), t
        drop = "ARRAY[" + ",".join(f"'{c}'" for c in EOFFICE_VOLATILE.get(t, [])) + "]::text[]"
        parts.append(f"SELECT '{t}' AS t, json_build_array(count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), ''))"
                     f" AS v FROM (SELECT (to_jsonb(x) - {drop})::text AS r FROM public.{t} x) s")
    rows = psql_json(db_container, "SELECT coalesce(json_object_agg(t, v), '{}') FROM (" + " UNION ALL ".join(parts)
                     + ") q;", database=database) if parts else {}
    assert sorted(rows) == sorted(tables), (rows, tables)
    counts = {t: int(rows[t][0]) for t in tables}
    sums = {t: str(rows[t][1]) for t in tables}
    problems: list[str] = []
    n = 0
    if "signatures" in counts:
        sigs = psql_json(db_container, "SELECT coalesce(json_agg(json_build_object('kode', s.kode, 'content', s.content_json,"
                         " 'digest', s.digest, 'signature', s.signature, 'public', k.public_key) ORDER BY s.id), '[]')"
                         " FROM signatures s JOIN signing_keys k USING (key_id);", database=database)
        public = Api(base_url) if base_url else None
        for s in sigs:
            why = verify_signature(s["content"], s["digest"], s["signature"], s["public"])
            if why is None and public is not None:
                ok = public.call("POST", "/api/v1/verify", {"content": json.loads(s["content"]),
                                                            "signature": s["signature"]}, expect=200)
                page = public.call("GET", f"/verifikasi/{s['kode']}", expect=200)
                if not ok.get("valid"):
                    why = "the app's /api/v1/verify says not valid"
                elif "SAH: tanda tangan elektronik valid" not in str(page):
                    why = "the app's /verifikasi page does not say SAH"
            if why:
                problems.append(f"signature {s['kode']}: {why}")
            else:
                n += 1
    return Fingerprint(counts=counts, checksums=sums, signatures=n, problems=problems)


# ---------------------------------------------------------------- pengaduan

PENGADUAN_MEASURE = r"""
import hashlib, json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=30)
skip = set(sys.argv[2:])
out = {}
for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
    if t in skip:
        continue
    h = hashlib.md5()
    n = 0
    for row in conn.execute('SELECT * FROM "%s" ORDER BY rowid' % t.replace('"', '""')):
        h.update(json.dumps(list(row), ensure_ascii=False).encode() + b"\n")
        n += 1
    out[t] = [n, h.hexdigest()]
print(json.dumps(out))
"""


def pengaduan_seed(base_url: str, staff_password: str, *, complaints: int = 20, tag: str = "a") -> dict[str, Any]:
    """``complaints`` complaints (every fourth anonymous); a third verified then followed up,
    some of those finished, every seventh rejected (each change with a note)."""
    public = Api(base_url)
    staff = Api(base_url, staff_password)
    tickets = []
    for i in range(complaints):
        body = {"kategori": "Pelayanan Publik Lainnya", "judul": f"Pengaduan uji {tag}-{i}",
                "isi": f"Uraian pengaduan nomor {i}: layanan di kantor kecamatan lambat sekali.", "lokasi": f"Desa {i}"}
        if i % 4:
            body.update(nama=f"Warga {tag}{i}", kontak=f"warga{i}@contoh.go.id")
        else:
            body["anonim"] = "ya"
        tickets.append(public.call("POST", "/api/v1/complaints", body, expect=201)["ticket"])
    changes = 0
    for i, ticket in enumerate(tickets):
        steps: list[tuple[str, str]] = []
        if i % 7 == 3:
            steps = [("ditolak", "Bukan kewenangan Pemda")]
        elif i % 3 == 0:
            steps = [("diverifikasi", ""), ("ditindaklanjuti", "Diteruskan ke kecamatan")]
            if i % 2 == 0:
                steps.append(("selesai", "Sudah ditangani"))
        for status, note in steps:
            staff.call("POST", f"/api/v1/complaints/{ticket}/status", {"status": status, "catatan": note}, expect=200)
            changes += 1
    return {"tickets": tickets, "changes": changes}


def pengaduan_measure(web_container: str, *, database: str = "/data/pengaduan.db") -> Fingerprint:
    p = subprocess.run(  # noqa: S603 - fixed argv
        ["docker", "exec", web_container, "python3", "-c", PENGADUAN_MEASURE, database, *sorted(PENGADUAN_SKIP)],
        capture_output=True, check=False, timeout=300,
    )
    if p.returncode != 0:
        raise AssertionError(f"measuring {database} in {web_container} failed: {p.stderr.decode(errors='replace')}")
    data = json.loads(p.stdout)
    return Fingerprint(counts={t: int(v[0]) for t, v in data.items()}, checksums={t: v[1] for t, v in data.items()})
