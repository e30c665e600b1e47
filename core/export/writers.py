"""The export formats as a table of writers: format name -> a job that writes it into the staging
folder.

Every writer takes the shared ``ExportContext`` and the progress range it owns, and records what it
wrote in ``context.result``. The manifest and the image folder share one image tree (placed once,
``imagefolder/``), so the manifest's paths lead to files inside the export: the default export
stands on its own and re-opens as a project (``debias-studio new --manifest OUT/manifest.csv`` or
``--images OUT/imagefolder``) with the same labels, splits, groups and exclusions - the file
``EXPORTED_DATASET_FILE`` next to each manifest tells the opener which columns are confounders and
which rows were excluded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from debias_studio.core.data.manifest import EXPORTED_DATASET_FILE
from debias_studio.core.export.atomic import ExportTarget
from debias_studio.core.export.balanced import FOLDER as BALANCED_FOLDER
from debias_studio.core.export.balanced import (
    balanced_plan,
    check_balance,
    with_fills,
)
from debias_studio.core.export.counterfactual_images import export_counterfactuals, render_fills
from debias_studio.core.export.frame import ExportFrame
from debias_studio.core.export.huggingface import FOLDER as HF_FOLDER
from debias_studio.core.export.huggingface import as_jsonl, hf_plan, hf_tables
from debias_studio.core.export.layout import FOLDER as TREE_FOLDER
from debias_studio.core.export.layout import imagefolder_plan, place_files
from debias_studio.core.export.manifest import write_table
from debias_studio.core.export.options import BEST_RUN, DEFAULT_LINK, DEFAULT_MIN_GROUP
from debias_studio.core.export.report import build_report, render_html
from debias_studio.core.jobs import CancelToken, Job, delegate
from debias_studio.core.store.project import Project

EXPORTED_DATASET_FORMAT = "debias-studio-dataset"


@dataclass
class ExportOptions:
    """What the user chose; see ``core.export.job.export_project``."""

    formats: list[str]
    link: str = DEFAULT_LINK
    confounders: list[str] | None = None
    confounder: str | None = None
    balance: str = "down"
    seed: int = 0
    min_group: int = DEFAULT_MIN_GROUP
    counterfactual_confounders: list[str] | None = None
    counterfactual_splits: tuple[str, ...] = ("train",)
    counterfactual_size: int | None = None
    prediction_run: str | None = BEST_RUN
    compare_runs: list[str] | None = None


@dataclass
class ExportResult:
    folder: Any
    formats: list[str]
    files: dict[str, list[str]] = field(default_factory=dict)
    """Format -> the files (relative to ``folder``) it wrote, or its sub-folder."""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "formats": self.formats,
            "files": self.files,
            "details": self.details,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ExportContext:
    project: Project
    frame: ExportFrame
    target: ExportTarget
    options: ExportOptions
    cancel: CancelToken
    result: ExportResult
    tree: pd.DataFrame | None = None
    """The shared image tree's manifest (paths relative to ``imagefolder/``) once placed."""


Writer = Callable[[ExportContext, int, int], Job[None]]


def image_tree(context: ExportContext, start: int, span: int) -> Job[pd.DataFrame]:
    """Place every image (kept ones by split and class, excluded ones under ``excluded/``) once;
    the manifest of that tree."""
    if context.tree is not None:
        return context.tree
    frame, options = context.frame, context.options
    placements, tree = imagefolder_plan(frame.table, context.project.dataset.root)
    job = place_files(context.target, placements, options.link, context.cancel)
    count = yield from delegate(job, start, span, 100)
    context.tree = tree
    kept = int((~tree["excluded"].to_numpy(bool)).sum())
    context.result.details[TREE_FOLDER] = {
        "files": count,
        "images": kept,
        "excluded_images": len(tree) - kept,
        "link": options.link,
        "self_contained": options.link != "symlink",
    }
    return tree


def write_manifest_format(context: ExportContext, start: int, span: int) -> Job[None]:
    tree = yield from image_tree(context, start, span)
    table = tree.copy()
    table["path"] = [f"{TREE_FOLDER}/{p}" for p in tree["path"]]
    if "mask" in table.columns:
        table["mask"] = [f"{TREE_FOLDER}/{m}" if m else "" for m in tree["mask"]]
    written = write_table(context.target, table, "manifest")
    written.append(_describe_columns(context, EXPORTED_DATASET_FILE))
    context.result.files["manifest"] = [*written, TREE_FOLDER]


