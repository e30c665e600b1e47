"""The GUI's one door into the engine.

Every GUI module reaches core through this module (plus ``core.jobs`` and ``core.errors``); an
import-linter contract in CI holds it so. Names re-exported here come from engine modules that
are light to import (no torch, no scikit-learn: checked by tests/gui/test_engine_door.py); the
heavy ones are imported on first use, inside a worker, because importing torch on the GUI thread
would stall it for seconds. Functions that return a ``Job`` run in workers; nothing here touches
a widget.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.concepts.result import ROW_COLUMNS
from debias_studio.core.data.dataset import Dataset, open_dataset
from debias_studio.core.data.imageio import ImageReadError, open_image
from debias_studio.core.data.splits import SPLITS
from debias_studio.core.embed.projection import (
    density_image,
    inside_polygon,
    inside_rectangle,
    pca_2d,
)
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import CancelToken, Job, delegate
from debias_studio.core.store.project import DB_NAME, Project
from debias_studio.core.train.config import BACKBONES, METHODS, SUGGESTED, TrainConfig

TRAINING_SUGGESTIONS = SUGGESTED
DENSITY_ABOVE = 200_000
"""Above this many points the map draws a density image instead of a scatter."""

__all__ = [
    "BACKBONES",
    "DB_NAME",
    "METHODS",
    "ROW_COLUMNS",
    "SPLITS",
    "TRAINING_SUGGESTIONS",
    "Dataset",
    "ImageReadError",
    "Project",
    "TrainConfig",
    "inside_polygon",
    "inside_rectangle",
    "open_dataset",
    "open_image",
]


# ---- discovery ---------------------------------------------------------------------------------
def run_discovery(
    project: Any, model_name: str, device: str | None, run_id: str | None, token: CancelToken
) -> Job[pd.DataFrame]:
    """Discover spurious concepts (a job); ranked rows as a DataFrame."""
    from debias_studio.core.concepts.project import discover

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
    from debias_studio.core.concepts.project import latest_discovery as stored_discovery

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
    from debias_studio.core.concepts.project import concept_scores as scores

    return np.asarray(scores(project, concept, model_name=model_name), dtype=np.float32)


def threshold_preview(
    scores: np.ndarray, labels: np.ndarray, classes: list[str], threshold: float
) -> dict[str, Any]:
    """Counts per class at ``threshold`` and the images nearest it (a few numpy operations, so
    the slider can call it as it moves)."""
    from debias_studio.core.annotate.preview import threshold_preview as preview

    return preview(scores, labels, classes, threshold)


# ---- confounders -------------------------------------------------------------------------------
def list_confounders(project: Any) -> list[Any]:
    from debias_studio.core.annotate.confounders import list_confounders as listed

    return list(listed(project))


def add_confounder(project: Any, name: str, **kwargs: Any) -> Any:
    from debias_studio.core.annotate.confounders import add_confounder as add

    return add(project, name, **kwargs)


def confounder_state(project: Any) -> dict[str, tuple[Any, np.ndarray]]:
    """Every confounder with its value per image (overrides applied)."""
    from debias_studio.core.annotate.confounders import list_confounders as listed
    from debias_studio.core.annotate.overrides import assignments

    return {
        c.name: (c, np.asarray(assignments(project, c.name), dtype=np.int64))
        for c in listed(project)
    }


def set_values(project: Any, name: str, image_ids: np.ndarray, value: str | None) -> None:
    from debias_studio.core.annotate.overrides import set_values as store_values

    store_values(project, name, [int(i) for i in image_ids], value)


def undo(project: Any) -> str | None:
    from debias_studio.core.annotate.history import undo as undo_last

    return undo_last(project)


# ---- export ------------------------------------------------------------------------------------
def run_export(project: Any, target: Any, options: dict[str, Any], token: CancelToken) -> Job[Any]:
    """Export the cleaned dataset and its report to ``target`` (a job)."""
    from debias_studio.core.export.job import export_project

    options = dict(options)
    formats = options.pop("formats", None)
    return (yield from export_project(project, target, formats, cancel=token, **options))


# ---- project, demo, device ---------------------------------------------------------------------
def create_demo_project(folder: Path, kind: str, cancel: CancelToken) -> Job[Project]:
    """Write the built-in demo data and its project in ``folder`` (a job)."""
    from debias_studio.core.demo import create_demo_project as create

    return (yield from create(Path(folder), kind=kind, cancel=cancel))


WARM_UP_MODULES = (
    "debias_studio.core.annotate.confounders",
    "debias_studio.core.concepts.project",
    "debias_studio.core.embed.engine",
    "debias_studio.core.export.job",
    "debias_studio.core.store.runs",
    "debias_studio.core.train.job",
    "torch.optim",
    "open_clip",  # builds its BPE tokenizer at import: seconds of pure Python
    "torch._dynamo",  # imported by the first optimiser; seconds, and never mid-session
    "sklearn.linear_model",
    "sklearn.mixture",
)


def detect_device(_token: object) -> str:
    """Which device models run on; also imports the engine modules the panels call, so no
    first click pays an import (tens of milliseconds of file I/O) on the GUI thread."""
    import importlib

    from debias_studio.core.models.device import default_device

    for name in WARM_UP_MODULES:
        importlib.import_module(name)
    return default_device()


# ---- concept bank ------------------------------------------------------------------------------
def load_bank_dict(project: Project) -> dict[str, Any]:
    from debias_studio.core.concepts.project import project_bank

    return project_bank(project).to_dict()


def save_bank_dict(project: Project, data: dict[str, Any]) -> None:
    from debias_studio.core.concepts.bank import bank_from_dict
    from debias_studio.core.concepts.project import save_project_bank

    save_project_bank(project, bank_from_dict(data, source="the edited concept list"))


# ---- embedding map -----------------------------------------------------------------------------
def map_job(project: Project, model: str, device: str | None, token: CancelToken) -> Job[Any]:
    """Embeddings (cached, or computed now) and their PCA projection, as one job."""
    from debias_studio.core.embed.engine import cached_or_embedded

    embeddings = yield from delegate(
        cached_or_embedded(project, model, device=device, cancel=token), 0, 800, 1000
    )
    xy = yield from delegate(
        pca_2d(embeddings.vectors, embeddings.valid, cancel=token), 800, 200, 1000
    )
    density = density_image(xy) if len(xy) > DENSITY_ABOVE else None
    return xy, density


# ---- training and runs -------------------------------------------------------------------------
EpochCallback = Callable[[dict[str, Any]], None]


def train_job(
    project: Project, config: TrainConfig, on_epoch: EpochCallback, token: CancelToken
) -> Job[Any]:
    from debias_studio.core.train.job import train_run

    return (yield from train_run(project, config, cancel=token, on_epoch=on_epoch))


def resume_job(
    project: Project, run_id: str, on_epoch: EpochCallback, token: CancelToken
) -> Job[Any]:
    from debias_studio.core.train.job import resume_run

    return (yield from resume_run(project, run_id, cancel=token, on_epoch=on_epoch))


def preview_job(
    project: Project, config: TrainConfig, ids: list[int], token: CancelToken
) -> Job[np.ndarray]:
    from debias_studio.core.train.counterfactuals import preview_counterfactuals
    from debias_studio.core.train.job import load_run_data

    data = yield from load_run_data(project, config, token)
    return preview_counterfactuals(data, ids, seed=config.seed)


def read_runs(project: Project) -> tuple[list[dict[str, Any]], str | None, Any]:
    """Every run, and the id and per-image predictions of the latest finished one."""
    from debias_studio.core.store.runs import latest_predictions, list_runs

    return (list_runs(project), *latest_predictions(project))
