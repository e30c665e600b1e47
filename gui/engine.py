"""The GUI's one door into the engine.

Every GUI module reaches core through this module (plus ``core.jobs`` and ``core.errors``); an
import-linter contract in CI holds it so. Names re-exported here come from engine modules that
are light to import (no torch, no scikit-learn: checked by tests/gui/test_engine_door.py); the
heavy ones are imported on first use, inside a worker, because importing torch on the GUI thread
would stall it for seconds. Functions that return a ``Job`` run in workers; nothing here touches
a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from debias_studio.core.annotate.model import Confounder
from debias_studio.core.concepts.result import ROW_COLUMNS, DiscoveryResult
from debias_studio.core.concepts.signals import EXPLANATIONS
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
from debias_studio.core.store.runs import RESUMABLE
from debias_studio.core.train.compare import (
    RunComparison,
    class_value_matrix,
    extremes,
    ordered_groups,
)
from debias_studio.core.train.config import (
    BACKBONES,
    METHODS,
    MIN_GROUP_SIZE,
    SUGGESTED,
    TrainConfig,
)
from debias_studio.core.train.metrics import wilson_interval, worst_group_line

if TYPE_CHECKING:  # heavy modules (torch): for the annotations only
    from debias_studio.core.export.job import ExportResult
    from debias_studio.core.train.job import RunResult

TRAINING_SUGGESTIONS = SUGGESTED
DENSITY_ABOVE = 200_000
"""Above this many points the map draws a density image instead of a scatter."""

StoredDiscovery = Mapping[str, Any]
"""A discovery as the project stores it: the JSON of ``DiscoveryResult.to_json``."""
RunRecord = dict[str, Any]
"""One run as ``core.store.runs.list_runs`` lists it: id, created, method, status, config,
metrics."""
Density = tuple[np.ndarray, tuple[float, float, float, float]]
"""A log-density image of the map and its extent (x0, y0, width, height)."""
MapResult = tuple[np.ndarray, Density | None]
"""The 2-D position of every image (NaN: not embedded), and the density image of a large map."""
EpochCallback = Callable[[dict[str, Any]], None]

__all__ = [
    "BACKBONES",
    "DB_NAME",
    "EXPLANATIONS",
    "METHODS",
    "MIN_GROUP_SIZE",
    "RESUMABLE",
    "ROW_COLUMNS",
    "SPLITS",
    "TRAINING_SUGGESTIONS",
    "Confounder",
    "Dataset",
    "DiscoveryResult",
    "ImageReadError",
    "Project",
    "RunComparison",
    "StudioError",
    "TrainConfig",
    "class_value_matrix",
    "extremes",
    "inside_polygon",
    "inside_rectangle",
    "open_dataset",
    "open_image",
    "ordered_groups",
    "wilson_interval",
    "worst_group_line",
]


# ---- discovery ---------------------------------------------------------------------------------
def run_discovery(
    project: Project,
    model_name: str,
    device: str | None,
    run_id: str | None,
    cancel: CancelToken,
) -> Job[pd.DataFrame]:
    """Discover spurious concepts (a job): the ranked rows, exemplars included."""
    from debias_studio.core.concepts.project import discover

    result = yield from discover(project, model_name, run_id=run_id, device=device, cancel=cancel)
    return discovery_table(result)


def latest_discovery(project: Project) -> pd.DataFrame | None:
    """The last discovery stored in the project (rows as a DataFrame), or None."""
    from debias_studio.core.concepts.project import latest_discovery as stored_discovery

    stored = stored_discovery(project)
    return None if stored is None else discovery_table(stored)


def discovery_table(result: DiscoveryResult | StoredDiscovery) -> pd.DataFrame:
    """The rows of a discovery, fresh from the engine or as stored (the same JSON), ranked, each
    with its exemplars."""
    stored = result.to_json() if isinstance(result, DiscoveryResult) else result
    rows = stored.get("rows")
    if not isinstance(rows, list):
        raise StudioError("The stored discovery has no rows; run discovery again.")
    table = pd.DataFrame(rows, columns=[*ROW_COLUMNS, "exemplars"])
    return table.sort_values("rank", kind="stable").reset_index(drop=True)


def concept_scores(project: Project, concept: str, model_name: str) -> np.ndarray:
    """Standardised score of one concept for every image (N,) float32 (NaN: not embedded)."""
    from debias_studio.core.concepts.project import concept_scores as scores

    return np.asarray(scores(project, concept, model_name=model_name), dtype=np.float32)


def inspect_concept(
    project: Any,
    class_name: str,
    concept: str,
    model_name: str,
    run_id: str | None = None,
    split: str = "train",
) -> Any:
    """What the concept view shows of one (class, concept) row: score histogram of the class
    against the rest, exemplar strips, signals with intervals, and, for ``run_id``, its error
    rate by concept-score bin (a ``core.concepts.inspection.ConceptInspection``), on the images
    of ``split`` ("train" as discovery, "val", "test" or "all")."""
    from debias_studio.core.concepts.inspection import inspect_concept as inspect

    return inspect(project, class_name, concept, model_name, run_id=run_id, split=split)


def inspect_concept_runs(
    project: Any,
    class_name: str,
    concept: str,
    model_name: str,
    run_ids: list[str | None],
    split: str = "train",
) -> list[Any]:
    """``inspect_concept`` once per entry of ``run_ids`` (None: without a run), in order: the
    concept view's before/after of a pair's signals for two runs."""
    return [inspect_concept(project, class_name, concept, model_name, r, split) for r in run_ids]


def threshold_preview(
    scores: np.ndarray, labels: np.ndarray, classes: list[str], threshold: float
) -> dict[str, Any]:
    """Counts per class at ``threshold`` and the images nearest it (a few numpy operations on
    plain arrays: the slider's worker calls it)."""
    from debias_studio.core.annotate.preview import threshold_preview as preview

    return preview(scores, labels, classes, threshold)


# ---- confounders -------------------------------------------------------------------------------
def confounder_values(project: Project) -> list[tuple[Confounder, np.ndarray]]:
    """Every confounder with its value per image (overrides applied), in the store's order."""
    from debias_studio.core.annotate.confounders import list_confounders
    from debias_studio.core.annotate.overrides import assignments

    return [
        (c, np.asarray(assignments(project, c.name), dtype=np.int64))
        for c in list_confounders(project)
    ]


def add_confounder(
    project: Project,
    name: str,
    *,
    concept: str | None = None,
    threshold: float | None = None,
    column: str | None = None,
    manual: bool = False,
    model_name: str = "demo",
) -> Confounder:
    """Create (or replace) a confounder from a concept (with a threshold), a column, or empty
    for labelling by hand."""
    from debias_studio.core.annotate.confounders import add_confounder as add

    return add(
        project,
        name,
        concept=concept,
        threshold=threshold,
        column=column,
        manual=manual,
        model_name=model_name,
    )


def set_values(project: Project, name: str, image_ids: np.ndarray, value: str | None) -> None:
    """Give images a value of confounder ``name`` by hand (None: back to its source's value)."""
    from debias_studio.core.annotate.overrides import set_values as store_values

    store_values(project, name, [int(i) for i in image_ids], value)


def undo(project: Project) -> str | None:
    """Undo the last annotation change; what was undone, or None when nothing was left."""
    from debias_studio.core.annotate.history import undo as undo_last

    return undo_last(project)


# ---- cleaning ----------------------------------------------------------------------------------
CLEANING_FINDERS = ("duplicates", "label issues", "outliers")


def cleaning_state(project: Any) -> dict[str, Any]:
    """What the grid and the cleaning panel show: ``excluded`` (N,) bool, ``reasons``,
    ``relabels`` {id: label}, ``tags`` {id: [tag]}, ``history`` (newest first)."""
    from debias_studio.core.annotate.cleaning import cleaning_history
    from debias_studio.core.store import exclusions, relabels, tags

    return {
        "excluded": exclusions.excluded_mask(project),
        "reasons": exclusions.reasons(project),
        "relabels": relabels.relabel_map(project),
        "tags": tags.tag_map(project),
        "history": cleaning_history(project),
    }


def clean_images(project: Any, action: str, image_ids: Any, value: str = "") -> str:
    """One cleaning action (exclude with reason ``value``, include, relabel to ``value``, tag
    or untag ``value``); returns what was done in words."""
    from debias_studio.core.annotate import cleaning

    ids = [int(i) for i in image_ids]
    if action == "exclude":
        return cleaning.exclude_images(project, ids, value)
    if action == "include":
        return cleaning.include_images(project, ids)
    if action == "relabel":
        return cleaning.relabel_images(project, ids, value)
    if action in ("tag", "untag"):
        return cleaning.tag_images(project, ids, value, remove=action == "untag")
    raise StudioError(f"Unknown cleaning action '{action}'.")


def misclassified_by(project: Any, run_id: str) -> np.ndarray:
    from debias_studio.core.annotate.selections import misclassified_by as wrong

    return wrong(project, run_id)


def find_to_clean(
    project: Any, finder: str, model: str, device: str | None, options: dict[str, Any], token: Any
) -> Job[pd.DataFrame]:
    """Run one finder of ``CLEANING_FINDERS`` (a job); its review queue as a DataFrame."""
    from debias_studio.core.annotate import review

    if finder == "duplicates":
        job = review.find_duplicates(
            project, model, options.get("threshold", 0.95), device=device, cancel=token
        )
    elif finder == "label issues":
        job = review.find_label_issues(
            project, model, run_id=options.get("run_id"), device=device, cancel=token
        )
    elif finder == "outliers":
        job = review.find_outliers(
            project, model, options.get("top", 100), device=device, cancel=token
        )
    else:
        raise StudioError(f"Unknown finder '{finder}'.")
    return (yield from job)


# ---- export ------------------------------------------------------------------------------------
def run_export(
    project: Project,
    target: Path,
    formats: list[str],
    *,
    link: str,
    confounder: str | None,
    overwrite: bool,
    cancel: CancelToken,
    **choices: Any,
) -> Job[ExportResult]:
    """Export the cleaned dataset and its report to ``target`` (a job); ``choices``: the other
    ``core.export.writers.ExportOptions`` fields (prediction_run, balance, min_group, ...)."""
    from debias_studio.core.export.job import export_project

    return (
        yield from export_project(
            project,
            target,
            formats,
            link=link,
            confounder=confounder,
            overwrite=overwrite,
            cancel=cancel,
            **choices,
        )
    )


def export_plan(
    project: Any, target: Any, options: dict[str, Any], _token: object
) -> dict[str, Any]:
    """What an export would do, before it runs (worker): the runs whose predictions it can carry
    (best first), what an overwrite would remove (or why it may not), and the balanced subset's
    group sizes, warnings or refusal."""
    from debias_studio.core.export.preview import export_plan as plan

    return plan(project, Path(target), options)


def describe_balance(preview: dict[str, Any]) -> str:
    """A balanced preview in plain lines."""
    from debias_studio.core.export.preview import describe_balance as describe

    return describe(preview)


def adopt_export(project: Any) -> dict[str, Any]:
    """A project opened from one of our exports gets back its confounders and exclusions."""
    from debias_studio.core.export.reopen import adopt_export as adopt

    return adopt(project)


# ---- project, demo, device ---------------------------------------------------------------------
def create_demo_project(folder: Path, kind: str, cancel: CancelToken) -> Job[Project]:
    """Write the built-in demo data and its project in ``folder`` (a job)."""
    from debias_studio.core.demo.project import create_demo_project as create

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


def detect_device(_cancel: CancelToken) -> str:
    """Which device models run on; also imports the engine modules the panels call, so no
    first click pays an import (tens of milliseconds of file I/O) on the GUI thread."""
    import importlib

    from debias_studio.core.models.device import default_device

    for name in WARM_UP_MODULES:
        importlib.import_module(name)
    return default_device()


# ---- concept bank ------------------------------------------------------------------------------
def load_bank_dict(project: Project) -> dict[str, Any]:
    """The project's concept bank as the editor shows it (categories, prompt templates)."""
    from debias_studio.core.concepts.project import project_bank

    return project_bank(project).to_dict()


def save_bank_dict(project: Project, data: dict[str, Any]) -> None:
    """Validate an edited bank (a clear StudioError when refused) and store it in the project."""
    from debias_studio.core.concepts.bank import bank_from_dict
    from debias_studio.core.concepts.project import save_project_bank

    save_project_bank(project, bank_from_dict(data, source="the edited concept list"))


# ---- embedding map -----------------------------------------------------------------------------
def map_job(
    project: Project, model: str, device: str | None, cancel: CancelToken
) -> Job[MapResult]:
    """Embeddings (cached, or computed now) and their PCA projection, as one job."""
    from debias_studio.core.embed.engine import cached_or_embedded

    embeddings = yield from delegate(
        cached_or_embedded(project, model, device=device, cancel=cancel), 0, 800, 1000
    )
    xy = yield from delegate(
        pca_2d(embeddings.vectors, embeddings.valid, cancel=cancel), 800, 200, 1000
    )
    density = density_image(xy) if len(xy) > DENSITY_ABOVE else None
    return xy, density


# ---- training and runs -------------------------------------------------------------------------
def train_job(
    project: Project, config: TrainConfig, on_epoch: EpochCallback, cancel: CancelToken
) -> Job[RunResult]:
    """Train a new run of ``config``; ``on_epoch`` gets each epoch's entry, in the worker."""
    from debias_studio.core.train.job import train_run

    return (yield from train_run(project, config, cancel=cancel, on_epoch=on_epoch))


def resume_job(
    project: Project, run_id: str, on_epoch: EpochCallback, cancel: CancelToken
) -> Job[RunResult]:
    """Continue run ``run_id`` from its last epoch checkpoint."""
    from debias_studio.core.train.job import resume_run

    return (yield from resume_run(project, run_id, cancel=cancel, on_epoch=on_epoch))


def preview_job(
    project: Project, config: TrainConfig, ids: list[int], cancel: CancelToken
) -> Job[np.ndarray]:
    """Images ``ids`` rendered under every confounder value: uint8 (n, V, S, S, 3)."""
    from debias_studio.core.train.counterfactuals import preview_counterfactuals
    from debias_studio.core.train.job import load_run_data

    data = yield from load_run_data(project, config, cancel)
    return preview_counterfactuals(data, ids, seed=config.seed)


def compare_runs(
    runs: list[RunRecord], classes: list[str], split: str, baseline: str | None
) -> RunComparison:
    """Per-group accuracy of ``runs`` on ``split`` with sizes, Wilson intervals and the
    difference to the baseline run (``core.train.compare``; imports scipy: a worker)."""
    from debias_studio.core.train.compare import compare_runs as compare

    return compare(runs, classes, split=split, baseline=baseline)


def read_runs(project: Project) -> tuple[list[RunRecord], str | None, np.ndarray | None]:
    """Every run, and the id and per-image predictions of the latest finished one."""
    from debias_studio.core.store.runs import latest_predictions, list_runs

    return (list_runs(project), *latest_predictions(project))
