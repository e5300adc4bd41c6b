"""Pure parts of spbe_share.imaging (app, apt, base, wheels): apt mirror parsing, argv builders, contexts, labels, wheels cache."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from spbe_share.errors import EnvironmentProblem, InvalidInput, NotFound
from spbe_share.imaging import app as images
from spbe_share.imaging import apt, base, wheels

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def test_deb822_first_main_entry() -> None:
    sources = apt.parse_deb822_sources(DEB822)
    assert [s.uris for s in sources] == [["http://deb.debian.org/debian"], ["http://deb.debian.org/debian-security"]]
    assert sources[0].suites == ["bookworm", "bookworm-updates"]
    assert apt.pick_debian_mirror(sources) == "http://deb.debian.org/debian"


def test_deb822_security_only_or_disabled_gives_none() -> None:
    security_only = DEB822.split("\n\n", 1)[1]
    assert apt.pick_debian_mirror(apt.parse_deb822_sources(security_only)) is None
    disabled = "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\nEnabled: no\n"
    assert apt.pick_debian_mirror(apt.parse_deb822_sources(disabled)) is None


def test_deb822_continuation_lines_and_src_skipped() -> None:
    text = (
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\n"
        "Types: deb\nURIs: http://a.example/debian/\n http://b.example/debian\nSuites: trixie\n"
        "Components: main contrib\n"
    )
    sources = apt.parse_deb822_sources(text)
    assert sources[1].uris == ["http://a.example/debian/", "http://b.example/debian"]
    assert apt.pick_debian_mirror(sources) == "http://a.example/debian"


def test_one_line_format_with_options_and_comments() -> None:
    text = """\
