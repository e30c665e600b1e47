"""A training run on a project, as a job: record, data, fit, outcome.

``train_run`` is what the GUI and the CLI start; ``resume_run`` continues a cancelled, failed or
interrupted (its process killed) run from its last epoch checkpoint with the same config. Whatever
happens, the ``runs`` table says how the run ended: done (with metrics), cancelled (with the epochs
completed, resumable) or failed (with the reason); a run whose process died says interrupted
(core.store.runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from debias_studio.core.errors import JobCancelled, StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job
from debias_studio.core.models.device import resolve_device
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import finish_run, mark_running
from debias_studio.core.threads import budgeted
from debias_studio.core.train import preflight
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import TrainData, load_train_data
from debias_studio.core.train.loop import DistContext, EpochCallback, fit
from debias_studio.core.train.methods.disc import ConceptExemplars
from debias_studio.core.train.runs import (
    RunRecord,
    create_run,
    open_run,
    read_checkpoint_meta,
    save_predictions,
)

UNREADABLE_LISTED = 20
"""Paths of left-out images a run's metrics name (the count covers them all)."""


@dataclass
class RunResult:
    run_id: str
    status: str
    config: dict[str, Any]
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "config": self.config,
            "metrics": self.metrics,
        }


@budgeted("train")
def train_run(
    project: Project,
    config: TrainConfig,
    *,
    cancel: CancelToken = NEVER_CANCELLED,
    on_epoch: EpochCallback | None = None,
    concepts: list[ConceptExemplars] | None = None,
    check_features: bool = False,
) -> Job[RunResult]:
    """Start a new run of ``config`` on ``project`` and train it to the end. A project that
    cannot train it is refused first (core.train.preflight); ``check_features`` also refuses a
    head on frozen features that a quick probe finds near chance. A refusal records no run."""
    config.validate()
    preflight.check_trainable(project, config)
    resolve_device(config.device)  # an unknown or absent device is refused before a run exists
    data = None
    if check_features:
        data = yield from load_run_data(project, config, cancel)
        preflight.check_features(data, config)
    record = create_run(project, config)
    return (yield from _execute(project, record, cancel, on_epoch, concepts, None, data))


start_run = train_run


@budgeted("train")
def resume_run(
    project: Project,
    run_id: str,
    *,
    cancel: CancelToken = NEVER_CANCELLED,
    on_epoch: EpochCallback | None = None,
    concepts: list[ConceptExemplars] | None = None,
) -> Job[RunResult]:
    """Continue run ``run_id`` from its last checkpoint (from scratch if it had none)."""
    record = open_run(project, run_id)
    if record.status == "done":
        raise StudioError(f"Run '{run_id}' has already finished; start a new run instead.")
    mark_running(project, run_id)  # refused while another process still trains it
    return (yield from _execute(project, record, cancel, on_epoch, concepts, None))


def _execute(
    project: Project,
    record: RunRecord,
    cancel: CancelToken,
    on_epoch: EpochCallback | None,
    concepts: list[ConceptExemplars] | None,
    dist: DistContext | None,
    data: TrainData | None = None,
) -> Job[RunResult]:
    """Train ``record`` to its end; ``data``: its inputs when the caller has loaded them."""
    config = record.config
    try:
        if data is None:
            data = yield from load_run_data(project, config, cancel)
        if config.method == "disc" and concepts is None:
            concepts = discovered_concepts(project, data)
        outcome = yield from fit(
            data,
            config,
            cancel=cancel,
            run_folder=record.folder,
            on_epoch=on_epoch,
            dist=dist,
            concepts=concepts,
        )
        if outcome.model is not None:
            save_predictions(record.folder, outcome.model, data, config.device)
    except Exception as exc:
        if isinstance(exc, JobCancelled):
            _record_stop(project, record)
        else:
            finish_run(project, record.id, "failed", {"error": str(exc)})
        raise
    except BaseException:  # KeyboardInterrupt, or the job closed unfinished (GeneratorExit)
        _record_stop(project, record)
        raise
    if data.unreadable:
        outcome.metrics["unreadable_images"] = {
            "count": len(data.unreadable),
            "examples": data.unreadable[:UNREADABLE_LISTED],
        }
    finish_run(project, record.id, "done", outcome.metrics)
    return RunResult(record.id, "done", config.to_dict(), outcome.metrics)


def _record_stop(project: Project, record: RunRecord) -> None:
    """The run stopped before its end: cancelled, resumable from its last epoch checkpoint."""
    meta = read_checkpoint_meta(record.folder) or {"history": [], "epoch": -1}
    finish_run(
        project,
        record.id,
        "cancelled",
        {"history": meta["history"], "completed_epochs": meta["epoch"] + 1, "resumable": True},
    )


def load_run_data(
    project: Project, config: TrainConfig, cancel: CancelToken = NEVER_CANCELLED
) -> Job[TrainData]:
    return (
        yield from load_train_data(
            project,
            backbone=config.backbone,
            confounder=config.confounder,
            model_name=config.model,
            image_size=config.image_size,
            device=config.device,
            cancel=cancel,
        )
    )


def discovered_concepts(project: Project, data: TrainData) -> list[ConceptExemplars] | None:
    """Concept exemplars and sensitivities from the project's latest discovery; None (no
    discovery yet) makes the DISC cure fall back to the confounder's values."""
    from debias_studio.core.train.disc_concepts import cure_exemplars

    return cure_exemplars(project, data)
