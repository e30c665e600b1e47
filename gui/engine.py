"""Where the GUI meets the discovery, annotation and export engine.

The panels call these functions only from workers. Each is a thin call into core; the engine
modules are imported on first use (inside the worker), because importing scikit-learn and torch
on the GUI thread would stall it for tens of milliseconds. Nothing here computes anything itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import CancelToken, Job

ROW_COLUMNS = (
    "class",
    "concept",
    "category",
    "association",
    "error_gap",
    "instability",
    "score",
    "rank",
)
"""Columns of a discovery row (core.concepts.result.ROW_COLUMNS, restated so this module stays
light to import; tests/gui/test_engine_columns.py keeps the two equal)."""

TRAINING_SUGGESTIONS: dict[str, dict[str, int]] = {
    "head": {"epochs": 10, "batch_size": 128},
    "cnn": {"epochs": 30, "batch_size": 32},
    "clip": {"epochs": 5, "batch_size": 32},
}
"""Suggested epochs and batch size per backbone (core.train.config.SUGGESTED, restated: importing
core.train loads torch, seconds the GUI thread must not spend; the same test keeps them equal)."""


# ---- discovery ---------------------------------------------------------------------------------
def run_discovery(
    project: Any, model_name: str, device: str | None, run_id: str | None, token: CancelToken
) -> Job[pd.DataFrame]:
    """Discover spurious concepts (a job); ranked rows as a DataFrame."""
    from debias_studio.core.concepts import discover

    kwargs: dict[str, Any] = {"cancel": token}
    if run_id:
        kwargs["run_id"] = run_id
    if device:
        kwargs["device"] = device
    result = yield from discover(project, model_name, **kwargs)
    table = discovery_table(result)
    table["exemplars"] = [
        result.exemplars(str(c), str(k))
        for c, k in zip(table["class"], table["concept"], strict=True)
    ]
    return table


def latest_discovery(project: Any) -> pd.DataFrame | None:
    """The last discovery stored in the project (rows as a DataFrame), or None."""
    from debias_studio.core.concepts import latest_discovery as stored_discovery

    stored = stored_discovery(project)
    return None if stored is None else discovery_table(stored)


def discovery_table(result: Any) -> pd.DataFrame:
    """Rows of a discovery result, whatever container the engine returns them in."""
    if isinstance(result, pd.DataFrame):
        table = result
    else:
        rows = result
        if hasattr(result, "rows"):
            rows = result.rows
        elif isinstance(result, dict):
            rows = result.get("rows", result.get("table", []))
        if hasattr(rows, "to_dict") and not isinstance(rows, dict):
            rows = rows.to_dict("records")
        table = pd.DataFrame(list(rows))
    missing = [c for c in ("class", "concept", "score") if c not in table.columns]
    if missing:
        raise StudioError(f"The discovery result lacks the column(s) {', '.join(missing)}.")
    for column in ROW_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan if column != "category" else ""
    if table["rank"].isna().all():
        table["rank"] = table["score"].rank(ascending=False, method="first")
    return table.sort_values("rank", kind="stable").reset_index(drop=True)


def concept_scores(project: Any, concept: str, model_name: str) -> np.ndarray:
    """Standardised score of one concept for every image (N,) float32 (NaN: not embedded)."""
    from debias_studio.core.concepts import concept_scores as scores

    return np.asarray(scores(project, concept, model_name=model_name), dtype=np.float32)


def threshold_preview(
    scores: np.ndarray, labels: np.ndarray, classes: list[str], threshold: float
) -> dict[str, Any]:
    """Counts per class at ``threshold`` and the images nearest it (a few numpy operations, so
    the slider can call it as it moves)."""
    from debias_studio.core.annotate import threshold_preview as preview

    return preview(scores, labels, classes, threshold)


# ---- confounders -------------------------------------------------------------------------------
def list_confounders(project: Any) -> list[Any]:
    from debias_studio.core import annotate

    return list(annotate.list_confounders(project))


def add_confounder(project: Any, name: str, **kwargs: Any) -> Any:
    from debias_studio.core import annotate

    return annotate.add_confounder(project, name, **kwargs)


def confounder_state(project: Any) -> dict[str, tuple[Any, np.ndarray]]:
    """Every confounder with its value per image (overrides applied)."""
    from debias_studio.core import annotate

    return {
        c.name: (c, np.asarray(annotate.assignments(project, c.name), dtype=np.int64))
        for c in annotate.list_confounders(project)
    }


def set_values(project: Any, name: str, image_ids: np.ndarray, value: str | None) -> None:
    from debias_studio.core import annotate

    annotate.set_values(project, name, [int(i) for i in image_ids], value)


def undo(project: Any) -> str | None:
    from debias_studio.core import annotate

    return annotate.undo(project)


# ---- export ------------------------------------------------------------------------------------
def run_export(project: Any, target: Any, options: dict[str, Any], token: CancelToken) -> Job[Any]:
    """Export the cleaned dataset and its report to ``target`` (a job)."""
    from debias_studio.core import export

    options = dict(options)
    formats = options.pop("formats", None)
    return (yield from export.export_project(project, target, formats, cancel=token, **options))
