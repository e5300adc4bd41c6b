"""Targets: the Pemda data centers an operator installs into.

* :mod:`.inventory` the inventory (a standard Ansible YAML inventory): targets, their settings
  and groups, loaded and saved; the built-in ``local`` target;
* :mod:`.hostkeys` SSH host keys: parsing, pinning, the workspace's ``known_hosts``;
* :mod:`.selectors` which targets a ``--target`` value means (names, groups, kode wilayah).

Belongs here: the model of a target and the files that hold it. Reaching a target is
:mod:`spbe_share.remote`; adding one (keyscan, login) is :mod:`spbe_share.ops.target_add`.

May import: catalog and the foundations. Imported by everything above the domain.
"""
