"""``debias-studio clean``: exclude, relabel and tag images, undo, and find what needs cleaning.

Images are chosen by ``--ids``, a group-matrix cell (``--cell CONFOUNDER:CLASS:VALUE``), the
images a run got wrong (``--misclassified-by RUN``) or a tag (``--tagged TAG``); several add up.
Every change is saved at once and listed by ``clean history``; ``clean undo`` takes back the last.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from debias_studio.cli.common import (
    add_command,
    open_project,
    run_with_bar,
    undo_last,
    write_json,
)
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import CancelToken

ACTIONS = {
    "exclude": ("exclude images with a reason", "--ids 3,17 --reason blurry"),
    "include": ("take excluded images back in", "--ids 3"),
    "relabel": ("give images another, existing class", "--tagged check --label 7"),
    "tag": ("tag images", "--cell color:1:red --tag check"),
    "untag": ("take a tag off images", "--ids 3 --tag check"),
}
FINDERS = {
    "duplicates": "near-duplicate pairs: cosine similarity of the embeddings >= --threshold, "
    "train/test leaks first",
    "label-issues": "images whose label an out-of-fold probe (or a finished --run) confidently "
    "disputes, with a suggested label, most likely first",
    "outliers": "images far from their class in the embedding space, farthest first",
}


def register(subparsers: Any) -> None:
    clean = add_command(
        subparsers,
        "clean",
        "exclude, relabel, tag images; undo; find duplicates, label issues, outliers",
        __doc__ or "",
        ["debias-studio clean exclude ~/digits --ids 3,17 --reason blurry", EXAMPLE_FIND],
    )
    actions = clean.add_subparsers(dest="clean_command", metavar="ACTION", required=True)
    for name, (summary, example) in ACTIONS.items():
        description = f"{summary[0].upper()}{summary[1:]}, saved at once and undoable."
        action = add_command(
            actions, name, summary, description, [f"debias-studio clean {name} ~/digits {example}"]
        )
        action.add_argument("project", type=Path)
        _selection_arguments(action)
        if name == "exclude":
            action.add_argument("--reason", required=True)
        if name == "relabel":
            action.add_argument("--label", required=True)
        if name in ("tag", "untag"):
            action.add_argument("--tag", dest="tag_name", required=True)
        action.set_defaults(func=_act)
    for name, summary in (
        ("undo", "take back the last change (cleaning or annotation)"),
        ("history", "list the cleaning actions Undo can take back, newest first"),
    ):
        action = add_command(
            actions,
            name,
            summary,
            summary[0].upper() + summary[1:] + ".",
            [f"debias-studio clean {name} ~/digits"],
        )
        action.add_argument("project", type=Path)
        action.set_defaults(func=undo_last if name == "undo" else _history)
    _finder_parsers(actions)


EXAMPLE_FIND = "debias-studio clean label-issues ~/digits --top 60"


def _selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ids", default=None, help="comma-separated image ids")
    parser.add_argument("--cell", default=None, help="CONFOUNDER:CLASS:VALUE (training images)")
    parser.add_argument("--misclassified-by", default=None, metavar="RUN")
    parser.add_argument("--tagged", default=None, metavar="TAG")


def _finder_parsers(actions: Any) -> None:
    for name, description in FINDERS.items():
        finder = add_command(
            actions,
            name,
            f"find {name.replace('-', ' ')} (a review queue)",
            description[0].upper() + description[1:] + ". A job: Ctrl-C cancels it.",
            [f"debias-studio clean {name} ~/digits --json {name}.json"],
        )
        finder.add_argument("project", type=Path)
        finder.add_argument("--model", default="demo")
        finder.add_argument("--device", default=None)
        finder.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
        finder.add_argument("--json", default=None, help="write every row as JSON ('-': stdout)")
        if name == "duplicates":
            finder.add_argument("--threshold", type=float, default=0.95)
        if name == "label-issues":
            finder.add_argument("--run", default=None, help="a finished run's predictions")
            finder.add_argument("--split", default="train", help="train, val, test or all")
        finder.set_defaults(func=_find, finder=name)


def selected_ids(project: Any, args: argparse.Namespace) -> list[int]:
    from debias_studio.core.annotate import selections

    chosen: set[int] = set()
    if args.ids:
        try:
            chosen.update(int(part) for part in args.ids.split(",") if part.strip())
        except ValueError as exc:
            raise StudioError(f"--ids takes comma-separated numbers, not '{args.ids}'.") from exc
    if args.cell:
        parts = args.cell.split(":")
        if len(parts) != 3:
            raise StudioError("--cell takes CONFOUNDER:CLASS:VALUE.")
        chosen.update(selections.group_cell(project, *parts).tolist())
    if args.misclassified_by:
        chosen.update(selections.misclassified_by(project, args.misclassified_by).tolist())
    if args.tagged:
        chosen.update(selections.with_tag(project, args.tagged).tolist())
    return sorted(chosen)


def _act(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate import cleaning

    with open_project(args.project) as project:
        ids = selected_ids(project, args)
        command = args.clean_command
        if command == "exclude":
            message = cleaning.exclude_images(project, ids, args.reason)
        elif command == "include":
            message = cleaning.include_images(project, ids)
        elif command == "relabel":
            message = cleaning.relabel_images(project, ids, args.label)
        else:
            message = cleaning.tag_images(project, ids, args.tag_name, remove=command == "untag")
    print(message)
    return 0


def _history(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.cleaning import cleaning_history

    with open_project(args.project) as project:
        for row in cleaning_history(project):
            detail = f" '{row['detail']}'" if row["detail"] else ""
            print(f"{row['id']:>5}  {row['action']}{detail}  {row['images']} image(s)")
    return 0


def _find(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate import review

    cancel = CancelToken()
    with open_project(args.project) as project:
        common = {"device": args.device, "cancel": cancel}
        if args.finder == "duplicates":
            job = review.find_duplicates(project, args.model, args.threshold, **common)
        elif args.finder == "label-issues":
            job = review.find_label_issues(
                project, args.model, split=args.split, run_id=args.run, **common
            )
        else:
            job = review.find_outliers(project, args.model, max(args.top, 1), **common)
        table = run_with_bar(job, f"finding {args.finder}", cancel)
    if args.json:
        write_json(table.to_dict("records"), args.json)
    else:
        print(f"{len(table)} found.")
        if len(table):
            print(table.head(args.top).to_string(index=False))
    return 0
