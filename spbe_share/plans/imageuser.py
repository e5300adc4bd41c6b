"""Which uid/gid an image runs as (its config's ``User``), read from the bundle's blobs.

Secrets are copied per component, owned by the component's user; the user is resolved from
the image's own ``/etc/passwd`` and ``/etc/group`` (the top-most layer that has them).
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInput, VerificationFailed
from ..outside import OutsideJSONError, loads_json

if TYPE_CHECKING:
    from ..bundle.manifest import BundleManifest
    from ..catalog.models import Entry


def _parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out[parts[0]] = (int(parts[2]), int(parts[3]))
    return out


def _parse_group(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            out[parts[0]] = int(parts[2])
    return out


def _layer_file(blob_dir: Path, layers: Sequence[str], name: str) -> str | None:
    """``name`` (e.g. etc/passwd) as seen in the image: the top-most layer that has it."""
    from ..imaging import dockerarchive as da

    for digest in reversed(layers):
        path = da.find_blob(blob_dir, digest.split(":", 1)[1])
        if path is None:
            continue
        try:
            with da.open_blob(path) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
                for member in tar:
                    if member.name in (name, "./" + name) and member.isreg():
                        f = tar.extractfile(member)
                        if f is not None:
                            return f.read().decode("utf-8", "replace")
        except (OSError, tarfile.TarError, da.ArchiveError):
            continue
    return None


def resolve_user(spec: str, *, passwd: Callable[[], str | None], group: Callable[[], str | None]) -> tuple[int, int]:
    """``USER`` of an image config -> (uid, gid). Empty = root. Names via the image's files."""
    spec = spec.strip()
    if not spec:
        return 0, 0
    user, _, grp = spec.partition(":")
    users: dict[str, tuple[int, int]] | None = None
    if user.isdigit():
        uid, gid = int(user), int(user)
        if not grp:
            users = _parse_passwd(passwd() or "")
            gid = next((g for (u, g) in users.values() if u == uid), uid)
    else:
        users = _parse_passwd(passwd() or "")
        if user not in users:
            raise InvalidInput(f"image user {user!r} is not in the image's /etc/passwd")
        uid, gid = users[user]
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            groups = _parse_group(group() or "")
            if grp not in groups:
                raise InvalidInput(f"image group {grp!r} is not in the image's /etc/group")
            gid = groups[grp]
    return uid, gid


def image_user(blob_dir: Path, config: str, layers: Sequence[str]) -> tuple[int, int]:
    from ..imaging import dockerarchive as da

    path = da.find_blob(blob_dir, config.split(":", 1)[1])
    if path is None:
        raise VerificationFailed(f"bundle cache {blob_dir} lacks the image config {config}")
    with da.open_blob(path) as f:
        try:
            doc = loads_json(f.read(1 << 20))
        except OutsideJSONError as exc:
            raise VerificationFailed(f"bundle cache {blob_dir}: image config {config}: {exc}") from None
    if not isinstance(doc, dict):
        raise VerificationFailed(f"bundle cache {blob_dir}: image config {config}: not an object")
    spec = str((doc.get("config") or {}).get("User") or "")
    return resolve_user(
        spec,
        passwd=lambda: _layer_file(blob_dir, layers, "etc/passwd"),
        group=lambda: _layer_file(blob_dir, layers, "etc/group"),
    )


def component_users(entry: Entry, manifest: BundleManifest, *, blob_dir: Path) -> dict[str, tuple[int, int]]:
    """(uid, gid) of every component that mounts secrets."""
    needs_user = {c.name for c in entry.components if c.secrets}
    return {
        img.component: image_user(blob_dir, img.config, img.layers)
        for img in manifest.images
        if img.component in needs_user
    }


__all__ = ["component_users", "image_user", "resolve_user"]
