"""The static web catalog: ``spbe-share site build`` and ``site serve``.

May import: fleet, lint, catalog and the layers below. Imported by: cli.
"""
