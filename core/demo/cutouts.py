"""Real objects cut out of real photographs that ship inside registry packages, with masks.

Waterbirds took its birds' masks from CUB's segmentations; we have no such annotation, so each
object is segmented from its photo by a classical, documented method, and the result was checked
by eye (``bench/backgrounds.py --contact-sheet`` writes the cut-outs):
- ``coin``: the 24 coins of scikit-image's ``coins()`` photo, by the method of scikit-image's own
  tutorial: a watershed of the Sobel gradient from markers "darker than 30" (background) and
  "brighter than 150" (coin), holes filled; each connected component is one coin.
- ``flower``: the dahlia of scikit-learn's ``flower.jpg``: saturated orange/red pixels (HSV:
  saturation and value above 0.45, hue below 0.15 or above 0.95), opened with a 3-px disc, the
  largest component, holes filled.
- ``person``: the photographer of scikit-image's ``camera()``: darker than the Otsu threshold,
  the largest component (the man, his coat, camera and tripod head), holes filled.
The alpha of each cut-out is the mask eroded by one pixel and blurred by one (at the photo's
resolution), so no rim of the photo's own background travels with the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

OBJECT_CLASSES: tuple[str, ...] = ("coin", "flower", "person")


@dataclass(frozen=True)
class Cutout:
    """One object: float RGB (h, w, 3) in [0, 1] and its alpha (h, w), cropped to the object."""

    rgb: np.ndarray
    alpha: np.ndarray


@cache
def cutouts(name: str) -> tuple[Cutout, ...]:
    """Every instance of object class ``name`` (cached per process)."""
    if name == "coin":
        return _coins()
    if name == "flower":
        return _flower()
    if name == "person":
        return _person()
    raise KeyError(f"unknown object class {name!r}; known: {', '.join(OBJECT_CLASSES)}")


def _coins() -> tuple[Cutout, ...]:
    import skimage.data
    from scipy import ndimage as ndi
    from skimage import filters, measure, segmentation

    grey = skimage.data.coins()
    markers = np.zeros_like(grey, dtype=np.int32)
    markers[grey < 30] = 1
    markers[grey > 150] = 2
    regions = segmentation.watershed(filters.sobel(grey), markers)
    mask = ndi.binary_fill_holes(regions == 2)
    labels = measure.label(_opened(mask, 2))
    rgb = _rgb(grey)
    return tuple(_cut(rgb, labels == k) for k in range(1, labels.max() + 1))


def _flower() -> tuple[Cutout, ...]:
    from skimage import color
    from sklearn.datasets import load_sample_image

    pixels = load_sample_image("flower.jpg")
    hsv = color.rgb2hsv(pixels)
    hue = hsv[..., 0]
    mask = (hsv[..., 1] > 0.45) & (hsv[..., 2] > 0.45) & ((hue < 0.15) | (hue > 0.95))
    return (_cut(_rgb(pixels), _largest(_opened(mask, 3))),)


def _person() -> tuple[Cutout, ...]:
    import skimage.data
    from skimage import filters

    grey = skimage.data.camera()
    mask = grey < filters.threshold_otsu(grey)
    return (_cut(_rgb(grey), _largest(mask)),)


def _opened(mask: np.ndarray, radius: int) -> np.ndarray:
    from skimage import morphology

    return morphology.opening(mask, morphology.disk(radius)).astype(bool)


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi
    from skimage import measure

    labels = measure.label(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndi.binary_fill_holes(labels == int(np.argmax(sizes)))


def _rgb(pixels: np.ndarray) -> np.ndarray:
    rgb = np.asarray(pixels, dtype=np.float32) / 255.0
    return np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb[..., :3]


def _cut(rgb: np.ndarray, mask: np.ndarray) -> Cutout:
    """The object's bounding box (plus a 2-px margin) with an eroded, feathered alpha."""
    from scipy import ndimage as ndi

    eroded = ndi.binary_erosion(mask, iterations=1)
    alpha = np.clip(ndi.gaussian_filter(eroded.astype(np.float32), 1.0), 0.0, 1.0)
    ys, xs = np.nonzero(mask)
    y0, y1 = max(ys.min() - 2, 0), min(ys.max() + 3, mask.shape[0])
    x0, x1 = max(xs.min() - 2, 0), min(xs.max() + 3, mask.shape[1])
    return Cutout(rgb[y0:y1, x0:x1].copy(), alpha[y0:y1, x0:x1])
