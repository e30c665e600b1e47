"""``debias-studio`` command line: the same core functions the GUI calls.

Each concern registers its sub-commands from its own module (``register(subparsers)``); a handler
takes the parsed arguments and returns an exit code. A ``StudioError``, or a failure of the machine
(full disk, read-only file: ``core.errors.readable``; a damaged database is the store's
``ProjectError``), becomes one readable line
on stderr and exit code 1; a cancelled job (Ctrl-C) exits with 130; bad usage with 2; a reader
that goes away (``... | head``) ends the command quietly with 141, as SIGPIPE ends other tools.

Importing this package and building the parser imports no torch, pandas or Qt: each command
module imports the engine inside its handler, so ``--help`` and argument errors are instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from debias_studio.core import __version__
from debias_studio.core.errors import JobCancelled, readable
from debias_studio.core.threads import prepare_process

COMMAND_MODULES = (
    "debias_studio.cli.data",
    "debias_studio.cli.gui",
    "debias_studio.cli.discover",
    "debias_studio.cli.concepts",
    "debias_studio.cli.train",
    "debias_studio.cli.export",
    "debias_studio.cli.clean",
)
"""Modules that add sub-commands; a module that does not exist yet is skipped."""
BROKEN_PIPE_EXIT = 141
"""128 + SIGPIPE: what a shell reports for a tool whose reader closed the pipe."""
QUICK_START = """\
start here:
  debias-studio gui --demo digits              the desktop app on the built-in demo
  debias-studio demo ~/digits                  the same demo as a project for the commands
  debias-studio new ~/birds --images ~/photos  a project from a folder of class sub-folders
  debias-studio COMMAND --help                 what a command does, with examples
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="debias-studio",
        description="Find and fix spurious correlations in image datasets.",
        epilog=QUICK_START,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at exit as a traceback
        return code
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_EXIT


def _run(argv: Sequence[str] | None) -> int:
    prepare_process()  # before any command imports torch (core.threads, rule 1)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, bad usage: flush while we can catch it
        sys.stdout.flush()
        return exit_.code if isinstance(exit_.code, int) else 0
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
    except Exception as exc:
        message = readable(exc)  # StudioError, full disk, read-only file, damaged database...
        if message is None:
            raise  # a bug: keep its traceback
        print(f"debias-studio: error: {message}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of what is still
    buffered for the closed pipe does not print 'Exception ignored ... BrokenPipeError'."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by an object without a descriptor (tests)
        pass
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
