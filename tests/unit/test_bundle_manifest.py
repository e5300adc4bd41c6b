"""The manifest model: strict, consistent, canonical bytes."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from pydantic import ValidationError

from spbe_share.bundle.manifest import BundleManifest, member_path_problem, summary
from spbe_share.errors import VerificationFailed

H = {n: hashlib.sha256(n.encode()).hexdigest() for n in ("config", "layer", "yaml")}


def doc(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "format": 2,
        "app": "e-office",
        "version": "1.1.0",
        "created": dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        "signer": "0123456789abcdef",
        "files": [
            {"path": f"blobs/sha256/{H['config']}", "sha256": H["config"], "size": 10},
            {"path": f"blobs/sha256/{H['layer']}", "sha256": H["layer"], "size": 2000},
            {"path": "entry/spbe-app.yaml", "sha256": H["yaml"], "size": 30},
        ],
        "images": [
            {
                "component": "web",
                "ref": "spbe-share/e-office-web:1.1.0",
                "config": f"sha256:{H['config']}",
                "layers": [f"sha256:{H['layer']}"],
            }
        ],
    }
    base.update(over)
    return base


def test_valid_manifest_round_trips_through_canonical_bytes() -> None:
    m = BundleManifest.model_validate(doc())
    data = m.to_bytes()
    assert data.endswith(b"}\n") and b'"app": "e-office"' in data
    assert BundleManifest.from_bytes(data) == m
    s = summary(m)
    assert s["bytes"] == 2040 and s["images"][0]["size"] == 2010  # type: ignore[index]


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"format": 1}, "format"),
        ({"surprise": True}, "surprise"),
        ({"signer": "XYZ"}, "signer"),
        ({"version": "1.1"}, "version"),
        ({"created": dt.datetime(2026, 6, 1)}, "time zone"),
        ({"files": list(reversed(doc()["files"]))}, "sorted"),  # type: ignore[call-overload]
        ({"files": doc()["files"][1:]}, "not listed in files"),  # type: ignore[index]
        ({"files": doc()["files"][:2]}, "entry/spbe-app.yaml"),  # type: ignore[index]
        ({"images": []}, "not used by any image"),
    ],
)
def test_invalid_manifests(over: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        BundleManifest.model_validate(doc(**over))


def test_blob_path_must_match_its_digest() -> None:
    files = doc()["files"]
    bad = [dict(files[0]), *files[1:]]  # type: ignore[index,misc]
    bad[0]["sha256"] = H["layer"]
    with pytest.raises(ValidationError, match="has sha256"):
        BundleManifest.model_validate(doc(files=bad))


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("entry/a.md", None),
        ("/abs", "absolute path"),
        ("a/../b", "path escapes the bundle ('..')"),
        ("a//b", "path is not normalized"),
        ("a\\b", "backslash in path"),
        ("a\nb", "control character in path"),
    ],
)
def test_member_path_problem(path: str, problem: str | None) -> None:
    assert member_path_problem(path) == problem


def test_from_bytes_reports_model_problems_as_verification_failures() -> None:
    with pytest.raises(VerificationFailed, match=r"spbe-bundle.json: format: "):
        BundleManifest.from_bytes(b'{"format": 7}')


def _zstd_doc() -> dict[str, object]:
    files = doc()["files"]
    layer = dict(files[1])  # type: ignore[index]
    layer.update(path=f"blobs/sha256/{H['layer']}.zst", compression="zstd", stored_sha256=H["yaml"], stored_size=700)
    return doc(files=[files[0], layer, files[2]])  # type: ignore[index]


def test_compressed_blob_round_trips_and_is_summarized() -> None:
    m = BundleManifest.model_validate(_zstd_doc())
    data = m.to_bytes()
    assert b"null" not in data  # optional fields are left out, not written as null
    assert BundleManifest.from_bytes(data) == m
    assert m.blob(f"sha256:{H['layer']}").member_size == 700
    s = summary(m)
    assert (s["bytes"], s["stored_bytes"], s["compression"]) == (2040, 740, ["zstd"])
    assert s["images"][0]["stored_size"] == 710  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"compression": None}, "go together"),
        ({"stored_size": None}, "go together"),
        ({"path": f"blobs/sha256/{H['layer']}"}, "only blobs/sha256/<hex>.zst"),
    ],
)
def test_compressed_blob_fields_go_together(change: dict[str, object], needle: str) -> None:
    d = _zstd_doc()
    d["files"][1].update(change)  # type: ignore[index]
    with pytest.raises(ValidationError, match=needle):
        BundleManifest.model_validate(d)


def test_a_blob_is_stored_once() -> None:
    d = _zstd_doc()
    plain = {"path": f"blobs/sha256/{H['layer']}", "sha256": H["layer"], "size": 2000}
    d["files"] = [d["files"][0], plain, d["files"][1], d["files"][2]]  # type: ignore[index]
    with pytest.raises(ValidationError, match="stored twice"):
        BundleManifest.model_validate(d)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"[" * 200_000, "nested deeper than"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested deeper than"),
        (b'{"s": "' + b"[" * 1000 + b'"}', "s: Extra inputs"),  # brackets in a string do not count
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_parsing_is_bounded(data: bytes, needle: str) -> None:
    with pytest.raises(VerificationFailed, match=needle) as err:
        BundleManifest.from_bytes(data)
    assert "\n" not in err.value.message and err.value.message.startswith("bundle verification failed: spbe-bundle.json: ")
