"""``debias-studio`` command line: the same core functions the GUI calls.

Each concern registers its sub-commands from its own module (``register(subparsers)``); a handler
takes the parsed arguments and returns an exit code. A ``StudioError`` becomes one readable line
on stderr and exit code 1; a cancelled job (Ctrl-C) exits with 130; bad usage with 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from debias_studio.core import __version__
from debias_studio.core.errors import JobCancelled, StudioError

COMMAND_MODULES = (
    "debias_studio.cli.data",
    "debias_studio.cli.gui",
    "debias_studio.cli.discover",
    "debias_studio.cli.train",
    "debias_studio.cli.export",
)
"""Modules that add sub-commands; a module that does not exist yet is skipped."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="debias-studio",
        description="Find and fix spurious correlations in image datasets.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except JobCancelled:
        print("debias-studio: cancelled.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("debias-studio: interrupted.", file=sys.stderr)
        return 130
    except StudioError as exc:
        print(f"debias-studio: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
