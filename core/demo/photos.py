"""Everyday photos that ship inside scikit-image's wheel, with the word that names each.

They are the demo CLIP's distractors: real images that are neither digits, shapes nor the demo's
backgrounds, so the model learns that its demo concepts are not "everything that is a picture".
Only files stored in the package itself are used (no pooch download).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

PHOTOS: dict[str, tuple[str, ...]] = {
    "chelsea": ("cat", "a cat", "a tabby cat"),
    "coffee": ("coffee", "a cup of coffee", "a coffee cup"),
    "astronaut": ("astronaut", "woman", "a woman in a space suit"),
    "rocket": ("rocket", "a rocket", "a rocket launch"),
    "camera": ("man", "a man with a camera", "a photographer"),
    "coins": ("coins", "old coins", "money"),
    "moon": ("moon", "the surface of the moon", "craters"),
    "hubble_deep_field": ("galaxy", "galaxies in space", "night sky"),
    "page": ("text", "a page of text", "a printed page"),
    "text": ("text", "handwritten text", "writing"),
    "retina": ("eye", "a retina", "a medical scan"),
    "clock": ("clock", "a clock", "a wall clock"),
    "cell": ("cells", "microscope image", "a microscope image of cells"),
    "immunohistochemistry": ("tissue", "a stained tissue sample", "microscopy"),
}
"""skimage.data function -> phrases that truly describe the photo (concept words among them)."""


@cache
def photo(name: str) -> np.ndarray:
    """The photo as float RGB in [0, 1] (greyscale ones repeated to three channels)."""
    import skimage.data

    pixels = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    pixels = pixels[..., :3]
    pixels.setflags(write=False)
    return pixels


def random_view(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A large random square crop (60-100 % of the short side) resized to ``size`` px, so the
    subject stays recognisable."""
    pixels = photo(name)
    h, w = pixels.shape[:2]
    side = int(rng.integers(int(0.6 * min(h, w)), min(h, w) + 1))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    crop = Image.fromarray((pixels[y : y + side, x : x + side] * 255.0 + 0.5).astype(np.uint8))
    crop = crop.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop, dtype=np.float32) / 255.0
