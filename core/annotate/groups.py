"""The group matrix: (class, value) counts, and which images follow the bias and which not."""

from __future__ import annotations

from typing import Any

import numpy as np

from debias_studio.core.annotate.model import GroupMatrix
from debias_studio.core.annotate.overrides import assignments
from debias_studio.core.annotate.storage import require_row


def group_matrix(project: Any, name: str) -> GroupMatrix:
    values = list(require_row(project, name)["params"]["_values"])
    dataset = project.dataset
    return build_group_matrix(
        name,
        dataset.classes,
        values,
        dataset.labels,
        assignments(project, name),
        dataset.split_mask("train"),
    )


def build_group_matrix(
    name: str,
    classes: list[str],
    values: list[str],
    labels: np.ndarray,
    assigned: np.ndarray,
    train: np.ndarray,
) -> GroupMatrix:
    """The matrix from arrays: ``labels`` class per image, ``assigned`` value per image (-1
    unknown), ``train`` the training-split mask that defines the bias-aligned value."""
    n_c, n_v = len(classes), len(values)
    known = assigned >= 0
    flat = labels * max(n_v, 1) + np.where(known, assigned, 0)
    counts = np.bincount(flat[known], minlength=n_c * n_v).reshape(n_c, n_v)
    in_train = known & train
    train_counts = np.bincount(flat[in_train], minlength=n_c * n_v).reshape(n_c, n_v)
    unknown = np.bincount(labels[~known], minlength=n_c)
    aligned_value = np.where(
        train_counts.sum(axis=1) > 0, train_counts.argmax(axis=1) if n_v else -1, -1
    ).astype(np.int64)
    own = aligned_value[labels]
    aligned = known & (own >= 0) & (assigned == own)
    conflicting = known & (own >= 0) & (assigned != own)
    group_ids = np.where(known, flat, -1).astype(np.int64)
    return GroupMatrix(
        name,
        list(classes),
        values,
        counts.astype(np.int64),
        train_counts.astype(np.int64),
        unknown.astype(np.int64),
        aligned_value,
        group_ids,
        aligned,
        conflicting,
    )
