"""What the GUI holds about the open project: the store, and the dataset as arrays.

Built in a worker (``open_session``, ``create_session``): opening the SQLite store, reading the
image table and turning every filterable column into integer codes happen off the GUI thread.
Afterwards the GUI filters with numpy on those codes, which costs a few milliseconds even at
100k images, and never keeps one Python object per image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.jobs import CancelToken, Job, Progress
from debias_studio.gui.engine import (
    DB_NAME,
    SPLITS,
    Dataset,
    Project,
    adopt_export,
    create_demo_project,
    open_dataset,
)
from debias_studio.gui.state import Cleaning, Column, Confounders, Discovery, Runs


@dataclass
class Session:
    """The open project. The typed state below the images' own columns is written by the hub
    only (``Hub.publish_*``), which announces each change with a signal carrying it."""

    project: Project
    dataset: Dataset
    paths: np.ndarray
    fingerprints: np.ndarray
    labels: Column
    splits: Column
    attributes: dict[str, Column] = field(default_factory=dict)
    confounders: Confounders = field(default_factory=Confounders)
    runs: Runs = field(default_factory=Runs)
    discovery: Discovery | None = None
    cleaning: Cleaning = field(default_factory=Cleaning)

    @property
    def folder(self) -> Path:
        return self.project.folder

    @property
    def name(self) -> str:
        return self.project.folder.name

    def __len__(self) -> int:
        return len(self.dataset)

    def row(self, image_id: int) -> dict[str, Any]:
        """Metadata of one image for the detail pane."""
        record = self.dataset.table.iloc[image_id].to_dict()
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}

    def filter_columns(self) -> dict[str, Column]:
        """Every categorical column the grid can filter on: the dataset's attributes, each
        confounder's values (overrides applied) and the latest run's correctness."""
        columns = dict(self.attributes)
        for name, column in self.confounders.columns().items():
            columns[f"confounder {name}"] = column
        if self.runs.latest is not None:
            columns["latest run"] = self.runs.latest.correctness
        return columns

    def annotations(self, image_id: int) -> list[tuple[str, str]]:
        """What the project says about one image beyond its metadata (the detail pane's rows):
        the concepts it exemplifies, its confounder values, the latest run's prediction."""
        rows = []
        found = self.discovery.top_concepts.get(image_id) if self.discovery else None
        if found:
            rows.append(("top concepts", ", ".join(found)))
        for name, column in self.confounders.columns().items():
            code = int(column.codes[image_id])
            rows.append((f"confounder {name}", column.values[code] if code >= 0 else "unknown"))
        latest = self.runs.latest
        if latest is not None and int(latest.predictions[image_id]) >= 0:
            predicted = int(latest.predictions[image_id])
            verdict = "right" if predicted == self.labels.codes[image_id] else "wrong"
            name = self.labels.values[predicted]
            rows.append((f"prediction (run {latest.run_id})", f"{name} ({verdict})"))
        return rows


def is_project_folder(folder: Path) -> bool:
    return (Path(folder) / DB_NAME).is_file()


def build_session(project: Project) -> Session:
    """Read the dataset and prepare its filter codes (worker thread)."""
    dataset = project.dataset
    table = dataset.table
    labels = Column(dataset.labels, list(dataset.classes))
    splits = _codes(table["split"], list(SPLITS))
    attributes = {
        name: _codes(table[name], None) for name in dataset.attributes if name in table.columns
    }
    size = table["size"].astype("string").fillna("") if "size" in table.columns else ""
    mtime = table["mtime_ns"].astype("string").fillna("") if "mtime_ns" in table.columns else ""
    fingerprints = (size + "-" + mtime).to_numpy(dtype=object) if len(table) else np.array([])
    return Session(
        project=project,
        dataset=dataset,
        paths=table["path"].to_numpy(dtype=object),
        fingerprints=np.asarray(fingerprints, dtype=object),
        labels=labels,
        splits=splits,
        attributes=attributes,
    )


def open_session(folder: Path, cancel: CancelToken) -> Job[Session]:
    """Open an existing project folder."""
    yield Progress(0, 2, f"opening {Path(folder).name}")
    project = Project.open(folder)
    cancel.raise_if_cancelled()
    yield Progress(1, 2, "reading the image table")
    session = build_session(project)
    yield Progress(2, 2, "done")
    return session


def create_session(folder: Path, source: Path, cancel: CancelToken, seed: int = 0) -> Job[Session]:
    """Scan an image folder or manifest and create a new project in ``folder`` from it."""
    dataset = yield from open_dataset(Path(source), seed=seed, cancel=cancel)
    cancel.raise_if_cancelled()
    yield Progress(0, 0, "writing the project")
    project = Project.create(folder, dataset)
    adopt_export(project)
    return build_session(project)


def demo_session(
    folder: Path, kind: str, cancel: CancelToken, create: Callable[..., Job[Project]] | None = None
) -> Job[Session]:
    """Reuse the demo project in ``folder``, or create it with core.demo (a job with progress)."""
    if is_project_folder(folder):
        return (yield from open_session(folder, cancel))
    if create is None:
        create = create_demo_project
    project = yield from create(Path(folder), kind=kind, cancel=cancel)
    return build_session(project)


def _codes(series: pd.Series, order: list[str] | None) -> Column:
    text = series.astype("string").fillna("")
    values = order if order is not None else sorted(v for v in text.unique() if v)
    known = text.where(text.isin(values))  # other cells (empty ones too) -> code -1
    codes = np.asarray(pd.Categorical(known, categories=values).codes, dtype=np.int32)
    return Column(codes, list(values))
