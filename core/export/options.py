"""The export's choices by name: formats, how files are placed, how a subset is balanced.

Kept apart from the modules that do the work (they import pandas and torch) so that a client can
offer the choices - the CLI's ``--help``, a form - without loading the engine.
"""

from __future__ import annotations

FORMATS = ("manifest", "imagefolder", "balanced", "counterfactuals", "report")
DEFAULT_FORMATS = ("manifest", "imagefolder", "report")
LINK_MODES = ("copy", "hardlink", "symlink")
BALANCE_MODES = ("down", "up")
