"""Thumbnails decode through the engine's one decoder and its containment check: the pixels of
a 16-bit PNG are the ones a viewer shows, and an image swapped for a link out of the dataset gets
the broken marker instead of the linked file's picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from debias_studio.gui.thumbnails import make_thumbnail
from tests.core.dataset_files import write_png16, write_turned_jpeg


def test_wide_and_turned_images_show_their_real_pixels(qapp, tmp_path: Path) -> None:
    write_png16(tmp_path / "a" / "grey16.png", np.full((8, 8), 40_000))
    write_turned_jpeg(tmp_path / "a" / "turned.jpg")
    grey = make_thumbnail(tmp_path, "a/grey16.png", None, 8)
    assert grey is not None and grey.pixelColor(3, 3).red() == 156
    turned = make_thumbnail(tmp_path, "a/turned.jpg", None, 64)
    assert turned is not None and (turned.width(), turned.height()) == (16, 24)
    assert turned.pixelColor(8, 2).red() > 200 and turned.pixelColor(8, 21).blue() > 200


def test_a_link_out_of_the_dataset_is_never_shown(qapp, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (0, 255, 0)).save(secret)
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "0.png").symlink_to(secret)
    assert make_thumbnail(tmp_path / "data", "a/0.png", None, 8) is None
    assert make_thumbnail(tmp_path / "data", "../secret.png", None, 8) is None
