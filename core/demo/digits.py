"""Coloured digits (Colored-MNIST style) from the real handwritten digits scikit-learn ships.

``sklearn.datasets.load_digits`` holds 1,797 handwritten 8x8 digits (no download). Each is
upsampled smoothly, and its strokes are tinted with a named colour on a dark background. In training
the colour follows the class (digit d is ``DIGIT_COLOURS[d]``) for the ``aligned`` fraction, so a
model can score well by reading the colour alone; validation and test spread every digit evenly over
all ten colours, which is what exposes a model that did.

1,797 digits split 60/20/20 leave ~36 per class in validation and in test, 3-4 per (digit, colour)
group: too few for a worst-group figure to mean anything. So each held-out digit is drawn in
several colours (a rotation, so every colour gets the same share), enough for every group to
hold at least ``MIN_HELD_OUT_GROUP`` images: a counterfactual test set, where the groups of a class
differ by colour only. Training is untouched: the same digits, colours and pixels as one render
per digit gave (the extra renders draw their noise from a separate generator).
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
MIN_HELD_OUT_GROUP = 20
"""Images each (digit, colour) group should hold in validation and in test (see
core.train.metrics.MIN_GROUP_SIZE); a small ``per_class`` caps it at one render per colour."""
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


def renders_per_digit(held_out: np.ndarray, n_values: int) -> int:
    """Colours each held-out digit is drawn in: the fewest that give every group of the smallest
    held-out class ``MIN_HELD_OUT_GROUP`` images, at most one per colour."""
    smallest = int(held_out.min()) if held_out.size else 1
    return int(min(n_values, max(1, -(-MIN_HELD_OUT_GROUP * n_values // max(smallest, 1)))))


def held_out_colours(
    labels: np.ndarray, splits: np.ndarray, n_values: int, rng: np.random.Generator
) -> dict[int, list[int]]:
    """Image index -> the colours it is drawn in, for every validation and test digit: within a
    (class, split) the digits take consecutive runs of a cycle through the colours from a random
    start, so the colours of a digit differ and each colour's count differs by at most one."""
    held = [(label, split) for label in np.unique(labels) for split in ("val", "test")]
    counts = np.array([np.sum((labels == c) & (splits == s)) for c, s in held])
    k = renders_per_digit(counts, n_values)
    out: dict[int, list[int]] = {}
    for label, split in held:
        members = np.flatnonzero((labels == label) & (splits == split))
        start = int(rng.integers(n_values))
        for j, i in enumerate(members):
            out[int(i)] = [(start + j * k + t) % n_values for t in range(k)]
    return out


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
    held_out = held_out_colours(
        labels, splits, len(DIGIT_COLOURS), np.random.default_rng([seed, 5])
    )
    render_rng = np.random.default_rng([seed, 2])
    extra_rng = np.random.default_rng([seed, 6])
    rows: list[dict[str, str]] = []
    total = len(labels)
    for i in range(total):
        if i % 100 == 0:
            cancel.raise_if_cancelled()
            yield Progress(i, total, "drawing coloured digits")
        label = str(int(labels[i]))
        for n, colour in enumerate(held_out.get(i, [int(colours[i])])):
            draw = render_rng if n == 0 else extra_rng
            name = DIGIT_COLOURS[colour]
            alpha = stroke_alpha(images[i], size, draw)
            pixels = tint(alpha, jittered(name, draw), draw)
            rows.append(
                write_sample(
                    data_dir, len(rows), label, str(splits[i]), ("color", name), pixels, alpha
                )
            )
    yield Progress(total, total, "drawing coloured digits")
    return rows
