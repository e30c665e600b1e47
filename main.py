"""Start the desktop application: ``python main.py [PROJECT]``."""

from __future__ import annotations

import sys

from debias_studio.gui.app import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else None))
