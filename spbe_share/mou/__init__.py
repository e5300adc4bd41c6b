"""MoU/PKS drafts (``spbe-share mou draft``): a template filled with facts from the catalog.

May import: catalog, agreements and the foundations. Imported by: cli.
"""
