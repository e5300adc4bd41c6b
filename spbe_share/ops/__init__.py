"""Operations: what an operator does to a target, each as one module on one core.

Every operation has the same shape (:mod:`.core`)::

    plan (pure: what will change)  ->  checks (read-only)  ->  playbook under the target lock  ->  record + audit

* :mod:`.context` the :class:`~.context.OpContext` every operation takes (workspace, operator,
  time, notes for the operator, cancel token, lease); :mod:`.core` ``operation()`` (one audit
  line for every outcome), ``new_lock``/``run_locked`` (the lock with its lease renewed, the
  interrupt cleaned up); :mod:`.checks` the read-only steps (host key, agreement, what the
  target keeps); :mod:`.bundles` the bundle check (signature, donor, trust); :mod:`.preflight`.
* One module per operation: :mod:`.install` (with :mod:`.noop`, the controller side of the no-op
  check), :mod:`.upgrade`, :mod:`.rollback`, :mod:`.recover`, :mod:`.restore`, :mod:`.backups`,
  :mod:`.uninstall`, :mod:`.rotate`, :mod:`.history` (and unlock), :mod:`.status`,
  :mod:`.provision`, :mod:`.target_add`.

Belongs here: code that decides and orders the steps of an operation. What it will do is
computed by :mod:`spbe_share.plans`, how it reaches the target is :mod:`spbe_share.remote`, what
the target keeps is :mod:`spbe_share.records`. No click here (that is :mod:`spbe_share.cli`).

May import: plans, remote, records and the layers below them. Imported by: cli, fleet, site.
The layer contract: ``tests/unit/test_layers.py``.
"""
