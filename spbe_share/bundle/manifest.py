"""The bundle manifest ``spbe-bundle.json``: a strict pydantic model with canonical bytes.

The signature (``spbe-bundle.json.sig``) covers the exact bytes :meth:`BundleManifest.to_bytes`
produces: JSON with sorted keys, two-space indent, UTF-8, one trailing newline, no null
fields. A manifest whose bytes are not in that canonical form is refused, so there is one
byte string per manifest. The bytes are checked against the signature before they are
parsed (:mod:`.verify`), and parsing is bounded (:func:`parse_problem`).

Image blobs are content-addressed by the SHA-256 of their *uncompressed* content
(``sha256``/``size``). A blob stored zstd-compressed is the member ``blobs/sha256/<hex>.zst``
with ``compression: zstd`` and the digest and size of the stored bytes
(``stored_sha256``/``stored_size``); both digests are verified.

The SBOM of each image is the member ``sbom/<component>.cdx.json`` (:mod:`.sbom`), listed
like any other file, so the signature covers it (bundles built before SBOMs have none).
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
from .sbom import SBOM_MEMBER

FORMAT: Literal[2] = 2
MANIFEST_NAME = "spbe-bundle.json"
SIGNATURE_NAME = "spbe-bundle.json.sig"
MEMBER_PREFIXES = ("entry/", "templates/", "playbooks/", "blobs/sha256/", "sbom/")
MAX_MANIFEST_BYTES = 64 << 20
# A real manifest nests 4 deep ({files: [{...}]}); anything past this is refused unparsed.
MAX_MANIFEST_DEPTH = 32
ZSTD_SUFFIX = ".zst"
Compression = Literal["zstd"]
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
        raise ValueError("blob paths must be blobs/sha256/<64 hex>[.zst]")
    if value.startswith("sbom/") and not SBOM_MEMBER.fullmatch(value):
        raise ValueError("SBOM paths must be sbom/<component>.cdx.json")
    return value


_BLOB_PATH = re.compile(r"blobs/sha256/([0-9a-f]{64})(\.zst)?")


def _is_blob_path(path: str) -> bool:
    return _BLOB_PATH.fullmatch(path) is not None


MemberPath = Annotated[str, AfterValidator(_check_member_path)]
Hex64 = Annotated[str, Field(pattern=HEX64)]
Digest = Annotated[str, Field(pattern=DIGEST)]
KeyId = Annotated[str, Field(pattern=KEY_ID)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BundleFile(_Strict):
    path: MemberPath
    sha256: Hex64 = Field(description="of the content (uncompressed, for a compressed blob)")
    size: int = Field(ge=0, description="of the content")
    compression: Compression | None = Field(default=None, description="how the member is stored")
    stored_sha256: Hex64 | None = Field(default=None, description="of the stored (compressed) bytes")
    stored_size: int | None = Field(default=None, ge=0, description="of the stored bytes")

    @model_validator(mode="after")
    def _storage(self) -> BundleFile:
        compressed = self.compression is not None
        if compressed != (self.stored_sha256 is not None) or compressed != (self.stored_size is not None):
            raise ValueError("compression, stored_sha256 and stored_size go together")
        if compressed and not (self.path.startswith("blobs/") and self.path.endswith(ZSTD_SUFFIX)):
            raise ValueError("only blobs/sha256/<hex>.zst members are compressed")
        if not compressed and self.path.endswith(ZSTD_SUFFIX) and self.path.startswith("blobs/"):
            raise ValueError(f"{self.path} needs compression: zstd")
        return self

    @property
    def is_blob(self) -> bool:
        return self.path.startswith("blobs/")

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha256

    @property
    def member_sha256(self) -> str:
        """Digest of the bytes as stored in the bundle."""
        return self.stored_sha256 if self.stored_sha256 is not None else self.sha256

    @property
    def member_size(self) -> int:
        return self.stored_size if self.stored_size is not None else self.size


class BundleImage(_Strict):
    component: Annotated[str, Field(pattern=SLUG)]
    ref: str = Field(min_length=1, description="repository:tag, e.g. spbe-share/e-office-web:1.1.0")
    config: Digest = Field(description="sha256 of the image config = the image id")
    layers: list[Digest] = Field(description="layer tars (uncompressed), base first")

    @property
    def image_id(self) -> str:
        return self.config

    @property
    def blob_digests(self) -> list[str]:
        """Digests of this image's config and layers (each once)."""
        out: list[str] = []
        for d in [self.config, *self.layers]:
            if d not in out:
                out.append(d)
        return out


