"""End to end: install SOURCE/APP from a donor's git catalog source into a data center over SSH.

The source repeats the built-in ``pengaduan`` (so the bare name is ambiguous and SOURCE/APP is
needed). Without the donor's signed bundle, the bundle is built and signed on this machine from
the catalog, which an adopter's target accepts only with the loud option, recorded in the audit
(shown here up to preflight, which a port in use fails: nothing is installed that way). The
install itself, as the README gives it, takes the donor's signed bundle, trusted for its donor.
Before: the manifest said ``pengaduan`` and the request ``src/pengaduan``, so it never installed.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import sys
import urllib.request
from pathlib import Path

import git
import pytest
from buildlock import image_build_lock
from simdc import REPO, SimDC, remove_docker_objects, run_cli
from test_install import snapshot

from spbe_share.bundle.trust import SELF_SIGNED_OPTION
from spbe_share.errors import ExitCode

pytestmark = pytest.mark.e2e

APP = "pengaduan"


def donor_repo(path: Path) -> str:
    for part in (f"catalog/{APP}", f"shared_apps/{APP}", f"templates/{APP}"):
        shutil.copytree(REPO / part, path / part, ignore=shutil.ignore_patterns("__pycache__", "releases"))
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Donor").set_value("user", "email", "donor@buleleng.go.id")
    repo.git.add("--all")
    return repo.index.commit("katalog Kabupaten Buleleng").hexsha


def test_source_app_installs_and_a_self_signed_bundle_needs_the_loud_option(simdc_factory, bundles: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    dc: SimDC = simdc_factory("kota-sumber", pemda="Kota Sumber", kode_wilayah="96.73")
    home = tmp_path / "ws"
    commit = donor_repo(tmp_path / "donor")
    run_cli(home, "catalog", "source", "add", "src", str(tmp_path / "donor"))
    run_cli(home, *dc.target_add_args(), "--python", sys.executable)
    today = dt.date.today()
    run_cli(home, "mou", "add", "--app", APP, "--donor", "Kabupaten Buleleng", "--donor-kode", "51.08",
            "--adopter", dc.pemda, "--adopter-kode", dc.kode_wilayah, "--number", "PKS/SUMBER/2026",
            "--signed", (today - dt.timedelta(days=1)).isoformat(),
            "--valid-until", (today + dt.timedelta(days=90)).isoformat(), "--scope", "install")  # fmt: skip
    prefix = f"spbe-{dc.name}-"
    try:
        ambiguous = run_cli(home, "install", APP, "--target", dc.name, check=False)
        assert ambiguous.returncode == ExitCode.INVALID_INPUT and f"src/{APP}" in ambiguous.stderr

        before = snapshot(dc, dc.name)
        with image_build_lock():  # builds the bundle, and the images when missing (tests/buildlock.py)
            refused = run_cli(home, "install", f"src/{APP}", "--target", dc.name, check=False, timeout=900)
        assert refused.returncode == ExitCode.VERIFICATION_FAILED, refused.stderr
        assert SELF_SIGNED_OPTION in refused.stderr and "Traceback" not in refused.stderr
        assert snapshot(dc, dc.name) == before

        # the loud option passes the trust check (said, audited); preflight then fails for real
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((dc.address, 8081))
            s.listen()
            loud = run_cli(home, "install", f"src/{APP}", "--target", dc.name, SELF_SIGNED_OPTION, check=False,
                           timeout=900)  # fmt: skip
        assert loud.returncode == ExitCode.PREFLIGHT_FAILED, loud.stderr
        assert f"WARNING: {SELF_SIGNED_OPTION}" in loud.stderr
        assert snapshot(dc, dc.name) == before

        # the README's way: the donor's signed bundle, its key trusted for the donor
        run_cli(home, "keys", "trust", str(bundles[f"{APP}.pub"]), "--donor-kode", "51.08")
        proc = run_cli(home, "install", f"src/{APP}", "--target", dc.name, "--bundle", str(bundles[APP]), "--json",
                       timeout=900)  # fmt: skip
        result = json.loads(proc.stdout)
        assert result["app"] == APP and result["changed"]
        assert "WARNING" not in proc.stderr
        for url in result["urls"]:
            with urllib.request.urlopen(url + "healthz", timeout=10) as r:  # noqa: S310 - loopback test URL
                assert r.status == 200
        audit = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
        installs = [a for a in audit if a["what"] == "install"]
        assert installs[-3]["result"] == "refused: verification_failed"
        assert installs[-2]["result"] == "refused: preflight_failed"
        assert installs[-2]["details"]["trust"].startswith("self-signed-override: key ")
        # one line per operation (the core): the app id, the catalog source it came from
        assert installs[-1]["result"] == "ok" and installs[-1]["details"]["app"] == APP
        assert installs[-1]["details"]["source"] == "src" and installs[-3]["details"]["source"] == "src"
        assert installs[-1]["details"]["trust"].startswith("donor-signed: key ")
        # the bundle built from the source is cached apart from the built-in one
        version = result["version"]
        assert (home / "bundles" / "src" / f"{APP}-{version}.spbe").is_file()
        assert not (home / "bundles" / f"{APP}-{version}.spbe").exists()
        record = json.loads((dc.root / "apps" / APP / "current.json").read_text())
        assert (record["app"], record["donor_kode_wilayah"]) == (APP, "51.08")
        show = run_cli(home, "catalog", "show", f"src/{APP}").stdout
        assert f"[src @ {commit[:12]}]" in show
    finally:
        remove_docker_objects(prefix)
