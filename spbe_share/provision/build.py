"""``spbe-share provision-bundle build --os debian-12``: collect the ``.deb`` files with apt.

Runs on the operator's machine (any Debian or Ubuntu machine with apt and a mirror), in a
private apt folder under the workspace cache (``cache/provision-apt/<os>-<arch>/``): its
package lists and downloaded ``.deb`` files are kept, so a rebuild downloads only what
changed. See :mod:`.aptsolve` for how the set of packages is decided.
"""

from __future__ import annotations

import datetime as dt
import getpass
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..bundle.keyformat import key_id_of
from ..errors import Conflict, EnvironmentProblem, InvalidInput, RemoteFailed, Unreachable
from ..imaging.dockerarchive import copy_hashing
from . import aptsolve as apt
from .bundle import (
    INDEX_PATH,
    ProvisionFile,
    ProvisionManifest,
    ProvisionPackage,
    bundle_filename,
    write_bundle,
)
from .oses import ARCHIVE, PROFILES, OsProfile

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..imaging.apt import AptSource
    from ..workspace import Workspace

Progress = Callable[[str], None]
APT_TIMEOUT = 1800


@dataclass(frozen=True)
class BuiltProvisionBundle:
    path: Path
    manifest: ProvisionManifest
    sha256: str
    size: int
    downloaded: int  # bytes fetched from the mirror by this build (0: all from the cache)
    notes: list[str] = field(default_factory=list)


def profile_of(os_id: str) -> OsProfile:
    try:
        return PROFILES[os_id]
    except KeyError:
        raise InvalidInput(f"--os {os_id}: unknown (known: {', '.join(sorted(PROFILES))})") from None


def default_bundle_path(ws: Workspace, os_id: str, arch: str) -> Path:
    return ws.bundles_dir / bundle_filename(os_id, arch)


def _uri_for(sources: Sequence[AptSource], suite: str, component: str) -> str | None:
    for src in sources:
        if src.enabled and "deb" in src.types and suite in src.suites and component in src.components:
            for uri in src.uris:
                if uri.startswith(("http://", "https://", "file:")):
                    return uri.rstrip("/")
    return None


def resolve_sources(
    profile: OsProfile,
    *,
    machine_sources: Sequence[AptSource],
    mirror: str | None = None,
    security_mirror: str | None = None,
) -> tuple[list[apt.SourceLine], list[str]]:
    """The suites to resolve from, and notes for the operator (pure).

    Without ``mirror``, the URIs come from this machine's apt sources that carry the OS's
    suites (so nothing is hard-coded: the operator's own mirror is used).
    """
    notes: list[str] = []
    archive = (mirror or "").rstrip("/") or _uri_for(machine_sources, profile.codename, profile.components[0])
    if archive is None:
        raise InvalidInput(
            f"no apt source for {profile.codename} ({profile.id}) on this machine: pass --mirror URI"
            f" (a {profile.family} archive mirror)"
        )
    lines: list[apt.SourceLine] = []
    for kind, suite in profile.suites:
        if kind == ARCHIVE:
            uri: str | None = archive
        else:
            uri = (security_mirror or "").rstrip("/") or _uri_for(machine_sources, suite, profile.components[0])
        if uri is None:
            notes.append(f"no mirror for {suite} on this machine (--security-mirror): the bundle lacks its updates")
            continue
        lines.append(apt.SourceLine(uri=uri, suite=suite, components=profile.components, keyring=profile.keyring))
    return lines, notes


def host_arch() -> str:
    try:
        out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True)  # noqa: S607
    except (OSError, subprocess.CalledProcessError):
        raise EnvironmentProblem("dpkg is missing: building a provision bundle needs a Debian or Ubuntu machine") from None
    return out.stdout.strip()


def apt_errors(what: str, returncode: int, stderr: str) -> list[str]:
    """The lines that make an apt run a failure (pure). ``apt-get update`` exits 0 when a
    mirror cannot be reached, with only warnings: those count as failures here."""
    lines = stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith(("E:", "Err:"))]
    if what == "apt-get update":
        errors += [ln for ln in lines if ln.startswith(("W: Failed to fetch", "W: Some index files failed"))]
    if returncode != 0 and not errors:
        errors = [ln for ln in lines if ln.strip()][-10:] or [f"exit {returncode}"]
    return errors


