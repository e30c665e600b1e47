"""Foreground objects as soft masks: a real silhouette (scikit-image's horse) and drawn shapes.

Each object is a high-resolution base mask drawn once and cached; ``place`` rotates, scales and
positions it on a small canvas, so thousands of varied masks cost a few milliseconds each. The mask
is the compositing alpha itself, so a background swap with it reproduces the object exactly.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw

BASE = 256
"""Side of the cached base masks, in pixels."""

SHAPES: tuple[str, ...] = (
    "horse",
    "star",
    "heart",
    "circle",
    "square",
    "triangle",
    "diamond",
    "cross",
)
"""Every object the demo can draw (the backgrounds demo uses a few, the CLIP corpus all)."""


def _polygon(points: np.ndarray) -> Image.Image:
    """A filled polygon given in [-1, 1] coordinates, drawn on a BASE x BASE canvas."""
    canvas = Image.new("L", (BASE, BASE), 0)
    xy = [(float(x), float(y)) for x, y in (points * 0.48 + 0.5) * BASE]
    ImageDraw.Draw(canvas).polygon(xy, fill=255)
    return canvas


def _regular(n: int, inner: float | None = None, turn: float = -np.pi / 2) -> np.ndarray:
    """Vertices of a regular n-gon (or an n-pointed star when ``inner`` is given)."""
    count = 2 * n if inner is not None else n
    angles = turn + np.arange(count) * 2 * np.pi / count
    radii = np.ones(count)
    if inner is not None:
        radii[1::2] = inner
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y + 2.5], axis=1)
    return pts / np.abs(pts).max()


def _horse() -> Image.Image:
    """scikit-image's horse silhouette (a real drawing in the wheel), cropped and centred."""
    import skimage.data

    body = ~skimage.data.horse()  # the file stores the horse as False on True
    ys, xs = np.nonzero(body)
    body = body[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = body.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = body.astype(np.uint8) * 255
    inner = int(BASE * 0.96)
    image = Image.fromarray(square).resize((inner, inner), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (BASE, BASE), 0)
    canvas.paste(image, ((BASE - inner) // 2, (BASE - inner) // 2))
    return canvas


@cache
def base_mask(name: str) -> Image.Image:
    """The object's upright, centred mask on a BASE x BASE canvas (8-bit, 255 = object)."""
    if name == "horse":
        return _horse()
    if name == "star":
        return _polygon(_regular(5, inner=0.42))
    if name == "heart":
        return _polygon(_heart())
    if name == "square":
        return _polygon(_regular(4, turn=np.pi / 4) / np.cos(np.pi / 4) * 0.8)
    if name == "triangle":
        return _polygon(_regular(3) + np.array([0.0, 0.2]))
    if name == "diamond":
        return _polygon(_regular(4) * np.array([0.7, 1.0]))
    if name == "cross":
        a, b = 0.32, 1.0
        arm = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a)]
        return _polygon(np.array([*arm, (-b, a), (-b, -a), (-a, -a)]))
    if name == "circle":
        canvas = Image.new("L", (BASE, BASE), 0)
        r = 0.48 * BASE
        c = BASE / 2
        ImageDraw.Draw(canvas).ellipse((c - r, c - r, c + r, c + r), fill=255)
        return canvas
    raise KeyError(f"unknown demo object {name!r}; known: {', '.join(SHAPES)}")


def place(
    name: str,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.55, 0.85),
    max_turn: float = 25.0,
) -> np.ndarray:
    """A mask of ``name`` on a ``size`` x ``size`` canvas with random scale, turn, mirror and
    position (kept fully inside): float alpha in [0, 1]."""
    mask = base_mask(name)
    if name == "horse" and rng.random() < 0.5:
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    angle = float(rng.uniform(-max_turn, max_turn))
    mask = mask.rotate(angle, resample=Image.Resampling.BILINEAR)
    box = mask.getbbox() or (0, 0, BASE, BASE)
    mask = mask.crop(box)
    target = float(rng.uniform(*scale)) * size
    factor = target / max(mask.size)
    w = max(2, round(mask.size[0] * factor))
    h = max(2, round(mask.size[1] * factor))
    small = mask.resize((w, h), Image.Resampling.LANCZOS)
    x = int(rng.integers(0, size - w + 1))
    y = int(rng.integers(0, size - h + 1))
    canvas = np.zeros((size, size), dtype=np.float32)
    canvas[y : y + h, x : x + w] = np.asarray(small, dtype=np.float32) / 255.0
    return canvas
