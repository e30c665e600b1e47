"""The cleaned dataset as one table: what every export format writes a view of.

One row per image id: the dataset's own columns (path, label, split, mask, attributes), then for
every confounder its value (per-image overrides applied), the primary confounder's group and
whether the image is bias-aligned or bias-conflicting, the user's exclusion with its reason, and
the chosen run's prediction (default: the best finished run by validation worst-group accuracy).
``label`` is the final label (the user's relabel where there is one) and ``label_original`` the
dataset's own. Confounders come from core.annotate; a dataset attribute
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
from debias_studio.core.export.options import BEST_RUN
from debias_studio.core.store.exclusions import excluded_mask
from debias_studio.core.store.exclusions import reasons as excluded_reasons
from debias_studio.core.store.project import Project
from debias_studio.core.store.relabels import relabel_map
from debias_studio.core.store.runs import list_runs, load_predictions
from debias_studio.core.train.data import confounder_values

RESERVED_COLUMNS = (
    "image_id",
    "path",
    "label",
    "label_original",
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


def prediction_runs(project: Project) -> list[dict[str, Any]]:
    """Finished runs that stored predictions, best first by validation worst-group accuracy
    (then newest): the runs whose predictions an export can carry."""
    runs = [r for r in list_runs(project) if r["status"] == "done"]
    with_predictions = [r for r in runs if load_predictions(project, r["id"]) is not None]
    return sorted(with_predictions, key=lambda r: -_val_worst_group(r))  # stable: newest first


def choose_predictions(
    project: Project, run: str | None = BEST_RUN
) -> tuple[str | None, np.ndarray | None]:
    """The run whose predictions fill ``prediction``: ``run`` by id, ``"best"`` (the best by
    validation worst-group accuracy) or None (no predictions)."""
    if run is None or run == "":
        return None, None
    if run == BEST_RUN:
        ranked = prediction_runs(project)
        run = str(ranked[0]["id"]) if ranked else None
        if run is None:
            return None, None
    predictions = load_predictions(project, run)
    if predictions is None:
        raise StudioError(f"The run {run} has no stored predictions; choose a finished run.")
    return run, predictions


def _val_worst_group(run: dict[str, Any]) -> float:
    block = (run.get("metrics") or {}).get("val") or {}
    value = block.get("worst_group_acc") if isinstance(block, dict) else None
    return float(value) if isinstance(value, int | float) and value == value else -1.0


def build_frame(
    project: Project,
    confounders: list[str] | None = None,
    primary: str | None = None,
    prediction_run: str | None = BEST_RUN,
) -> ExportFrame:
    """The export table of ``project``. ``confounders``: names to include (None: every annotated
    confounder); ``primary``: whose groups fill ``group``/``bias`` (None: the first);
    ``prediction_run``: whose predictions fill ``prediction`` (see ``choose_predictions``)."""
    dataset = project.dataset
    n = len(dataset)
    classes = list(dataset.classes)
    table, labels = _base_table(project)
    excluded = excluded_mask(project)
    reasons = np.full(n, "", dtype=object)
    for image_id, reason in excluded_reasons(project).items():
        if 0 <= image_id < n:
            reasons[image_id] = reason

    names = annotated_confounders(project) if confounders is None else list(confounders)
    if primary is not None and primary not in names:
        names.append(primary)  # an attribute column named as the primary one is exported too
    counted = counted_images(project)
    views = [_view(project, name, labels, counted, len(classes)) for name in names]
    chosen = next((v for v in views if v.name == primary), views[0] if views else None)

    _confounder_columns(table, views, chosen, labels, classes)
    table["excluded"] = excluded
    table["excluded_reason"] = reasons
    run_id, predictions = choose_predictions(project, prediction_run)
    if predictions is not None:
        table["prediction"] = [classes[p] if 0 <= p < len(classes) else "" for p in predictions]
    return ExportFrame(table, classes, labels, views, chosen, excluded, run_id)


def _confounder_columns(
    table: pd.DataFrame,
    views: list[ConfounderView],
    chosen: ConfounderView | None,
    labels: np.ndarray,
    classes: list[str],
) -> None:
    """Each confounder's value column (``<column>_original`` where overrides changed a dataset
    column), the others' group ids and bias flags, and the primary one's group/group_id/bias."""
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


def _base_table(project: Project) -> tuple[pd.DataFrame, np.ndarray]:
    """The dataset's own columns with the final labels (``label_original`` beside them), and
    the final label codes."""
    dataset = project.dataset
    source = dataset.table
    table = pd.DataFrame({"image_id": np.arange(len(dataset), dtype=np.int64)})
    for column in source.columns:
        if column not in DROPPED_COLUMNS:
            table[column] = source[column].to_numpy()
    if "mask" in table.columns and not (table["mask"].astype(str) != "").any():
        table = table.drop(columns=["mask"])
    original = source["label"].astype(str).to_numpy(dtype=object)
    final = original.copy()
    labels = np.asarray(dataset.labels, dtype=np.int64).copy()
    lookup = {str(c): i for i, c in enumerate(dataset.classes)}
    for image_id, label in relabel_map(project).items():
        if 0 <= image_id < len(final) and label in lookup:
            final[image_id], labels[image_id] = label, lookup[label]
    table["label"] = final
    table.insert(int(table.columns.get_loc("label")) + 1, "label_original", original)
    return table, labels


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