# comment line
deb [arch=amd64 signed-by=/usr/share/keyrings/docker.gpg] https://download.example/linux/debian bookworm stable
deb-src http://ftp.example.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.example.org/debian/ bookworm main contrib # trailing
deb http://security.example.org/debian-security bookworm-security main
"""
    sources = apt.parse_one_line_sources(text)
    assert len(sources) == 4
    assert sources[0].options == {"arch": "amd64", "signed-by": "/usr/share/keyrings/docker.gpg"}
    assert sources[2].components == ["main", "contrib"]
    assert apt.pick_debian_mirror(sources) == "http://ftp.example.org/debian"


def test_non_http_schemes_are_ignored() -> None:
    text = "deb cdrom:[Debian 12]/ bookworm main\ndeb file:/srv/mirror/debian bookworm main\n"
    assert apt.pick_debian_mirror(apt.parse_one_line_sources(text)) == "file:/srv/mirror/debian"


def test_read_apt_sources_order(tmp_path: Path) -> None:
    lst = tmp_path / "sources.list"
    lst.write_text("deb http://first.example/debian bookworm main\n")
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(DEB822)
    (d / "ignored.txt").write_text("deb http://nope.example/debian bookworm main\n")
    sources = apt.read_apt_sources(lst, d)
    assert [s.uris[0] for s in sources] == [
        "http://first.example/debian",
        "http://deb.debian.org/debian",
        "http://deb.debian.org/debian-security",
    ]


def test_host_mirror_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(apt.ENV_MIRROR, "http://mirror.internal/debian/")
    assert apt.host_debian_mirror() == "http://mirror.internal/debian"


def test_host_mirror_missing_is_environment_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(apt.ENV_MIRROR, raising=False)
    empty = apt.read_apt_sources(tmp_path / "none.list", tmp_path / "none.d")
    assert empty == []
    monkeypatch.setattr(apt, "read_apt_sources", lambda: empty)
    with pytest.raises(EnvironmentProblem, match=apt.ENV_MIRROR):
        apt.host_debian_mirror()


def test_argv_builders() -> None:
    from spbe_share.imaging import base, source

    assert base.debootstrap_argv(Path("/tmp/r"), "http://m/debian") == [
        "debootstrap", "--variant=minbase", "--include=python3", "bookworm", "/tmp/r", "http://m/debian",
    ]  # fmt: skip
    assert wheels.wheel_argv(Path("req.txt"), Path("out"), python="/usr/bin/python3") == [
        "/usr/bin/python3", "-m", "pip", "wheel", "--only-binary=:all:", "--wheel-dir", "out", "-r", "req.txt",
        "pip==24.3.1",
    ]  # fmt: skip
    assert base.compileall_argv(Path("/r"), ["/usr/lib/python3.11"]) == [
        "chroot", "/r", "/usr/bin/python3", "-m", "compileall", "-q", "-f",
        "--invalidation-mode", "checked-hash", "/usr/lib/python3.11",
    ]  # fmt: skip
    assert source.git_archive_argv(Path("/repo"), "a" * 40, "shared_apps/x") == [
        "git", "-C", "/repo", "archive", "--format=tar", "a" * 40, "--", "shared_apps/x",
    ]  # fmt: skip


def test_base_config_is_deterministic_and_carries_the_recipe() -> None:
    import json

    from spbe_share.imaging import base

    one = base.base_config("sha256:" + "1" * 64)
    assert one == base.base_config("sha256:" + "1" * 64)
    doc = json.loads(one)
    assert doc["created"] == "1980-01-01T00:00:00Z"
    assert doc["config"]["Labels"][base.LABEL_RECIPE] == base.BASE_RECIPE
    assert "LANG=C.UTF-8" in doc["config"]["Env"]
    assert doc["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}


def test_trim_rootfs(tmp_path: Path) -> None:
    root = tmp_path
    for rel in (
        "var/cache/apt/archives/python3_3.11.deb",
        "var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease",
        "usr/share/doc/python3/changelog.gz",
        "usr/share/man/man1/python3.1.gz",
        "usr/share/locale/id/LC_MESSAGES/apt.mo",
        "usr/share/locale/locale.alias",
        "usr/bin/python3",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / "var/lib/apt/lists/partial").mkdir()
    removed = base.trim_rootfs(root)
    assert "var/cache/apt/archives/python3_3.11.deb" in removed
    assert not (root / "usr/share/doc/python3").exists()
    assert not (root / "usr/share/locale/id").exists()
    assert (root / "usr/share/locale/locale.alias").exists()
    assert (root / "var/lib/apt/lists/partial").is_dir()
    assert (root / "usr/bin/python3").exists()
    assert "path-exclude=/usr/share/doc/*" in (root / "etc/dpkg/dpkg.cfg.d/01-spbe-nodoc").read_text()


def test_prepare_context_is_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "Dockerfile").write_text("FROM x\n")
    (src / "pkg" / "b.py").write_text("b = 1\n")
    (src / "pkg" / "a.py").write_text("a = 1\n")
    (src / "pkg" / "a.pyc").write_bytes(b"\0")
    (src / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    one, two = tmp_path / "c1", tmp_path / "c2"
    one.mkdir()
    two.mkdir()
    copied = images.prepare_context(src, one)
    assert copied == ["Dockerfile", "run.sh", "pkg/a.py", "pkg/b.py"]
    assert images.prepare_context(src, two) == copied
    for rel in copied:
        st = (one / rel).stat()
        assert int(st.st_mtime) == images.FIXED_MTIME
    assert os.stat(one / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(one / "Dockerfile").st_mode & 0o777 == 0o644
    with pytest.raises(NotFound):
        images.prepare_context(tmp_path / "missing", tmp_path / "c3")


def test_prepare_context_refuses_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "link").symlink_to("/etc/passwd")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInput, match="symbolic links"):
        images.prepare_context(src, out)


def _entry() -> object:
    sys_path = Path(__file__).resolve().parent
    import sys

    sys.path.insert(0, str(sys_path))
    from catalog_fixtures import entry_data  # type: ignore[import-not-found]

    from spbe_share.catalog.models import Entry

    return Entry.model_validate(entry_data("tinyapp"))


def test_image_labels() -> None:
    entry = _entry()
    labels = images.image_labels(entry, "web", "1.2.3", "abc")  # type: ignore[arg-type]
    assert labels["org.opencontainers.image.version"] == "1.2.3"
    assert labels["org.opencontainers.image.revision"] == "abc"
    assert labels["org.opencontainers.image.source"] == str(entry.source_url)  # type: ignore[attr-defined]
    assert labels[images.LABEL_APP] == "tinyapp"
    assert labels[images.LABEL_COMPONENT] == "web"
    assert images.image_ref("spbe-share/tinyapp-web", "1.2.3") == "spbe-share/tinyapp-web:1.2.3"


def test_build_app_unknown_version_is_not_found(tmp_path: Path) -> None:
    from spbe_share.workspace import Workspace

    loaded = SimpleNamespace(entry=_entry(), repo_root=tmp_path)
    ws = Workspace(home=tmp_path / "ws", root=tmp_path)
    with pytest.raises(NotFound, match="no release '9.9.9'"):
        images.build_app(ws, loaded, "9.9.9")


def test_git_revision(tmp_path: Path) -> None:
    import git

    assert images.git_revision(tmp_path) == "unknown"
    repo = git.Repo.init(tmp_path)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t")
        cw.set_value("user", "email", "t@example.org")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "a.txt").write_text("1")
    repo.index.add(["app/a.txt"])
    c1 = repo.index.commit("app")
    (tmp_path / "other.txt").write_text("x")
    repo.index.add(["other.txt"])
    c2 = repo.index.commit("other")
    assert images.git_revision(tmp_path) == c2.hexsha
    assert images.git_revision(tmp_path, tmp_path / "app") == c1.hexsha  # last commit touching app/
    (tmp_path / "app" / "a.txt").write_text("2")
    assert images.git_revision(tmp_path, tmp_path / "app") == f"{c1.hexsha}-dirty"


def test_build_wheels_uses_cache_without_pip(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("flask==3.1.3\n")
    cache = tmp_path / "cache"
    cached = cache / wheels.requirements_digest(req)
    cached.mkdir(parents=True)
    (cached / "flask-3.1.3-py3-none-any.whl").write_bytes(b"wheel")
    (cached / "pip-26.0-py3-none-any.whl").write_bytes(b"pip")
    (cached / ".complete").write_text("ok\n")
    dest = tmp_path / "ctx" / "wheels"
    said: list[str] = []
    wheels.build_wheels(req, dest, cache_dir=cache, progress=said.append)
    assert sorted(p.name for p in dest.iterdir()) == [
        "flask-3.1.3-py3-none-any.whl", "pip-26.0-py3-none-any.whl", "requirements.txt",
    ]  # fmt: skip
    assert (dest / "requirements.txt").read_text() == "flask==3.1.3\n"
    assert said and "cache" in said[0]
    with pytest.raises(NotFound):
        wheels.build_wheels(tmp_path / "missing.txt", dest, cache_dir=cache)
