"""Debias Studio engine. Nothing below this package imports Qt (ARCHITECTURE.md, rule 1)."""
