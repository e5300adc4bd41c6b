"""Publish a release: validate, build images, bundle + sign, record it in the catalog's git repo.

The images are built from the release's source: the commit the entry records for it
(``releases[].commit``), else the commit being tagged (HEAD, which must be clean). The record is
``catalog/<app>/releases/<version>.json`` (bundle digest, signer key id, image ids, date,
source commit), committed alone (other staged changes stay staged, uncommitted)
and tagged ``<app>/v<version>`` (annotated). Every check runs before anything is written; if
anything fails before the commit, the record and the bundle are removed and nothing is committed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, InvalidInput, NotFound
from ..meter import Meter
from .pack import BuiltBundle, Progress, build_bundle, bundle_filename

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..workspace import Workspace

RECORD_FORMAT = 1


@dataclass(frozen=True)
class Published:
    app: str
    version: str
    bundle: BuiltBundle
    record: Path
    commit: str
    tag: str


def release_tag(app: str, version: str) -> str:
    return f"{app}/v{version}"


def record_path(repo_root: Path, app: str, version: str) -> Path:
    return repo_root / "catalog" / app / "releases" / f"{version}.json"


def release_record(*, bundle: BuiltBundle, date: dt.date, source_commit: str) -> dict[str, object]:
    m = bundle.manifest
    return {
        "format": RECORD_FORMAT,
        "app": m.app,
        "version": m.version,
        "date": date.isoformat(),
        "bundle": {"file": bundle.path.name, "sha256": bundle.sha256, "size": bundle.size},
        "manifest_sha256": _sha256(m.to_bytes()),
        "signer": m.signer,
        "images": [{"component": i.component, "ref": i.ref, "id": i.config} for i in m.images],
        "source_commit": source_commit,
    }


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _open_repo(root: Path) -> Any:
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InvalidInput(
            f"{root}: not a git repository (publish records releases with git)"
        ) from None


def publish_release(
    ws: Workspace,
    *,
    app: str,
    version: str,
    key: Ed25519PrivateKey,
    repo_root: Path | None = None,
    output_dir: Path | None = None,
    playbooks_dir: Path | None = None,
    today: dt.date | None = None,
    allow_dirty: bool = False,
    progress: Progress | None = None,
    meter: Meter | None = None,
) -> Published:
    """Publish ``app`` ``version`` from the catalog repository ``repo_root`` (default ``ws.root``)."""
    import git

    from ..catalog.loader import ENTRY_FILE, load_entry
    from ..yamlio import load_yaml

    say = progress or (lambda _m: None)
    root = (repo_root or ws.root).resolve()
    entry_file = root / "catalog" / app / ENTRY_FILE
    if not entry_file.is_file():
        raise NotFound(f"no app {app!r} in {root / 'catalog'} ({entry_file} not found)")
    loaded = load_entry(entry_file, repo_root=root)
    entry = loaded.entry
    index = next((i for i, r in enumerate(entry.releases) if r.version == version), None)
    if index is None:
        known = ", ".join(r.version for r in entry.releases)
        raise NotFound(
            f"app {app!r} has no release {version!r} in {entry_file} (releases: {known})"
        )
    release = entry.releases[index]
    repo = _open_repo(root)
    tag = release_tag(app, version)
    if tag in [t.name for t in repo.tags]:
        raise Conflict(f"{app} {version} is already published (git tag {tag} exists in {root})")
    record = record_path(root, app, version)
    if record.exists():
        raise Conflict(f"{app} {version} is already published ({record} exists)")
    if not [c for c in release.changelog if c.strip()]:
        line = load_yaml(entry_file).line_of(("releases", index, "changelog"))
        raise InvalidInput(
            f"{entry_file}:{line}: releases[{index}].changelog: empty; say what changed in {version}"
        )
    if not allow_dirty:
        watched = [loaded.entry_dir, *{root / c.build.context for c in entry.components}]
        watched += [root / cf.template for c in entry.components for cf in c.config]
        for path in watched:
            rel = path.relative_to(root).as_posix()
            if repo.is_dirty(index=True, working_tree=True, untracked_files=True, path=rel):
                raise InvalidInput(
                    f"{path}: uncommitted changes; commit them first so tag {tag} names what is bundled"
                )
    if not repo.head.is_valid():
        raise InvalidInput(f"{root}: the repository has no commit yet")
    # the release's own commit when the entry records one, else the commit being tagged
    source_commit = release.commit or repo.head.commit.hexsha

    out = (output_dir or ws.bundles_dir) / bundle_filename(app, version)
    bundle: BuiltBundle | None = None
    rel_record = record.relative_to(root).as_posix()
    committed = False
    try:
        bundle = build_bundle(
            ws,
            loaded,
            version=version,
            key=key,
            output=out,
            build="always",
            force=True,  # not published (no tag, no record): a leftover file is stale
            playbooks_dir=playbooks_dir,
            progress=say,
            source_commit=source_commit,
            meter=meter,
        )
        data = release_record(
            bundle=bundle, date=today or dt.date.today(), source_commit=source_commit
        )
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("x", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        say(f"recording {rel_record}")
        repo.index.add([rel_record])
        message = f"Publish {app} {version}\n\nbundle {bundle.path.name} sha256:{bundle.sha256}\nsigner {bundle.manifest.signer}\n"
        repo.git.commit("-m", message, "--only", "--", rel_record)
        committed = True
        commit = repo.head.commit
        try:
            repo.create_tag(
                tag,
                ref=commit,
                message=f"{entry.name} {version}\n\n"
                + "\n".join(f"- {c}" for c in release.changelog),
            )
        except git.GitCommandError as exc:
            if repo.head.commit == commit:
                repo.git.reset("--soft", "HEAD~1")
            committed = False
            raise InvalidInput(f"git tag {tag}: {exc.stderr.strip() or exc}") from None
    except git.GitCommandError as exc:
        if not committed:
            _undo(repo, record, rel_record, bundle.path if bundle else out)
        what = " ".join(str(a) for a in exc.command[:2])
        raise InvalidInput(f"{what}: {(exc.stderr or '').strip() or exc}") from None
    except BaseException:
        if not committed:
            _undo(repo, record, rel_record, bundle.path if bundle else out)
        raise
    return Published(
        app=app, version=version, bundle=bundle, record=record, commit=commit.hexsha, tag=tag
    )


def _undo(repo: object, record: Path, rel_record: str, bundle: Path) -> None:
    import git

    assert isinstance(repo, git.Repo)
    try:
        repo.git.rm("--cached", "--quiet", "--ignore-unmatch", "--", rel_record)
    except git.GitCommandError:
        pass
    record.unlink(missing_ok=True)
    bundle.unlink(missing_ok=True)
