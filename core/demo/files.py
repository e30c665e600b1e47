"""Writing the demo's images, masks and manifest: plain PNG files and one CSV any tool can read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

MANIFEST_NAME = "manifest.csv"


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8, rounded."""
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Save float RGB (H, W, 3) or alpha (H, W) in [0, 1] as a PNG; fast compression, since these
    files are small and written by the thousand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(pixels)).save(path, format="PNG", compress_level=1)


def write_sample(
    data_dir: Path,
    index: int,
    label: str,
    split: str,
    attribute: tuple[str, str],
    pixels: np.ndarray,
    alpha: np.ndarray,
) -> dict[str, str]:
    """Write one demo image and its foreground mask; return its manifest row
    (path, label, split, the planted attribute, mask)."""
    image_path = f"images/{label}/{index:04d}.png"
    mask_path = f"masks/{label}/{index:04d}.png"
    write_png(data_dir / image_path, pixels)
    write_png(data_dir / mask_path, alpha)
    column, value = attribute
    return {"path": image_path, "label": label, "split": split, column: value, "mask": mask_path}


def write_manifest(data_dir: Path, rows: Sequence[dict[str, str]]) -> Path:
    """Write ``data_dir/manifest.csv`` atomically (a cancelled run leaves no half manifest)."""
    path = data_dir / MANIFEST_NAME
    tmp = path.with_suffix(".csv.tmp")
    pd.DataFrame(list(rows)).to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path
