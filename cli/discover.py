"""Sub-commands for discovery and annotation: ``discover`` and ``confounder add|list|show|set|
kind|remove|undo``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from debias_studio.cli.common import open_project, run_with_bar, write_json
from debias_studio.core.data.splits import SPLITS, TRAIN
from debias_studio.core.jobs import CancelToken

SHOW_PER_CLASS = 5


def register(subparsers: Any) -> None:
    discover = subparsers.add_parser(
        "discover", help="rank the concepts that look like shortcuts, per class (DISC with CLIP)"
    )
    discover.add_argument("project", type=Path)
    discover.add_argument("--model", default="demo", help="model name (default: the demo CLIP)")
    discover.add_argument("--concepts", type=Path, help="concept bank JSON (default: built-in)")
    discover.add_argument("--run", help="explain the errors of this finished training run")
    discover.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    discover.add_argument("--split", default=TRAIN, choices=(*SPLITS, "all"))
    discover.add_argument("--seed", type=int, default=0)
    discover.add_argument(
        "--truth", metavar="COLUMN", help="report precision@1/@5 against this attribute column"
    )
    discover.add_argument("--top", type=int, help="rows per class in the JSON (default: all)")
    discover.add_argument("--json", dest="json_out", help="ranked rows to this file ('-': stdout)")
    discover.set_defaults(func=_discover)

    confounder = subparsers.add_parser("confounder", help="annotate confounders and groups")
    actions = confounder.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create (or replace) a confounder")
    add.add_argument("project", type=Path)
    add.add_argument("--name", required=True)
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--concept", help="present/absent by a threshold on this concept")
    source.add_argument("--concepts", help="arg-max over these comma-separated concepts")
    source.add_argument("--column", help="values from this attribute column")
    source.add_argument("--manual", action="store_true", help="empty, for labelling by hand")
    add.add_argument("--threshold", type=float, help="standardised score (default 1.0)")
    add.add_argument("--kind", help="colour, background, texture, object or other")
    add.add_argument("--model", default="demo")
    add.set_defaults(func=_add)

    listing = actions.add_parser("list", help="the project's confounders")
    listing.add_argument("project", type=Path)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", help="a confounder's group matrix")
    show.add_argument("project", type=Path)
    show.add_argument("name", nargs="?", help="default: every confounder")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)

    set_values = actions.add_parser("set", help="set the value of images by hand")
    set_values.add_argument("project", type=Path)
    set_values.add_argument("name")
    set_values.add_argument("--ids", required=True, help="comma-separated image ids")
    value = set_values.add_mutually_exclusive_group(required=True)
    value.add_argument("--value")
    value.add_argument("--clear", action="store_true", help="remove the images' overrides")
    set_values.set_defaults(func=_set)

    kind = actions.add_parser("kind", help="change a confounder's kind")
    kind.add_argument("project", type=Path)
    kind.add_argument("name")
    kind.add_argument("kind")
    kind.set_defaults(func=_kind)

    remove = actions.add_parser("remove", help="delete a confounder")
    remove.add_argument("project", type=Path)
    remove.add_argument("name")
    remove.set_defaults(func=_remove)

    undo = actions.add_parser("undo", help="undo the last annotation change")
    undo.add_argument("project", type=Path)
    undo.set_defaults(func=_undo)


def _discover(args: argparse.Namespace) -> int:
    from debias_studio.core.concepts.discovery import DiscoveryParams
    from debias_studio.core.concepts.project import discover

    cancel = CancelToken()
    with open_project(args.project) as project:
        job = discover(
            project,
            args.model,
            concepts=args.concepts,
            run_id=args.run,
            device=args.device,
            split=args.split,
            params=DiscoveryParams(seed=args.seed),
            cancel=cancel,
        )
        result = run_with_bar(job, "discovering", cancel)
        payload = result.to_json(args.top)
        if args.truth:
            from debias_studio.core.concepts.evaluate import evaluation, planted_concepts

            payload["evaluation"] = evaluation(result, planted_concepts(project, args.truth))
            if args.json_out != "-":
                found = payload["evaluation"]
                print(
                    f"precision@1 {found['precision_at_1']:.2f}, precision@5 "
                    f"{found['precision_at_5']:.2f} against '{args.truth}'"
                )
        if args.json_out:
            write_json(payload, args.json_out)
        if args.json_out != "-":
            _print_top(result)
    return 0


def _print_top(result: Any) -> None:
    print(
        f"Discovery on {result.params['n_images']} images, {len(result.concepts)} concepts "
        f"({result.predictions}, accuracy {result.probe_accuracy:.3f})."
    )
    for c, name in enumerate(result.classes):
        top = ", ".join(
            f"{r['concept']} ({r['score']:.2f})" for r in result.top_concepts(c, SHOW_PER_CLASS)
        )
        print(f"  {name}: {top}")


def _add(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.confounders import add_confounder
    from debias_studio.core.annotate.groups import group_matrix

    with open_project(args.project) as project:
        confounder = add_confounder(
            project,
            args.name,
            concept=args.concept,
            threshold=args.threshold,
            concepts=args.concepts,
            column=args.column,
            manual=args.manual,
            kind=args.kind,
            model_name=args.model,
        )
        print(
            f"Confounder '{confounder.name}' ({confounder.kind}, from {confounder.source}) with "
            f"values: {', '.join(confounder.values) or '(none yet)'}"
        )
        print(group_matrix(project, confounder.name).render())
    return 0


def _list(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.confounders import list_confounders

    with open_project(args.project) as project:
        confounders = list_confounders(project)
        if args.json:
            write_json([c.to_dict() for c in confounders], None)
        elif not confounders:
            print("No confounders yet (confounder add).")
        for c in confounders if not args.json else []:
            print(f"{c.name}: {c.kind}, from {c.source}; values: {', '.join(c.values)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.confounders import get_confounder, list_confounders
    from debias_studio.core.annotate.groups import group_matrix

    with open_project(args.project) as project:
        names = [args.name] if args.name else [c.name for c in list_confounders(project)]
        if args.name:
            get_confounder(project, args.name)
        matrices = [group_matrix(project, name) for name in names]
        if args.json:
            write_json([m.to_dict() for m in matrices], None)
            return 0
        for name, matrix in zip(names, matrices, strict=True):
            c = get_confounder(project, name)
            print(f"{name} ({c.kind}, from {c.source})")
            print(matrix.render())
    return 0


def _set(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.overrides import set_values
    from debias_studio.core.errors import StudioError

    try:
        ids = [int(i) for i in args.ids.split(",") if i.strip()]
    except ValueError as exc:
        raise StudioError("--ids must be comma-separated image numbers.") from exc
    with open_project(args.project) as project:
        set_values(project, args.name, ids, None if args.clear else args.value)
    print(f"Set {len(ids)} image(s) of '{args.name}'.")
    return 0


def _kind(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.confounders import set_kind

    with open_project(args.project) as project:
        c = set_kind(project, args.name, args.kind)
    print(f"Confounder '{c.name}' is now of kind {c.kind}.")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.confounders import remove_confounder

    with open_project(args.project) as project:
        remove_confounder(project, args.name)
    print(f"Removed confounder '{args.name}' (confounder undo brings it back).")
    return 0


def _undo(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.history import undo

    with open_project(args.project) as project:
        message = undo(project)
    print(f"Undid: {message}." if message else "Nothing to undo.")
    return 0
