"""The catalog of shareable apps: entry models, loading, search, sources, publiccode.yml.

Belongs here: what an app is and where its entries come from (the built-in catalog and pinned
git sources). Knows nothing of SSH, Docker or targets.

May import: the foundations only (errors, outside, workspace, yamlio, i18n). Imported by
every layer above.
"""
