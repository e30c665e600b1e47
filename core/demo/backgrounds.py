"""Objects on backgrounds (Waterbirds-like): silhouettes composited on real texture photos.

Waterbirds pastes segmented birds onto Places scenes so that the background travels with the
label. Here the objects are a real silhouette (scikit-image's horse) and two drawn shapes, the
backgrounds are random crops of scikit-image's grass, gravel and brick photos. In training, class k
sits on background k for the ``aligned`` fraction; validation and test are balanced. Each image's
foreground mask (the exact compositing alpha) is saved, which is what a background-swap
counterfactual needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from debias_studio.core.data.splits import SPLITS
from debias_studio.core.demo.bias import planted_values
from debias_studio.core.demo.files import write_sample
from debias_studio.core.demo.palette import OBJECT_COLOURS, jittered
from debias_studio.core.demo.shapes import place
from debias_studio.core.demo.textures import BACKGROUNDS, random_crop
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

OBJECTS: tuple[str, ...] = ("horse", "star", "heart")
"""Classes; object k's bias-aligned background is ``BACKGROUNDS[k]``."""

IMAGE_SIZE = 64
PER_CLASS = 480
"""Images per class by default: 288 train, 96 val, 96 test."""


def split_sizes(per_class: int) -> tuple[int, int, int]:
    """(train, val, test) images per class: 20 % each for val and test, rounded down to a multiple
    of the number of backgrounds (at least one each), so all (class, background) groups match."""
    held_out = max(1, int(0.2 * per_class) // len(BACKGROUNDS)) * len(BACKGROUNDS)
    return per_class - 2 * held_out, held_out, held_out


def composite(background: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The object (flat ``colour``, lightly shaded top to bottom) over ``background``."""
    h = alpha.shape[0]
    shade = np.linspace(1.05, 0.8, h, dtype=np.float32)[:, None, None]
    fill = np.clip(colour[None, None, :] * shade, 0.0, 1.0)
    a = alpha[..., None]
    return background * (1.0 - a) + fill * a


def generate_backgrounds(
    data_dir: Path,
    *,
    seed: int = 0,
    aligned: float = 0.95,
    per_class: int = PER_CLASS,
    size: int = IMAGE_SIZE,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[list[dict[str, str]]]:
    """Write ``images/<object>/<n>.png`` and ``masks/<object>/<n>.png`` under ``data_dir``;
    returns the manifest rows (path, label, split, background, mask). ``per_class`` images of
    each object are drawn (at least 5)."""
    sizes = split_sizes(per_class)
    labels = np.repeat(np.arange(len(OBJECTS)), per_class)
    splits = np.tile(np.repeat(np.array(SPLITS, dtype=object), sizes), len(OBJECTS))
    rng = np.random.default_rng([seed, 3])
    places = planted_values(labels, splits, len(BACKGROUNDS), aligned, rng)
    render_rng = np.random.default_rng([seed, 4])
    rows: list[dict[str, str]] = []
    total = len(labels)
    for i in range(total):
        if i % 100 == 0:
            cancel.raise_if_cancelled()
            yield Progress(i, total, "compositing objects on backgrounds")
        label = OBJECTS[labels[i]]
        background = BACKGROUNDS[places[i]]
        alpha = place(label, size, render_rng)
        colour = jittered(str(render_rng.choice(OBJECT_COLOURS)), render_rng)
        pixels = composite(random_crop(background, size, render_rng), alpha, colour)
        attribute = ("background", background)
        rows.append(write_sample(data_dir, i, label, str(splits[i]), attribute, pixels, alpha))
    yield Progress(total, total, "compositing objects on backgrounds")
    return rows
