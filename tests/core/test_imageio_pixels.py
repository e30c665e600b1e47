"""The one decoder (core.data.imageio) gives the pixels a viewer shows: 16-bit and float images
scaled by the documented rules, EXIF orientation applied, transparency over white; and every
reader - training, embedding, report figures - gets exactly those pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from debias_studio.core.data.imageio import check_image, open_alpha, open_image, open_mask
from debias_studio.core.embed.loader import ImageFiles
from debias_studio.core.export.report_figures import image_strip
from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.data import load_images
from tests.core.dataset_files import write_float_tiff, write_png16, write_turned_jpeg


def _rgb(root: Path, name: str) -> np.ndarray:
    return np.asarray(open_image(root, name)).astype(int)


def test_sixteen_bit_pngs_are_divided_by_257(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    write_png16(tmp_path / "grey.png", ramp)
    write_png16(tmp_path / "rgb.png", np.stack([ramp, 65535 - ramp, ramp // 2], axis=-1))
    grey = _rgb(tmp_path, "grey.png")
    np.testing.assert_array_equal(grey[..., 0], np.rint(ramp / 257).astype(int))
    assert (grey[..., 0] == grey[..., 2]).all()
    rgb = _rgb(tmp_path, "rgb.png")  # PIL keeps the high byte: within 1 of the exact rule
    expected = np.stack([ramp, 65535 - ramp, ramp // 2], axis=-1) / 257
    assert np.abs(rgb - expected).max() <= 1.0
    mask = np.asarray(open_mask(tmp_path, "grey.png")).astype(int)
    np.testing.assert_array_equal(mask, np.rint(ramp / 257).astype(int))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0.0, 0.25], [0.5, 1.0]]), [[0, 64], [128, 255]]),  # [0, 1]: times 255
        (np.array([[0.0, 10.0], [128.0, 255.0]]), [[0, 10], [128, 255]]),  # [0, 255]: kept
        (np.array([[-1.0, 0.0], [1.0, 3.0]]), [[0, 64], [128, 255]]),  # else: min..max
        (np.array([[np.nan, 0.5], [np.inf, 1.0]]), [[0, 128], [0, 255]]),  # not finite: 0
    ],
)
def test_float_tiffs_follow_their_range(tmp_path: Path, values: np.ndarray, expected) -> None:
    write_float_tiff(tmp_path / "f.tif", values)
    np.testing.assert_array_equal(_rgb(tmp_path, "f.tif")[..., 1], expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([[0, 7], [100, 255]], [[0, 7], [100, 255]]),
        ([[0, 257], [25700, 65535]], [[0, 1], [100, 255]]),
        ([[-10, 0], [90, 1_000_000]], [[0, 0], [0, 255]]),
    ],
)
def test_32_bit_integer_images_follow_their_range(tmp_path: Path, values, expected) -> None:
    Image.fromarray(np.array(values, dtype=np.int32)).save(tmp_path / "i.tif")
    np.testing.assert_array_equal(_rgb(tmp_path, "i.tif")[..., 0], expected)


ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
"""What a viewer shows for a stored array under each EXIF orientation (the EXIF standard)."""


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation_is_applied_to_images_masks_and_sizes(
    tmp_path: Path, orientation: int
) -> None:
    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "x.png", exif=exif)
    image.convert("L").save(tmp_path / "m.png", exif=exif)
    shown = ORIENTED[orientation](stored)
    np.testing.assert_array_equal(np.asarray(open_image(tmp_path, "x.png")), shown)
    np.testing.assert_array_equal(
        np.asarray(open_mask(tmp_path, "m.png")),
        ORIENTED[orientation](np.asarray(image.convert("L"))),
    )
    height, width = shown.shape[:2]
    for decode in (True, False):
        info = check_image(tmp_path, "x.png", decode=decode)
        assert (info.width, info.height) == (width, height)


def test_a_turned_jpeg_shows_red_on_top(tmp_path: Path) -> None:
    write_turned_jpeg(tmp_path / "t.jpg")
    pixels = _rgb(tmp_path, "t.jpg")
    assert pixels.shape == (24, 16, 3)
    assert pixels[2, 8, 0] > 200 > pixels[2, 8, 2] and pixels[21, 8, 2] > 200 > pixels[21, 8, 0]
    reduced = np.asarray(open_image(tmp_path, "t.jpg", min_side=4))
    assert reduced.shape[0] > reduced.shape[1]  # draft decoding keeps it upright too


def test_transparency_and_other_modes_become_rgb(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.new("1", (2, 2), 1).save(tmp_path / "bits.png")
    Image.new("CMYK", (2, 2), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    assert _rgb(tmp_path, "rgba.png")[0, 0].tolist() == [255, 0, 0]
    assert _rgb(tmp_path, "rgba.png")[1, 1].tolist() == [255, 255, 255]  # over white
    assert _rgb(tmp_path, "bits.png")[0, 0].tolist() == [255, 255, 255]
    assert np.abs(_rgb(tmp_path, "cmyk.jpg")[0, 0] - (255, 0, 0)).max() < 8
    assert np.asarray(open_alpha(tmp_path, "rgba.png"))[0, 0] == 255
    assert open_alpha(tmp_path, "bits.png") is None


def test_every_reader_gets_the_decoders_pixels(tmp_path: Path) -> None:
    write_png16(tmp_path / "grey.png", np.full((8, 8), 40_000))
    pixels, bad = run_quiet(load_images(tmp_path, ["grey.png"], 8))  # training, counterfactuals
    assert not bad.any() and (pixels == 156).all()
    files = ImageFiles(
        ["grey.png"],
        lambda im: torch.from_numpy(np.asarray(im).copy()),
        min_side=8,
        shape=(8, 8, 3),
        root=None,
    )
    files.paths = [str(tmp_path / "grey.png")]  # full paths, as the benchmark passes them
    _, tensor, problem, _ = files[0]  # embedding
    assert problem == "" and (tensor == 156).all()
    strip = image_strip(tmp_path, ["grey.png"], side=8)  # report figures
    assert strip is not None and (np.asarray(strip) == 156).all()
