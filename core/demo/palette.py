"""Named colours of the demo data, with the plain English names the demo CLIP learns.

The names are the values of the digits demo's ``color`` column and the words a colour concept uses,
so they must be unambiguous to a person: no two colours a viewer could confuse on a dark background.
"""

from __future__ import annotations

import numpy as np

NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 30, 30),
    "green": (40, 185, 45),
    "blue": (45, 85, 235),
    "yellow": (240, 225, 35),
    "orange": (250, 140, 20),
    "purple": (145, 50, 205),
    "pink": (250, 125, 195),
    "cyan": (35, 215, 225),
    "brown": (145, 85, 35),
    "white": (238, 238, 238),
    "gray": (128, 128, 128),
    "black": (18, 18, 18),
}
"""Every colour the demo renders (the CLIP training corpus uses all of them)."""

DIGIT_COLOURS: tuple[str, ...] = (
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "purple",
    "pink",
    "cyan",
    "brown",
    "white",
)
"""Colour planted on digit class ``d`` is ``DIGIT_COLOURS[d]``; all ten read well on black."""

OBJECT_COLOURS: tuple[str, ...] = ("white", "yellow", "orange", "pink", "cyan", "blue", "purple")
"""Fill colours of the backgrounds demo's objects: drawn independently of class and background."""


def rgb(name: str) -> np.ndarray:
    """The colour ``name`` as a float array in [0, 1], shape (3,)."""
    return np.asarray(NAMED_COLOURS[name], dtype=np.float32) / 255.0


def jittered(name: str, rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    """``name``'s colour with a small random shade change, so no two images are pixel-identical
    in colour while every one still reads as ``name``."""
    base = rgb(name)
    brightness = rng.uniform(0.88, 1.0)
    noise = rng.normal(0.0, amount / 2.0, size=3).astype(np.float32)
    return np.clip(base * brightness + noise, 0.0, 1.0)
