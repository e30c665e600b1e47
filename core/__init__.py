"""Debias Studio engine. Nothing below this package imports Qt (ARCHITECTURE.md, rule 1)."""

__version__ = "0.1.0"
