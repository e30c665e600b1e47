"""Issue 12, item 7: 16-bit PNGs, 32-bit float TIFFs and EXIF-turned photos are decoded to the
pixels a viewer shows - in the scan's report, in training's pixels and in the embeddings - not to
pure white, pure black or sideways images that silently count as usable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from debias_studio.core.embed.engine import load_embeddings
from debias_studio.core.jobs import run_quiet
from debias_studio.core.models.registry import load_model
from debias_studio.core.store.project import Project
from debias_studio.core.train.data import load_images
from tests.core.dataset_files import write_float_tiff, write_png16, write_turned_jpeg
from tests.reliability.user_side import run_cli, tiny_dataset

GREY16 = 40_000  # shown as 40000 / 257 = 155.6 -> 156
RGB16 = (65_535, 32_768, 1_000)  # -> (255, 128, 4)


@pytest.fixture(scope="module")
def wide_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pixels")
    tiny_dataset(base / "data")
    write_png16(base / "data" / "a" / "grey16.png", np.full((16, 16), GREY16))
    write_png16(base / "data" / "a" / "rgb16.png", np.broadcast_to(RGB16, (16, 16, 3)))
    write_float_tiff(base / "data" / "a" / "float.tif", np.full((16, 16), 0.25))
    write_turned_jpeg(base / "data" / "a" / "turned.jpg")
    from debias_studio.cli.main import main

    assert main(["new", str(base / "project"), "--images", str(base / "data")]) == 0
    return base / "project"


def _pixels(project: Path, name: str, side: int) -> np.ndarray:
    with Project.open(project, read_only=True) as opened:
        dataset = opened.dataset
        pixels, bad = run_quiet(load_images(dataset.root, [f"a/{name}"], side))
    assert not bad.any()
    return pixels[0].permute(1, 2, 0).numpy().astype(int)


def test_every_wide_image_is_usable(wide_project: Path, capsys: pytest.CaptureFixture[str]):
    shown = run_cli(capsys, "info", wide_project, "--json")
    assert shown.code == 0, shown.err
    summary = json.loads(shown.out)
    assert summary["n_problems"] == 0 and summary["n_images"] == 20


def test_training_reads_the_pixels_a_viewer_shows(wide_project: Path) -> None:
    assert np.all(_pixels(wide_project, "grey16.png", 16) == round(GREY16 / 257))
    assert np.abs(_pixels(wide_project, "rgb16.png", 16) - (255, 128, 4)).max() <= 1
    assert np.all(_pixels(wide_project, "float.tif", 16) == 64)
    turned = _pixels(wide_project, "turned.jpg", 24)
    assert turned[2, 12, 0] > 200 and turned[2, 12, 2] < 60  # red on top
    assert turned[21, 12, 2] > 200 and turned[21, 12, 0] < 60  # blue below


def test_embeddings_are_those_of_the_right_pixels(
    wide_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embedded = run_cli(capsys, "embed", wide_project)
    assert embedded.code == 0 and "20 of 20 images embedded" in embedded.out, embedded
    loaded = load_model("demo", "cpu")
    with Project.open(wide_project, read_only=True) as opened:
        vectors = load_embeddings(opened, "demo").vectors
        paths = opened.dataset.table["path"].tolist()
    grey = Image.new("RGB", (16, 16), (156, 156, 156))
    expected = loaded.encode_images(torch.stack([loaded.preprocess(grey)]))[0]
    got = np.asarray(vectors[paths.index("a/grey16.png")], dtype=np.float32)
    # Stored vectors are float16 and come from batched inference: up to ~3e-3 off. A grey of 150
    # or 160 is already 2e-2 away, black or white (the old decoding) 0.2 or more.
    np.testing.assert_allclose(got, expected, atol=1e-2)
