"""Reproducible container images: deterministic layer tars, image configs, release sources.

* :mod:`.layers` (standard library only): layer tars rewritten deterministically
  (sorted entries, fixed times, no owner names, caches and logs dropped), from a
  directory tree or from the layers ``docker build`` made.
* :mod:`.assemble`: the image config written by spbe-share and the ``docker load``.
* :mod:`.source`: a release's source tree, taken from the git commit the entry records.
"""
