"""The ``debias-studio`` entry point (``debias_studio.cli.main:main``): build the parser from the
command modules, run the chosen handler and turn its outcome into an exit code (the package
docstring, ``cli/__init__.py``, lists the codes)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

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
DISTRIBUTION = "debias-studio"
"""The distribution whose installed metadata gives ``--version`` (pyproject.toml's version)."""
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
    parser.add_argument("--version", action=_VersionAction)
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


class _VersionAction(argparse.Action):
    """``--version``: the installed distribution's version, read from its metadata only when asked
    (importing importlib.metadata costs about 20 ms, which every other command would pay)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from importlib.metadata import version

        sys.stdout.write(f"{parser.prog} {version(DISTRIBUTION)}\n")
        parser.exit()


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
