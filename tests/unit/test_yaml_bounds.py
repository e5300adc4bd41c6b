"""Hostile YAML is bounded: aliases refused, size, nesting and node count capped, one-line errors.

The reproduced cases of issue 7 item 6: a few hundred bytes of nested aliases drove `mou list`
to gigabytes; ``a: &a [*a]`` gave a RecursionError traceback from `mou list`, `catalog
validate`, `catalog list` and `publiccode validate`. Each command is run here through the real
``main`` (the one error handler and its exit codes).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from catalog_fixtures import write_entry
from test_catalog_cli import run as run_cli  # same folder (pytest rootdir-relative import)

from spbe_share import yamlio
from spbe_share.errors import InvalidInput

RECURSIVE = "a: &a [*a]\n"
# 9 ** 7 = 4.8 million strings if expanded (the 412-byte file used the same shape)
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
)


def refused(text: str, tmp_path: Path, name: str = "f.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidInput) as err:
        yamlio.load_yaml(path)
    msg = err.value.message
    assert msg.startswith(f"{path}:") and "\n" not in msg
    return msg


def run(tmp_path: Path, *args: str, catalog: Path | None = None) -> tuple[int, str, str]:
    r = run_cli(tmp_path, *args, catalog=catalog or None)
    return r.exit_code, r.stdout, r.stderr


def test_aliases_are_refused_before_anything_is_expanded(tmp_path: Path) -> None:
    assert refused(RECURSIVE, tmp_path).endswith(":1: (yaml): aliases are not allowed (*a): write the value out in full")
    assert len(BOMB) < 400
    tracemalloc.start()
    try:
        msg = refused(BOMB, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ":2: (yaml): aliases are not allowed (*a)" in msg
    assert peak < 5_000_000  # bytes: nothing was expanded
    # merge keys need aliases too
    refused("base: &b {x: 1}\nother:\n  <<: *b\n", tmp_path)


def test_anchors_without_aliases_and_inline_merges_still_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("a: &x 1\nb:\n  <<: {c: 2}\n  d: 3\n")
    assert yamlio.load_yaml(path).data == {"a": 1, "b": {"c": 2, "d": 3}}


def test_nesting_size_and_node_count_are_capped(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert f"nested too deeply (more than {yamlio.MAX_DEPTH} levels)" in refused(deep, tmp_path)
    deep_block = "".join(" " * i + "a:\n" for i in range(yamlio.MAX_DEPTH + 5))
    assert f":{yamlio.MAX_DEPTH + 1}: (yaml): nested too deeply" in refused(deep_block, tmp_path)
    ok_depth = "[" * yamlio.MAX_DEPTH + "]" * yamlio.MAX_DEPTH
    (tmp_path / "ok.yml").write_text(ok_depth)
    yamlio.load_yaml(tmp_path / "ok.yml")

    many = "[" + "1," * (yamlio.MAX_NODES + 1) + "]"
    assert f"too many values (more than {yamlio.MAX_NODES})" in refused(many, tmp_path)
    big = "a: " + "x" * (yamlio.MAX_YAML_BYTES + 1) + "\n"
    assert "(file): too large" in refused(big, tmp_path)
    with pytest.raises(InvalidInput, match="too large"):
        yamlio.parse_yaml(big, tmp_path / "text.yml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!bool maybe\n", ":1: a: cannot read this value as !!bool"),
        ("a: 2026-13-45\n", ":1: a: cannot read this value as !!timestamp (month must be in 1..12)"),
        ("a: " + "1" * 5000 + "\n", ":1: a: cannot read this value"),
        ("a: !!int \"1\\n2\"\n", ":1: a: cannot read this value"),
        ("a: 1\n---\nb: 2\n", ":2: (yaml): expected one YAML document, found another"),
        ("? [a, b]\n: c\n", ":1: (file): mapping keys must be scalars"),
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
    ],
)
def test_values_that_cannot_be_constructed_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refused(text, tmp_path)


@pytest.mark.parametrize("text", [RECURSIVE, BOMB])
def test_mou_list_refuses_alias_files(tmp_path: Path, text: str) -> None:
    agreements = tmp_path / "home" / "agreements"
    agreements.mkdir(parents=True)
    (agreements / "NK_1.yml").write_text(text)
    code, out, err = run(tmp_path, "mou", "list")
    assert code == 2, err
    assert "Traceback" not in err and "RecursionError" not in err
    assert f"{agreements / 'NK_1.yml'}:1: (yaml): aliases are not allowed" in err or (
        f"{agreements / 'NK_1.yml'}:2: (yaml): aliases are not allowed" in err
    )


def test_catalog_validate_and_list_refuse_alias_entries(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    path = write_entry(repo, "rekursi")
    path.write_text(path.read_text() + "x_alias: &a [*a]\n")
    code, out, err = run(tmp_path, "catalog", "validate", catalog=repo)
    assert code == 2 and "Traceback" not in err + out
    assert f"{path}:" in out and "aliases are not allowed (*a)" in out
    code, out, err = run(tmp_path, "catalog", "list", catalog=repo)
    assert code == 0 and "Traceback" not in err + out
    assert "1 catalog entry is invalid and not listed" in err


def test_publiccode_validate_refuses_alias_files(tmp_path: Path) -> None:
    path = tmp_path / "publiccode.yml"
    path.write_text("publiccodeYmlVersion: '0.4'\nname: &a [*a]\n")
    code, out, err = run(tmp_path, "publiccode", "validate", str(path))
    assert code == 2 and "Traceback" not in err + out
    assert "aliases are not allowed (*a)" in out + err
    big = tmp_path / "big.yml"
    big.write_text("a: " + "x" * (yamlio.MAX_YAML_BYTES + 1))
    code, out, err = run(tmp_path, "publiccode", "validate", str(big))
    assert code == 2 and "too large" in out + err


def test_entry_naming_a_file_whose_name_is_too_long_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """Found by the fuzz test: stat() of a 300-character name raised ENAMETOOLONG."""
    from spbe_share.catalog.loader import check_entry

    long = "shared_apps/" + "w" * 300
    (tmp_path / "repo" / "shared_apps").mkdir(parents=True)
    path = write_entry(tmp_path / "repo", "panjang", files=False,
                       components=[{"name": "web", "image": "spbe-share/panjang-web", "build": {"context": long},
                                    "ports": [{"container": 8080}]}])  # fmt: skip
    loaded, problems = check_entry(path)
    assert loaded is None
    assert any(p.startswith(f"{path}:") and "cannot check (File name too long)" in p for p in problems), problems
