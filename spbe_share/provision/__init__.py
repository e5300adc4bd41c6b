"""Provision bundles: what a bare server needs, collected with apt and signed, for offline use.

* :mod:`.oses`      the operating systems a provision bundle can be built for (pure data)
* :mod:`.aptsolve`  apt in a private folder: argv builders and parsers (pure), then the runs
* :mod:`.bundle`    the signed provision bundle: manifest model, pack, verify (no network)
* :mod:`.build`     ``spbe-share provision-bundle build``: collect the ``.deb`` files with apt

Provisioning a target with one is an operation: :mod:`spbe_share.ops.provision`.

May import: bundle, imaging and the layers below. Imported by: ops, cli.
"""
