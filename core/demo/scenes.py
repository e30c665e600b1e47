"""Scene categories cut from real photographs that ship inside registry packages.

Waterbirds' backgrounds are Places photos of two scene categories (land, water). Ours are three,
each pooled from several photos so that no single photo, colour or greyness names the category:
regions (fractions of the photo: left, top, right, bottom) chosen by eye to hold that scene only.
A patch is a random square crop of a random region (40-100 % of the region's short side, flipped
at random), so thousands of patches differ. No photo that an object is cut from
(core.demo.cutouts) serves as a background.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from debias_studio.core.demo.photos import photo as skimage_photo


@dataclass(frozen=True)
class Region:
    photo: str
    left: float
    top: float
    right: float
    bottom: float


SCENES: dict[str, tuple[Region, ...]] = {
    "sky-water": (
        Region("china", 0.55, 0.0, 0.86, 0.45),  # sky beside the pagoda
        Region("china", 0.55, 0.48, 0.86, 0.72),  # the lake
        Region("rocket", 0.1, 0.0, 0.45, 0.7),  # night sky at the launch pad
        Region("rocket", 0.55, 0.0, 0.88, 0.7),
        Region("hubble_deep_field", 0.0, 0.0, 1.0, 1.0),  # deep sky
    ),
    "vegetation": (
        Region("china", 0.5, 0.76, 1.0, 1.0),  # trees below the pagoda
        Region("china", 0.88, 0.3, 1.0, 0.8),
        Region("grass", 0.0, 0.0, 1.0, 1.0),  # scikit-image's grass photo
    ),
    "ground": (
        Region("gravel", 0.0, 0.0, 1.0, 1.0),
        Region("brick", 0.0, 0.0, 1.0, 1.0),
        Region("coffee", 0.0, 0.0, 0.14, 1.0),  # the wooden table beside the cup
        Region("coffee", 0.0, 0.0, 0.4, 0.17),
        Region("moon", 0.0, 0.0, 1.0, 1.0),  # lunar ground
    ),
}
"""Scene category -> regions it is cropped from."""

SCENE_NAMES: tuple[str, ...] = tuple(SCENES)


@cache
def photo(name: str) -> np.ndarray:
    """A bundled photo as float RGB in [0, 1]: scikit-learn's sample images by their file stem,
    anything else from scikit-image's wheel."""
    if name not in ("china", "flower"):
        return skimage_photo(name)
    from sklearn.datasets import load_sample_image

    rgb = np.asarray(load_sample_image(f"{name}.jpg"), dtype=np.float32) / 255.0
    rgb.setflags(write=False)
    return rgb


def scene_patch(scene: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size`` x ``size`` patch of ``scene``: float RGB in [0, 1]."""
    regions = SCENES[scene]
    region = regions[int(rng.integers(len(regions)))]
    pixels = photo(region.photo)
    h, w = pixels.shape[:2]
    top, bottom = int(region.top * h), int(region.bottom * h)
    left, right = int(region.left * w), int(region.right * w)
    short = min(bottom - top, right - left)
    side = int(rng.integers(max(int(0.4 * short), 8), short + 1))
    y = int(rng.integers(top, bottom - side + 1))
    x = int(rng.integers(left, right - side + 1))
    crop = Image.fromarray((pixels[y : y + side, x : x + side] * 255.0 + 0.5).astype(np.uint8))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    crop = crop.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(crop, dtype=np.float32) / 255.0