def write_imagefolder(context: ExportContext, start: int, span: int) -> Job[None]:
    tree = yield from image_tree(context, start, span)
    written = write_table(context.target, tree, f"{TREE_FOLDER}/manifest", parquet=False)
    _describe_columns(context, f"{TREE_FOLDER}/{EXPORTED_DATASET_FILE}")
    context.result.files["imagefolder"] = [TREE_FOLDER, *written]


def write_huggingface(context: ExportContext, start: int, span: int) -> Job[None]:
    frame, target = context.frame, context.target
    placements, table = hf_plan(frame.table, context.project.dataset.root)
    job = place_files(target, placements, context.options.link, context.cancel)
    count = yield from delegate(job, start, span, 100)
    written = [HF_FOLDER]
    for relative, rows in hf_tables(table):
        target.write_text(f"{relative}.jsonl", as_jsonl(rows))
        written.append(f"{relative}.jsonl")
    context.result.files["huggingface"] = written
    context.result.details["huggingface"] = {"files": count, "images": len(table)}


def write_balanced(context: ExportContext, start: int, span: int) -> Job[None]:
    frame, options = context.frame, context.options
    view = frame.view(options.confounder)
    preview = check_balance(frame, view, options.balance, options.min_group)
    plan = balanced_plan(frame, view, context.project.dataset.root, options.balance, options.seed)
    job = place_files(context.target, plan.placements, options.link, context.cancel)
    yield from delegate(job, start, span // 2, 100)
    if plan.fills:
        job = render_fills(context.target, context.project, frame, view, plan.fills,
                           BALANCED_FOLDER, seed=options.seed, cancel=context.cancel)  # fmt: skip
        fills = yield from delegate(job, start + span // 2, span - span // 2, 100)
        plan.metadata = with_fills(plan.metadata, frame, view, fills)
    written = write_table(
        context.target, plan.metadata, f"{BALANCED_FOLDER}/metadata", parquet=False
    )
    context.result.files["balanced"] = [BALANCED_FOLDER, *written]
    context.result.details["balanced"] = {
        "confounder": view.name,
        "mode": options.balance,
        "seed": options.seed,
        "rows": len(plan.metadata),
        "per_split": plan.per_split,
        "missing_groups": plan.missing_groups,
        "counterfactual_rows": len(plan.fills),
        "group_sizes": preview["group_sizes"],
        "warnings": preview["warnings"],
    }


def write_counterfactuals(context: ExportContext, start: int, span: int) -> Job[None]:
    frame, options = context.frame, context.options
    wanted = options.counterfactual_confounders or [frame.view(options.confounder).name]
    details = []
    part = span // max(1, len(wanted))
    for k, name in enumerate(wanted):
        job = export_counterfactuals(
            context.target,
            context.project,
            frame,
            frame.view(name),
            splits=options.counterfactual_splits,
            size=options.counterfactual_size,
            seed=options.seed,
            cancel=context.cancel,
        )
        outcome = yield from delegate(job, start + k * part, part, 100)
        details.append(outcome.to_dict())
    context.result.files["counterfactuals"] = ["counterfactuals"]
    context.result.details["counterfactuals"] = details


def write_report(context: ExportContext, start: int, span: int) -> Job[None]:
    report = build_report(context.project, context.frame, context.options.compare_runs)
    context.target.write_text("report.html", render_html(report))
    context.target.write_text("report.json", json.dumps(report.to_json(), indent=2) + "\n")
    context.result.files["report"] = ["report.html", "report.json"]
    context.result.details["report"] = {"runs": len(report.sections["runs"])}
    yield from ()


WRITERS: dict[str, tuple[Writer, int]] = {
    "manifest": (write_manifest_format, 3),
    "imagefolder": (write_imagefolder, 4),
    "huggingface": (write_huggingface, 4),
    "balanced": (write_balanced, 3),
    "counterfactuals": (write_counterfactuals, 10),
    "report": (write_report, 2),
}
"""Format -> (its writer, its rough cost for the progress bar)."""


def _describe_columns(context: ExportContext, relative: str) -> str:
    """The file that tells a re-opening which columns are confounders and exclusions."""
    frame = context.frame
    description = {
        "format": EXPORTED_DATASET_FORMAT,
        "version": 1,
        "confounders": [
            {"name": v.name, "column": v.column, "kind": v.kind} for v in frame.confounders
        ],
        "primary_confounder": frame.primary.name if frame.primary else None,
        "excluded_column": "excluded",
        "reason_column": "excluded_reason",
        "labels": "final (relabels applied); label_original holds the dataset's own",
        "csv_cells": "text cells starting with = + - @ TAB or CR carry a leading ' in CSV files",
    }
    context.target.write_text(relative, json.dumps(description, indent=2) + "\n")
    return relative
