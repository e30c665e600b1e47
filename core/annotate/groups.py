"""Groups and the bias: the one definition every stage uses (annotation, training, export).

* The **group** of an image is ``class * V + value`` (V: the confounder's number of values), -1
  where its value is unknown; so groups are numbered class by class, values in their order.
* The **bias-aligned value** of a class is the value most frequent among the class's *counted*
  images with a known value (ties: the lower value index), -1 when there is none. Counted are
  the training-split images the user has not excluded (``counted_images``): the data a model is
  trained on, whatever the split of the image being judged.
* An image is **bias-aligned** when its value is known and is its class's aligned value, and
  **bias-conflicting** when its value is known, its class has an aligned value, and they differ;
  neither otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from debias_studio.core.annotate.model import GroupMatrix
from debias_studio.core.annotate.overrides import assignments
from debias_studio.core.annotate.storage import require_row
from debias_studio.core.data.splits import TRAIN
from debias_studio.core.store.exclusions import excluded_mask
from debias_studio.core.store.relabels import final_label_codes


def group_ids(labels: np.ndarray, values: np.ndarray, n_values: int) -> np.ndarray:
    """(N,) int64 group of each image: class * V + value, -1 where the value is unknown."""
    labels, values = np.asarray(labels, np.int64), np.asarray(values, np.int64)
    return np.where(values >= 0, labels * n_values + values, -1).astype(np.int64)


def counted_images(project: Any) -> np.ndarray:
    """(N,) bool: the images that decide the aligned values (training split, not excluded)."""
    return project.dataset.split_mask(TRAIN) & ~excluded_mask(project)


def aligned_values(
    labels: np.ndarray, values: np.ndarray, counted: np.ndarray, n_classes: int, n_values: int
) -> np.ndarray:
    """(C,) int64 bias-aligned value of each class among the ``counted`` images (-1: none)."""
    if n_values == 0:
        return np.full(n_classes, -1, dtype=np.int64)
    ids = group_ids(labels, values, n_values)[np.asarray(counted, dtype=bool)]
    counts = np.bincount(ids[ids >= 0], minlength=n_classes * n_values)
    counts = counts.reshape(n_classes, n_values)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1).astype(np.int64)


def bias_flags(
    labels: np.ndarray, values: np.ndarray, aligned: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(N,) bool bias-aligned and (N,) bool bias-conflicting images, given ``aligned_values``."""
    labels, values = np.asarray(labels, np.int64), np.asarray(values, np.int64)
    own = np.asarray(aligned, dtype=np.int64)[labels]
    decided = (values >= 0) & (own >= 0)
    return decided & (values == own), decided & (values != own)


def group_matrix(project: Any, name: str) -> GroupMatrix:
    values = list(require_row(project, name)["params"]["_values"])
    dataset = project.dataset
    return build_group_matrix(
        name,
        dataset.classes,
        values,
        final_label_codes(project),
        assignments(project, name),
        counted_images(project),
    )


def build_group_matrix(
    name: str,
    classes: list[str],
    values: list[str],
    labels: np.ndarray,
    assigned: np.ndarray,
    counted: np.ndarray,
) -> GroupMatrix:
    """The matrix from arrays: ``labels`` class per image, ``assigned`` value per image (-1
    unknown), ``counted`` the images that define the bias-aligned value (``counted_images``)."""
    n_c, n_v = len(classes), len(values)
    known = assigned >= 0
    ids = group_ids(labels, assigned, n_v)
    counts = np.bincount(ids[known], minlength=n_c * n_v).reshape(n_c, n_v)
    in_counted = known & np.asarray(counted, dtype=bool)
    train_counts = np.bincount(ids[in_counted], minlength=n_c * n_v).reshape(n_c, n_v)
    unknown = np.bincount(labels[~known], minlength=n_c)
    aligned_value = aligned_values(labels, assigned, counted, n_c, n_v)
    aligned, conflicting = bias_flags(labels, assigned, aligned_value)
    return GroupMatrix(
        name,
        list(classes),
        values,
        counts.astype(np.int64),
        train_counts.astype(np.int64),
        unknown.astype(np.int64),
        aligned_value,
        ids,
        aligned,
        conflicting,
    )
