"""The support bundle file (``spbe-share support-bundle``): what it holds, written and read.

One tar file with two members::

    index.json          readable by anyone: app, target, when, sealed to whom, and the list of
                        files inside (name, size, SHA-256), never their content
    payload.tar.age     the files, in a tar, sealed (age, X25519) to the donor's key(s);
    payload.tar         ... or in clear, when made with --no-seal

So ``support-bundle inspect FILE`` shows what is inside before it is sent, without any key;
with the donor's identity it opens the payload, checks every file against the index and shows
their content. A bundle comes from elsewhere when it is inspected: the file is read with caps
(members, sizes, bounded JSON), member names are validated, links are refused.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput, NotFound, VerificationFailed
from ..files import atomic_write_bytes
from ..outside import loads_model

KIND = "spbe-share-support-bundle"
INDEX = "index.json"
SEALED = "payload.tar.age"
CLEAR = "payload.tar"
FILE_NAME = r"^[a-z0-9][a-z0-9._-]{0,80}(?:/[a-z0-9][a-z0-9._-]{0,80})?$"
MAX_INDEX = 1 << 20
MAX_PAYLOAD = 256 << 20
MAX_FILES = 200


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndexFile(_Model):
    name: Annotated[str, Field(pattern=FILE_NAME)]
    size: int = Field(ge=0)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Index(_Model):
    kind: Literal["spbe-share-support-bundle"] = "spbe-share-support-bundle"
    format: Literal[1] = 1
    app: str = Field(max_length=100)
    target: str = Field(max_length=100)
    created: str = Field(max_length=40)
    created_by: str = Field(max_length=200)
    since_s: int = Field(ge=0)
    sealed_to: list[Annotated[str, Field(max_length=100)]] = Field(max_length=20)
    payload: Literal["payload.tar.age", "payload.tar"]
    payload_size: int = Field(ge=0)
    payload_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    redactions: int = Field(ge=0)
    files: list[IndexFile] = Field(max_length=MAX_FILES)


def _tar(members: Sequence[tuple[str, bytes]]) -> bytes:
    """A deterministic tar of ``members`` (name, content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_bundle(out: Path, *, files: Mapping[str, bytes], meta: Mapping[str, Any], sealed_to: Sequence[str]) -> Index:
    """Write the bundle to ``out`` (0600, atomically); ``meta``: the index's app, target,
    created, created_by, since_s, redactions. Sealed to ``sealed_to`` unless it is empty."""
    from ..sealing import seal_bytes

    names = sorted(files)
    payload = _tar([(n, files[n]) for n in names])
    if sealed_to:
        payload = seal_bytes(payload, to=sealed_to)
    index = Index.model_validate({
        **meta, "sealed_to": list(sealed_to), "payload": SEALED if sealed_to else CLEAR,
        "payload_size": len(payload), "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "files": [{"name": n, "size": len(files[n]), "sha256": hashlib.sha256(files[n]).hexdigest()} for n in names],
    })
    text = index.model_dump_json(indent=1).encode()
    atomic_write_bytes(out, _tar([(INDEX, text), (index.payload, payload)]), mode=0o600)
    return index


@dataclass
class Opened:
    """A bundle read back: its index, and its files when they could be opened (else None)."""

    index: Index
    files: dict[str, bytes] | None


def _members(path: Path) -> dict[str, bytes]:
    try:
        size = path.stat().st_size
        if size > MAX_PAYLOAD + MAX_INDEX + (64 << 10):
            raise InvalidInput(f"{path}: {size} bytes, larger than a support bundle can be")
        with tarfile.open(path, mode="r:") as tar:
            out: dict[str, bytes] = {}
            for m in tar:
                if len(out) >= 2 or not m.isreg() or m.name not in (INDEX, SEALED, CLEAR) or m.name in out:
                    raise InvalidInput(f"{path}: member {m.name!r}: not a support bundle (index.json and one payload)")
                f = tar.extractfile(m)
                if f is None:
                    raise InvalidInput(f"{path}: member {m.name!r} cannot be read")
                out[m.name] = f.read(MAX_PAYLOAD + 1)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInput(f"{path}: not a support bundle ({type(exc).__name__})") from None
    return out


def _inner(data: bytes, index: Index, where: str) -> dict[str, bytes]:
    want = {f.name: f for f in index.files}
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                spec = want.get(m.name)
                if spec is None or not m.isreg() or m.name in out:
                    raise VerificationFailed(f"{where}: {m.name!r} is not a file the index lists")
                f = tar.extractfile(m)
                content = f.read(spec.size + 1) if f is not None else b""
                if len(content) != spec.size or hashlib.sha256(content).hexdigest() != spec.sha256:
                    raise VerificationFailed(f"{where}: {m.name} differs from the index (size or SHA-256)")
                out[m.name] = content
    except tarfile.TarError as exc:
        raise VerificationFailed(f"{where}: the payload is not a tar ({type(exc).__name__})") from None
    missing = sorted(set(want) - set(out))
    if missing:
        raise VerificationFailed(f"{where}: the payload lacks {', '.join(missing[:5])}")
    return out


def open_bundle(path: Path, *, keys: Sequence[Any] = ()) -> Opened:
    """Read ``path``: the index always; the files when the payload is clear, or sealed and one
    of ``keys`` opens it (each checked against the index)."""
    from ..sealing import open_sealed_bytes

    members = _members(path)
    raw = members.get(INDEX)
    if raw is None or len(raw) > MAX_INDEX:
        raise InvalidInput(f"{path}: no readable {INDEX}: not a support bundle")
    index = loads_model(raw, Index, where=f"{path}: {INDEX}", error=InvalidInput)
    payload = members.get(index.payload)
    if payload is None or len(payload) != index.payload_size or hashlib.sha256(payload).hexdigest() != index.payload_sha256:
        raise VerificationFailed(f"{path}: the payload is missing or differs from the index (size or SHA-256)")
    if index.payload == SEALED:
        if not keys:
            return Opened(index=index, files=None)
        payload = open_sealed_bytes(payload, keys=keys, where=str(path))
    return Opened(index=index, files=_inner(payload, index, str(path)))


__all__ = ["INDEX", "Index", "Opened", "open_bundle", "write_bundle"]
