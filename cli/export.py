"""``debias-studio export PROJECT OUTDIR``: the cleaned dataset, its layouts and the report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from debias_studio.cli.common import add_command, open_project, run_with_bar, write_json
from debias_studio.core.errors import require_range
from debias_studio.core.export.options import BALANCE_MODES, DEFAULT_FORMATS, FORMATS, LINK_MODES
from debias_studio.core.jobs import CancelToken

CF_SIZES = (8, 2048)
"""Allowed side of counterfactual images in pixels (memory is checked when they are made)."""

EXPORT_DESCRIPTION = """
Write the cleaned dataset to a new folder. Formats: 'manifest' (CSV and Parquet with
groups and annotations; excluded images left out), 'imagefolder' (split/class/file
tree), 'balanced' (a group-balanced subset with a Waterbirds-style metadata.csv),
'counterfactuals' (the images with their confounder changed: recoloured, or their
background swapped) and 'report' (a self-contained HTML page). The project is only
read; an export that fails leaves no half-written folder.
"""
EXPORT_EXAMPLES = (
    "debias-studio export ~/digits ~/digits-clean",
    "debias-studio export ~/digits ~/out --format manifest,balanced --confounder colour",
    "debias-studio export ~/birds ~/out --format imagefolder --link copy --overwrite",
)


def register(subparsers: Any) -> None:
    export = add_command(
        subparsers,
        "export",
        "export the cleaned dataset (manifest, ImageFolder, balanced subset, "
        "counterfactual images) and the report",
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
    export.add_argument(
        "--link",
        choices=LINK_MODES,
        default="symlink",
        help="how image files are placed (default: %(default)s)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty output folder"
    )
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
        help="balanced subset: down-sample large groups or up-sample small ones (default down)",
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
    export.add_argument("--json", default=None, help="write the result as JSON here ('-': stdout)")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from debias_studio.core.export.job import export_project

    require_range("--cf-size", args.cf_size, *CF_SIZES)
    cancel = CancelToken()
    with open_project(args.project, read_only=True) as project:
        job = export_project(
            project,
            args.outdir,
            args.format,
            overwrite=args.overwrite,
            link=args.link,
            confounders=_names(args.confounders),
            confounder=args.confounder,
            balance=args.balance,
            seed=args.seed,
            counterfactual_confounders=_names(args.counterfactuals),
            counterfactual_splits=_names(args.cf_splits) or ["train"],
            counterfactual_size=args.cf_size,
            cancel=cancel,
        )
        result = run_with_bar(job, "export", cancel)
    if args.json is not None:
        write_json(result.to_dict(), args.json)
    else:
        print(f"exported {', '.join(result.formats)} to {result.folder} in {result.seconds:.1f} s")
    return 0


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]
