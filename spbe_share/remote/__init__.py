"""Remote: how the controller reaches a target.

* :mod:`.ssh` argument lists with pinned host keys, ``ssh-keyscan``, failures of ssh itself;
* :mod:`.runner` ansible-runner (one run folder per playbook run, events, artifacts) and
  :mod:`.stream` the same run on an execution node; :mod:`.varsfile` variables as data that
  Ansible never templates; :mod:`.outcome` what a finished run means (its failure as the right
  error, its published data validated);
* :mod:`.ship` blobs as one resumable stream; :mod:`.lease` the lock's lease renewed while a
  playbook runs; :mod:`.interrupts` SIGINT/SIGTERM reaching the playbook's processes;
  :mod:`.secretsync` the deployment's secrets in memory; :mod:`.scripts` target-side scripts
  as one ``python3 -c`` program (their home is ``playbooks/module_utils``).

Belongs here: transport and process mechanics, whatever the operation. What to send is decided
by ops and plans; what comes back is validated by records or by the strict models here.

May import: records and the layers below. Never plans or ops. Imported by: ops, fleet, cli.
"""
