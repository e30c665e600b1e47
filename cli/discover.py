"""Sub-commands for discovery and annotation: ``discover`` and ``confounder add|list|show|set|
kind|remove|undo``."""

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
from debias_studio.core.data.splits import SPLITS, TRAIN
from debias_studio.core.jobs import CancelToken

SHOW_PER_CLASS = 5
DISCOVER_DESCRIPTION = """
Rank, per class, the concepts of the bank that look like shortcuts the labels lean on
(DISC-style, with CLIP): for each (class, concept) pair, association (AUC of the
concept's score between the class and the rest), error gap (how much more often the
reference model errs on the class's images without the concept, as in B2T) and
instability across environments (DISC). The reference model is a linear probe on the
embeddings, scored out of fold, or a finished training run (--run). Images are embedded
first when they are not yet (see embed). The result is stored in the project.
"""
CONFOUNDER_DESCRIPTION = """
A confounder is an attribute that splits every class into groups (class x value), such
as the colour of a digit or the background of a bird; training cures and the export
use those groups. Make one from a concept of the bank (present/absent by a threshold),
from several concepts (each image gets the one that scores highest), from an attribute
column of the manifest, or empty for labelling by hand; then fix single images with
'set'. Every change is saved at once and can be undone.
"""


def register(subparsers: Any) -> None:
    _discover_command(subparsers)
    actions = _confounder_command(subparsers)
    _add_command(actions)
    _other_confounder_actions(actions)
    _edit_actions(actions)


def _discover_command(subparsers: Any) -> None:
    discover = add_command(
        subparsers,
        "discover",
        "rank the concepts that look like shortcuts, per class (DISC with CLIP)",
        DISCOVER_DESCRIPTION,
        [
            "debias-studio discover ~/digits",
            "debias-studio discover ~/digits --json rows.json --top 20",
            "debias-studio discover ~/digits --truth color   # precision against a known column",
            "debias-studio discover ~/birds --model ViT-B-32/openai --run 20250511-093012-4f2a1c",
        ],
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
    discover.add_argument(
        "--all",
        dest="show_all",
        action="store_true",
        help="also show (and write) the concepts without a significant association",
    )
    discover.add_argument("--json", dest="json_out", help="ranked rows to this file ('-': stdout)")
    discover.set_defaults(func=_discover)


def _confounder_command(subparsers: Any) -> Any:
    confounder = add_command(
        subparsers,
        "confounder",
        "annotate confounders and groups",
        CONFOUNDER_DESCRIPTION,
        [
            "debias-studio confounder add ~/digits --name colour --concepts red,green,blue",
            "debias-studio confounder add ~/birds --name water --concept water --threshold 0.5",
            "debias-studio confounder add ~/birds --name place --column place",
            "debias-studio confounder show ~/digits colour",
            "debias-studio confounder set ~/digits colour --ids 4,17 --value red",
            "debias-studio confounder undo ~/digits",
        ],
    )
    return confounder.add_subparsers(dest="action", metavar="ACTION", required=True)


def _add_command(actions: Any) -> None:
    add = add_command(
        actions,
        "add",
        "create (or replace) a confounder",
        """
        Create a confounder, or replace the one of that name (its hand-set values stay).
        Concept names must be in the project's concept bank (debias-studio concepts
        lists it); --free-text scores words outside the bank as they are. Concepts need
        the images embedded with --model (debias-studio embed).
        """,
        [
            "debias-studio confounder add ~/digits --name colour --concepts red,green,blue",
            "debias-studio confounder add ~/x --name glare --concept 'lens flare' --free-text",
        ],
    )
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
    add.add_argument(
        "--free-text", action="store_true", help="allow concept words that are not in the bank"
    )
    add.set_defaults(func=_add)


def _other_confounder_actions(actions: Any) -> None:
    listing = add_command(
        actions,
        "list",
        "the project's confounders",
        "List the project's confounders: kind, source and values.",
        ["debias-studio confounder list ~/digits --json"],
    )
    listing.add_argument("project", type=Path)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    show = add_command(
        actions,
        "show",
        "a confounder's group matrix",
        "Print the class x value matrix of image counts per split (the groups a cure uses).",
        ["debias-studio confounder show ~/digits colour"],
    )
    show.add_argument("project", type=Path)
    show.add_argument("name", nargs="?", help="default: every confounder")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)


def _edit_actions(actions: Any) -> None:
    set_values = add_command(
        actions,
        "set",
        "set the value of images by hand",
        """
        Give images a value by hand (it overrides the computed one and survives a change
        of threshold), or --clear the hand-set values. Image ids are the 0-based rows of
        the project's image table.
        """,
        ["debias-studio confounder set ~/digits colour --ids 4,17 --value red"],
    )
    set_values.add_argument("project", type=Path)
    set_values.add_argument("name")
    set_values.add_argument("--ids", required=True, help="comma-separated image ids")
    value = set_values.add_mutually_exclusive_group(required=True)
    value.add_argument("--value")
    value.add_argument("--clear", action="store_true", help="remove the images' overrides")
    set_values.set_defaults(func=_set)

    kind = add_command(
        actions,
        "kind",
        "change a confounder's kind",
        """
        Change the kind (colour, background, texture, object, other), which decides how
        the counterfactual cure changes an image: recolour, or swap its background.
        """,
        ["debias-studio confounder kind ~/digits colour colour"],
    )
    kind.add_argument("project", type=Path)
    kind.add_argument("name")
    kind.add_argument("kind")
    kind.set_defaults(func=_kind)

    remove = add_command(
        actions,
        "remove",
        "delete a confounder",
        "Delete a confounder and its hand-set values (undo brings both back).",
        ["debias-studio confounder remove ~/digits colour"],
    )
    remove.add_argument("project", type=Path)
    remove.add_argument("name")
    remove.set_defaults(func=_remove)

    undo = add_command(
        actions,
        "undo",
        "undo the last annotation change",
        "Undo the last change to the confounders (add, set, kind, remove), one at a time.",
        ["debias-studio confounder undo ~/digits"],
    )
    undo.add_argument("project", type=Path)
    undo.set_defaults(func=undo_last)