def _run(argv: list[str], *, what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(  # noqa: S603 - argv list built by aptsolve
            argv, capture_output=True, text=True, cwd=cwd, timeout=APT_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]} is missing: building a provision bundle needs apt (Debian/Ubuntu)") from None
    except subprocess.TimeoutExpired:
        raise Unreachable(f"{what}: apt did not finish within {APT_TIMEOUT}s") from None
    errors = apt_errors(what, proc.returncode, proc.stderr)
    if proc.returncode != 0 or (what == "apt-get update" and errors):
        cls = Unreachable if what in ("apt-get update", "apt-get download") else RemoteFailed
        raise cls(f"{what} failed: {errors[0]}", details=errors[1:10])
    return proc.stdout


def _sandbox_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover
        return "root"


def _prepare(d: apt.AptDir, sources_text: str) -> None:
    for p in d.dirs():
        p.mkdir(parents=True, exist_ok=True)
    d.empty_status.write_text("")
    if not d.sources_list.is_file() or d.sources_list.read_text() != sources_text:
        shutil.rmtree(d.lists, ignore_errors=True)  # lists of other sources would mix in
        (d.lists / "partial").mkdir(parents=True)
        d.sources_list.write_text(sources_text)


def resolve(d: apt.AptDir, profile: OsProfile, *, arch: str, say: Progress) -> tuple[list[str], list[dict[str, str]]]:
    """(packages assumed on every fresh server, records of the packages to bundle)."""
    avail = _run(apt.dumpavail_argv(d, arch=arch), what="apt-cache dumpavail")
    roots = [*apt.required_packages(apt.iter_stanzas(apt.only_fields(avail.splitlines(), ("Package", "Priority")))),
             *apt.BASE_ROOTS]
    del avail
    base_pins = apt.parse_simulation(
        _run(apt.simulate_argv(d, roots, arch=arch, status=d.empty_status), what="simulating a minimal system")
    )
    base_records = apt.parse_stanzas(_run(apt.show_argv(d, base_pins, arch=arch), what="apt-cache show"))
    base = apt.consistent_subset(base_records, apt.conservative_base(base_records, roots))
    say(f"minimal {profile.id} system: {len(base_pins)} packages, {len(base)} assumed on every fresh server")
    d.base_status.write_text(apt.status_text(base_records, base))
    pins = apt.parse_simulation(
        _run(apt.simulate_argv(d, profile.install, arch=arch, status=d.base_status), what="resolving the packages")
    )
    if not pins:
        raise RemoteFailed(f"apt found nothing to install for {', '.join(profile.install)} (check the sources)")
    records = apt.parse_stanzas(_run(apt.show_argv(d, pins, arch=arch), what="apt-cache show"))
    by_pin = {(r.get("Package"), r.get("Version")): r for r in records}
    missing = [p.spec for p in pins if (p.name, p.version) not in by_pin]
    if missing:
        raise RemoteFailed(f"apt-cache show gave no record for {missing[0]}")
    return sorted(base), [by_pin[(p.name, p.version)] for p in sorted(pins)]


def _hash(path: Path) -> tuple[str, int]:
    with path.open("rb") as f:
        return copy_hashing(f, None)


