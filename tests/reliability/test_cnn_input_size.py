"""Issue 12, item 12: the small CNN's input side no longer comes from the first image: a 1 x 1
first image, or a first image gone since the scan, neither crashes training nor shrinks every
input; unreadable images are left out and the user is told how many."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.reliability.user_side import run_cli, tiny_dataset, write_png

TRAIN = ("--backbone", "cnn", "--epochs", "1", "--batch-size", "4")


def _project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, list[Path]]:
    images = tiny_dataset(tmp_path / "data")
    project = tmp_path / "project"
    assert run_cli(capsys, "new", project, "--images", tmp_path / "data").code == 0
    return project, images


def test_a_one_pixel_first_image_trains_at_the_typical_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_png(tmp_path / "data" / "a" / "000-dot.png", np.zeros((1, 1, 3), dtype=np.uint8))
    project, _ = _project(tmp_path, capsys)
    trained = run_cli(capsys, "train", project, *TRAIN)
    assert trained.code == 0, trained.err
    assert "Run " in trained.out and "could not be read" not in trained.out


def test_a_first_image_gone_since_the_scan_is_left_out_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, images = _project(tmp_path, capsys)
    images[0].unlink()
    trained = run_cli(capsys, "train", project, *TRAIN)
    assert trained.code == 0, trained.err
    assert "1 image could not be read and was left out (for example a/00.png)." in trained.out
    assert images[1].is_file()  # nothing else touched
