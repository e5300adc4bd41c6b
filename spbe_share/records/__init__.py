"""Records: what a target keeps, as strict models, read back as untrusted.

* :mod:`.state` release records, the lock's owner, the layout of ``<root>`` and the local cache
  of what targets run; :mod:`.journal` the upgrade/rollback journal and what to do with an
  unfinished one; :mod:`.deployspec` what it takes to bring a release back;
  :mod:`.backupspec` what to back up (as the target-side engine reads it);
  :mod:`.backups` the backup manifest, verification and list; :mod:`.fetch` the plan of a
  backup copy to this machine, checked against the manifest; :mod:`.appstate` everything
  ``module_utils/spbe_appstate.py`` (``app_state.yml``'s reading) reads about one app.

Belongs here: file formats that live on a target and their validation. Every reader names the
file and field of a bad value and uses nothing from it.

May import: the domain (catalog, targets) and the foundations. Imported by: plans, remote, ops,
fleet, cli.
"""