def fetch(d: apt.AptDir, records: Sequence[dict[str, str]], *, arch: str, say: Progress) -> tuple[dict[str, Path], int]:
    """Download what the cache lacks; check every file against its record. Returns (files, bytes fetched)."""
    pins = [apt.Pin(r["Package"], r["Version"], r["Architecture"]) for r in records]
    want = {apt.deb_filename(p): r for p, r in zip(pins, records, strict=True)}
    cached: dict[str, Path] = {}
    for name, r in want.items():
        path = d.debs / name
        if path.is_file() and _hash(path) == (r.get("SHA256"), int(r.get("Size", -1))):
            cached[name] = path
    todo = [p for p in pins if apt.deb_filename(p) not in cached]
    fetched = 0
    if todo:
        say(f"downloading {len(todo)} of {len(pins)} packages")
        for f in d.cache.glob("*.deb"):
            f.unlink()
        _run(apt.download_argv(d, todo, arch=arch, sandbox_user=_sandbox_user()), what="apt-get download", cwd=d.cache)
        for p in todo:
            name = apt.deb_filename(p)
            src = d.cache / name
            if not src.is_file():
                raise RemoteFailed(f"apt-get download did not write {name}")
            digest, size = _hash(src)
            r = want[name]
            if (digest, size) != (r.get("SHA256"), int(r.get("Size", -1))):
                raise RemoteFailed(f"{name}: downloaded file does not match the signed package index")
            fetched += size
            src.replace(d.debs / name)
            cached[name] = d.debs / name
    for stale in d.debs.glob("*.deb"):
        if stale.name not in want:
            stale.unlink()
    return cached, fetched


def build_provision_bundle(
    ws: Workspace,
    *,
    os_id: str,
    key: Ed25519PrivateKey,
    arch: str | None = None,
    mirror: str | None = None,
    security_mirror: str | None = None,
    output: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    machine_sources: Sequence[AptSource] | None = None,
) -> BuiltProvisionBundle:
    """Resolve, download and pack the provision bundle of ``os_id``; sign it with ``key``."""
    from ..imaging.apt import read_apt_sources

    say = progress or (lambda _m: None)
    profile = profile_of(os_id)
    arch = arch or host_arch()
    out = output or default_bundle_path(ws, os_id, arch)
    if out.exists() and not force:
        raise Conflict(f"{out} exists (use --force to replace it)")
    if not Path(profile.keyring).is_file():
        pkg = "debian-archive-keyring" if profile.family == "debian" else "ubuntu-keyring"
        raise EnvironmentProblem(f"{profile.keyring} is missing (apt-get install {pkg})")
    lines, notes = resolve_sources(
        profile,
        machine_sources=read_apt_sources() if machine_sources is None else machine_sources,
        mirror=mirror,
        security_mirror=security_mirror,
    )
    for note in notes:
        say(f"note: {note}")
    d = apt.AptDir(ws.cache_dir / "provision-apt" / f"{os_id}-{arch}")
    _prepare(d, apt.sources_list_text(lines, arch=arch))
    say(f"apt-get update ({', '.join(s.suite for s in lines)})")
    _run(apt.update_argv(d, arch=arch, sandbox_user=_sandbox_user()), what="apt-get update")
    base, records = resolve(d, profile, arch=arch, say=say)
    files, fetched = fetch(d, records, arch=arch, say=say)

    index = "".join(
        apt.index_stanza(r, filename=apt.deb_filename(apt.Pin(r["Package"], r["Version"], r["Architecture"])),
                         size=int(r["Size"]), sha256=r["SHA256"])
        for r in records
    )  # fmt: skip
    index_path = d.root / "Packages"
    index_path.write_text(index, encoding="utf-8")
    member_files: dict[str, Path] = {INDEX_PATH: index_path}
    packages = []
    for r in records:
        name = apt.deb_filename(apt.Pin(r["Package"], r["Version"], r["Architecture"]))
        member = f"debs/{name}"
        member_files[member] = files[name]
        packages.append(ProvisionPackage(name=r["Package"], version=r["Version"], arch=r["Architecture"], file=member))
    specs = []
    for member in sorted(member_files):
        digest, size = _hash(member_files[member])
        specs.append(ProvisionFile(path=member, sha256=digest, size=size))
    created = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    manifest = ProvisionManifest(
        format=1,
        kind="provision",
        os=profile.id,
        arch=arch,
        created=created,
        signer=key_id_of(key.public_key()),
        needs=[list(alts) for alts in profile.needs],
        sources=[f"{s.uri} {s.suite} {' '.join(s.components)}" for s in lines],
        base_assumed=base,
        packages=packages,
        files=specs,
    )
    digest, size = write_bundle(out, manifest, files=member_files, key=key)
    return BuiltProvisionBundle(path=out, manifest=manifest, sha256=digest, size=size, downloaded=fetched, notes=notes)
