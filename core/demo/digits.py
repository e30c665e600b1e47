"""Coloured digits (Colored-MNIST style) from the real handwritten digits scikit-learn ships.

``sklearn.datasets.load_digits`` holds 1,797 handwritten 8x8 digits (no download). Each is
upsampled smoothly, and its strokes are tinted with a named colour on a dark background. In training
the colour follows the class (digit d is ``DIGIT_COLOURS[d]``) for the ``aligned`` fraction, so a
model can score well by reading the colour alone; validation and test spread every digit evenly over
all ten colours, which is what exposes a model that did.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from debias_studio.core.demo.bias import planted_values, stratified_splits
from debias_studio.core.demo.files import write_sample
from debias_studio.core.demo.palette import DIGIT_COLOURS, jittered
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

IMAGE_SIZE = 48
BACKGROUND = np.array([0.05, 0.05, 0.065], dtype=np.float32)
"""Near-black backdrop: every digit colour, white included, stands out against it."""


@lru_cache(maxsize=1)
def handwritten_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: (images float32 (1797, 8, 8) in [0, 1], labels int64 (1797,))."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    return images, np.asarray(bunch.target, dtype=np.int64)


def stroke_alpha(
    digit: np.ndarray, size: int = IMAGE_SIZE, rng: np.random.Generator | None = None
) -> np.ndarray:
    """An 8x8 digit as a smooth stroke mask of ``size`` px (alpha in [0, 1]); with ``rng``, shifted
    by up to a pixel of the original grid so no two renders line up exactly."""
    padded = np.zeros((12, 12), dtype=np.float32)
    dy, dx = (int(v) for v in rng.integers(1, 4, size=2)) if rng is not None else (2, 2)
    padded[dy : dy + 8, dx : dx + 8] = digit
    big = Image.fromarray(padded, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    alpha = (np.asarray(big, dtype=np.float32) - 0.15) / 0.6
    alpha = np.clip(alpha, 0.0, 1.0)
    return alpha * alpha * (3.0 - 2.0 * alpha)  # smoothstep: firm strokes, soft edges


def tint(alpha: np.ndarray, colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Composite ``colour`` strokes over the dark backdrop with faint sensor-like noise."""
    backdrop = BACKGROUND + rng.normal(0.0, 0.012, size=(*alpha.shape, 3)).astype(np.float32)
    return backdrop * (1.0 - alpha[..., None]) + colour * alpha[..., None]


def generate_digits(
    data_dir: Path,
    *,
    seed: int = 0,
    aligned: float = 0.95,
    per_class: int | None = None,
    size: int = IMAGE_SIZE,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[list[dict[str, str]]]:
    """Write ``images/<digit>/<n>.png`` and ``masks/<digit>/<n>.png`` under ``data_dir``; returns
    the manifest rows (path, label, split, color, mask). The mask is the stroke alpha, which is
    what a colour counterfactual needs to recolour the digit. ``per_class`` keeps a seeded subset
    of at most that many digits per class (all ~180 by default)."""
    images, labels = handwritten_digits()
    rng = np.random.default_rng([seed, 1])
    if per_class is not None:
        keep = np.sort(
            np.concatenate(
                [rng.permutation(np.flatnonzero(labels == d))[:per_class] for d in range(10)]
            )
        )
        images, labels = images[keep], labels[keep]
    splits = stratified_splits(labels, rng)
    colours = planted_values(labels, splits, len(DIGIT_COLOURS), aligned, rng)
    render_rng = np.random.default_rng([seed, 2])
    rows: list[dict[str, str]] = []
    total = len(labels)
    for i in range(total):
        if i % 100 == 0:
            cancel.raise_if_cancelled()
            yield Progress(i, total, "drawing coloured digits")
        name = DIGIT_COLOURS[colours[i]]
        alpha = stroke_alpha(images[i], size, render_rng)
        pixels = tint(alpha, jittered(name, render_rng), render_rng)
        label = str(int(labels[i]))
        attribute = ("color", name)
        rows.append(write_sample(data_dir, i, label, str(splits[i]), attribute, pixels, alpha))
    yield Progress(total, total, "drawing coloured digits")
    return rows
