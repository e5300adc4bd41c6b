"""Plans: pure builders of what an operation will do, compared by equality in unit tests.

* :mod:`.containers` an entry's components as containers (start order, mounts, ports,
  labels, health checks, URLs); :mod:`.builders` the release record and the variables of
  ``install.yml`` (and the deploy spec kept beside the record); :mod:`.opvars` the variables of
  the day-2 playbooks (backup, fetch, restore, schedule, uninstall, rotate, the data check);
* :mod:`.values` per-Pemda values and the secrets a deployment needs; :mod:`.render` config
  templates rendered in the sandbox; :mod:`.imageuser` the uid/gid each image runs as;
* :mod:`.upgradeplan` the path between two releases and what it crosses; :mod:`.backup` what
  to back up; :mod:`.schedule` the cron/systemd files of a backup schedule.

Belongs here: functions from an entry, a verified bundle, a target's settings and the
operator's input to data. No target, no network, nothing written; reading local input (a
values file, a verified bundle's blobs, templates through the sandbox) is allowed.

May import: records and the layers below. Never remote (a plan does not talk to a target).
Imported by: ops (and cli for its refusals before anything runs).
"""
