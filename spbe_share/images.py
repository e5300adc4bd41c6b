"""Container images: the Debian base image, host-built wheels, and app image builds.

Everything here talks to the local Docker engine through the Docker SDK, imported inside
the functions that use it (``spbe-share --help`` must not pay for it). There is no image
registry: nothing is ever pulled.

* :func:`ensure_base_image` builds ``spbe-share/base:bookworm`` from the machine's own apt
  mirror with ``debootstrap`` (Debian minbase + python3), reproducibly
  (:mod:`spbe_share.imaging.base`).
* :func:`build_wheels` builds the wheels of a component's ``requirements.txt`` on the host
  (containers cannot reach PyPI), cached by the file's SHA-256 so rebuilds are offline.
* :func:`build_app` builds every component image of an app release from the release's own
  source (the commit the entry records), tagged ``<component.image>:<version>``: the
  Dockerfile runs with the engine's layer cache, then every layer it made is rewritten
  deterministically and the config (labels, version) is written by spbe-share
  (:mod:`spbe_share.imaging.finalize`). The same source and release give the same layers.

Argument lists for external programs are built by pure functions (``*_argv``) that unit
tests compare by equality.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from .errors import EnvironmentProblem, NotFound, SpbeError

if TYPE_CHECKING:  # pragma: no cover
    from .catalog.models import Entry
    from .workspace import Workspace

BASE_IMAGE = "spbe-share/base:bookworm"
BASE_SUITE = "bookworm"
# pip's own wheel, used to install the others inside the image (pinned: same wheels, same layer)
PIP_REQUIREMENT = "pip==24.3.1"
ENV_MIRROR = "SPBE_SHARE_DEBIAN_MIRROR"
APT_SOURCES_LIST = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")

LABEL_APP = "id.go.spbe.app"
LABEL_COMPONENT = "id.go.spbe.component"
OCI = "org.opencontainers.image"

# Build contexts get this mtime on every file so identical sources give identical contexts.
FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z (the earliest time zip/wheel can store)


Progress = Callable[[str], None]


class BuildFailed(SpbeError):
    """``docker build`` (or a step it needs) failed; the message is the engine's last error line."""


@dataclass(frozen=True)
class BuiltImage:
    component: str
    ref: str
    image_id: str


class LoadedLike(Protocol):
    """Anything with a validated entry and the root of the repository that holds it."""

    @property
    def entry(self) -> Entry: ...

    @property
    def repo_root(self) -> Path: ...


# --------------------------------------------------------------------------- apt mirror


