"""Provisioning without a network: OS profiles, apt argv builders and parsers, source resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from spbe_share.errors import InvalidInput
from spbe_share.imaging.apt import AptSource
from spbe_share.provision import aptsolve as apt
from spbe_share.provision.build import apt_errors, profile_of, resolve_sources
from spbe_share.provision.oses import PROFILES, os_id_of, parse_os_release

OS_RELEASE = '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
# comment
HOME_URL='https://www.debian.org/'
'''


def test_os_release_and_profiles() -> None:
    fields = parse_os_release(OS_RELEASE)
    assert fields["ID"] == "debian" and fields["VERSION_ID"] == "12" and fields["HOME_URL"] == "https://www.debian.org/"
    assert os_id_of(fields) == "debian-12"
    assert os_id_of(parse_os_release('ID=ubuntu\nVERSION_ID="22.04"\n')) == "ubuntu-22.04"
    assert os_id_of({}) == "unknown"
    assert sorted(PROFILES) == ["debian-12", "ubuntu-22.04", "ubuntu-24.04"]
    deb = PROFILES["debian-12"]
    assert deb.install == ["docker.io", "python3-docker", "python3-requests", "zstd", "apparmor"]
    assert deb.suites_of("archive") == ["bookworm", "bookworm-updates"]
    assert deb.suites_of("security") == ["bookworm-security"]
    assert deb.tested and not PROFILES["ubuntu-24.04"].tested
    assert PROFILES["ubuntu-22.04"].components == ("main", "universe")  # docker.io lives in universe
    with pytest.raises(InvalidInput, match="--os centos-9: unknown"):
        profile_of("centos-9")


def test_apt_argv_builders(tmp_path: Path) -> None:
    d = apt.AptDir(tmp_path / "apt")
    opts = d.options(arch="amd64", status=d.base_status, sandbox_user="op")
    assert opts[:4] == ["-o", f"Dir::Etc::SourceList={d.sources_list}", "-o", f"Dir::Etc::SourceParts={d.empty_dir}"]
    assert f"Dir::State::status={d.base_status}" in opts and f"Dir::State::Lists={d.lists}" in opts
    assert "APT::Sandbox::User=op" in opts and "APT::Install-Recommends=false" in opts
    assert f"Dir::State::status={d.empty_status}" in d.options(arch="amd64")
    assert apt.update_argv(d, arch="arm64") == ["apt-get", *d.options(arch="arm64"), "-q", "update"]
    assert apt.simulate_argv(d, ["zstd"], arch="amd64", status=d.base_status) == [
        "apt-get", *d.options(arch="amd64", status=d.base_status), "-q", "-s", "install", "zstd"]
    pins = [apt.Pin("zstd", "1.5.4+dfsg2-5", "amd64"), apt.Pin("libc6", "2.36-9+deb12u14", "amd64")]
    assert apt.show_argv(d, pins, arch="amd64")[-3:] == ["show", "zstd=1.5.4+dfsg2-5", "libc6=2.36-9+deb12u14"]
    assert apt.download_argv(d, pins, arch="amd64", sandbox_user="op") == [
        "apt-get", *d.options(arch="amd64", sandbox_user="op"), "-q", "download", "zstd=1.5.4+dfsg2-5",
        "libc6=2.36-9+deb12u14"]
    assert apt.sources_list_text(
        [apt.SourceLine("http://m/debian", "bookworm", ("main",), "/k.gpg")], arch="amd64"
    ) == "deb [arch=amd64 signed-by=/k.gpg] http://m/debian bookworm main\n"


SIMULATION = """Reading package lists...
The following NEW packages will be installed:
  zstd
