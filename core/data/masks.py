"""Reading foreground masks: the one function every stage that needs a mask calls.

A mask is a separate greyscale file (the manifest's ``mask`` column: 255 = object) or, for images
saved with transparency, their alpha channel. Either way it comes back as uint8 pixels at the size
the caller works at; a missing or unreadable mask is None, never an error, because masks only
refine what the images already allow (counterfactual backgrounds fall back to thresholding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def read_mask(path: Path, side: int, *, from_alpha: bool = False) -> np.ndarray | None:
    """(side, side) uint8 mask read from ``path``; with ``from_alpha``, the image's alpha
    channel (None when it has none, or when it is fully opaque)."""
    try:
        with Image.open(path) as image:
            if from_alpha:
                if "A" not in image.getbands():
                    return None
                mask = image.getchannel("A")
                if mask.getextrema()[0] == 255:
                    return None
            else:
                mask = image.convert("L")
            if mask.size != (side, side):
                mask = mask.resize((side, side), Image.Resampling.BILINEAR)
            return np.array(mask, dtype=np.uint8)
    except (OSError, ValueError):
        return None
