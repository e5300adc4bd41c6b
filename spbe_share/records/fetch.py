"""Copying a backup from a target to this machine: every destination decided HERE, before
any byte moves, from names validated here (finding 1 of issue 17).

The target's manifest names the backup's files. A compromised target controls that manifest
and the verification it runs under its own Python, so nothing it says becomes a path on this
machine until this side checked it (:mod:`spbe_share.outside`):

1. :func:`plan_fetch` (before the copy): the manifest is parsed with bounded nesting and
   validated by the strict model; the backup id and every file name must be one plain name
   (no ``/``, no ``..``, not absolute, no control character) matching the engine's patterns,
   each listed once; each destination is :func:`~spbe_share.outside.child_path` of the fetch
   folder ``<base>/<id>.partial``, which is made fresh (whatever was there, a symlink too, is
   removed, never followed). The playbooks copy exactly these files to exactly these paths
   (``playbooks/action_plugins/spbe_fetch_plan.py``, ``tasks/fetch_backup.yml``).
2. :func:`check_copy` (after the copy, and again before ``<id>.partial`` becomes ``<id>``, and
   for a copy given to ``restore --from``): the folder holds no symlink or special file and
   nothing but the backup's files; its manifest is the one the target verified and the one
   planned; every file has the manifest's size and SHA-256.

A refusal names the file and the problem in one line; the playbook fails on it, so the
operation exits 8 (the target answered with an invalid record) and nothing was written outside
the fetch folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RemoteFailed, SpbeError, VerificationFailed
from ..i18n import N_
from ..outside import (
    MAX_DEPTH,
    OutsideJSONError,
    child_path,
    depth_within,
    fresh_dir,
    loads_json,
    name_problem,
    quoted,
    tree_escapes,
)
from .backups import BACKUP_ID, BackupManifest, parse_manifest

MANIFEST = "manifest.json"
MAX_MANIFEST = 4 << 20  # bytes of a manifest.json read on this machine
_BACKUP_ID = re.compile(BACKUP_ID)


@dataclass(frozen=True)
class FetchFile:
    """One file to copy: its validated ``name``, where it is on the target, where it goes here."""

    name: str
    src: str
    dest: Path
    sha256: str


@dataclass(frozen=True)
class FetchPlan:
    manifest: BackupManifest
    manifest_sha256: str
    partial: Path
    files: list[FetchFile]

    def as_vars(self) -> dict[str, Any]:
        """What the playbook uses: only validated names and the paths made from them."""
        return {
            "id": self.manifest.id,
            "partial": str(self.partial),
            "files": [{"file": f.name, "src": f.src, "dest": str(f.dest), "sha256": f.sha256} for f in self.files],
            "manifest": self.manifest.model_dump(mode="json"),
        }


def _plain(data: Any, where: str, error: type[SpbeError]) -> Any:
    """``data`` (already parsed by someone else, e.g. Ansible) as plain bounded JSON values."""
    try:
        if not isinstance(data, bytes | str):
            if not depth_within(data):
                raise OutsideJSONError(f"nested deeper than {MAX_DEPTH} levels")
            data = json.dumps(data)
        return loads_json(data)
    except (OutsideJSONError, RecursionError, TypeError, ValueError) as exc:
        raise error(N_(f"{where}: not a backup manifest: {exc}")) from None


def _names_problem(data: Any, where: str) -> str | None:
    """The first name in the manifest that cannot be a file name here, with its place and value."""
    if not isinstance(data, dict):
        return N_(f"{where}: not a backup manifest (not an object); nothing was fetched")
    bid = data.get("id")
    problem = name_problem(bid)
    if problem is None and not (isinstance(bid, str) and _BACKUP_ID.match(bid)):
        problem = "not a backup id"
    if problem:
        return N_(f"{where}: id {quoted(bid)}: {problem}; nothing was fetched")
    items = data.get("items")
    named: list[tuple[str, Any]] = []
    if isinstance(items, list):
        named += [(f"items[{i}].file", item["file"]) for i, item in enumerate(items)
                  if isinstance(item, dict) and "file" in item]
    secrets = data.get("secrets")
    if isinstance(secrets, dict) and "file" in secrets:
        named.append(("secrets.file", secrets["file"]))
    seen: set[str] = set()
    for place, name in named:
        problem = name_problem(name)
        if problem is None and name == MANIFEST:
            problem = "the manifest's own name"
        if problem is None and name in seen:
            problem = "listed twice"
        if problem:
            return N_(f"{where}: {place} {quoted(name)}: {problem}; nothing was fetched")
        seen.add(name)
    return None


def checked_manifest(data: Any, *, where: str, error: type[SpbeError] = RemoteFailed) -> BackupManifest:
    """A manifest from a target: plain names first (each refusal names the file), then the
    strict model. ``data``: raw JSON bytes/text, or values parsed by someone else."""
    plain = _plain(data, where, error)
    problem = _names_problem(plain, where)
    if problem:
        raise error(problem)
    try:
        return parse_manifest(plain, where=where)
    except VerificationFailed as exc:
        raise error(exc.message, details=exc.details) from None


def plan_fetch(
    data: Any, *, base: Path, remote_dir: str, manifest_sha256: str, backup_id: str | None = None,
    where: str = "backup manifest",
) -> FetchPlan:
    """Validate the target's manifest ``data`` and decide where each of its files goes:
    ``<base>/<id>.partial/<name>`` (made fresh here). ``remote_dir``: the target's backups
    folder; ``backup_id``: the backup asked for (its manifest must name it). RemoteFailed
    (one line naming the file) on anything a backup manifest may not hold."""
    manifest = checked_manifest(data, where=where)
    if backup_id is not None and manifest.id != backup_id:
        raise RemoteFailed(f"{where}: asked for backup {backup_id}, the target's manifest names {quoted(manifest.id)};"
                           " nothing was fetched")
    if not (isinstance(manifest_sha256, str) and len(manifest_sha256) == 64
            and all(c in "0123456789abcdef" for c in manifest_sha256)):
        raise RemoteFailed(f"{where}: the verification gave no SHA-256 of {MANIFEST}; nothing was fetched")
    partial = child_path(base, f"{manifest.id}.partial", what="backup id", error=RemoteFailed)
    sums = manifest.sums()
    names = [*sums, MANIFEST]
    files = [
        FetchFile(
            name=name,
            src=f"{remote_dir.rstrip('/')}/{manifest.id}/{name}",
            dest=child_path(partial, name, what=f"{where}: file", error=RemoteFailed),
            sha256=sums[name][1] if name in sums else manifest_sha256,
        )
        for name in names
    ]
    fresh_dir(partial)
    return FetchPlan(manifest=manifest, manifest_sha256=manifest_sha256, partial=partial, files=files)


def _sha256(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def check_copy(
    folder: Path, *, manifest_sha256: str | None = None, expect: BackupManifest | None = None,
    error: type[SpbeError] = VerificationFailed,
) -> BackupManifest:
    """A backup folder on this machine, checked: no symlink or special file in it, nothing
    but its manifest and the files it names; the manifest (bounded JSON, strict model, its
    SHA-256 when known, equal to ``expect`` when given); each file's size and SHA-256."""
    if folder.is_symlink() or not folder.is_dir():
        raise error(N_(f"{folder}: not a folder of this machine (a symlink, or missing)"))
    bad = tree_escapes(folder)
    if bad:
        raise error(N_(f"{folder}: {bad[0]} is a symlink or not a regular file: a backup copy holds only its files"))
    mpath = folder / MANIFEST
    try:
        with mpath.open("rb") as f:
            raw = f.read(MAX_MANIFEST + 1)
    except FileNotFoundError:
        raise error(N_(f"{folder}: no {MANIFEST}: not a complete backup copy")) from None
    if len(raw) > MAX_MANIFEST:
        raise error(N_(f"{mpath}: larger than {MAX_MANIFEST} bytes: not a backup manifest"))
    if manifest_sha256 is not None and hashlib.sha256(raw).hexdigest() != manifest_sha256:
        raise error(N_(f"{mpath}: differs from the manifest the target verified"))
    manifest = checked_manifest(raw, where=str(mpath), error=error)
    if expect is not None and manifest != expect:
        raise error(N_(f"{mpath}: not the manifest the target reported"))
    sums = manifest.sums()
    extra = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST and p.name not in sums)
    if extra:
        raise error(N_(f"{folder}: {quoted(extra[0])} is not a file of backup {manifest.id}"))
    for name, (size, sha) in sums.items():
        path = child_path(folder, name, what=f"{mpath}: file", error=error)
        if not path.is_file():
            raise error(N_(f"{folder}: {name} is missing"))
        if _sha256(path) != (size, sha):
            raise error(N_(f"{path}: size/SHA-256 differ from the backup's manifest: the copy is damaged"))
    return manifest


def check_fetched(
    data: Any, *, base: Path, manifest_sha256: str, backup_id: str | None = None, where: str = "backup manifest",
) -> BackupManifest:
    """After the copy: ``<base>/<id>.partial`` holds exactly the backup :func:`plan_fetch`
    planned from the same ``data`` (RemoteFailed naming the file otherwise)."""
    manifest = checked_manifest(data, where=where)
    if backup_id is not None and manifest.id != backup_id:
        raise RemoteFailed(f"{where}: asked for backup {backup_id}, the target's manifest names {quoted(manifest.id)}")
    partial = child_path(base, f"{manifest.id}.partial", what="backup id", error=RemoteFailed)
    return check_copy(partial, manifest_sha256=manifest_sha256, expect=manifest, error=RemoteFailed)


__all__ = ["FetchFile", "FetchPlan", "check_copy", "check_fetched", "checked_manifest", "plan_fetch"]