Inst libzstd1 [1.5.4+dfsg2-4] (1.5.4+dfsg2-5 Debian:12.15/oldstable [amd64])
Inst zstd (1.5.4+dfsg2-5 Debian:12.15/oldstable [amd64])
Inst libcap2 (1:2.66-4+deb12u3+b1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Inst tzdata (2026f-0+deb12u1 Debian-Security:12/oldstable-security [all])
Conf zstd (1.5.4+dfsg2-5 Debian:12.15/oldstable [amd64])
"""


def test_parse_simulation_and_file_names() -> None:
    pins = apt.parse_simulation(SIMULATION)
    assert pins == [
        apt.Pin("libzstd1", "1.5.4+dfsg2-5", "amd64"),
        apt.Pin("zstd", "1.5.4+dfsg2-5", "amd64"),
        apt.Pin("libcap2", "1:2.66-4+deb12u3+b1", "amd64"),
        apt.Pin("tzdata", "2026f-0+deb12u1", "all"),
    ]
    assert apt.deb_filename(pins[2]) == "libcap2_1%3a2.66-4+deb12u3+b1_amd64.deb"


RECORDS = """Package: app
Version: 1
Architecture: amd64
Priority: optional
Depends: liba (>= 2), libb:any | libc, virt
Description: an app
 with a long description
Filename: pool/a/app_1_amd64.deb
Size: 10
SHA256: aa

Package: liba
Version: 2
Architecture: amd64
Multi-Arch: same
Pre-Depends: libd

Package: libc
Version: 3
Architecture: amd64

Package: libd
Version: 4
Architecture: amd64
Priority: required

Package: provider
Version: 5
Architecture: all
Provides: virt (= 1)
"""


def test_stanzas_relations_and_required() -> None:
    recs = apt.parse_stanzas(RECORDS)
    assert [r["Package"] for r in recs] == ["app", "liba", "libc", "libd", "provider"]
    assert recs[0]["Description"] == "an app\n with a long description"
    assert apt.relations(recs[0]["Depends"]) == [["liba"], ["libb", "libc"], ["virt"]]
    assert apt.required_packages(recs) == ["libd"]
    assert apt.format_stanza({"Package": "x", "Version": "1"}) == "Package: x\nVersion: 1\n\n"


def test_conservative_base_skips_alternatives_and_follows_single_providers() -> None:
    recs = apt.parse_stanzas(RECORDS)
    # libc is reached only through "libb | libc": a real system may have chosen libb
    assert apt.conservative_base(recs, ["app"]) == {"app", "liba", "libd", "provider"}
    assert apt.conservative_base(recs, ["missing"]) == set()


def test_consistent_subset_drops_what_has_an_unmet_dependency() -> None:
    recs = apt.parse_stanzas(RECORDS)
    # without libb/libc, app's "libb | libc" is unmet: app goes, the rest stays
    assert apt.consistent_subset(recs, {"app", "liba", "libd", "provider"}) == {"liba", "libd", "provider"}
    # a cascade: without libd, liba goes (pre-depends), then app
    assert apt.consistent_subset(recs, {"app", "liba", "libc", "provider"}) == {"libc", "provider"}
    assert apt.consistent_subset(recs, {"app", "liba", "libc", "libd", "provider"}) == {
        "app", "liba", "libc", "libd", "provider"}


def test_status_and_index_stanzas() -> None:
    recs = apt.parse_stanzas(RECORDS)
    status = apt.status_text(recs, ["liba", "app"])
    assert status.startswith("Package: app\nStatus: install ok installed\nVersion: 1\n")
    # dependency fields are kept (apt tells records apart by them); download fields are not
    assert "Depends: liba (>= 2), libb:any | libc, virt\n" in status
    assert "Filename" not in status and "SHA256" not in status and "Size" not in status
    assert "Package: liba\nStatus: install ok installed\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same\n" in status
    index = apt.index_stanza(recs[0], filename="app_1_amd64.deb", size=11, sha256="bb")
    assert index.endswith("Filename: ./app_1_amd64.deb\nSize: 11\nSHA256: bb\n\n")
    assert "pool/" not in index and "SHA256: aa" not in index


MACHINE = [
    AptSource(types=["deb"], uris=["http://mirror.example/debian"], suites=["bookworm", "bookworm-updates"],
              components=["main"]),
    AptSource(types=["deb"], uris=["http://mirror.example/debian-security"], suites=["bookworm-security"],
              components=["main"]),
    AptSource(types=["deb"], uris=["https://other.example/apt"], suites=["nodistro"], components=["main"]),
]


def test_sources_come_from_this_machine_or_the_options() -> None:
    deb = PROFILES["debian-12"]
    lines, notes = resolve_sources(deb, machine_sources=MACHINE)
    assert [(s.uri, s.suite) for s in lines] == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://mirror.example/debian", "bookworm-updates"),
        ("http://mirror.example/debian-security", "bookworm-security"),
    ]
    assert notes == [] and all(s.keyring == deb.keyring and s.components == ("main",) for s in lines)
    lines, notes = resolve_sources(deb, machine_sources=MACHINE[:1], mirror="http://given/debian/")
    assert [s.uri for s in lines] == ["http://given/debian", "http://given/debian"]
    assert notes and "bookworm-security" in notes[0]
    lines, _ = resolve_sources(deb, machine_sources=[], mirror="http://a", security_mirror="http://s")
    assert lines[-1].uri == "http://s"
    with pytest.raises(InvalidInput, match="no apt source for jammy .ubuntu-22.04. on this machine: pass --mirror"):
        resolve_sources(PROFILES["ubuntu-22.04"], machine_sources=MACHINE)
    disabled = [AptSource(types=["deb"], uris=["http://x"], suites=["bookworm"], components=["main"], enabled=False)]
    with pytest.raises(InvalidInput):
        resolve_sources(deb, machine_sources=disabled)


def test_an_unreachable_mirror_fails_the_update() -> None:
    warn = ("W: Failed to fetch http://mirror/debian/dists/bookworm/InRelease  Could not resolve 'mirror'\n"
            "W: Some index files failed to download. They have been ignored, or old ones used instead.\n")
    assert len(apt_errors("apt-get update", 0, warn)) == 2  # apt exits 0 here
    assert apt_errors("apt-get update", 0, "W: Skipping acquire of configured file\n") == []
    assert apt_errors("resolving the packages", 100, "E: Unable to locate package docker.io\n") == [
        "E: Unable to locate package docker.io"]
    assert apt_errors("apt-cache show", 1, "") == ["exit 1"]


def test_one_deb822_reader_for_apt_sources_and_apt_answers() -> None:
    """Issue 23: the two hand-written deb822 parsers differed (one joined continuation lines with
    a space, one with a newline; one dropped comment lines, the other read '# http://...' as a
    field). Both now read through python-debian."""
    from spbe_share.imaging.apt import deb822_stanzas, parse_deb822_sources

    text = ("Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\n"
            "Suites: bookworm\n bookworm-updates\nComponents: main\n\nPackage: zstd\nPriority: optional\n")
    stanzas = apt.parse_stanzas(text)
    assert stanzas == list(deb822_stanzas(text.splitlines()))
    assert stanzas[0] == {"Types": "deb", "URIs": "http://deb.debian.org/debian", "Suites": "bookworm\n bookworm-updates",
                          "Components": "main"}
    assert parse_deb822_sources(text)[0].suites == stanzas[0]["Suites"].split() == ["bookworm", "bookworm-updates"]
    dump = ["Package: a", "Priority: required", "Description: x", " long", "", "Package: b", "Priority: optional", ""]
    assert list(apt.only_fields(dump, ("Package", "Priority"))) == [
        "Package: a", "Priority: required", "", "Package: b", "Priority: optional", ""]
    assert apt.required_packages(apt.iter_stanzas(apt.only_fields(dump, ("Package", "Priority")))) == ["a"]