def blob_path(digest: str, compression: str | None = None) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1] + (ZSTD_SUFFIX if compression == "zstd" else "")


class BundleManifest(_Strict):
    format: Literal[2]
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
        by_digest: dict[str, BundleFile] = {}
        for f in self.files:
            if f.is_blob:
                m = _BLOB_PATH.fullmatch(f.path)
                if m is None or m.group(1) != f.sha256:
                    raise ValueError(f"blob {f.path} has sha256 {f.sha256}")
                if f.digest in by_digest:
                    raise ValueError(f"blob {f.path}: sha256 {f.sha256} is stored twice")
                by_digest[f.digest] = f
        used: set[str] = set()
        components = [i.component for i in self.images]
        if len(set(components)) != len(components):
            raise ValueError("duplicate component in images")
        for img in self.images:
            for d in img.blob_digests:
                if d not in by_digest:
                    raise ValueError(f"image {img.component} needs {blob_path(d)}, not listed in files")
                used.add(d)
        orphans = [f.path for f in self.files if f.is_blob and f.digest not in used]
        if orphans:
            raise ValueError(f"blob {orphans[0]} is not used by any image")
        for f in self.files:
            m = SBOM_MEMBER.fullmatch(f.path)
            if m is not None and m.group(1) not in components:
                raise ValueError(f"{f.path}: no image of component {m.group(1)!r}")
        if "entry/spbe-app.yaml" not in by_path:
            raise ValueError("files lack entry/spbe-app.yaml")
        return self

    # -- bytes
    def to_bytes(self) -> bytes:
        doc = self.model_dump(mode="json", exclude_none=True)
        return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode(
            "utf-8"
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, display: str = MANIFEST_NAME) -> BundleManifest:
        """Parse and validate (bounded); any problem is a :class:`VerificationFailed`."""
        problem = parse_problem(data)
        if problem:
            raise VerificationFailed(f"bundle verification failed: {display}: {problem}")
        try:
            manifest = cls.model_validate_json(data)
        except ValidationError as exc:
            problems = [
                f"{display}: {format_loc(e['loc'])}: {_one_line(e['msg'])}"
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
        return [f.digest for f in self.files if f.is_blob]

    @property
    def blobs(self) -> list[BundleFile]:
        return [f for f in self.files if f.is_blob]

    def blob(self, digest: str) -> BundleFile:
        """The member holding the blob whose content has ``digest``."""
        for f in self.files:
            if f.is_blob and f.digest == digest:
                return f
        raise KeyError(digest)

    @property
    def stored_size(self) -> int:
        """Bytes of all members as stored in the bundle."""
        return sum(f.member_size for f in self.files)

    def image(self, component: str) -> BundleImage:
        for img in self.images:
            if img.component == component:
                return img
        raise KeyError(component)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def parse_problem(data: bytes) -> str | None:
    """Why ``data`` must not be parsed at all (too large, nested too deep, not UTF-8), or None.

    Scans once, linearly, counting brackets outside JSON strings: a manifest nested 200,000
    deep is refused here, before any parser recurses into it.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        return f"too large ({len(data)} bytes, at most {MAX_MANIFEST_BYTES})"
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_MANIFEST_DEPTH:
                return f"nested deeper than {MAX_MANIFEST_DEPTH} levels"
        elif byte in (0x5D, 0x7D):
            depth -= 1
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start})"
    return None


def summary(manifest: BundleManifest) -> dict[str, object]:
    """Plain data for ``bundle show`` (sizes of the content; ``stored`` = as in the bundle)."""
    by_digest = {f.digest: f for f in manifest.files if f.is_blob}
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
        "stored_bytes": manifest.stored_size,
        "compression": sorted({f.compression for f in manifest.files if f.compression}) or None,
        "bytes_by_part": dict(sorted(groups.items())),
        "images": [
            {
                "component": i.component,
                "ref": i.ref,
                "id": i.config,
                "layers": [{"digest": d, "size": by_digest[d].size} for d in i.layers],
                "size": sum(by_digest[d].size for d in i.blob_digests),
                "stored_size": sum(by_digest[d].member_size for d in i.blob_digests),
            }
            for i in manifest.images
        ],
    }
