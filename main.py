"""Start the desktop application: ``python main.py [PROJECT]`` (the same as
``debias-studio gui [PROJECT]``, with its checks and one-line errors)."""

from __future__ import annotations

import sys

from debias_studio.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["gui", *sys.argv[1:]]))
