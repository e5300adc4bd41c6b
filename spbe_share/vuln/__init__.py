"""Offline vulnerability matching: an imported OSV export (:mod:`.db`), version ranges compared
by the libraries of each scheme (:mod:`.osv`), and the audit of what the fleet runs (:mod:`.audit`)."""
