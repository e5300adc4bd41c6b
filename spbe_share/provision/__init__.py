"""Provisioning: make a bare server ready for spbe-share, offline.

* :mod:`.oses`      the operating systems a provision bundle can be built for (pure data)
* :mod:`.aptsolve`  apt in a private folder: argv builders and parsers (pure), then the runs
* :mod:`.bundle`    the signed provision bundle: manifest model, pack, verify (no network)
* :mod:`.build`     ``spbe-share provision-bundle build``: collect the ``.deb`` files with apt
* :mod:`.run`       ``spbe-share target provision``: ship the bundle, run ``provision.yml``
"""
