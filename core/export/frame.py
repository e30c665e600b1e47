"""The cleaned dataset as one table: what every export format writes a view of.

One row per image id: the dataset's own columns (path, label, split, mask, attributes), then for
every confounder its value (per-image overrides applied), the primary confounder's group and
whether the image is bias-aligned or bias-conflicting, the user's exclusion with its reason, and
the latest finished run's prediction. Confounders come from core.annotate; a dataset attribute
column may also be named explicitly (it is read the way training reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.annotate.confounders import list_confounders
from debias_studio.core.annotate.groups import group_matrix
from debias_studio.core.errors import StudioError
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs, load_predictions
from debias_studio.core.train.data import SPLIT_CODES, confounder_values

RESERVED_COLUMNS = (
    "image_id",
    "path",
    "label",
    "split",
    "mask",
    "group",
    "group_id",
    "bias",
    "excluded",
    "excluded_reason",
    "prediction",
)
DROPPED_COLUMNS = ("size", "mtime_ns")
"""File fingerprints of the source files; they mean nothing next to exported copies."""
ALIGNED, CONFLICTING = "aligned", "conflicting"


@dataclass
class ConfounderView:
    """One confounder as the export sees it."""

    name: str
    column: str  # its column in the manifest
    kind: str
    values: list[str]
    assignment: np.ndarray  # (N,) int64 value index, -1 unknown
    aligned: np.ndarray  # (C,) the value most training images of each class have, -1 none

    def group_ids(self, labels: np.ndarray) -> np.ndarray:
        """Group id = class * V + value (the contract's numbering); -1 where unknown."""
        known = self.assignment >= 0
        return np.where(known, labels * len(self.values) + self.assignment, -1)

    def bias(self, labels: np.ndarray) -> np.ndarray:
        """ "aligned" / "conflicting" per image ("" where the value is unknown)."""
        known = self.assignment >= 0
        aligned = known & (self.assignment == self.aligned[labels])
        out = np.full(len(labels), "", dtype=object)
        out[aligned] = ALIGNED
        out[known & ~aligned] = CONFLICTING
        return out


@dataclass
class ExportFrame:
    table: pd.DataFrame
    classes: list[str]
    labels: np.ndarray
    confounders: list[ConfounderView]
    primary: ConfounderView | None
    excluded: np.ndarray  # (N,) bool
    prediction_run: str | None

    def view(self, name: str | None) -> ConfounderView:
        """The named confounder (None: the primary one); a clear error when there is none."""
        if name is None:
            if self.primary is None:
                raise StudioError(
                    "This export needs a confounder: annotate one first, or name one "
                    "(--confounder NAME)."
                )
            return self.primary
        for view in self.confounders:
            if view.name == name:
                return view
        raise StudioError(f"The confounder '{name}' is not part of this export.")


def annotated_confounders(project: Project) -> list[str]:
    """Names of the project's confounders."""
    return [c.name for c in list_confounders(project)]


def exclusions(project: Project) -> dict[int, str]:
    return {int(i): str(r) for i, r in project.query("SELECT image_id, reason FROM exclusions")}


def latest_predictions(project: Project) -> tuple[str | None, np.ndarray | None]:
    """The newest finished run that stored per-image predictions."""
    for run in list_runs(project):
        if run["status"] != "done":
            continue
        predictions = load_predictions(project, run["id"])
        if predictions is not None:
            return run["id"], predictions
    return None, None


def build_frame(
    project: Project,
    confounders: list[str] | None = None,
    primary: str | None = None,
) -> ExportFrame:
    """The export table of ``project``. ``confounders``: names to include (None: every annotated
    confounder); ``primary``: whose groups fill ``group``/``bias`` (None: the first)."""
    dataset = project.dataset
    n = len(dataset)
    classes = list(dataset.classes)
    labels = dataset.labels
    source = dataset.table
    table = pd.DataFrame({"image_id": np.arange(n, dtype=np.int64)})
    for column in source.columns:
        if column not in DROPPED_COLUMNS:
            table[column] = source[column].to_numpy()
    if "mask" in table.columns and not (table["mask"].astype(str) != "").any():
        table = table.drop(columns=["mask"])
    excluded_reasons = exclusions(project)
    excluded = np.zeros(n, dtype=bool)
    reasons = np.full(n, "", dtype=object)
    for image_id, reason in excluded_reasons.items():
        if 0 <= image_id < n:
            excluded[image_id] = True
            reasons[image_id] = reason

    names = annotated_confounders(project) if confounders is None else list(confounders)
    split_codes = source["split"].map(SPLIT_CODES).fillna(-1).to_numpy(np.int64)
    train = (split_codes == SPLIT_CODES["train"]) & ~excluded
    views = [_view(project, name, labels, train, len(classes)) for name in names]
    if primary is not None and primary not in names:
        raise StudioError(f"The primary confounder '{primary}' is not among those exported.")
    chosen = next((v for v in views if v.name == primary), views[0] if views else None)

    for view in views:
        column = view.column
        written = np.array([view.values[v] if v >= 0 else "" for v in view.assignment], object)
        if column in table.columns:
            original = table[column].astype(str).to_numpy()
            if not np.array_equal(original, written.astype(str)):
                table[f"{column}_original"] = original
        table[column] = written
        if view is not chosen:
            table[f"{column}_group_id"] = view.group_ids(labels)
            table[f"{column}_bias"] = view.bias(labels)
    if chosen is not None:
        group_ids = chosen.group_ids(labels)
        table["group"] = [
            f"{classes[g // len(chosen.values)]}/{chosen.values[g % len(chosen.values)]}"
            if g >= 0
            else ""
            for g in group_ids
        ]
        table["group_id"] = group_ids
        table["bias"] = chosen.bias(labels)
    table["excluded"] = excluded
    table["excluded_reason"] = reasons
    run_id, predictions = latest_predictions(project)
    if predictions is not None:
        table["prediction"] = [classes[p] if 0 <= p < len(classes) else "" for p in predictions]
    return ExportFrame(table, classes, labels, views, chosen, excluded, run_id)


def _view(
    project: Project, name: str, labels: np.ndarray, train: np.ndarray, n_classes: int
) -> ConfounderView:
    values, value_names, kind = confounder_values(project, name)
    values = np.asarray(values, dtype=np.int64)
    aligned = _annotated_aligned(project, name)
    if aligned is None:  # an attribute column: the most frequent training value, kept images
        counts = np.zeros((n_classes, max(len(value_names), 1)), dtype=np.int64)
        rows = train & (values >= 0)
        np.add.at(counts, (labels[rows], values[rows]), 1)
        aligned = counts.argmax(axis=1)
        aligned[counts.sum(axis=1) == 0] = -1
    column = name if name not in RESERVED_COLUMNS else f"confounder_{name}"
    return ConfounderView(name, column, kind, list(value_names), values, aligned)


def _annotated_aligned(project: Project, name: str) -> np.ndarray | None:
    """The bias-aligned value per class exactly as the app's group matrix shows it."""
    if name not in annotated_confounders(project):
        return None
    return np.asarray(group_matrix(project, name).aligned_value, dtype=np.int64)


def describe(frame: ExportFrame) -> dict[str, Any]:
    """What the frame holds, for export.json and the report."""
    return {
        "n_images": len(frame.table),
        "n_excluded": int(frame.excluded.sum()),
        "classes": frame.classes,
        "confounders": [
            {"name": v.name, "column": v.column, "kind": v.kind, "values": v.values}
            for v in frame.confounders
        ],
        "primary_confounder": frame.primary.name if frame.primary else None,
        "prediction_run": frame.prediction_run,
    }
