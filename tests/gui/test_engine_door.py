"""gui.engine is the GUI's one door into the engine, and opening it must not load torch or
scikit-learn: the GUI imports it on the GUI thread at start-up."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "open_clip", "scipy")


def test_the_door_imports_no_heavy_library() -> None:
    probe = (
        "import sys, debias_studio.gui.engine as e; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", f"gui.engine loaded {result.stdout.strip()}"
