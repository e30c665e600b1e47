"""Background textures cut from real photographs that ship inside scikit-image's wheel.

``skimage.data.grass()``, ``gravel()`` and ``brick()`` are real photos stored in the package itself
(no pooch download), so the demo stays offline. They are greyscale; each is mapped through a
two-colour ramp that gives it its natural hue (green grass, grey stone, red-brown brick) so the
background is a cue a person and a CLIP model both notice, as land and water are in Waterbirds.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

TEXTURE_RAMPS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "grass": ((18, 58, 12), (160, 215, 85)),
    "gravel": ((55, 53, 50), (210, 204, 192)),
    "brick": ((85, 28, 18), (215, 125, 92)),
}
"""Background name -> (colour of the darkest, colour of the brightest texture pixel)."""

BACKGROUNDS: tuple[str, ...] = tuple(TEXTURE_RAMPS)


@cache
def texture(name: str) -> np.ndarray:
    """The full photo ``name`` as float RGB in [0, 1], shape (H, W, 3); cached per process."""
    import skimage.data

    if name not in TEXTURE_RAMPS:
        raise KeyError(f"unknown demo background {name!r}; known: {', '.join(BACKGROUNDS)}")
    grey = getattr(skimage.data, name)().astype(np.float32)
    lo, hi = np.percentile(grey, (1, 99))
    t = np.clip((grey - lo) / max(hi - lo, 1.0), 0.0, 1.0)[..., None]
    dark, bright = (np.asarray(c, dtype=np.float32) / 255.0 for c in TEXTURE_RAMPS[name])
    coloured = dark + t * (bright - dark)
    coloured.setflags(write=False)
    return coloured


def random_crop(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square patch of ``name`` (random position, scale, flip and quarter turn),
    resized to ``size`` px: float RGB in [0, 1], shape (size, size, 3)."""
    photo = texture(name)
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 5, min(h, w) // 2 + 1))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    patch = photo[y : y + side, x : x + side]
    patch = np.rot90(patch, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    image = Image.fromarray((patch * 255.0 + 0.5).astype(np.uint8))
    image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.float32) / 255.0
