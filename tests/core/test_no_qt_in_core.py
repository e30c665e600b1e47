"""ARCHITECTURE.md rule 1: the engine imports no Qt, directly or through a dependency."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"

_BLOCKER = """
import importlib.abc, sys
BLOCKED = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy", "superqt", "pyqtgraph")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"core imported Qt module {name}")
        return None
sys.meta_path.insert(0, Block())
import importlib
for module in sys.argv[1:]:
    importlib.import_module(module)
print("ok")
"""


def core_modules() -> list[str]:
    modules = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(("debias_studio", *parts)))
    return modules


def test_every_core_module_imports_without_qt() -> None:
    modules = core_modules()
    assert "debias_studio.core.jobs" in modules and "debias_studio.core.store.project" in modules
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKER, *modules],
        capture_output=True,
        text=True,
        cwd=CORE.parent,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
