"""The flows of ``bench/bench_ppdb_load.py``, as a locust file (run by locust, headless).

Every user is a person on the app's busiest day, one request per step and think time between
steps (``between(lo, hi)`` seconds, from the configuration). Through TLS only: the Pemda's
domain is resolved to the simulated data center's address here (the load generator's own name
lookup; nothing else changes) and its certificate is verified against the test CA.

* ``PpdbUser`` (opening day of PPDB/SPMB): 1 browse schools, 2 register, 3 check the ranking
  of the school, 4 check my registration.
* ``EofficeUser``: 1 list letters, 2 create a letter, 3 read it.
* ``PengaduanUser``: 1 home page, 2 submit a complaint, 3 track it.
* Each cycle ends with the floors: ``/healthz`` through TLS (nginx, the app, one database
  ping) and the plain-http redirect on port 80 (nginx alone, a static answer).

The configuration is JSON in ``$SPBE_LOAD_CONF`` (written by the benchmark).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

import gevent.socket
import gevent.ssl
from locust import FastHttpUser, SequentialTaskSet, between, task

CONF: dict[str, Any] = json.loads(os.environ.get("SPBE_LOAD_CONF") or "{}")
DOMAIN = CONF.get("domain", "localhost")
_real_getaddrinfo = gevent.socket.getaddrinfo


def _resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
    return _real_getaddrinfo(CONF["address"] if host == DOMAIN else host, *args, **kwargs)


gevent.socket.getaddrinfo = _resolve  # geventhttpclient looks it up at each connection


def _verified(*_args: Any, **_kwargs: Any) -> Any:
    return gevent.ssl.create_default_context(cafile=CONF["ca"])


_serial = itertools.count((os.getpid() % 1000) * 10**8 + int(time.time()) % 10**8)
THINK = between(*CONF.get("think", (1.0, 3.0)))
BORN = {"SD": "2019-03-01", "SMP": "2013-03-01", "SMA": "2010-03-01"}


def _created(r: Any, key: str) -> str:
    """``key`` of what a 201 answer created (a success); any other answer is a failure: ""."""
    if r.status_code == 201:
        r.success()
        return str(r.json()[key])
    r.failure(f"HTTP {r.status_code}: {(r.text or '')[:160]}")
    return ""


class _Floors:
    def floors(self: Any) -> None:
        self.client.get("/healthz", name="floor: /healthz (TLS, app, db ping)")
        self.client.get(f"http://{DOMAIN}/healthz", name="floor: :80 redirect (nginx only)", allow_redirects=False)


class PpdbFlow(SequentialTaskSet, _Floors):
    wait_time = THINK

    def on_start(self) -> None:
        self.school: dict[str, Any] = random.choice(CONF["schools"])  # noqa: S311 - load, not crypto
        self.nomor = ""
        self.nik = ""

    @task
    def browse(self) -> None:
        self.client.get(f"/api/v1/sekolah?jenjang={self.school['jenjang']}", name="1 browse schools")

    @task
    def register(self) -> None:
        i = next(_serial)
        s = self.school
        self.nik = f"6171{i % 10**12:012d}"
        body = {"sekolah_id": s["id"], "jalur": s["jalur"], "nik": self.nik, "nisn": f"{i % 10**10:010d}",
                "nama": f"Murid Beban {i}", "tanggal_lahir": BORN[s["jenjang"]], "alamat": f"Jl. Beban No. {i % 997}",
                "lat": round(s["lat"] + 0.0001 * (i % 211), 6), "lon": s["lon"]}  # fmt: skip
        with self.client.post("/api/v1/pendaftaran", json=body, name="2 register", catch_response=True) as r:
            self.nomor = _created(r, "nomor")

    @task
    def ranking(self) -> None:
        self.client.get(f"/api/v1/sekolah/{self.school['id']}/peringkat?jalur={self.school['jalur']}&limit=20",
                        name="3 check ranking")

    @task
    def mine(self) -> None:
        if self.nomor:
            self.client.get(f"/api/v1/pendaftaran/{self.nomor}?nik={self.nik}", name="4 my registration")
        self.floors()


class EofficeFlow(SequentialTaskSet, _Floors):
    wait_time = THINK

    def on_start(self) -> None:
        self.letter = ""

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {CONF['token']}"}

    @task
    def browse(self) -> None:
        self.client.get("/api/v1/letters?limit=20", headers=self._auth(), name="1 list letters")

    @task
    def create(self) -> None:
        i = next(_serial)
        body: dict[str, Any] = {"jenis": "masuk", "tanggal": "2026-03-10", "perihal": f"Surat beban {i}",
                                "pengirim": f"Instansi {i % 97}", "nomor_asal": f"B/{i}/X/2026",
                                "isi": "Dengan hormat, isi surat uji beban. " * 3}  # fmt: skip
        body[CONF["code_field"]] = CONF["code"]
        with self.client.post("/api/v1/letters", json=body, headers=self._auth(), name="2 create letter",
                              catch_response=True) as r:
            self.letter = _created(r, "id")

    @task
    def read(self) -> None:
        if self.letter:
            self.client.get(f"/api/v1/letters/{self.letter}", headers=self._auth(), name="3 read letter")
        self.floors()


class PengaduanFlow(SequentialTaskSet, _Floors):
    wait_time = THINK

    def on_start(self) -> None:
        self.ticket = ""

    @task
    def home(self) -> None:
        self.client.get("/", name="1 home page")

    @task
    def submit(self) -> None:
        i = next(_serial)
        body = {"kategori": CONF["category"], "judul": f"Jalan rusak {i}", "lokasi": "Jl. Uji",
                "isi": f"Jalan di depan rumah nomor {i % 500} rusak parah sejak bulan lalu."}  # fmt: skip
        with self.client.post("/api/v1/complaints", json=body, name="2 submit complaint", catch_response=True) as r:
            self.ticket = _created(r, "ticket")

    @task
    def track(self) -> None:
        if self.ticket:
            self.client.get(f"/api/v1/complaints/{self.ticket}", name="3 track complaint")
        self.floors()


class _Base(FastHttpUser):
    abstract = True
    host = f"https://{DOMAIN}"
    insecure = False
    ssl_context_factory = _verified
    network_timeout = 60.0
    connection_timeout = 60.0


class PpdbUser(_Base):
    tasks = [PpdbFlow]


class EofficeUser(_Base):
    tasks = [EofficeFlow]


class PengaduanUser(_Base):
    tasks = [PengaduanFlow]
