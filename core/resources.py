"""Where the bundled resources live: the concept bank and the demo CLIP.

They travel inside the distribution as the package ``debias_studio.resources`` (the
``resources/`` folder of a checkout), so an editable install and an installed wheel find them
alike. Wheels are installed unzipped, so the resources are real files that open_clip can open.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

RESOURCES = Path(str(files("debias_studio.resources")))
DEMO_MODEL_DIR = RESOURCES / "models" / "demo-clip"
CONCEPT_BANK_FILE = RESOURCES / "concepts" / "concept_bank.json"
