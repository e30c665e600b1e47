"""Datasets: what a project's images are, and what was wrong with the ones we could not use.

CONTRACT (implemented by the dataset work): a ``Dataset`` holds only usable images; every file
that could not be used is one ``ImageProblem``. Image ids are the row positions 0..N-1 of
``Dataset.table``; everything else in the engine (embeddings, annotations, groups) is an array
indexed by that id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

SPLITS: tuple[str, ...] = ("train", "val", "test")
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "label", "split")
"""Columns every ``Dataset.table`` has. Optional: ``mask`` (relative mask path or ""),
``size`` and ``mtime_ns`` (file fingerprint), and any attribute columns (``Dataset.attributes``)."""


@dataclass(frozen=True)
class ImageProblem:
    """One file we could not use, and why, in words a user understands."""

    path: str
    problem: str  # missing | empty | unreadable | truncated | not_an_image | too_large |
    #               outside_root | duplicate | unknown_label | no_label
    detail: str


@dataclass(frozen=True)
class DatasetSpec:
    """How the dataset was opened, so that a project can open it again."""

    kind: Literal["folder", "manifest"]
    source: str  # the folder, or the manifest file
    root: str  # image paths are relative to this folder
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        return cls(**data)


@dataclass
class Dataset:
    root: Path
    table: pd.DataFrame
    classes: list[str]
    attributes: list[str]
    problems: list[ImageProblem]
    spec: DatasetSpec

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """Class index per image (position in ``classes``), int64."""
        lookup = {name: i for i, name in enumerate(self.classes)}
        return self.table["label"].map(lookup).to_numpy(dtype=np.int64)

    def split_mask(self, split: str) -> np.ndarray:
        return (self.table["split"] == split).to_numpy()

    def image_path(self, index: int) -> Path:
        return self.root / str(self.table["path"].iat[index])

    def mask_path(self, index: int) -> Path | None:
        if "mask" not in self.table.columns:
            return None
        value = self.table["mask"].iat[index]
        return self.root / str(value) if isinstance(value, str) and value else None
