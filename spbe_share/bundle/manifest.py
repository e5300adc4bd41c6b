"""The bundle manifest ``spbe-bundle.json``: a strict pydantic model with canonical bytes.

The signature (``spbe-bundle.json.sig``) covers the exact bytes :meth:`BundleManifest.to_bytes`
produces: JSON with sorted keys, two-space indent, UTF-8, one trailing newline. A manifest
whose bytes are not in that canonical form is refused, so there is one byte string per manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..catalog.models import SEMVER, SLUG
from ..errors import VerificationFailed
from ..yamlio import format_loc

FORMAT: Literal[1] = 1
MANIFEST_NAME = "spbe-bundle.json"
SIGNATURE_NAME = "spbe-bundle.json.sig"
MEMBER_PREFIXES = ("entry/", "templates/", "playbooks/", "blobs/sha256/")
MAX_MANIFEST_BYTES = 64 << 20
KEY_ID = r"^[0-9a-f]{16}$"
HEX64 = r"^[0-9a-f]{64}$"
DIGEST = r"^sha256:[0-9a-f]{64}$"


def member_path_problem(path: str) -> str | None:
    """Why ``path`` is not an acceptable bundle member path (None if it is)."""
    if not path:
        return "empty path"
    if path.startswith("/"):
        return "absolute path"
    if "\\" in path:
        return "backslash in path"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "control character in path"
    parts = path.split("/")
    if any(p == ".." for p in parts):
        return "path escapes the bundle ('..')"
    if any(p in ("", ".") for p in parts):
        return "path is not normalized"
    return None


def _check_member_path(value: str) -> str:
    problem = member_path_problem(value)
    if problem:
        raise ValueError(problem)
    if not value.startswith(MEMBER_PREFIXES):
        raise ValueError(f"path must start with one of {', '.join(MEMBER_PREFIXES)}")
    if value.startswith("blobs/") and not _is_blob_path(value):
        raise ValueError("blob paths must be blobs/sha256/<64 hex>")
    return value


def _is_blob_path(path: str) -> bool:
    return re.fullmatch(r"blobs/sha256/[0-9a-f]{64}", path) is not None


MemberPath = Annotated[str, AfterValidator(_check_member_path)]
Hex64 = Annotated[str, Field(pattern=HEX64)]
Digest = Annotated[str, Field(pattern=DIGEST)]
KeyId = Annotated[str, Field(pattern=KEY_ID)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BundleFile(_Strict):
    path: MemberPath
    sha256: Hex64
    size: int = Field(ge=0)


class BundleImage(_Strict):
    component: Annotated[str, Field(pattern=SLUG)]
    ref: str = Field(min_length=1, description="repository:tag, e.g. spbe-share/e-office-web:1.1.0")
    config: Digest = Field(description="sha256 of the image config = the image id")
    layers: list[Digest] = Field(description="layer tars (uncompressed), base first")

    @property
    def image_id(self) -> str:
        return self.config

    @property
    def blobs(self) -> list[str]:
        """Member paths of this image's config and layers (each once)."""
        out: list[str] = []
        for d in [self.config, *self.layers]:
            p = blob_path(d)
            if p not in out:
                out.append(p)
        return out


def blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


class BundleManifest(_Strict):
    format: Literal[1]
    app: Annotated[str, Field(pattern=SLUG)]
    version: Annotated[str, Field(pattern=SEMVER)]
    created: dt.datetime
    signer: KeyId = Field(description="key id of the donor key that signed the manifest")
    files: list[BundleFile]
    images: list[BundleImage]

    @model_validator(mode="after")
    def _consistent(self) -> BundleManifest:
        if self.created.tzinfo is None:
            raise ValueError("created must carry a time zone")
        paths = [f.path for f in self.files]
        if paths != sorted(paths):
            raise ValueError("files must be sorted by path")
        if len(set(paths)) != len(paths):
            raise ValueError("duplicate path in files")
        by_path = {f.path: f for f in self.files}
        for f in self.files:
            if f.path.startswith("blobs/") and f.path.rsplit("/", 1)[1] != f.sha256:
                raise ValueError(f"blob {f.path} has sha256 {f.sha256}")
        used: set[str] = set()
        components = [i.component for i in self.images]
        if len(set(components)) != len(components):
            raise ValueError("duplicate component in images")
        for img in self.images:
            for p in img.blobs:
                if p not in by_path:
                    raise ValueError(f"image {img.component} needs {p}, not listed in files")
                used.add(p)
        orphans = [p for p in paths if p.startswith("blobs/") and p not in used]
        if orphans:
            raise ValueError(f"blob {orphans[0]} is not used by any image")
        if "entry/spbe-app.yaml" not in by_path:
            raise ValueError("files lack entry/spbe-app.yaml")
        return self

    # -- bytes
    def to_bytes(self) -> bytes:
        doc = self.model_dump(mode="json")
        return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode(
            "utf-8"
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, display: str = MANIFEST_NAME) -> BundleManifest:
        """Parse and validate; any problem is a :class:`VerificationFailed`."""
        try:
            manifest = cls.model_validate_json(data)
        except ValidationError as exc:
            problems = [
                f"{display}: {format_loc(e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False)
            ]
            raise VerificationFailed(
                f"bundle verification failed: {problems[0]}", details=problems[1:]
            ) from None
        if manifest.to_bytes() != data:
            raise VerificationFailed(
                f"bundle verification failed: {display}: not in canonical form (sorted keys, 2-space indent)"
            )
        return manifest

    # -- queries
    def file(self, path: str) -> BundleFile:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def blob_digests(self) -> list[str]:
        return ["sha256:" + f.sha256 for f in self.files if f.path.startswith("blobs/")]

    def image(self, component: str) -> BundleImage:
        for img in self.images:
            if img.component == component:
                return img
        raise KeyError(component)


def summary(manifest: BundleManifest) -> dict[str, object]:
    """Plain data for ``bundle show``."""
    sizes = {f.path: f.size for f in manifest.files}
    groups: dict[str, int] = {}
    for f in manifest.files:
        top = f.path.split("/", 1)[0]
        groups[top] = groups.get(top, 0) + f.size
    return {
        "format": manifest.format,
        "app": manifest.app,
        "version": manifest.version,
        "created": manifest.created.isoformat(),
        "signer": manifest.signer,
        "files": len(manifest.files),
        "bytes": manifest.total_size,
        "bytes_by_part": dict(sorted(groups.items())),
        "images": [
            {
                "component": i.component,
                "ref": i.ref,
                "id": i.config,
                "layers": [{"digest": d, "size": sizes[blob_path(d)]} for d in i.layers],
                "size": sum(sizes[p] for p in i.blobs),
            }
            for i in manifest.images
        ],
    }
