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
from debias_studio.core.annotate.groups import (
    aligned_values,
    bias_flags,
    counted_images,
    group_ids,
)
from debias_studio.core.errors import StudioError
from debias_studio.core.store.exclusions import excluded_mask
from debias_studio.core.store.exclusions import reasons as excluded_reasons
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import latest_predictions
from debias_studio.core.train.data import confounder_values

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
        """Group id = class * V + value (core.annotate.groups); -1 where unknown."""
        return group_ids(labels, self.assignment, len(self.values))

    def bias(self, labels: np.ndarray) -> np.ndarray:
        """ "aligned" / "conflicting" per image ("" where neither: core.annotate.groups)."""
        aligned, conflicting = bias_flags(labels, self.assignment, self.aligned)
        out = np.full(len(labels), "", dtype=object)
        out[aligned] = ALIGNED
        out[conflicting] = CONFLICTING
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
    excluded = excluded_mask(project)
    reasons = np.full(n, "", dtype=object)
    for image_id, reason in excluded_reasons(project).items():
        if 0 <= image_id < n:
            reasons[image_id] = reason

    names = annotated_confounders(project) if confounders is None else list(confounders)
    counted = counted_images(project)
    views = [_view(project, name, labels, counted, len(classes)) for name in names]
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
        chosen_groups = chosen.group_ids(labels)
        table["group"] = [
            f"{classes[g // len(chosen.values)]}/{chosen.values[g % len(chosen.values)]}"
            if g >= 0
            else ""
            for g in chosen_groups
        ]
        table["group_id"] = chosen_groups
        table["bias"] = chosen.bias(labels)
    table["excluded"] = excluded
    table["excluded_reason"] = reasons
    run_id, predictions = latest_predictions(project)
    if predictions is not None:
        table["prediction"] = [classes[p] if 0 <= p < len(classes) else "" for p in predictions]
    return ExportFrame(table, classes, labels, views, chosen, excluded, run_id)


def _view(
    project: Project, name: str, labels: np.ndarray, counted: np.ndarray, n_classes: int
) -> ConfounderView:
    values, value_names, kind = confounder_values(project, name)
    values = np.asarray(values, dtype=np.int64)
    aligned = aligned_values(labels, values, counted, n_classes, len(value_names))
    column = name if name not in RESERVED_COLUMNS else f"confounder_{name}"
    return ConfounderView(name, column, kind, list(value_names), values, aligned)


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
