"""A donor's file is never read through a symlink (issue 17 finding 4).

Git checkouts keep symlinks, so a donor's repository can hold a link to the operator's own files
(an SSH key). Every file an entry names (docs, SOPs, logo, compose manifest, config templates,
build contexts) must be a regular file reached without a link: ``catalog validate`` and
``catalog lint`` report the link with the file, line and field, and the web catalog never holds
what the link leads to.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from doc_fixtures import PNG, write_good_entry
from test_catalog_cli import run

from spbe_share.bundle.pack import collect_files
from spbe_share.catalog.loader import check_entry
from spbe_share.errors import InvalidInput

SECRET = "OPERATOR-SECRET-9f3a1c -----BEGIN OPENSSH PRIVATE KEY-----"


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _repo(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A donor repository with a good entry (``contoh-app``) and one to spoil (``bocor``), and
    the operator's secret file next to it."""
    repo = tmp_path / "repo"
    write_good_entry(repo, "contoh-app")
    write_good_entry(repo, "bocor", logo="logo.png")
    (repo / "catalog" / "bocor" / "logo.png").write_bytes(PNG)
    secret = tmp_path / "operator" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    return repo, repo / "catalog" / "bocor", secret


def _site_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file())


# (what is linked, the field it is named by, the needle of its line in spbe-app.yaml)
LINKS = [
    ("docs/instalasi.md", "docs.install", "install:"),
    ("logo.png", "logo", "logo:"),
    ("docs/sop", "docs.sop.backup", "backup:"),  # a linked folder on the way
]


@pytest.mark.parametrize(("linked", "field", "needle"), LINKS)
def test_a_symlinked_donor_file_fails_validate_and_lint_and_stays_out_of_the_site(
    tmp_path: Path, linked: str, field: str, needle: str
) -> None:
    repo, entry, secret = _repo(tmp_path)
    if linked == "docs/sop":  # the whole folder leads to the operator's .ssh, which holds SOP names
        for name in os.listdir(entry / "docs" / "sop"):
            (secret.parent / name).write_text(SECRET + "\n")
        os.rename(entry / "docs" / "sop", tmp_path / "sop-moved")
        (entry / "docs" / "sop").symlink_to(secret.parent)
    else:
        (entry / linked).unlink()
        (entry / linked).symlink_to(secret)
    entry_file = entry / "spbe-app.yaml"
    line = line_of(entry_file.read_text(), needle)

    r = run(tmp_path, "catalog", "validate", str(repo))
    assert r.exit_code == 2, r.output
    assert f"{entry_file}:{line}: {field}: " in r.stdout and "a symlink" in r.stdout, r.stdout
    assert "1 entry valid" not in r.stdout and SECRET not in r.output

    r = run(tmp_path, "catalog", "lint", catalog=repo)
    assert r.exit_code == 2, r.output
    assert f"spbe-app.yaml:{line}: entry-invalid (error): {field}: " in r.stdout, r.stdout
    assert "a symlink" in r.stdout and "bocor" in r.stderr

    out = tmp_path / "site"
    r = run(tmp_path, "site", "build", "--output", str(out), catalog=repo)
    assert r.exit_code == 0, r.output
    assert "1 catalog entries are invalid" in r.stderr
    assert SECRET not in _site_text(out)
    assert (out / "apps" / "contoh-app" / "index.html").is_file() and not (out / "apps" / "bocor").exists()


def test_a_linked_entry_folder_is_refused_before_it_is_read(tmp_path: Path) -> None:
    repo, entry, secret = _repo(tmp_path)
    (secret.parent / "spbe-app.yaml").write_text(f"id: {SECRET}\n")
    os.rename(entry, tmp_path / "moved")
    entry.symlink_to(secret.parent)
    loaded, problems = check_entry(entry / "spbe-app.yaml")
    assert loaded is None
    assert problems == [f"{entry}/spbe-app.yaml:1: catalog/bocor/spbe-app.yaml: catalog/bocor is a symlink: "
                        "donor files must be regular files inside the repository"]  # fmt: skip
    assert SECRET not in "".join(problems)


def test_links_inside_documents_to_symlinks_are_broken_links_never_published(tmp_path: Path) -> None:
    repo, entry, secret = _repo(tmp_path)
    inner = entry / "docs" / "img" / "diagram.png"
    (entry / "docs" / "img" / "kunci.png").symlink_to(secret)
    (entry / "docs" / "img" / "salinan.png").symlink_to(inner)  # even to a file of the entry
    guide = entry / "docs" / "instalasi.md"
    guide.write_text(guide.read_text() + "\n![kunci](img/kunci.png) ![salinan](img/salinan.png)\n")
    r = run(tmp_path, "catalog", "lint", "bocor", catalog=repo)
    assert r.exit_code == 2, r.output
    for name in ("kunci", "salinan"):
        assert f"image-missing (error): image 'img/{name}.png': docs/img/{name}.png: a symlink" in r.stdout, r.stdout
    out = tmp_path / "site"
    assert run(tmp_path, "site", "build", "--output", str(out), catalog=repo).exit_code == 0
    assert SECRET not in _site_text(out)
    assert not (out / "apps" / "bocor" / "docs" / "img" / "kunci.png").exists()
    assert not (out / "apps" / "bocor" / "docs" / "img" / "salinan.png").exists()


def test_a_linked_config_template_fails_validate_and_is_never_bundled(tmp_path: Path) -> None:
    from catalog_fixtures import entry_data

    repo, entry, secret = _repo(tmp_path)
    comp = {**entry_data("bocor")["components"][0],
            "config": [{"template": "templates/bocor/app.ini.j2", "path": "/etc/app.ini"}]}  # fmt: skip
    write_good_entry(repo, "bocor", components=[comp])
    entry_file = entry / "spbe-app.yaml"
    loaded, problems = check_entry(entry_file)
    assert loaded is not None and not problems
    # the template folder becomes a link to the operator's .ssh (after the entry was checked)
    (secret.parent / "app.ini.j2").write_text(SECRET)
    os.rename(repo / "templates" / "bocor", tmp_path / "moved")
    (repo / "templates" / "bocor").symlink_to(secret.parent)
    with pytest.raises(InvalidInput, match=r"config\[0\]\.template: templates/bocor/app\.ini\.j2: "
                                           r"templates/bocor is a symlink"):
        collect_files(loaded, playbooks_dir=None)
    _none, problems = check_entry(entry_file)
    line = line_of(entry_file.read_text(), "template:")
    assert problems == [f"{entry_file}:{line}: components[0].config[0].template: templates/bocor/app.ini.j2: "
                        "templates/bocor is a symlink: donor files must be regular files inside the repository"]
