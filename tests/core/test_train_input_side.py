"""The small CNN's input side: a robust statistic of the images, not the first image's side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from debias_studio.core.train.data import (
    CNN_DEFAULT_SIDE,
    CNN_MAX_SIDE,
    CNN_MIN_SIDE,
    cnn_input_side,
)


def _write(folder: Path, name: str, width: int, height: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(folder / name)
    return name


def test_an_odd_first_image_does_not_size_the_run(tmp_path: Path) -> None:
    names = [_write(tmp_path, "0.png", 1, 1)] + [
        _write(tmp_path, f"{i}.png", 20, 12) for i in range(1, 6)
    ]
    assert cnn_input_side(tmp_path, names) == 20
    assert cnn_input_side(tmp_path, ["gone.png", *names[1:]]) == 20


def test_the_side_stays_within_what_the_cnn_can_take(tmp_path: Path) -> None:
    dots = [_write(tmp_path, f"d{i}.png", 1, 1) for i in range(3)]
    large = [_write(tmp_path, f"l{i}.png", 300, 200) for i in range(3)]
    assert cnn_input_side(tmp_path, dots) == CNN_MIN_SIDE
    assert cnn_input_side(tmp_path, large) == CNN_MAX_SIDE
    assert cnn_input_side(tmp_path, ["none.png", "../x.png"]) == CNN_DEFAULT_SIDE
