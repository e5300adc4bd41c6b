"""Imaging: reproducible container images from Debian packages and wheels.

* :mod:`.app` every component image of an app release, built from the release's own source;
  :mod:`.base` the Debian base image (debootstrap, trimmed); :mod:`.wheels` host-built wheels;
  :mod:`.apt` this machine's apt sources (the mirror); :mod:`.engine` the local Docker engine;
* :mod:`.layers` (standard library only) layer tars rewritten deterministically;
  :mod:`.assemble` the image config written by spbe-share and the ``docker load``;
  :mod:`.finalize` a built image's layers normalized; :mod:`.source` a release's source tree;
* :mod:`.dockerarchive` (standard library only) Docker image archives <-> content-addressed
  blobs. It is the one module used on both sides: the controller imports it, sends it in the
  blob stream (``spbe_share.remote.ship``), and ``tasks/ship.yml`` installs it as
  ``<root>/lib/dockerarchive.py`` (its digest checked) where ``docker load`` uses it.

Belongs here: making and reading images on this machine. Knows nothing of targets.

May import: catalog and the foundations. Imported by: bundle, provision, plans, ops, cli.
"""
