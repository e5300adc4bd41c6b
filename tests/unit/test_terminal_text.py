"""A donor's catalog text never drives the operator's terminal (issue 17 finding 10).

An entry whose donor, summary, domain, changelog and setting carry an OSC 52 clipboard write,
a screen clear, a C1 CSI, a title change and rich markup: ``catalog list``, ``search`` and
``show`` print it on a terminal (rich tables), in a pipe (tab-separated) and as JSON without a
single control character, the markup as written, and ``--json`` still holds the exact text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from catalog_fixtures import write_entry
from test_catalog_cli import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from termtext import ALL, MARKUP, assert_clean, run_on_terminal  # noqa: E402

from spbe_share.cli.output import table  # noqa: E402


def hostile_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_entry(
        root, "lapor-warga", name="Lapor Warga",
        summary={"id": f"Ringkasan {ALL} {MARKUP}", "en": f"Summary {ALL}"},
        donor={"pemda": f"Kota {ALL}{MARKUP}", "kode_wilayah": "96.71", "unit": f"Diskominfo {ALL}",
               "contacts": [{"name": f"Admin {ALL}", "email": "admin@contoh.go.id"}]},
        classification={"jenis": "umum", "layanan": "publik", "domain": f"[red]Pelayanan[/red] {ALL}"},
        settings=[{"name": "pemda_name", "description": f"Nama {ALL}{MARKUP}", "required": True}],
        releases=[{"version": "1.0.0", "date": "2026-01-01", "changelog": [f"{MARKUP} {ALL}"]}],
    )  # fmt: skip
    return root


@pytest.mark.parametrize("args", [["catalog", "list"], ["catalog", "search", "lapor"], ["catalog", "show", "lapor-warga"]])
def test_catalog_text_on_a_terminal(tmp_path: Path, args: list[str]) -> None:
    repo = hostile_repo(tmp_path)
    env = {"SPBE_SHARE_HOME": str(tmp_path / "home"), "SPBE_SHARE_CATALOG": str(repo)}
    rc, out = run_on_terminal(args, env=env, cwd=tmp_path)
    assert rc == 0, out
    assert "Lapor Warga" in out or "lapor-warga" in out
    assert_clean(out)


@pytest.mark.parametrize("args", [["catalog", "list"], ["catalog", "show", "lapor-warga"]])
def test_catalog_text_in_a_pipe_and_as_json(tmp_path: Path, args: list[str]) -> None:
    repo = hostile_repo(tmp_path)
    r = run(tmp_path, *args, catalog=repo)
    assert r.exit_code == 0, r.output
    assert_clean(r.output)
    if args[1] == "list":  # one tab-separated row: the columns still line up
        row = r.stdout.splitlines()[1].split("\t")
        # (the line separator between "a" and "b" ends no line: it is a space in a cell)
        assert len(row) == 7 and row[-1] == f"Ringkasan a b {MARKUP}", row
    r = run(tmp_path, *args, "--json", catalog=repo)
    assert r.exit_code == 0
    assert_clean(r.stdout, markup_shown=False)
    data = json.loads(r.stdout)
    summary = data[0]["summary"]["id"] if args[1] == "list" else data["entry"]["summary"]["id"]
    assert summary == f"Ringkasan {ALL} {MARKUP}"  # the data itself is kept exactly


def test_table_cells_titles_and_messages_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    table(["A", "B"], [(f"x\ty{ALL}", None), ("line\nbreak", 3)], title=f"t{ALL}")
    out = capsys.readouterr().out
    assert out.split("\n") == ["# ta b", "A\tB", "x ya b\t", "line break\t3", ""]