def _discover(args: argparse.Namespace) -> int:
    from debias_studio.core.concepts.discovery import DiscoveryParams
    from debias_studio.core.concepts.project import discover

    cancel = CancelToken()
    with open_project(args.project) as project:
        if args.truth:
            _check_column(project, args.truth)
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
        payload = result.to_json(args.top, significant_only=not args.show_all)
        if args.truth:
            payload["evaluation"] = _evaluation(result, project, args.truth, args.model)
            if args.json_out != "-":
                found = payload["evaluation"]
                print(
                    f"precision@1 {found['precision_at_1']:.2f}, precision@5 "
                    f"{found['precision_at_5']:.2f} against '{args.truth}' (exact names: "
                    f"{found['exact_precision_at_1']:.2f}, {found['exact_precision_at_5']:.2f})"
                )
        if args.json_out:
            write_json(payload, args.json_out)
        if args.json_out != "-":
            _print_top(result, show_all=args.show_all)
    return 0


def _evaluation(result: Any, project: Any, column: str, model: str) -> dict[str, Any]:
    """Precision against a known column; with the demo CLIP, every name it was taught for a
    planted value counts ('wall' for the brick-wall photograph), the exact name alongside."""
    from debias_studio.core.concepts.evaluate import evaluation, planted_concepts
    from debias_studio.core.demo.clip.captions import planted_value_names

    synonyms = planted_value_names() if model == "demo" else None
    return evaluation(result, planted_concepts(project, column), synonyms)


def _check_column(project: Any, column: str) -> None:
    """--truth names an attribute column: refuse a wrong one before discovery runs."""
    from debias_studio.core.concepts.lookup import did_you_mean
    from debias_studio.core.errors import StudioError

    attributes = list(project.dataset.attributes)
    if column not in project.dataset.table.columns:
        listed = f" (attribute columns: {', '.join(attributes)})" if attributes else ""
        raise StudioError(
            f"The dataset has no attribute column '{column}'{did_you_mean(column, attributes)}"
            f"{listed}."
        )


def _print_top(result: Any, *, show_all: bool) -> None:
    pairs = result.significant.size
    print(
        f"Discovery on {result.params['n_images']} images, {len(result.concepts)} concepts "
        f"({result.predictions}, accuracy {result.probe_accuracy:.3f}): "
        f"{int(result.significant.sum())} of {pairs} (class, concept) pairs significant at a "
        f"false-discovery rate of {result.params['fdr']:g}."
    )
    print("  shift: class mean - other classes' mean; error gap: misclassified - correct mean;")
    print(
        f"  in standard deviations of the concept, with {result.params['confidence']:.0%} "
        "intervals; q: FDR-adjusted p of the association."
    )
    counts = result.class_counts()
    for c, name in enumerate(result.classes):
        rows = result.top_concepts(c, SHOW_PER_CLASS, significant_only=not show_all)
        size = counts[name]
        print(f"  {name} ({size['images']} images, {size['misclassified']} misclassified):")
        if not rows:
            print("    no significant concept (--all shows them all)")
        for row in rows:
            print("    " + _row_line(row))


def _row_line(row: dict[str, Any]) -> str:
    return (
        f"{row['concept'][:24]:<24} {row['verdict']:<15} "
        f"shift {_interval(row, 'shift')}  q {_number(row['q_value'], '.1e')}  "
        f"error gap {_interval(row, 'error_gap')}"
    )


def _interval(row: dict[str, Any], name: str) -> str:
    return (
        f"{_number(row[name], '+.2f')} [{_number(row[name + '_low'], '+.2f')}, "
        f"{_number(row[name + '_high'], '+.2f')}]"
    )


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _add(args: argparse.Namespace) -> int:
    from debias_studio.core.annotate.confounders import add_confounder
    from debias_studio.core.annotate.groups import group_matrix

    with open_project(args.project) as project:
        if not args.free_text:
            _check_concept_names(project, args.concept, args.concepts)
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


def _check_concept_names(project: Any, concept: str | None, concepts: str | None) -> None:
    """Refuse concept words that are not in the project's bank, with the names probably
    meant, before anything is scored (a typo would otherwise become a confounder)."""
    from debias_studio.core.concepts.lookup import unknown_concepts
    from debias_studio.core.concepts.project import project_bank
    from debias_studio.core.errors import StudioError

    typed = [concept] if concept is not None else (concepts or "").split(",")
    names = [" ".join(name.split()) for name in typed if name.strip()]
    message = unknown_concepts(project_bank(project), names)
    if message:
        raise StudioError(
            f"{message} (debias-studio concepts --search TEXT searches the bank; "
            "--free-text uses words outside it)."
        )


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
