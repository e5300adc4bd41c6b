"""Pengaduan Masyarakat on the real Docker engine: build, labels, layer reuse, run, API, restart."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.docker

APP = "pengaduan"
VERSION = "1.0.0"


def http(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            raw = resp.read()
            status = resp.status
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        raw, status, ctype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
    return status, (json.loads(raw) if "json" in ctype else raw.decode("utf-8", "replace"))


def test_build_labels_and_rebuild_reuses_every_layer(
    built_app: Any, it_workspace: Any, load_app: Any, docker_client: Any
) -> None:
    from spbe_share.imaging.app import LABEL_APP, build_app, image_layers

    (first,) = built_app(APP)
    assert first.component == "web"
    assert first.ref == f"spbe-share/pengaduan:{VERSION}"
    labels = docker_client.images.get(first.ref).labels
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.title"] == "Pengaduan Masyarakat (web)"
    assert labels["org.opencontainers.image.source"] == str(load_app(APP).entry.source_url)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", labels["org.opencontainers.image.revision"])
    assert labels[LABEL_APP] == APP
    config = docker_client.images.get(first.ref).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "8080/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    assert "APP_VERSION=1.0.0" in config["Env"]
    base_layers = image_layers("spbe-share/base:bookworm")
    layers = image_layers(first.ref)
    assert layers[: len(base_layers)] == base_layers and len(layers) > len(base_layers)

    lines: list[str] = []
    (second,) = build_app(it_workspace, load_app(APP), VERSION, progress=lines.append)
    assert second.image_id == first.image_id
    steps = [i for i, line in enumerate(lines) if re.match(r"Step \d+/\d+ : ", line)]
    assert len(steps) > 5
    for i in steps[1:]:  # every step after FROM comes from the cache
        assert lines[i + 1].strip() == "---> Using cache", lines[i : i + 3]


def test_pengaduan_serves_keeps_data_across_restart(built_app: Any, load_app: Any, app_runner: Any) -> None:
    built_app(APP)
    loaded = load_app(APP)
    password = "kata-sandi-petugas-uji-123"
    settings = {"unit_pengelola": "Dinas Kominfo Uji", "kategori": "Jalan Rusak; Air Bersih"}
    app = app_runner(loaded, VERSION, settings=settings, secrets={"STAFF_PASSWORD": password})

    status, health = http("GET", app.url + "/healthz")
    assert status == 200 and health["status"] == "ok"
    assert health["version"] == VERSION and health["schema_version"] >= 1

    status, page = http("GET", app.url + "/")
    assert status == 200
    assert "Kabupaten Uji Coba" in page and "Dinas Kominfo Uji" in page and "Air Bersih" in page

    complaint = {
        "nama": "Made Wirawan",
        "kontak": "0812-3456-7890",
        "kategori": "Jalan Rusak",
        "judul": "Jalan berlubang di depan pasar",
        "isi": "Lubang besar di jalan depan pasar sejak dua minggu, membahayakan pengendara motor.",
        "lokasi": "Jl. Pasar No. 1",
    }
    status, created = http("POST", app.url + "/api/v1/complaints", complaint)
    assert status == 201, created
    ticket = created["ticket"]
    assert re.fullmatch(r"ADU-\d{4}-\d{6}", ticket)
    assert created["status"] == "diterima"

    status, bad = http("POST", app.url + "/api/v1/complaints", {**complaint, "kategori": "Tidak Ada"})
    assert status == 422 and "kategori" in bad["fields"]

    status, public = http("GET", f"{app.url}/api/v1/complaints/{ticket}")
    assert status == 200 and public["judul"] == complaint["judul"]
    assert "nama" not in public and "kontak" not in public and "isi" not in public

    assert http("GET", app.url + "/api/v1/complaints")[0] == 401
    assert http("GET", app.url + "/api/v1/complaints", token="salah")[0] == 401
    status, listing = http("GET", app.url + "/api/v1/complaints?status=diterima", token=password)
    assert status == 200 and [c["ticket"] for c in listing["items"]] == [ticket]

    url_status = f"{app.url}/api/v1/complaints/{ticket}/status"
    assert http("POST", url_status, {"status": "diverifikasi"})[0] == 401
    status, changed = http("POST", url_status, {"status": "diverifikasi", "catatan": "Laporan lengkap."}, password)
    assert status == 200 and changed["status"] == "diverifikasi"
    assert changed["nama"] == "Made Wirawan"
    status, err = http("POST", url_status, {"status": "selesai", "catatan": "x"}, password)
    assert status == 409, err  # must go through ditindaklanjuti first

    # restart on the same volume: the complaint and its history are still there
    app.stop()
    app2 = app_runner(loaded, VERSION, settings=settings, secrets={"STAFF_PASSWORD": password})
    assert app2.url != "" and http("GET", app2.url + "/healthz")[0] == 200
    status, again = http("GET", f"{app2.url}/api/v1/complaints/{ticket}", token=password)
    assert status == 200
    assert again["status"] == "diverifikasi" and again["isi"] == complaint["isi"]
    assert [h["status"] for h in again["history"]] == ["diterima", "diverifikasi"]
    assert again["history"][1]["catatan"] == "Laporan lengkap."
    status, second = http("POST", app2.url + "/api/v1/complaints", complaint)
    assert status == 201 and second["ticket"] > ticket  # the sequence continues


def test_citizen_can_follow_ticket_in_html(built_app: Any, load_app: Any, app_runner: Any) -> None:
    built_app(APP)
    app = app_runner(load_app(APP), VERSION)
    status, created = http(
        "POST",
        app.url + "/api/v1/complaints",
        {"anonim": True, "nama": "Rahasia", "kategori": "Kesehatan", "judul": "Antrean puskesmas",
         "isi": "Antrean di puskesmas sangat panjang dan tidak ada nomor antrean sejak pagi."},
    )  # fmt: skip
    assert status == 201
    status, page = http("GET", f"{app.url}/pengaduan/{created['ticket']}")
    assert status == 200
    assert created["ticket"] in page and "Antrean puskesmas" in page and "Diterima" in page
    assert "Rahasia" not in page
    status, _ = http("GET", f"{app.url}/pengaduan/ADU-2000-000001")
    assert status == 404
