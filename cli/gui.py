"""``debias-studio gui [PROJECT] [--demo digits|backgrounds]``: start the desktop application.

The GUI is imported only when the command runs, so importing core never imports Qt. With
``--demo`` and no project, the demo project in the per-user data folder is reused, or created by
the GUI as a job whose progress it shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    gui = subparsers.add_parser("gui", help="start the desktop application")
    gui.add_argument("project", type=Path, nargs="?", help="project folder to open")
    gui.add_argument(
        "--demo",
        choices=("digits", "backgrounds"),
        help="open the built-in demo (created in your data folder on first use)",
    )
    gui.set_defaults(func=_gui)


def _gui(args: argparse.Namespace) -> int:
    from debias_studio.gui.app import run

    return run(args.project, demo=args.demo or False)
