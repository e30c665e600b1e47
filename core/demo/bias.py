"""How the demo plants its bias: seeded splits and the class -> attribute correlation.

Training images follow the planted pairing (class k gets attribute value k) in exactly
``ceil(aligned * n)`` of each class's images, the rest get one of the other values at random; in
validation and test every class is spread evenly over all values (a shuffled round-robin), so the
correlation is absent there and every (class, value) group has members to measure.
"""

from __future__ import annotations

import math

import numpy as np

from debias_studio.core.data.splits import SPLITS, TEST, TRAIN, VAL

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)


def check_aligned(aligned: float) -> float:
    """``aligned`` as a float in [0, 1], or a ValueError that names the bad value."""
    value = float(aligned)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(f"aligned must lie between 0 and 1, not {aligned}")
    return value


def stratified_splits(
    labels: np.ndarray, rng: np.random.Generator, fractions: tuple[float, ...] = DEFAULT_FRACTIONS
) -> np.ndarray:
    """A split name per item, each class divided in ``fractions`` (train, val, test)."""
    splits = np.empty(len(labels), dtype=object)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_train = round(fractions[0] * len(members))
        n_val = round(fractions[1] * len(members))
        splits[members[:n_train]] = TRAIN
        splits[members[n_train : n_train + n_val]] = VAL
        splits[members[n_train + n_val :]] = TEST
    return splits


def planted_values(
    labels: np.ndarray,
    splits: np.ndarray,
    n_values: int,
    aligned: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Attribute value index per item: class ``k``'s bias-aligned value is ``k % n_values``."""
    values = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        own = int(label) % n_values
        others = np.array([v for v in range(n_values) if v != own])
        train = rng.permutation(np.flatnonzero((labels == label) & (splits == "train")))
        n_aligned = math.ceil(aligned * len(train) - 1e-9)
        values[train[:n_aligned]] = own
        if len(train) > n_aligned:
            values[train[n_aligned:]] = rng.choice(others, size=len(train) - n_aligned)
        for split in SPLITS[1:]:
            held_out = np.flatnonzero((labels == label) & (splits == split))
            values[held_out] = balanced(len(held_out), n_values, rng)
    return values


def balanced(n: int, n_values: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` value indices spread as evenly as possible over ``n_values``, in random order
    (which values get the remainder is random too)."""
    reps = max(1, -(-n // n_values))
    pool = np.concatenate([rng.permutation(n_values) for _ in range(reps)])[:n]
    return rng.permutation(pool)
