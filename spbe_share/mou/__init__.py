"""MoU/PKS drafts (``spbe-share mou draft``): a template filled with facts from the catalog."""
