"""``spbe-share catalog ...`` through click's CliRunner and the real ``main`` (exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import git
import pytest
import yaml
from catalog_fixtures import entry_data, write_entry
from click.testing import CliRunner

from spbe_share.cli import main

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(tmp_path: Path, *args: str, catalog: Path | None = None) -> Result:
    """Run ``spbe-share ARGS`` via ``main`` (the real error handler, exit codes) in a temp workspace."""
    env = {"SPBE_SHARE_HOME": str(tmp_path / "home"), "SPBE_SHARE_CATALOG": str(catalog or tmp_path / "repo")}
    with CliRunner().isolation(env=env) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Result(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_entry(
        root, "surat-masuk", name="Surat Masuk",
        summary={"id": "Pencatatan surat masuk", "en": "Incoming mail"},
        keywords=["persuratan"],
    )
    write_entry(
        root, "lapor-warga", name="Lapor Warga",
        summary={"id": "Pengaduan masyarakat", "en": "Citizen complaints"},
        classification={"jenis": "khusus", "layanan": "publik", "domain": "Pelayanan Publik"},
        secrets=[{"name": "DB_PASSWORD", "description": "Sandi basis data"}],
        settings=[{"name": "pemda_name", "description": "Nama Pemda", "required": True}],
        releases=[
            {"version": "1.0.0", "date": "2026-01-01"},
            {"version": "1.10.0", "date": "2026-06-01", "migrates_data": True, "upgrades_from": "1.0.0",
             "regulations": [{"name": "Permenpan RB Nomor 62 Tahun 2018", "uri": "https://peraturan.go.id/x"}]},
        ],
    )
    return root


def test_list_and_search_tables(tmp_path: Path, repo: Path) -> None:
    r = run(tmp_path, "catalog", "list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "APP\tVERSION\tJENIS\tDOMAIN\tDONOR\tQUALITY\tSUMMARY"
    assert lines[1:] == [  # the fixture docs are one-line stubs: level 1 (catalog lint)
        "lapor-warga\t1.10.0\tkhusus\tPelayanan Publik\tKota Contoh\t1 needs work\tPengaduan masyarakat",
        "surat-masuk\t1.0.0\tumum\tKearsipan dan Persuratan\tKota Contoh\t1 needs work\tPencatatan surat masuk",
    ]
    r = run(tmp_path, "catalog", "search", "aduan")
    assert r.exit_code == 0 and [ln.split("\t")[0] for ln in r.stdout.splitlines()[1:]] == ["lapor-warga"]
    r = run(tmp_path, "catalog", "search", "--jenis", "umum", "--json")
    assert [x["id"] for x in json.loads(r.stdout)] == ["surat-masuk"]
    r = run(tmp_path, "catalog", "search", "--regulation", "62 tahun 2018", "--json")
    assert [x["id"] for x in json.loads(r.stdout)] == ["lapor-warga"]
    r = run(tmp_path, "catalog", "search", "--limit", "1")
    assert len(r.stdout.splitlines()) == 2
    assert r.stderr == "showing the first 1 matches; --limit 0 shows all\n"
    r = run(tmp_path, "catalog", "search", "--limit", "2")
    assert len(r.stdout.splitlines()) == 3 and r.stderr == ""
    r = run(tmp_path, "catalog", "search", "tidakadaapapun")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "no apps match\n")
    r = run(tmp_path, "catalog", "search", "--jenis", "campuran")
    assert r.exit_code == 2 and "Invalid value for '--jenis'" in r.stderr


def test_show_text_and_json(tmp_path: Path, repo: Path) -> None:
    r = run(tmp_path, "catalog", "show", "lapor-warga")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.splitlines()[0] == "lapor-warga 1.10.0: Lapor Warga  [builtin]"
    for expected in (
        "  Pemda:       Kota Contoh (kode wilayah 94.71)",
        "  License:     EUPL-1.2",
        "  Jenis:   aplikasi khusus",
        "  MoU/PKS required: yes",
        "  Scope:            install, support",
        "  Support:          12 months",
        "  Memory:           512 MB",
        "  pemda_name: Nama Pemda [required]",
        "  DB_PASSWORD: Sandi basis data",
        "web\tspbe-share/lapor-warga-web:1.10.0\t8080->8080/tcp\t\thttp :8080/healthz\t\t",
        "1.10.0\t2026-06-01\tyes\t1.0.0\tPermenpan RB Nomor 62 Tahun 2018\t",
        "  SOP hak akses:           docs/sop/hak-akses.md",
        "  Compose:                 compose.yaml",
        "  CPU:              1 core",
    ):
        assert expected in out.splitlines(), expected
    # releases newest first by SemVer (1.10.0 > 1.0.0)
    assert out.index("1.10.0\t2026-06-01") < out.index("1.0.0\t2026-01-01")
    r = run(tmp_path, "catalog", "show", "lapor-warga", "--json")
    data = json.loads(r.stdout)
    assert data["source"] == "builtin" and data["entry"]["id"] == "lapor-warga"
    assert data["entry"]["releases"][1]["regulations"][0]["uri"] == "https://peraturan.go.id/x"


def test_show_unknown_app_is_one_line_exit_3(tmp_path: Path, repo: Path) -> None:
    r = run(tmp_path, "catalog", "show", "tidak-ada")
    assert r.exit_code == 3
    assert r.stderr == "error: no app 'tidak-ada' in the catalog (try: spbe-share catalog search)\n"
    assert r.stdout == ""


def test_validate_ok_and_problems(tmp_path: Path, repo: Path) -> None:
    r = run(tmp_path, "catalog", "validate")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("OK: 2 entries valid (")
    bad = write_entry(
        tmp_path / "lain", "rusak",
        text=yaml.safe_dump(entry_data("rusak"), sort_keys=False).replace("cpu_cores: 1", "cpu_cores: satu"),
    )
    (bad.parent / "compose.yaml").unlink()
    wrong = write_entry(tmp_path / "lain", "salah-folder", folder="folder-lain")
    r = run(tmp_path, "catalog", "validate", str(tmp_path / "lain"), str(repo / "catalog" / "surat-masuk"))
    assert r.exit_code == 2
    assert r.stdout.splitlines() == [
        f"{wrong}:2: id: must equal the entry's folder name 'folder-lain'",
        f"{bad}:30: requirements.cpu_cores: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert r.stderr == "error: 2 problems in 3 entries\n"
    r = run(tmp_path, "catalog", "validate", "--json", str(bad))
    assert r.exit_code == 2 and json.loads(r.stdout)["problems"] == [
        f"{bad}:30: requirements.cpu_cores: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_schema_prints_the_committed_schema(tmp_path: Path) -> None:
    r = run(tmp_path, "catalog", "schema")
    assert r.exit_code == 0
    assert r.stdout == (REPO / "spbe_share" / "data" / "spbe-app.schema.json").read_text(encoding="utf-8")
    assert json.loads(r.stdout)["title"] == "spbe-share catalog entry (spbe-app.yaml)"


def _donor_repo(path: Path, *apps: str) -> git.Repo:
    for app in apps:
        write_entry(path, app)
    repo = git.Repo.init(path, initial_branch="main")
    repo.git.add("--all")
    repo.git.commit("-m", "katalog", env={
        "GIT_AUTHOR_NAME": "D", "GIT_AUTHOR_EMAIL": "d@x.id", "GIT_COMMITTER_NAME": "D", "GIT_COMMITTER_EMAIL": "d@x.id",
    })
    return repo


def test_sources_duplicates_and_update(tmp_path: Path, repo: Path) -> None:
    donor = _donor_repo(tmp_path / "donor", "surat-masuk", "sipd")
    head = donor.head.commit.hexsha
    r = run(tmp_path, "catalog", "source", "add", "papua", str(tmp_path / "donor"))
    assert r.exit_code == 0, r.output
    assert r.stdout == f"added source papua: {tmp_path / 'donor'} (main @ {head[:12]})\n"
    r = run(tmp_path, "catalog", "source", "list", "--json")
    assert [(s["name"], s["commit"]) for s in json.loads(r.stdout)] == [("papua", head)]
    # the same id in two sources: a warning naming both, both listed, show asks for SOURCE/APP
    r = run(tmp_path, "catalog", "list")
    assert r.exit_code == 0
    assert r.stderr == (
        "warning: app 'surat-masuk' is in several sources (builtin, papua); "
        "name it as SOURCE/APP, e.g. papua/surat-masuk\n"
    )
    assert [ln.split("\t")[0] for ln in r.stdout.splitlines()[1:]] == [
        "lapor-warga", "papua/sipd", "builtin/surat-masuk", "papua/surat-masuk",
    ]
    r = run(tmp_path, "catalog", "show", "surat-masuk")
    assert r.exit_code == 2
    assert r.stderr == (
        "error: app 'surat-masuk' is in several sources (builtin, papua); "
        "name it as SOURCE/APP, e.g. papua/surat-masuk\n"
    )
    r = run(tmp_path, "catalog", "show", "papua/surat-masuk", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["commit"] == head
    # update: up to date; then unreachable with a good copy (warning, exit 0)
    r = run(tmp_path, "catalog", "update")
    assert (r.exit_code, r.stdout) == (0, f"papua: up to date @ {head[:12]}\n")
    (tmp_path / "donor").rename(tmp_path / "donor-pindah")
    r = run(tmp_path, "catalog", "update", "papua")
    assert r.exit_code == 0
    assert r.stderr.startswith("warning: papua: cannot fetch ")
    assert r.stderr.endswith(f"; still using the pinned copy @ {head[:12]}\n")
    # no usable copy: exit 10
    import shutil

    shutil.rmtree(tmp_path / "home" / "sources" / "papua")
    r = run(tmp_path, "catalog", "update")
    assert r.exit_code == 10 and r.stderr.startswith("error: papua: cannot clone ")
    r = run(tmp_path, "catalog", "source", "remove", "papua")
    assert (r.exit_code, r.stdout) == (0, "removed source papua\n")
    r = run(tmp_path, "catalog", "source", "remove", "papua")
    assert r.exit_code == 3 and r.stderr == "error: no catalog source 'papua' (known: none)\n"


def test_publiccode_commands_are_attached() -> None:
    from spbe_share.cli.catalog_cmd import catalog

    assert {"export-publiccode", "import-publiccode", "list", "search", "show", "validate", "schema",
            "source", "update"} <= set(catalog.commands)


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from spbe_share.cli import main\n"
        "try:\n    main(['catalog', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('git', 'rich', 'jinja2', 'docker', 'sqlite3', 'pydantic', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.splitlines()[-1] == "[]"
