"""Evidence built from what spbe-share knows: which Pemda use an app (:mod:`.reuse`) and the
SPBE evaluation evidence of one Pemda (:mod:`.spbe`)."""
