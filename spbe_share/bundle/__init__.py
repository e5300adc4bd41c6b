"""Signed app bundles: keys, manifest, packing, verification, publishing.

Public interface (imports are lazy so ``import spbe_share.bundle`` stays cheap)::

    verify_bundle(path, *, trusted_keys) -> BundleManifest        # raises VerificationFailed
    open_bundle(path, cache_root, *, trusted_keys) -> (BundleManifest, folder)  # one read
    extract_bundle(path, dest, *, trusted_keys, want=None) -> BundleManifest
    reassemble_docker_archive(source, image, out_fileobj)          # docker load-able tar
    build_bundle(ws, loaded, *, version, key, compression="zstd", ...) -> BuiltBundle
    trusted_keys(ws) / trusted_keys_from_dir(path) -> dict[key_id, Ed25519PublicKey]
    publish_release(ws, *, app, version, key, repo_root=None, ...) -> Published

May import: imaging, agreements, targets, catalog and the foundations. Imported by: provision,
plans, remote, ops, fleet and cli.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "BundleManifest": "manifest",
    "BundleImage": "manifest",
    "BundleFile": "manifest",
    "MANIFEST_NAME": "manifest",
    "SIGNATURE_NAME": "manifest",
    "verify_bundle": "verify",
    "verify_stream": "verify",
    "extract_bundle": "verify",
    "open_bundle": "verify",
    "verify_extracted": "verify",
    "reassemble_docker_archive": "verify",
    "build_bundle": "pack",
    "BuiltBundle": "pack",
    "bundle_filename": "pack",
    "trusted_keys": "keys",
    "trusted_keys_from_dir": "keys",
    "load_private_key": "keys",
    "generate_key": "keys",
    "key_id_of": "keyformat",
    "publish_release": "publish",
    "Published": "publish",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
