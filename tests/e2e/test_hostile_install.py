"""End to end: hostile strings through every input of an install over SSH never run (issue 7 item 1).

A signed bundle of pengaduan whose entry carries hostile strings (a setting's default, ``env``
values, the ``command``) and an extra config template that prints every value raw; a target
added with a hostile Pemda name; values from ``--set`` and ``--values``. Each string would run
``touch`` on the controller if Ansible or jinja2 rendered it. The install must succeed, nothing
may run, and every string must arrive verbatim: in the release record on the target, in the
rendered config file, and in the container's environment and command.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from simdc import REPO, donor_kode, make_e2e_workspace, remove_docker_objects

pytestmark = pytest.mark.e2e

APP = "pengaduan"
RAW_TEMPLATE = "templates/pengaduan/raw.txt.j2"


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout  # noqa: S603,S607




def hostile_bundle(tmp: Path, h: dict[str, str]) -> tuple[Path, Path, dict[str, Any]]:
    """(bundle, the donor's public key file, the hostile entry) built from a copy of the catalog entry."""
    from spbe_share.bundle.keys import export_public, generate_key, load_private_key
    from spbe_share.bundle.pack import build_bundle
    from spbe_share.catalog.loader import get_entry
    from spbe_share.workspace import Workspace

    repo = tmp / "repo"
    shutil.copytree(REPO / "catalog" / APP, repo / "catalog" / APP)
    shutil.copytree(REPO / "templates" / APP, repo / "templates" / APP)
    shutil.copytree(REPO / "playbooks", repo / "playbooks")
    # a copy, not a link: a donor repository holds no symlinks (issue 17 finding 4)
    shutil.copytree(REPO / "shared_apps" / APP, repo / "shared_apps" / APP)
    entry_file = repo / "catalog" / APP / "spbe-app.yaml"
    doc = yaml.safe_load(entry_file.read_text())
    doc["settings"] += [
        {"name": "catatan", "description": "default from the entry", "default": h["filter"]},
        {"name": "judul", "description": "from --set", "default": "x"},
        {"name": "alamat", "description": "from --values", "default": "x"},
    ]
    web = doc["components"][0]
    web["env"] = {**web.get("env", {}), "SPBE_HOSTILE": h["query"], "SPBE_ANGLES": h["header_angles"],
                  "SPBE_ZEROS": "00"}
    web["command"] = ["/bin/sh", "-c", "exec python3 -m pengaduan serve # " + h["comment_then_braces"]]
    web["config"].append({"template": RAW_TEMPLATE, "path": "/etc/pengaduan-test/raw.txt"})
    entry_file.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    (repo / RAW_TEMPLATE).write_text(
        "pemda={{ spbe_pemda }}\nkode={{ spbe_kode_wilayah }}\nunit={{ unit_pengelola }}\n"
        "kontak={{ kontak_pengaduan }}\ncatatan={{ catatan }}\njudul={{ judul }}\nalamat={{ alamat }}\n"
    )
    donor = Workspace.from_options(tmp / "donor", root=repo)
    donor.ensure()
    info = generate_key(donor, donor_kode=donor_kode(APP))
    loaded = get_entry(donor, APP)
    built = build_bundle(donor, loaded, version=loaded.entry.latest.version, key=load_private_key(donor, info.name))
    pub = tmp / "donor.pub"
    pub.write_text(export_public(donor, info.name))
    return built.path, pub, doc


def test_hostile_strings_through_every_input_arrive_verbatim(simdc_factory: Any, hostile: Any, tmp_path: Path) -> None:
    h = hostile.strings
    bundle, pub, doc = hostile_bundle(tmp_path, h)
    pemda = h["header_trim"]
    dc = simdc_factory("kota-jahat", pemda=pemda, kode_wilayah="96.74")
    home = tmp_path / "operator"
    w = make_e2e_workspace(home, {"kota-jahat": dc})
    w.cli("keys", "trust", str(pub), "--donor-kode", donor_kode(APP))
    today = dt.date.today()
    w.cli("mou", "add", "--app", APP, "--donor", "Donor", "--donor-kode", donor_kode(APP), "--adopter", "Kota Jahat",
          "--adopter-kode", "96.74", "--number", "PKS/JAHAT/2026", "--signed", (today - dt.timedelta(days=1)).isoformat(),
          "--valid-until", (today + dt.timedelta(days=30)).isoformat(), "--scope", "install")
    values_file = tmp_path / "values.yml"
    values_file.write_text(yaml.safe_dump({"kontak_pengaduan": h["braces"], "alamat": h["header_blocks"]},
                                          allow_unicode=True))
    try:
        proc = w.cli("install", APP, "--target", dc.name, "--bundle", str(bundle),
                     "--set", f"unit_pengelola={h['header_brackets']}", "--set", f"judul={h['block']}",
                     "--values", str(values_file), "--json", check=False, timeout=900)
        assert hostile.ran() == [], "a hostile string ran on the controller"
        assert proc.returncode == 0, proc.stderr
        expected_values = {
            "unit_pengelola": h["header_brackets"],
            "kategori": next(s["default"] for s in doc["settings"] if s["name"] == "kategori"),
            "berkas_basis_data": next(s["default"] for s in doc["settings"] if s["name"] == "berkas_basis_data"),
            "kontak_pengaduan": h["braces"],
            "catatan": h["filter"],
            "judul": h["block"],
            "alamat": h["header_blocks"],
        }
        current = json.loads((dc.root / "apps" / APP / "current.json").read_text())
        assert current["values"] == expected_values
        assert current["pemda"] == pemda and current["kode_wilayah"] == "96.74"
        raw = (dc.root / "apps" / APP / "config" / "web" / "1-raw.txt").read_text()
        assert raw == (
            f"pemda={pemda}\nkode=96.74\nunit={h['header_brackets']}\nkontak={h['braces']}\n"
            f"catatan={h['filter']}\njudul={h['block']}\nalamat={h['header_blocks']}\n"
        )
        config = json.loads((dc.root / "apps" / APP / "config" / "web" / "0-config.json").read_text())
        assert config["pemda_name"] == pemda and config["contact"] == h["braces"]
        info = json.loads(_docker("inspect", f"spbe-{dc.name}-{APP}-web"))[0]
        env = dict(e.split("=", 1) for e in info["Config"]["Env"])
        assert env["SPBE_HOSTILE"] == h["query"] and env["SPBE_ANGLES"] == h["header_angles"]
        assert env["SPBE_ZEROS"] == "00"
        assert info["Config"]["Cmd"] == doc["components"][0]["command"]
    finally:
        remove_docker_objects(f"spbe-{dc.name}-")
    assert hostile.ran() == []
