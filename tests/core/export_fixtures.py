"""A small annotated backgrounds-demo project for the export tests: a confounder from the
``background`` column with one manual override, two exclusions, one finished ERM run (with its
per-image predictions) and one cancelled run."""

from __future__ import annotations

from pathlib import Path

from debias_studio.core.annotate.confounders import add_confounder
from debias_studio.core.annotate.overrides import set_values
from debias_studio.core.demo.project import create_demo_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.exclusions import exclude
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import finish_run
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.job import train_run
from debias_studio.core.train.runs import create_run

CONFOUNDER = "bg"
OVERRIDDEN_ID = 0
EXCLUDED = {1: "blurry", 5: "duplicate"}


def annotated_project(folder: Path) -> Path:
    project = run_quiet(
        create_demo_project(folder, kind="backgrounds", per_class=20, aligned=0.6, seed=1)
    )
    try:
        add_confounder(project, CONFOUNDER, column="background")
        set_values(project, CONFOUNDER, [OVERRIDDEN_ID], "brick")
        for image_id, reason in EXCLUDED.items():
            exclude(project, [image_id], reason)
        config = TrainConfig(
            project=str(folder),
            method="erm",
            confounder=CONFOUNDER,
            backbone="cnn",
            epochs=2,
            batch_size=16,
            image_size=16,
        )
        run_quiet(train_run(project, config))
        cancelled = create_run(project, TrainConfig(**{**config.to_dict(), "method": "balanced"}))
        finish_run(project, cancelled.id, "cancelled", {"history": [], "completed_epochs": 0})
    finally:
        project.close()
    return folder


def open_project(folder: Path) -> Project:
    return Project.open(folder)
