"""Train / val / test splits: reading the ways manifests write them, and making missing ones.

A missing split is drawn per class (stratified), so every split keeps the class balance of the
data, and by a seed, so the same images and seed always give the same split. Within a class the
images are ordered by path before shuffling: re-ordering a manifest does not change the split.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from debias_studio.core.errors import DatasetError

SPLITS: tuple[str, str, str] = ("train", "val", "test")
"""The split names, the one place they are written; every stage and client takes them from here."""
TRAIN, VAL, TEST = SPLITS
SPLIT_CODES: dict[str, int] = {name: code for code, name in enumerate(SPLITS)}
"""Split name -> the code arrays and Waterbirds-style metadata use (0 train, 1 val, 2 test)."""
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.7, 0.15, 0.15)

SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "tr": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
    "te": "test",
    # Waterbirds' metadata.csv and CelebA's list_eval_partition code splits as 0 / 1 / 2.
    "0": "train",
    "1": "val",
    "2": "test",
}
"""How a split may be written (case-insensitive) -> our name."""


def parse_splits(values: Sequence[str], source: str) -> list[str]:
    """Map written split values to train/val/test; an empty cell stays "" (to be drawn).

    An unknown value is a whole-manifest error rather than one bad row: silently re-drawing it
    would mix images the user meant to hold out into training."""
    parsed: list[str] = []
    unknown: dict[str, None] = {}
    for value in values:
        text = value.strip()
        if not text:
            parsed.append("")
            continue
        name = SPLIT_NAMES.get(text.casefold())
        if name is None:
            unknown[text] = None
            name = ""
        parsed.append(name)
    if unknown:
        shown = ", ".join(repr(v) for v in list(unknown)[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise DatasetError(
            f"The split column of {source} has values we do not understand: {shown}{more} "
            "(expected train, val, test, or 0, 1, 2; leave a cell empty to draw a split)."
        )
    return parsed


def split_sizes(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> tuple[int, int, int]:
    """How many of ``n`` images go to train, val, test.

    Largest-remainder rounding, so the sizes add up to ``n``; a class with at least one image
    always gets a training image first (a class unseen in training cannot be learnt)."""
    weights = _checked_fractions(fractions)
    exact = weights * n
    sizes = np.floor(exact).astype(int)
    order = np.argsort(-(exact - sizes), kind="stable")
    for i in order[: n - int(sizes.sum())]:
        sizes[i] += 1
    if n > 0 and sizes[0] == 0:
        donor = int(np.argmax(sizes))
        sizes[donor] -= 1
        sizes[0] += 1
    return int(sizes[0]), int(sizes[1]), int(sizes[2])


def assign_splits(
    labels: Sequence[str],
    paths: Sequence[str],
    splits: Sequence[str],
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> list[str]:
    """Fill the empty entries of ``splits`` with a seeded split stratified by label.

    Entries that already hold a split are kept. Each class draws from its own random stream
    (seed, class name), so adding a class does not reshuffle the others."""
    result = list(splits)
    missing_by_class: dict[str, list[int]] = defaultdict(list)
    for i, split in enumerate(result):
        if not split:
            missing_by_class[labels[i]].append(i)
    for label in sorted(missing_by_class):
        rows = sorted(missing_by_class[label], key=lambda i: paths[i])
        rng = np.random.default_rng([seed % (1 << 64), zlib.crc32(label.encode("utf-8"))])
        shuffled = [rows[j] for j in rng.permutation(len(rows))]
        n_train, n_val, _ = split_sizes(len(rows), fractions)
        for k, row in enumerate(shuffled):
            result[row] = "train" if k < n_train else "val" if k < n_train + n_val else "test"
    return result


def _checked_fractions(fractions: Sequence[float]) -> np.ndarray:
    weights = np.asarray(list(fractions), dtype=float)
    if weights.shape != (3,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise DatasetError(
            f"Split fractions must be three non-negative numbers (train, val, test); "
            f"got {list(fractions)}."
        )
    if weights.sum() <= 0:
        raise DatasetError("Split fractions must not all be zero.")
    return weights / weights.sum()
