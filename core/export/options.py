"""The export's choices by name: formats, how files are placed, how a subset is balanced.

Kept apart from the modules that do the work (they import pandas and torch) so that a client can
offer the choices - the CLI's ``--help``, a form - without loading the engine.
"""

from __future__ import annotations

FORMATS = ("manifest", "imagefolder", "huggingface", "balanced", "counterfactuals", "report")
DEFAULT_FORMATS = ("manifest", "imagefolder", "report")
LINK_MODES = ("auto", "copy", "hardlink", "symlink")
"""auto: hard links where the file system allows, else copies (self-contained, the default)."""
DEFAULT_LINK = "auto"
BALANCE_MODES = ("down", "up", "fill")
"""down: every group to the smallest; up: to the largest by repeating images; fill: training
groups to the largest with counterfactual images of the class's other values (kinds the app can
render), the other splits down-sampled."""
DEFAULT_MIN_GROUP = 5
"""Down-sampling that keeps fewer training images per group than this is refused: such a subset
is too small to train or judge anything on (the user may lower it, or up-sample)."""
BEST_RUN = "best"
"""The prediction run chosen by default: the best finished run by validation worst-group."""
