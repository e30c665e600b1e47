"""Reading foreground masks: the one function every stage that needs a mask calls.

A mask is a separate greyscale file (the manifest's ``mask`` column: 255 = object) or, for images
saved with transparency, their alpha channel. Either way it is opened through the dataset's one
door (``core.data.imageio``, with the containment check at the moment of opening) and comes back
as uint8 pixels at the size the caller works at; a missing, unreadable or outside mask is None,
never an error, because masks only refine what the images already allow (counterfactual
backgrounds fall back to thresholding).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from debias_studio.core.data.access import RootLike
from debias_studio.core.data.imageio import ImageReadError, open_alpha, open_mask


def read_mask(
    root: RootLike, relative: str | None, side: int, *, from_alpha: bool = False
) -> np.ndarray | None:
    """(side, side) uint8 mask of the dataset file ``relative`` below ``root``; with
    ``from_alpha``, that image's alpha channel (None when it has none, or is fully opaque)."""
    if not relative:
        return None
    try:
        mask = open_alpha(root, relative) if from_alpha else open_mask(root, relative)
    except ImageReadError:
        return None
    if mask is None:
        return None
    if mask.size != (side, side):
        mask = mask.resize((side, side), Image.Resampling.BILINEAR)
    return np.array(mask, dtype=np.uint8)
