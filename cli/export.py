"""``debias-studio export PROJECT OUTDIR``: the cleaned dataset, its layouts and the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from debias_studio.cli.common import add_command, open_project, run_with_bar, write_json
from debias_studio.core.errors import require_range
from debias_studio.core.export.options import (
    BALANCE_MODES,
    BEST_RUN,
    DEFAULT_FORMATS,
    DEFAULT_LINK,
    DEFAULT_MIN_GROUP,
    FORMATS,
    LINK_MODES,
)
from debias_studio.core.jobs import CancelToken

CF_SIZES = (8, 2048)
"""Allowed side of counterfactual images in pixels (memory is checked when they are made)."""

EXPORT_DESCRIPTION = """
Write the cleaned dataset to a new folder. Formats: 'manifest' (CSV and Parquet with
groups, annotations, original and final labels, the chosen run's predictions and the
exclusions), 'imagefolder' (split/class/file tree; excluded images apart), 'huggingface'
(per-split folders with metadata.jsonl), 'balanced' (a group-balanced subset with a
Waterbirds-style metadata.csv; its group sizes are printed first and a degenerate one is
refused), 'counterfactuals' (the images with their confounder changed) and 'report' (a
self-contained HTML page). The default export stands on its own and re-opens with
'debias-studio new --manifest OUT/manifest.csv'. CSV cells that a spreadsheet would run
as formulas start with a quote. The project is only read; an export that fails leaves no
half-written folder; --overwrite replaces only an earlier export.
"""
EXPORT_EXAMPLES = (
    "debias-studio export ~/digits ~/digits-clean",
    "debias-studio export ~/digits ~/out --format manifest,balanced --confounder colour",
    "debias-studio export ~/birds ~/out --format imagefolder --link copy --overwrite",
    "debias-studio export ~/digits ~/out --format balanced --confounder color --balance fill",
)


def register(subparsers: Any) -> None:
    export = add_command(
        subparsers,
        "export",
        "export the cleaned dataset (manifest, ImageFolder, Hugging Face imagefolder, "
        "balanced subset, counterfactual images) and the report",
        EXPORT_DESCRIPTION,
        EXPORT_EXAMPLES,
    )
    export.add_argument("project", type=Path)
    export.add_argument("outdir", type=Path, help="output folder (created; must be empty)")
    export.add_argument(
        "--format",
        default=",".join(DEFAULT_FORMATS),
        help=f"comma-separated, from {','.join(FORMATS)} (default: %(default)s)",
    )
    _placement_arguments(export)
    _content_arguments(export)
    export.add_argument("--json", default=None, help="write the result as JSON here ('-': stdout)")
    export.set_defaults(func=_export)


def _placement_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument(
        "--link",
        choices=LINK_MODES,
        default=DEFAULT_LINK,
        help="how image files are placed: auto = hard links where the disk allows, else copies "
        "(self-contained); symlink = links to the dataset, checked, not self-contained "
        "(default: %(default)s)",
    )
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export of this app in OUTDIR (never any other folder)",
    )
    export.add_argument(
        "--prediction-run",
        default=BEST_RUN,
        help="run whose predictions fill the prediction column: a run id, 'best' (best "
        "validation worst-group accuracy) or 'none' (default: %(default)s)",
    )
    export.add_argument(
        "--compare-runs",
        default=None,
        help="comma-separated run ids the report compares group by group "
        "(default: the newest finished runs)",
    )


def _content_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument(
        "--confounder",
        default=None,
        help="primary confounder: its groups fill group/bias and drive the balanced subset "
        "(default: the first annotated one; an attribute column name also works)",
    )
    export.add_argument(
        "--confounders",
        default=None,
        help="comma-separated confounders to write as columns (default: every annotated one)",
    )
    export.add_argument(
        "--balance",
        choices=BALANCE_MODES,
        default="down",
        help="down: to the smallest group; up: to the largest by repeats; fill: thin training "
        "groups filled with counterfactual images (colour, background) (default: %(default)s)",
    )
    export.add_argument(
        "--min-group",
        type=_at_least_one,
        default=DEFAULT_MIN_GROUP,
        help="smallest per-group training size a down-sampled balanced subset may have "
        "(default: %(default)s)",
    )
    export.add_argument("--seed", type=int, default=0, help="seed of sampling (default 0)")
    export.add_argument(
        "--counterfactuals",
        default=None,
        help="comma-separated confounders to render counterfactual images for "
        "(default: the primary one)",
    )
    export.add_argument(
        "--cf-splits", default="train", help="splits to render counterfactuals of (default train)"
    )
    export.add_argument(
        "--cf-size",
        type=int,
        default=None,
        help=f"side of counterfactual images in pixels ({CF_SIZES[0]}-{CF_SIZES[1]})",
    )


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _export(args: argparse.Namespace) -> int:
    from debias_studio.core.export.job import export_project, parse_formats

    require_range("--cf-size", args.cf_size, *CF_SIZES)
    cancel = CancelToken()
    with open_project(args.project, read_only=True) as project:
        formats = parse_formats(args.format)
        if "balanced" in formats:
            _print_balance(project, args)
        job = export_project(
            project,
            args.outdir,
            formats,
            overwrite=args.overwrite,
            link=args.link,
            confounders=_names(args.confounders),
            confounder=args.confounder,
            balance=args.balance,
            seed=args.seed,
            counterfactual_confounders=_names(args.counterfactuals),
            counterfactual_splits=tuple(_names(args.cf_splits) or ["train"]),
            counterfactual_size=args.cf_size,
            prediction_run=None if args.prediction_run.lower() == "none" else args.prediction_run,
            compare_runs=_names(args.compare_runs),
            min_group=args.min_group,
            cancel=cancel,
        )
        result = run_with_bar(job, "export", cancel)
    if args.json is not None:
        write_json(result.to_dict(), args.json)
    else:
        print(f"exported {', '.join(result.formats)} to {result.folder} in {result.seconds:.1f} s")
    return 0


def _print_balance(project: Any, args: argparse.Namespace) -> None:
    """The balanced subset's group sizes and what it will hold, before anything is written."""
    from debias_studio.core.export.preview import describe_balance, export_plan

    options = {"formats": ["balanced"], "confounder": args.confounder, "balance": args.balance}
    plan = export_plan(project, args.outdir, {**options, "min_group": args.min_group})
    print("balanced subset:\n  " + describe_balance(plan["balanced"]).replace("\n", "\n  "),
          file=sys.stderr)  # fmt: skip


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]
