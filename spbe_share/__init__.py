"""spbe-share: share and adopt government applications between Pemda (SPBE)."""

__version__ = "0.1.0"