@dataclass
class AptSource:
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    enabled: bool = True
    options: dict[str, str] = field(default_factory=dict)


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse a deb822 ``.sources`` file (stanzas separated by blank lines; ``#`` comments)."""
    out: list[AptSource] = []
    for stanza in _deb822_stanzas(text):
        fields = {k.lower(): v for k, v in stanza.items()}
        out.append(
            AptSource(
                types=fields.get("types", "").split(),
                uris=fields.get("uris", "").split(),
                suites=fields.get("suites", "").split(),
                components=fields.get("components", "").split(),
                enabled=fields.get("enabled", "yes").strip().lower() not in ("no", "false", "0"),
            )
        )
    return out


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    current: dict[str, str] = {}
    last_key: str | None = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                yield current
            current, last_key = {}, None
            continue
        if raw[0] in " \t" and last_key is not None:  # continuation line
            current[last_key] += " " + raw.strip()
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        last_key = key.strip()
        current[last_key] = value.strip()
    if current:
        yield current


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse the one-line format: ``deb [opt=val ...] URI SUITE COMPONENT...``."""
    out: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options: dict[str, str] = {}
        if "[" in line and "]" in line and line.index("[") < line.index("]"):
            start, end = line.index("["), line.index("]")
            for opt in line[start + 1 : end].split():
                k, _, v = opt.partition("=")
                options[k] = v
            line = line[:start] + " " + line[end + 1 :]
        parts = line.split()
        if len(parts) < 3:
            continue
        out.append(
            AptSource(
                types=[parts[0]], uris=[parts[1]], suites=[parts[2]], components=parts[3:], options=options
            )
        )
    return out


def _is_debian_main(src: AptSource) -> bool:
    if not src.enabled or "deb" not in src.types or "main" not in src.components:
        return False
    # the main archive: a plain suite name (not -security, -updates, -backports)
    return any("-" not in s and "/" not in s for s in src.suites)


def pick_debian_mirror(sources: Iterable[AptSource]) -> str | None:
    """The URI of the first enabled Debian ``main`` archive entry (not security/updates)."""
    for src in sources:
        if not _is_debian_main(src):
            continue
        for uri in src.uris:
            parsed = urlparse(uri)
            if parsed.scheme not in ("http", "https", "file"):
                continue
            if "security" in uri:
                continue
            return uri.rstrip("/")
    return None


def read_apt_sources(
    sources_list: Path = APT_SOURCES_LIST, sources_dir: Path = APT_SOURCES_DIR
) -> list[AptSource]:
    """Every source of this machine, in apt's order (sources.list, then sources.list.d/ sorted)."""
    found: list[AptSource] = []
    if sources_list.is_file():
        found += parse_one_line_sources(sources_list.read_text(encoding="utf-8", errors="replace"))
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            if path.suffix == ".sources":
                found += parse_deb822_sources(text)
            elif path.suffix == ".list":
                found += parse_one_line_sources(text)
    return found


def host_debian_mirror() -> str:
    """The Debian mirror to debootstrap from: ``$SPBE_SHARE_DEBIAN_MIRROR`` or this machine's apt sources."""
    if os.environ.get(ENV_MIRROR):
        return os.environ[ENV_MIRROR].rstrip("/")
    mirror = pick_debian_mirror(read_apt_sources())
    if mirror is None:
        raise EnvironmentProblem(
            f"no Debian 'main' archive found in {APT_SOURCES_LIST} or {APT_SOURCES_DIR}/; "
            f"set {ENV_MIRROR}=<mirror URI> or pass --mirror"
        )
    return mirror


# --------------------------------------------------------------------------- argv builders


def debootstrap_argv(target: Path, mirror: str, *, suite: str = BASE_SUITE) -> list[str]:
    return ["debootstrap", "--variant=minbase", "--include=python3", suite, str(target), mirror]


def wheel_argv(requirements: Path, dest: Path, *, python: str = "python3") -> list[str]:
    return [
        python, "-m", "pip", "wheel", "--only-binary=:all:",
        "--wheel-dir", str(dest), "-r", str(requirements), PIP_REQUIREMENT,
    ]  # fmt: skip


# --------------------------------------------------------------------------- docker engine


def docker_client() -> Any:
    """A Docker SDK client that answered a ping, or :class:`EnvironmentProblem`."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover
        raise EnvironmentProblem("the Python package 'docker' is missing: pip install docker") from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        raise EnvironmentProblem(
            f"cannot reach the Docker engine ({exc}); start it (e.g. bash scripts/setup) "
            "or set DOCKER_HOST"
        ) from None
    return client


def image_exists(client: Any, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True


# --------------------------------------------------------------------------- base image

# Removed from the debootstrap tree: downloaded packages, apt lists, docs, man pages, locales.
_TRIM_GLOBS = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/archives/partial/*",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "var/log/*.log",
    "var/log/apt/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/lintian/*",
    "usr/share/locale/*",
)
_KEEP = {"usr/share/locale/locale.alias", "var/lib/apt/lists/partial"}

_DPKG_NODOC = """\
# spbe-share: keep images small (no docs, man pages or translations)
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""
_APT_CLEAN = """\
// spbe-share: do not keep downloaded packages in image layers
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
"""


def trim_rootfs(rootfs: Path) -> list[str]:
    """Delete caches, docs, man pages and locales from a debootstrap tree; returns what went."""
    removed: list[str] = []
    for pattern in _TRIM_GLOBS:
        for path in sorted(rootfs.glob(pattern)):
            rel = path.relative_to(rootfs).as_posix()
            if rel in _KEEP:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(rel)
    (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/01-spbe-nodoc").write_text(_DPKG_NODOC, encoding="utf-8")
    (rootfs / "etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/apt/apt.conf.d/01-spbe-clean").write_text(_APT_CLEAN, encoding="utf-8")
    return removed


def _find_debootstrap() -> str:
    found = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise EnvironmentProblem(
            "debootstrap is not installed (needed to build the base image): apt-get install debootstrap"
        )
    return found


def _run(argv: list[str], *, what: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]} is not installed (needed to {what})") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise BuildFailed(f"{what} failed: {last}", details=lines[-20:])


# ensure_base_image(*, mirror=None, force=False, tag=BASE_IMAGE, progress=None, tmp_dir=None) -> id:
# the reproducible Debian base image (debootstrap, trimmed, normalized, docker load).
from .imaging.base import ensure_base_image  # noqa: E402, F401, I001 - re-exported


# --------------------------------------------------------------------------- wheels


def requirements_digest(requirements: Path) -> str:
    """Cache key of a wheel set: the requirements file and the pinned pip."""
    return hashlib.sha256(requirements.read_bytes() + b"\n" + PIP_REQUIREMENT.encode()).hexdigest()


def build_wheels(
    requirements: Path, dest: Path, *, cache_dir: Path | None = None, progress: Progress | None = None
) -> Path:
    """Wheels for ``requirements`` plus pip's own wheel in ``dest`` (with requirements.txt copied in).

    With ``cache_dir``, wheels are built once into ``cache_dir/<sha256 of requirements.txt>``
    and copied from there afterwards (no network needed for rebuilds).
    """
    if not requirements.is_file():
        raise NotFound(f"{requirements}: file not found")
    say = progress or (lambda _m: None)
    if cache_dir is None:
        _pip_wheel(requirements, dest, say)
    else:
        cached = cache_dir / requirements_digest(requirements)
        if not (cached / ".complete").is_file():
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
            try:
                _pip_wheel(requirements, partial, say)
                (partial / ".complete").write_text("ok\n", encoding="utf-8")
                if cached.exists():
                    shutil.rmtree(cached)
                partial.rename(cached)
            finally:
                if partial.exists():
                    shutil.rmtree(partial)
        else:
            say(f"wheels from cache {cached.name[:12]}")
        dest.mkdir(parents=True, exist_ok=True)
        for whl in sorted(cached.glob("*.whl")):
            shutil.copy2(whl, dest / whl.name)
    shutil.copyfile(requirements, dest / "requirements.txt")
    return dest


def _pip_wheel(requirements: Path, dest: Path, say: Progress) -> None:
    import sys

    dest.mkdir(parents=True, exist_ok=True)
    say(f"building wheels for {requirements}")
    _run(wheel_argv(requirements, dest, python=sys.executable), what="pip wheel")
    if not any(dest.glob("pip-*.whl")):
        raise BuildFailed(f"pip wheel made no pip wheel in {dest}")


# --------------------------------------------------------------------------- app images


def git_revision(repo_root: Path, path: Path | None = None) -> str:
    """The last commit that touched ``path`` (default: the checked-out commit) in the git
    repository at ``repo_root``, with ``-dirty`` when ``path`` has uncommitted changes;
    ``unknown`` outside a git repository.

    Using the component folder's own last commit keeps an image identical across commits
    that do not touch it, so unrelated catalog changes never force a new image.
    """
    try:
        import git

        repo = git.Repo(repo_root, search_parent_directories=True)
        top = Path(str(repo.working_tree_dir)).resolve()
        rel = Path(path).resolve().relative_to(top).as_posix() if path else None
        if rel and rel != ".":
            commits = list(repo.iter_commits(paths=rel, max_count=1))
            sha = commits[0].hexsha if commits else repo.head.commit.hexsha
            dirty = repo.is_dirty(untracked_files=True, path=rel)
        else:
            sha = repo.head.commit.hexsha
            dirty = False
        return f"{sha}-dirty" if dirty else sha
    except Exception:  # noqa: BLE001 - not a repo, no commit yet, git missing: all "unknown"
        return "unknown"


def _say_as(say: Progress, component: str, message: str) -> None:
    say(f"[{component}] {message}")


def image_ref(component_image: str, version: str) -> str:
    return f"{component_image}:{version}"


def image_labels(entry: Entry, component: str, version: str, revision: str) -> dict[str, str]:
    return {
        f"{OCI}.title": f"{entry.name} ({component})",
        f"{OCI}.version": version,
        f"{OCI}.revision": revision,
        f"{OCI}.source": str(entry.source_url),
        f"{OCI}.licenses": entry.license,
        f"{OCI}.vendor": entry.donor.pemda,
        LABEL_APP: entry.id,
        LABEL_COMPONENT: component,
    }


def prepare_context(source: Path, dest: Path) -> list[str]:
    """Copy ``source`` into ``dest`` deterministically (sorted, fixed mtimes); returns relative paths."""
    from .imaging.source import copy_working_tree

    copied = copy_working_tree(source, dest)
    fix_mtimes(dest)
    return copied


def fix_mtimes(root: Path) -> None:
    """Give every file and folder under ``root`` the fixed mtime (build contexts)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            os.utime(Path(dirpath) / name, (FIXED_MTIME, FIXED_MTIME))
        os.utime(dirpath, (FIXED_MTIME, FIXED_MTIME))


def build_app(
    ws: Workspace,
    loaded: LoadedLike,
    version: str | None = None,
    *,
    progress: Progress | None = None,
    nocache: bool = False,
    commit: str | None = None,
) -> list[BuiltImage]:
    """Build every component image of ``loaded.entry`` at release ``version`` (default: latest).

    The sources are the component folders at the release's ``commit``; for a release that
    records none, at ``commit`` if given (``publish``: the commit it tags), else the working
    tree. Build arguments are never passed: the version and the labels go into the image
    config only, so they never invalidate a layer.
    """
    from .imaging.assemble import rfc3339
    from .imaging.finalize import finalize
    from .imaging.source import materialize

    entry = loaded.entry
    repo_root = Path(loaded.repo_root)
    if version is None:
        version = entry.latest.version
    try:
        release = entry.release(version)
    except KeyError:
        known = ", ".join(r.version for r in entry.releases)
        raise NotFound(f"app {entry.id!r} has no release {version!r} (releases: {known})") from None
    index = [r.version for r in entry.releases].index(version)
    where = f"{entry.id} releases[{index}] ({version})"
    say = progress or (lambda _m: None)
    client = docker_client()
    built: list[BuiltImage] = []
    for component in entry.components:
        ref = image_ref(component.image, version)
        with tempfile.TemporaryDirectory(prefix=f"spbe-build-{entry.id}-") as tmp:
            context = Path(tmp) / "context"
            tree = materialize(
                repo_root, repo_root / component.build.context, context, commit=release.commit or commit, where=where
            )
            short = tree.revision[:12] + ("-dirty" if tree.revision.endswith("-dirty") else "")
            say(
                f"[{component.name}] source: {component.build.context} at "
                + (f"commit {short}" if tree.pinned else f"the working tree ({short})")
            )
            if not (context / component.build.dockerfile).is_file():
                raise NotFound(f"{component.build.context}/{component.build.dockerfile}: Dockerfile not found")
            if (context / "requirements.txt").is_file():
                build_wheels(
                    context / "requirements.txt",
                    context / "wheels",
                    cache_dir=ws.build_cache_dir / "wheels",
                    progress=say,
                )
            fix_mtimes(context)
            say(f"[{component.name}] docker build")
            raw_id = _docker_build(
                client,
                context=context,
                dockerfile=component.build.dockerfile,
                tag=None,
                buildargs={},
                nocache=nocache,
                say=say,
            )
        labels = image_labels(entry, component.name, version, tree.revision)
        done = finalize(
            client,
            raw_image=raw_id,
            ref=ref,
            cache=ws.build_cache_dir / "layers",
            labels=labels,
            env={"APP_VERSION": version},
            created=rfc3339(release.date),
            others=[i.ref for i in local_app_images(entry, client=client) if i.component == component.name],
            progress=functools.partial(_say_as, say, component.name),
        )
        built.append(BuiltImage(component=component.name, ref=ref, image_id=done.image_id))
        say(f"[{component.name}] built {ref} {done.image_id}")
    return built


def _docker_build(
    client: Any,
    *,
    context: Path,
    dockerfile: str,
    tag: str | None,
    buildargs: dict[str, str],
    nocache: bool,
    say: Progress,
) -> str:
    """Run ``docker build`` (classic builder, host network for nothing but apt's mirror);
    returns the image id."""
    from docker.errors import APIError

    last_lines: list[str] = []
    image_id: str | None = None
    what = tag or str(context)
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs,
            network_mode="host",
            rm=True,
            forcerm=True,
            nocache=nocache,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"]).strip()
                raise BuildFailed(
                    f"building {what} failed: {message.splitlines()[-1] if message else 'unknown error'}",
                    details=last_lines[-20:],
                )
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
            text = chunk.get("stream")
            if text:
                for line in str(text).splitlines():
                    if line.strip():
                        last_lines.append(line)
                        say(line)
                        if line.startswith("Successfully built "):
                            image_id = image_id or line.split()[-1]
            elif chunk.get("status"):
                say(str(chunk["status"]))
    except APIError as exc:
        raise BuildFailed(f"building {what} failed: {exc.explanation or exc}") from None
    if image_id is None:
        if tag is None:
            raise BuildFailed(f"building {what} gave no image id", details=last_lines[-20:])
        image_id = str(client.images.get(tag).id)
    return str(client.api.inspect_image(image_id)["Id"])


# --------------------------------------------------------------------------- inspection


def image_layers(ref: str, *, client: Any | None = None) -> list[str]:
    """The layer diff ids (``sha256:...``) of a local image, bottom first."""
    client = client or docker_client()
    from docker.errors import ImageNotFound

    try:
        attrs = client.images.get(ref).attrs
    except ImageNotFound:
        raise NotFound(f"image {ref} not found in the local Docker engine") from None
    return list(attrs.get("RootFS", {}).get("Layers", []))


@dataclass(frozen=True)
class LocalImage:
    component: str
    ref: str
    image_id: str
    created: str
    size: int
    labels: dict[str, str]


def local_app_images(entry: Entry, *, client: Any | None = None) -> list[LocalImage]:
    """Images of ``entry``'s components present in the local engine (any version)."""
    client = client or docker_client()
    out: list[LocalImage] = []
    for component in entry.components:
        for image in client.images.list(name=component.image):
            labels = dict(image.labels or {})
            for ref in sorted(image.tags):
                if ref.rpartition(":")[0] != component.image:
                    continue
                out.append(
                    LocalImage(
                        component=component.name,
                        ref=ref,
                        image_id=str(image.id),
                        created=str(image.attrs.get("Created", "")),
                        size=int(image.attrs.get("Size", 0)),
                        labels=labels,
                    )
                )
    return out
