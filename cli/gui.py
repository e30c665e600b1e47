"""``debias-studio gui [PROJECT] [--demo digits|backgrounds]``: start the desktop application.

The GUI is imported only when the command runs, so importing core never imports Qt. What can be
refused without it is refused first, in milliseconds: a path that does not exist (with the
command that makes a project), a machine without a display (with the ways round it). A folder
or manifest that exists but is not a project opens the app, which offers to make one. With
``--demo`` and no project, the demo project in the per-user data folder is reused, or created by
the GUI as a job whose progress it shows.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from debias_studio.cli.common import add_command, check_project_folder


def register(subparsers: Any) -> None:
    gui = add_command(
        subparsers,
        "gui",
        "start the desktop application",
        """
        Open the desktop application: browse the images, discover concepts, annotate
        confounders, train cures and export, with every long step as a cancellable job.
        PROJECT opens a project; a folder of images or a manifest that is not a project
        yet opens the app with an offer to make one. Needs a display: on a server, use
        xvfb-run or the other commands.
        """,
        [
            "debias-studio gui --demo digits",
            "debias-studio gui ~/digits",
            "debias-studio gui ~/photos        # offers: New project from this folder",
            "xvfb-run debias-studio gui ~/digits",
        ],
    )
    gui.add_argument("project", type=Path, nargs="?", help="project folder to open")
    gui.add_argument(
        "--demo",
        choices=("digits", "backgrounds"),
        help="open the built-in demo (created in your data folder on first use)",
    )
    gui.set_defaults(func=_gui)


def _gui(args: argparse.Namespace) -> int:
    if args.project is not None and not args.project.exists():
        check_project_folder(args.project)  # says it does not exist, and how to make one
    from debias_studio.gui.app import check_display

    check_display()
    from debias_studio.gui.app import run

    return run(args.project, demo=args.demo or False)
