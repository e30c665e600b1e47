"""What the GUI knows about the open project beyond its images, as typed values: the confounders
with their value per image, the runs with the latest finished run's predictions, the last
discovery.

Each value is read (or computed) in a worker by the functions below, which receive plain data and
return plain data; the hub then stores it on the session and announces it with a signal that
carries it, so a panel never re-reads what another panel already read. No Qt here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from debias_studio.core.jobs import CancelToken, Job
from debias_studio.gui import engine

TOP_CONCEPTS_PER_IMAGE = 3


@dataclass(frozen=True)
class Column:
    """A categorical column as codes into ``values`` (-1 = missing/unknown)."""

    codes: np.ndarray
    values: list[str]


# ---- confounders -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfounderEntry:
    """One confounder and the index of its value for every image (-1: unknown)."""

    confounder: engine.Confounder
    values: np.ndarray

    @property
    def name(self) -> str:
        return self.confounder.name

    @property
    def column(self) -> Column:
        return Column(self.values, list(self.confounder.values))


@dataclass(frozen=True)
class Confounders:
    """Every confounder of the project by name, in the store's order."""

    entries: Mapping[str, ConfounderEntry] = field(default_factory=dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def get(self, name: str) -> ConfounderEntry | None:
        return self.entries.get(name)

    def columns(self) -> dict[str, Column]:
        return {name: entry.column for name, entry in self.entries.items()}


def read_confounders(project: engine.Project) -> Confounders:
    """Every confounder with its values, overrides applied (worker)."""
    return Confounders(
        {c.name: ConfounderEntry(c, values) for c, values in engine.confounder_values(project)}
    )


# ---- runs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatestRun:
    """What the newest finished run predicted for each image."""

    run_id: str
    predictions: np.ndarray
    """Predicted class per image id (-1: not predicted)."""
    correctness: Column
    """'wrong' / 'right' per image id (-1: not predicted)."""


@dataclass(frozen=True)
class Runs:
    records: list[engine.RunRecord] = field(default_factory=list)
    """Every run of the project, newest first."""
    latest: LatestRun | None = None

    @property
    def resumable(self) -> str | None:
        """The newest cancelled, failed or interrupted run: what Resume continues."""
        return next((r["id"] for r in self.records if r.get("status") in engine.RESUMABLE), None)

    def finished(self) -> list[engine.RunRecord]:
        return [r for r in self.records if r.get("status") == "done"]


def read_runs(project: engine.Project, labels: np.ndarray) -> Runs:
    """Every run, and right/wrong per image for the latest finished one (worker)."""
    records, run_id, predictions = engine.read_runs(project)
    if run_id is None or predictions is None:
        return Runs(records)
    right = (predictions == labels).astype(np.int32)
    correct = np.where(predictions < 0, -1, right).astype(np.int32)
    return Runs(records, LatestRun(run_id, predictions, Column(correct, ["wrong", "right"])))


# ---- cleaning ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cleaning:
    """The user's cleaning decisions: excluded images (with reasons), relabels, tags, and the
    cleaning actions that Undo can still take back (newest first)."""

    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    reasons: Mapping[int, str] = field(default_factory=dict)
    relabels: Mapping[int, str] = field(default_factory=dict)
    tags: Mapping[int, list[str]] = field(default_factory=dict)
    history: list[dict[str, object]] = field(default_factory=list)

    def is_excluded(self, image_id: int) -> bool:
        return image_id < len(self.excluded) and bool(self.excluded[image_id])


def read_cleaning(project: engine.Project) -> Cleaning:
    """Exclusions, relabels, tags and the cleaning history (worker)."""
    return Cleaning(**engine.cleaning_state(project))


# ---- discovery ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Discovery:
    """The ranked (class, concept) rows, and for each image the concepts it exemplifies."""

    table: pd.DataFrame
    top_concepts: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    """Image id -> the best-ranked concepts listing it among their in-class exemplars."""

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Discovery:
        """Index the exemplars once (worker): rows come best first, so the first concepts
        found for an image are its top ones."""
        found: dict[int, list[str]] = {}
        if "exemplars" in table.columns:
            for concept, exemplars in zip(table["concept"], table["exemplars"], strict=True):
                if not isinstance(exemplars, dict):
                    continue
                for image_id in exemplars.get("in_class", []):
                    names = found.setdefault(int(image_id), [])
                    if len(names) < TOP_CONCEPTS_PER_IMAGE and concept not in names:
                        names.append(str(concept))
        return cls(table, {i: tuple(names) for i, names in found.items()})

    @property
    def top(self) -> str | None:
        return None if self.table.empty else str(self.table["concept"].iat[0])

    def __len__(self) -> int:
        return len(self.table)


def read_discovery(project: engine.Project) -> Discovery | None:
    """The last discovery stored in the project (worker)."""
    table = engine.latest_discovery(project)
    return None if table is None else Discovery.from_table(table)


def discover(
    project: engine.Project,
    model_name: str,
    device: str | None,
    run_id: str | None,
    cancel: CancelToken,
) -> Job[Discovery]:
    """Run discovery (a job) and index its exemplars, all in the worker."""
    table = yield from engine.run_discovery(project, model_name, device, run_id, cancel)
    return Discovery.from_table(table)
