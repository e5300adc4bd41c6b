"""Property-based fuzzing of the bundle-manifest reader and the bundle verifier (Hypothesis).

Whatever the bytes, reading a bundle ends in a manifest or in ONE VerificationFailed (exit 6)
whose one-line message names the bundle file and the member: never another exception, never
a traceback. Examples are bounded and derandomized so CI time stays small and stable.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bundle_verify import craft  # same folder

from spbe_share.bundle.keyformat import key_id_of
from spbe_share.bundle.manifest import BundleManifest
from spbe_share.bundle.verify import check_signature, verify_stream
from spbe_share.errors import ExitCode, VerificationFailed

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KID = key_id_of(KEY.public_key())
TRUSTED = {KID: KEY.public_key()}
FUZZ = settings(
    max_examples=150, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _valid_doc(tmp_path: Path) -> dict[str, object]:
    _, manifest = craft(tmp_path, KEY, zstd=True)
    return json.loads(manifest.to_bytes())


def _read(manifest_bytes: bytes) -> BundleManifest | None:
    sig = base64.b64encode(KEY.sign(manifest_bytes))
    try:
        return check_signature(manifest_bytes, sig, trusted_keys=TRUSTED, display="fuzz.spbe: ")
    except VerificationFailed as exc:
        assert exc.exit_code == ExitCode.VERIFICATION_FAILED
        assert "\n" not in exc.message and "fuzz.spbe: spbe-bundle.json" in exc.message
        return None


@FUZZ
@given(body=st.binary(max_size=3000))
def test_any_signed_bytes_give_a_manifest_or_one_line(body: bytes) -> None:
    # the signer field in front, so the signature verifies and the parser gets the bytes
    _read(b'{"signer": "' + KID.encode() + b'", ' + body)
    _read(body)


@FUZZ
@given(depth=st.integers(1, 250_000), opener=st.sampled_from([b"[", b"{\"a\":", b"[{\"b\":"]))
def test_deep_nesting_is_refused_before_parsing(depth: int, opener: bytes) -> None:
    closer = bytes(reversed(opener.replace(b"[", b"]").replace(b"{", b"}").translate(None, b'":ab')))
    _read(b'{"signer": "' + KID.encode() + b'", "x": ' + opener * depth + b"1" + closer * depth + b"}")


@FUZZ
@given(data=st.data())
def test_manifests_with_any_value_anywhere(tmp_path_factory, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    doc = _valid_doc(tmp_path_factory.mktemp("m"))
    # replace one value somewhere in the document by an arbitrary JSON value
    path: list[object] = []
    node: object = doc
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        k = data.draw(st.sampled_from(keys))
        path.append(k)
        node = node[k]  # type: ignore[index]
    new = data.draw(json_values)
    if path:
        parent: object = doc
        for k in path[:-1]:
            parent = parent[k]  # type: ignore[index]
        parent[path[-1]] = new  # type: ignore[index]
    else:
        doc["extra"] = new
    doc["signer"] = KID
    text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    _read(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10**9)))
def test_damaged_bundles_fail_verification_cleanly(tmp_path_factory, flips, cut) -> None:  # type: ignore[no-untyped-def]
    path, _ = craft(tmp_path_factory.mktemp("b"), KEY, zstd=True)
    data = bytearray(path.read_bytes())
    for at, mask in flips:
        data[at % len(data)] ^= mask
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        verify_stream(io.BytesIO(bytes(data)), trusted_keys=TRUSTED, display="damaged.spbe")  # type: ignore[arg-type]
    except VerificationFailed as exc:
        assert "\n" not in exc.message and "damaged.spbe" in exc.message


def test_the_fuzzed_bundle_is_valid_undamaged(tmp_path: Path) -> None:
    path, manifest = craft(tmp_path, KEY, zstd=True)
    with path.open("rb") as f:
        assert verify_stream(f, trusted_keys=TRUSTED, display="x") == manifest  # type: ignore[arg-type]
    with tarfile.open(path) as tar:
        assert any(n.endswith(".zst") for n in tar.getnames())
