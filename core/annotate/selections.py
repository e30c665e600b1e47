"""Selections the cleaning actions act on, besides ids picked by hand: a group-matrix cell,
the images a finished run got wrong, the images carrying a tag. Each returns sorted image ids
(int64) and refuses what does not exist with a clear message."""

from __future__ import annotations

from typing import Any

import numpy as np

from debias_studio.core.annotate.groups import counted_images
from debias_studio.core.annotate.overrides import assignments
from debias_studio.core.annotate.storage import require_row
from debias_studio.core.data.splits import SPLITS, TRAIN
from debias_studio.core.errors import StudioError
from debias_studio.core.store import tags as tag_store
from debias_studio.core.store.relabels import final_label_codes
from debias_studio.core.store.runs import load_predictions


def group_cell(
    project: Any, confounder: str, class_name: str, value: str, split: str = TRAIN
) -> np.ndarray:
    """The images of one group-matrix cell: class ``class_name`` (final labels) and value
    ``value`` of ``confounder``; in ``split`` ("train": the counted images the matrix shows)."""
    values = [str(v) for v in require_row(project, confounder)["params"]["_values"]]
    classes = [str(c) for c in project.dataset.classes]
    if class_name not in classes:
        raise StudioError(f"'{class_name}' is not a class of this dataset.")
    if value not in values:
        raise StudioError(f"'{value}' is not a value of '{confounder}' ({', '.join(values)}).")
    if split not in (*SPLITS, "all"):
        raise StudioError(f"Unknown split '{split}'.")
    if split == TRAIN:
        scope = counted_images(project)
    elif split == "all":
        scope = np.ones(len(project.dataset), dtype=bool)
    else:
        scope = project.dataset.split_mask(split)
    chosen = (final_label_codes(project) == classes.index(class_name)) & scope
    chosen &= assignments(project, confounder) == values.index(value)
    return np.flatnonzero(chosen).astype(np.int64)


def misclassified_by(project: Any, run_id: str, split: str | None = None) -> np.ndarray:
    """Images run ``run_id`` predicted a class other than their (final) label for."""
    predictions = load_predictions(project, run_id)
    if predictions is None:
        raise StudioError(f"The run '{run_id}' stored no predictions for this project's images.")
    wrong = (predictions >= 0) & (predictions != final_label_codes(project))
    if split:
        wrong &= project.dataset.split_mask(split)
    return np.flatnonzero(wrong).astype(np.int64)


def with_tag(project: Any, tag: str) -> np.ndarray:
    return np.asarray(tag_store.tagged(project, tag_store.clean_tag(tag)), dtype=np.int64)
