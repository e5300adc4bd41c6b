"""App images: every component image of an app release, built from the release's own source.

:func:`build_app` builds each component of an app release from the release's own source (the
commit the entry records), tagged ``<component.image>:<version>``: the Dockerfile runs with the
engine's layer cache (on the base image of :mod:`.base`, with the wheels of :mod:`.wheels`),
then every layer it made is rewritten deterministically and the config (labels, version) is
written by spbe-share (:mod:`.finalize`). The same source and release give the same layers.
:func:`local_app_images` lists what this machine's engine holds of an app.

The Docker SDK is imported inside the functions that use it (``spbe-share --help`` must not
pay for it). There is no image registry: nothing is ever pulled.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NotFound
from .engine import BuildFailed, Progress, docker_client
from .wheels import build_wheels

if TYPE_CHECKING:  # pragma: no cover
    from ..catalog.models import Entry
    from ..workspace import Workspace

LABEL_APP = "id.go.spbe.app"
LABEL_COMPONENT = "id.go.spbe.component"
OCI = "org.opencontainers.image"

# Build contexts get this mtime on every file so identical sources give identical contexts.
FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z (the earliest time zip/wheel can store)


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
    from .source import copy_working_tree

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
    from .assemble import rfc3339
    from .finalize import finalize
    from .source import materialize

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
