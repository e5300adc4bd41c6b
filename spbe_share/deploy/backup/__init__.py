"""Backups of a deployed app (issue 8): the controller's pure side.

* :mod:`.spec`: what to back up (containers, engines, databases, volumes) from an entry and a
  target, and the variables of ``playbooks/backup.yml`` / ``playbooks/restore.yml``;
* :mod:`.manifest`: the strict models of what the target writes (manifest, verification, list);
* :mod:`.schedule`: the cron / systemd files of ``backup schedule``.

The work itself happens on the target: ``playbooks/library/spbe_backup.py`` (Ansible module)
over ``playbooks/module_utils/spbe_backup_*.py`` (stdlib engine, also installed in
``<root>/lib/`` for scheduled runs); playbook tasks ``tasks/backup.yml`` and ``tasks/restore.yml``.
"""
