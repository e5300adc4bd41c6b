"""spbe-share: share and adopt government applications between Pemda (SPBE).

Imports run one way, top to bottom (the contract, checked on every run of the unit tests:
``tests/unit/test_layers.py``)::

    cli                      click, terminal output, exit codes
    site, fleet              the web catalog; one operation over many targets
    ops                      operations: the core and one module per operation
    plans | remote           pure builders | how the controller reaches a target
    records                  what a target keeps, read back as untrusted
    provision, lint, mou     provision bundles, catalog lint, MoU drafts
    bundle                   signed app bundles, trust in their signers
    imaging, agreements, targets
    catalog                  entry models, loading, sources, search
    audit, sandbox, sealing, outside, yamlio, workspace, i18n, errors   the foundations

Code that runs ON a target (Python 3.11 standard library only) lives outside the package, in
``playbooks/library`` (Ansible modules) and ``playbooks/module_utils`` (what they share, and
the scripts run over SSH).
"""

__version__ = "0.1.0"
