"""Tiny synthetic debiasing problems for the training tests (no demo data, no CLIP needed).

"Coloured shapes": class k is a shape drawn at a jittered position, stroke colour = value; in the
training split the colour follows the class for ``aligned`` of the images, in val/test every
(class, colour) group is equally frequent - the Colored-MNIST protocol in miniature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.data.splits import SPLIT_CODES
from debias_studio.core.store.project import Project
from debias_studio.core.train.data import TrainData

COLOURS = np.array([[1.0, 0.1, 0.1], [0.1, 1.0, 0.1], [0.2, 0.3, 1.0], [1.0, 1.0, 0.1]])
NAMES = ["red", "green", "blue", "yellow"]


def _shape(k: int, size: int, rng: np.random.Generator) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=np.float32)
    s = size // 2
    dy, dx = rng.integers(-1, 2, size=2)
    o = size // 4
    if k == 0:  # horizontal bar
        canvas[s - 1 : s + 1, o : size - o] = 1
    elif k == 1:  # vertical bar
        canvas[o : size - o, s - 1 : s + 1] = 1
    elif k == 2:  # square ring
        canvas[o : size - o, o] = canvas[o : size - o, size - o - 1] = 1
        canvas[o, o : size - o] = canvas[size - o - 1, o : size - o] = 1
    else:  # cross
        canvas[s - 1 : s + 1, o : size - o] = canvas[o : size - o, s - 1 : s + 1] = 1
    return np.roll(canvas, (dy, dx), axis=(0, 1))


def coloured_shapes(
    n_train: int = 240,
    n_eval: int = 96,
    classes: int = 3,
    size: int = 12,
    aligned: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels (N, S, S, 3) uint8, masks (N, S, S) uint8, labels, values, split codes."""
    rng = np.random.default_rng(seed)
    labels, values, split = [], [], []
    for code, n in ((0, n_train), (1, n_eval), (2, n_eval)):
        y = np.arange(n) % classes
        if code == 0:
            conflict = rng.random(n) >= aligned
            v = np.where(conflict, (y + rng.integers(1, classes, n)) % classes, y)
        else:
            v = (np.arange(n) // classes) % classes
        labels.append(y)
        values.append(v)
        split.append(np.full(n, code))
    labels_a, values_a, split_a = map(np.concatenate, (labels, values, split))
    masks = np.stack([_shape(int(k), size, rng) for k in labels_a])
    noise = rng.normal(0, 0.03, (len(labels_a), size, size, 3))
    pixels = masks[..., None] * COLOURS[values_a][:, None, None, :] + noise
    pixels = (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)
    return pixels, (masks * 255).astype(np.uint8), labels_a, values_a, split_a


def shapes_data(kind: str = "colour", with_masks: bool = False, **kw: object) -> TrainData:
    pixels, masks, labels, values, split = coloured_shapes(**kw)  # type: ignore[arg-type]
    classes = int(labels.max()) + 1
    inputs = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    return TrainData(
        inputs=inputs,
        labels=labels.astype(np.int64),
        values=values.astype(np.int64),
        split=split.astype(np.int64),
        classes=[f"c{k}" for k in range(classes)],
        value_names=NAMES[:classes],
        confounder="color",
        kind=kind,
        masks=torch.from_numpy(masks)[:, None] if with_masks else None,
    )


def _texture(v: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Background ``v``: green grain, a grey checkerboard or brown stripes (S, S, 3) in [0, 1]."""
    yy, xx = np.mgrid[:size, :size]
    if v == 0:
        base = np.array([0.2, 0.55, 0.2]) + rng.normal(0, 0.08, (size, size, 1))
    elif v == 1:
        base = np.full((size, size, 3), 0.35) + 0.2 * (((yy // 2) + (xx // 2)) % 2)[..., None]
    else:
        base = np.array([0.55, 0.35, 0.15]) * (0.7 + 0.3 * ((yy // 2) % 2))[..., None]
    return np.clip(base, 0, 1)


def shapes_on_backgrounds_data(
    n_train: int = 360,
    n_eval: int = 90,
    size: int = 16,
    aligned: float = 0.95,
    seed: int = 0,
) -> TrainData:
    """Waterbirds in miniature: a white shape (the class) pasted with its exact mask on one of
    three textured backgrounds (the value), which follows the class in training for ``aligned``
    of the images and is balanced in val/test."""
    _, masks, labels, values, split = coloured_shapes(
        n_train=n_train, n_eval=n_eval, classes=3, size=size, aligned=aligned, seed=seed
    )
    rng = np.random.default_rng(seed + 1)
    alpha = masks.astype(np.float32)[..., None] / 255.0
    backgrounds = np.stack([_texture(int(v), size, rng) for v in values])
    pixels = alpha * 0.95 + (1.0 - alpha) * backgrounds
    pixels = (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)
    return TrainData(
        inputs=torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
        labels=labels.astype(np.int64),
        values=values.astype(np.int64),
        split=split.astype(np.int64),
        classes=["bar", "pole", "ring"],
        value_names=["grass", "tiles", "planks"],
        confounder="background",
        kind="background",
        masks=torch.from_numpy(masks)[:, None],
    )


def feature_data(
    n_train: int = 600, n_eval: int = 240, dim: int = 16, seed: int = 0, aligned: float = 0.95
) -> TrainData:
    """Frozen-feature analogue: z = normalise(class direction + strong value direction + noise)."""
    rng = np.random.default_rng(seed)
    classes = 2
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    parts = []
    for code, n in ((0, n_train), (1, n_eval), (2, n_eval)):
        y = np.arange(n) % classes
        if code == 0:
            v = np.where(rng.random(n) < aligned, y, 1 - y)
        else:
            v = (np.arange(n) // classes) % classes
        parts.append((y, v, np.full(n, code)))
    y, v, split = (np.concatenate(p) for p in zip(*parts, strict=True))
    z = (
        0.6 * np.where(y[:, None] == 1, basis[0], -basis[0])
        + 1.5 * np.where(v[:, None] == 1, basis[1], -basis[1])
        + rng.normal(0, 0.35, (len(y), dim))
    )
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return TrainData(
        inputs=torch.from_numpy(z.astype(np.float32)),
        labels=y.astype(np.int64),
        values=v.astype(np.int64),
        split=split.astype(np.int64),
        classes=["a", "b"],
        value_names=["u", "w"],
        confounder="place",
        kind="other",
    )


def shapes_project(folder: Path, **kw: object) -> Project:
    """A real project (PNG files, mask files, a ``color`` column) for run-level tests."""
    pixels, masks, labels, values, split = coloured_shapes(**kw)  # type: ignore[arg-type]
    root = folder / "images"
    root.mkdir(parents=True)
    names = {v: k for k, v in SPLIT_CODES.items()}
    rows = []
    for i in range(len(labels)):
        Image.fromarray(pixels[i]).save(root / f"{i}.png")
        Image.fromarray(masks[i]).save(root / f"{i}_mask.png")
        rows.append(
            {
                "path": f"{i}.png",
                "label": f"c{labels[i]}",
                "split": names[int(split[i])],
                "mask": f"{i}_mask.png",
                "color": NAMES[int(values[i])],
            }
        )
    classes = sorted({r["label"] for r in rows})
    dataset = Dataset(
        root=root,
        table=pd.DataFrame(rows),
        classes=classes,
        attributes=["color"],
        problems=[],
        spec=DatasetSpec(kind="manifest", source=str(root / "m.csv"), root=str(root)),
    )
    return Project.create(folder / "project", dataset)
