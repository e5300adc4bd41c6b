"""The static web catalog: ``spbe-share site build`` and ``site serve``."""
