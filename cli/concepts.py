"""``debias-studio concepts``: list and search the concept bank (built-in, a project's, a file)."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path
from typing import Any

from debias_studio.cli.common import add_command, open_project, write_json


def register(subparsers: Any) -> None:
    concepts = add_command(
        subparsers,
        "concepts",
        "list and search the concept bank",
        """
        List the concepts discovery ranks and confounders are made from, by category. With a
        project, its own bank (as edited in the app), else the built-in one (304 concepts in
        14 categories) or --bank FILE. --search keeps the concepts whose name contains the
        text, --category one category. Exit code 1 when nothing matches.
        """,
        [
            "debias-studio concepts",
            "debias-studio concepts --category colour",
            "debias-studio concepts --search gre",
            "debias-studio concepts ~/digits --json",
        ],
    )
    concepts.add_argument("project", type=Path, nargs="?", help="use this project's bank")
    concepts.add_argument("--bank", type=Path, help="a concept bank JSON file instead")
    concepts.add_argument("--category", help="only this category")
    concepts.add_argument("--search", metavar="TEXT", help="only names containing TEXT")
    concepts.add_argument("--json", action="store_true", help="print {category: [names]}")
    concepts.set_defaults(func=_concepts)


def _concepts(args: argparse.Namespace) -> int:
    from debias_studio.core.concepts.bank import load_bank
    from debias_studio.core.concepts.lookup import close_names, search

    if args.project is not None and args.bank is not None:
        from debias_studio.core.errors import StudioError

        raise StudioError("Give a project or --bank, not both.")
    if args.project is not None:
        from debias_studio.core.concepts.project import project_bank

        with open_project(args.project) as project:
            bank = project_bank(project)
    else:
        bank = load_bank(args.bank)
    found = search(bank, args.search, args.category)
    if args.json:
        write_json(found, None)
    elif found:
        _print_categories(found)
    if not found:
        close = close_names(args.search or "", bank.names)
        hint = f"; close: {', '.join(close)}" if close else ""
        print(f"No concept in the bank contains '{args.search}'{hint}.")
        return 1
    return 0


def _print_categories(found: dict[str, list[str]]) -> None:
    width = max(40, min(100, shutil.get_terminal_size().columns))
    for category, names in found.items():
        line = f"{category} ({len(names)}): {', '.join(names)}"
        print(textwrap.fill(line, width=width, subsequent_indent="    "))
