"""``debias-studio`` command line: the same core functions the GUI calls.

Each concern registers its sub-commands from its own module (``register(subparsers)``); a handler
takes the parsed arguments and returns an exit code. A ``StudioError``, or a failure of the machine
(full disk, read-only file: ``core.errors.readable``; a damaged database is the store's
``ProjectError``), becomes one readable line
on stderr and exit code 1; a cancelled job (Ctrl-C) exits with 130; bad usage with 2; a reader
that goes away (``... | head``) ends the command quietly with 141, as SIGPIPE ends other tools.

The entry point is ``debias_studio.cli.main:main`` (``cli/main.py``, also run by ``python -m
debias_studio.cli``). Importing it and building the parser imports no torch, pandas or Qt: each
command module imports the engine inside its handler, so ``--help`` and argument errors are
instant.
"""
