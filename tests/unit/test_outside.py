"""The one place outside data goes through: names, donor files, answers, terminal text."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spbe_share import outside
from spbe_share.errors import InvalidInput, VerificationFailed


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/etc", "a\\b", "x\x00y", "x\ny", "x\u2028y", "é" * 200])
def test_bad_names_are_refused(name: str) -> None:
    assert outside.name_problem(name) is not None


@pytest.mark.parametrize("rel", ["../x", "a/../../x", "/abs/x", "a//b", "a/./b", "", "a/"])
def test_bad_relative_paths_are_refused(tmp_path: Path, rel: str) -> None:
    with pytest.raises(VerificationFailed, match="file"):
        outside.child_path(tmp_path, rel, what="file", error=VerificationFailed)


def test_good_relative_path_stays_inside(tmp_path: Path) -> None:
    assert outside.child_path(tmp_path, "db/dump.sql") == tmp_path / "db" / "dump.sql"


@given(st.text(max_size=40))
def test_child_path_never_leaves_its_folder(rel: str) -> None:
    base = Path("/srv/fetch/x")
    try:
        p = outside.child_path(base, rel)
    except InvalidInput:
        return
    assert base in p.parents


def test_inside_resolves_links(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "up").symlink_to(tmp_path)
    assert outside.inside(tmp_path / "in", tmp_path / "in" / "f")
    assert not outside.inside(tmp_path / "in", tmp_path / "in" / "up" / "f")
    assert outside.tree_escapes(tmp_path / "in") == ["up"]


def test_donor_file_through_a_symlink_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "id_ed25519"
    secret.write_text("PRIVATE KEY")
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "guide.md").symlink_to(secret)
    (repo / "linkdir").symlink_to(tmp_path)
    (repo / "docs" / "ok.md").write_text("# ok")
    assert outside.read_inside(repo, "docs/ok.md", limit=100) == b"# ok"
    assert "symlink" in (outside.link_problem(repo, "docs/guide.md") or "")
    assert outside.link_problem(repo, "linkdir/id_ed25519") is not None
    with pytest.raises(InvalidInput, match="guide.md: a symlink"):
        outside.read_inside(repo, "docs/guide.md", limit=100)
    with pytest.raises(InvalidInput, match="larger than 2 bytes"):
        outside.read_inside(repo, "docs/ok.md", limit=2)
    assert outside.link_problem(repo, "docs/missing.md") == "no such file"


def test_loads_json_bounds_depth_without_recursion_error() -> None:
    with pytest.raises(outside.OutsideJSONError, match="nested deeper"):
        outside.loads_json(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(outside.OutsideJSONError, match="nested deeper"):
        outside.loads_json(b'{"a":' * 70 + b"1" + b"}" * 70)
    assert outside.loads_json(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    with pytest.raises(outside.OutsideJSONError, match="not UTF-8"):
        outside.loads_json(b"\xff")


def test_loads_json_is_linear_on_the_escaped_quote_answer() -> None:
    # the fleet read's old string regex took 22 s on 40 KB of this
    raw = b'"' + b'\\"' * 400_000
    t0 = time.monotonic()
    with pytest.raises(outside.OutsideJSONError):
        outside.loads_json(raw)
    assert time.monotonic() - t0 < 2


def test_run_capped_kills_an_oversized_answer() -> None:
    r = outside.run_capped([sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x'*65536)"],
                           limit=1 << 20, timeout=20)
    assert r.too_big and r.returncode is None and len(r.stdout) <= 1 << 20


def test_run_capped_times_out_and_feeds_input() -> None:
    assert outside.run_capped(["sleep", "5"], limit=10, timeout=0.5).timed_out
    r = outside.run_capped(["cat"], limit=100, timeout=10, input=b"hello")
    assert (r.returncode, r.stdout) == (0, b"hello")
    r = outside.run_capped([sys.executable, "-c", "import sys; sys.stderr.write('e'*200000); sys.exit(3)"],
                           limit=10, timeout=10, stderr_limit=100)
    assert r.returncode == 3 and r.stderr == b"e" * 100


@pytest.mark.parametrize("hostile,shown", [
    ("\x1b]52;c;ZXZpbA==\x07who", "who"),
    ("\x1b[2Jroot", "root"),
    ("a\u2028b\u2029c", "abc"),
    ("bell\x07\x9b31m", "bell"),
    ("tab\tnl\n", "tab\tnl\n"),
])
def test_terminal_text_drops_controls(hostile: str, shown: str) -> None:
    assert outside.terminal_text(hostile) == shown


def test_one_line_and_markup() -> None:
    assert outside.terminal_text("a\nb\tc", one_line=True) == "abc"
    assert outside.markup_text("[bold green]installed OK[/]") == "\\[bold green]installed OK\\[/]"


@given(st.text())
def test_terminal_text_has_no_control_left(text: str) -> None:
    out = outside.terminal_text(text)
    assert not any((ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in out)


def test_fifo_is_not_a_donor_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert outside.link_problem(tmp_path, "pipe") == "not a regular file"  # and it did not block


def test_link_problem_names_the_linked_component_and_checks_folders(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "real" / "sub").mkdir(parents=True)
    (repo / "real" / "sub" / "f.md").write_text("x")
    (repo / "via").symlink_to(repo / "real")  # a link to a folder of the same repository
    assert outside.link_problem(repo, "via/sub/f.md") == f"via is {outside.LINK}"
    assert outside.link_problem(repo, "real/sub", folder=True) is None
    assert outside.link_problem(repo, "via", folder=True) == outside.LINK
    assert outside.link_problem(repo, "real/sub") == "not a regular file"
    assert outside.link_problem(repo, "real/sub/f.md", folder=True) == "not a folder"
    assert outside.link_problem(repo, "real/sub/f.md/x") == "real/sub/f.md is not a folder"
    assert outside.link_problem(tmp_path / "none", "a") == outside.MISSING
    with outside.open_inside(repo, "real/sub/f.md") as f:
        assert f.read() == b"x"
    with pytest.raises(outside.DonorFileError, match="^via is a symlink"):
        outside.open_inside(repo, "via/sub/f.md")


def test_json_text_escapes_what_json_leaves_raw_and_loses_nothing() -> None:
    data = {"who": "op\x1b]52;c;eA==\x07\x9b2J\x7f\u2028é"}
    text = outside.json_text(data, indent=1)
    assert outside.terminal_text(text) == text and "é" in text
    assert outside.loads_json(text) == data


def test_fresh_dir_removes_what_was_there_without_following_it(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep").write_text("x")
    folder = tmp_path / "fetch.partial"
    folder.symlink_to(mine)
    assert outside.fresh_dir(folder) == folder and folder.is_dir() and not folder.is_symlink()
    (folder / "link").symlink_to(mine / "keep")
    (folder / "sub").mkdir()
    outside.fresh_dir(folder)
    assert list(folder.iterdir()) == [] and (mine / "keep").read_text() == "x"
    assert folder.stat().st_mode & 0o777 == 0o700


def test_quoted_escapes_and_cuts() -> None:
    assert outside.quoted("../x") == "'../x'"
    assert outside.quoted("a\x1b[2Jb\u2028c") == "'a\\x1b[2Jb\\u2028c'"
    assert outside.quoted("y" * 500, limit=10) == "'" + "y" * 10 + "'..."
    assert len(outside.quoted(["z" * 500])) <= 103
