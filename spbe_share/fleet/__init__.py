"""The fleet: every target and app an operator (or the central team) looks after.

A fleet operation is the same operation of :mod:`spbe_share.ops` over many targets (forks,
batches, canaries); reading many targets at once is :mod:`.status` with :mod:`.direct` and
:mod:`.reads`.

May import: ops and the layers below. Imported by: cli, site.
"""
