"""``LANG=id_ID.UTF-8 spbe-share install ...`` speaks Indonesian on the real path (issue 11 item 5).

The real CLI in a subprocess against a simulated data center over SSH: the host key is
checked, then the install is refused for want of an agreement (exit 4), in Indonesian, with
the data (app, kode wilayah) verbatim. A refusal changes nothing, so the session's DCs are
left as the other modules expect them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from simdc import SimDC, donor_kode, make_e2e_workspace

from spbe_share.errors import ExitCode

pytestmark = pytest.mark.e2e


def test_install_refusal_in_indonesian(datacenters: dict[str, SimDC], bundles: dict[str, Path],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")
    w = make_e2e_workspace(tmp_path / "operator", datacenters)
    app = "pengaduan"
    dc = w.dcs["kabupaten-buleleng"]
    w.cli("keys", "trust", str(bundles[f"{app}.pub"]), "--donor-kode", donor_kode(app))
    proc = w.cli("install", app, "--target", dc.name, "--bundle", str(bundles[app]), check=False)
    assert proc.returncode == int(ExitCode.NO_AGREEMENT), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"galat: tidak ada perjanjian (MoU/PKS) untuk aplikasi '{app}' dan kode wilayah pengadopsi "
        f"{dc.kode_wilayah} (catat dengan `spbe-share mou add`)"
    )
    english = w.cli("--lang", "en", "install", app, "--target", dc.name, "--bundle", str(bundles[app]), check=False)
    assert english.stderr.splitlines()[-1].startswith("error: no agreement (MoU/PKS) for app 'pengaduan'")
