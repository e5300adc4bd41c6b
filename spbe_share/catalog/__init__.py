"""The catalog of shareable apps: entry models, loading, search, sources, publiccode.yml."""
