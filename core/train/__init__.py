"""Training engine: cures for spurious correlations, evaluated per group (ALGORITHMS.md 3-4).

Public entry points: ``train_run`` / ``resume_run`` (jobs on a project), ``fit`` (the loop on
arrays), ``list_runs``, ``preview_counterfactuals``, ``TrainConfig``.
"""

from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.counterfactuals import choose_generator, preview_counterfactuals
from debias_studio.core.train.data import TrainData, load_train_data
from debias_studio.core.train.job import RunResult, resume_run, start_run, train_run
from debias_studio.core.train.loop import DistContext, FitOutcome, evaluate, fit
from debias_studio.core.train.metrics import group_metrics, mean_std
from debias_studio.core.train.runs import list_runs

__all__ = [
    "DistContext",
    "FitOutcome",
    "RunResult",
    "TrainConfig",
    "TrainData",
    "choose_generator",
    "evaluate",
    "fit",
    "group_metrics",
    "list_runs",
    "load_train_data",
    "mean_std",
    "preview_counterfactuals",
    "resume_run",
    "start_run",
    "train_run",
]
