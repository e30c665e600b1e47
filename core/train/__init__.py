"""Training engine: cures for spurious correlations, evaluated per group (ALGORITHMS.md 3-4).

Public entry points: ``train_run`` / ``resume_run`` (jobs on a project), ``fit`` (the loop on
arrays), ``list_runs``, ``preview_counterfactuals``, ``TrainConfig``.
"""

from core.train.config import TrainConfig
from core.train.counterfactuals import choose_generator, preview_counterfactuals
from core.train.data import TrainData, load_train_data
from core.train.job import RunResult, resume_run, start_run, train_run
from core.train.loop import DistContext, FitOutcome, evaluate, fit
from core.train.metrics import group_metrics, mean_std
from core.train.runs import list_runs

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
