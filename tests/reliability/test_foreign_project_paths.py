"""Issue 12, item 2: a project received from someone else, whose project.sqlite lists an image
as ``/abs/secret.png`` or ``../secret.png``, opens and reports those rows; export (copy), embed
and train never open the file, and nothing is written outside the destination."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability.forged_project import set_stored_paths
from tests.reliability.user_side import (
    files_below,
    holding_bytes,
    never_opened,
    one_line_error,
    opened_files,
    run_cli,
    secret_image,
    tiny_dataset,
)


@pytest.fixture
def foreign_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    tiny_dataset(tmp_path / "data")
    secret = secret_image(tmp_path / "secret.png")
    project = tmp_path / "project"
    assert run_cli(capsys, "new", project, "--images", tmp_path / "data").code == 0
    set_stored_paths(project, {0: str(secret), 1: "../secret.png", 2: "a/../../secret.png"})
    return project, secret


def test_the_project_opens_and_lists_the_rows_that_lead_outside(
    foreign_project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, secret = foreign_project
    with opened_files() as opened:
        shown = run_cli(capsys, "info", project, "--json")
    assert shown.code == 0, shown.err
    problems = {p["path"]: p for p in json.loads(shown.out)["problems"]}
    for listed in (str(secret), "../secret.png", "a/../../secret.png"):
        assert problems[listed]["problem"] == "outside_root"
        assert "it is never read" in problems[listed]["detail"]
    assert never_opened(opened, secret)
    described = run_cli(capsys, "info", project)
    data = os.path.realpath(project.parent / "data")
    assert described.code == 0 and f"images read from {data}" in described.out


def test_export_with_copies_refuses_and_writes_nothing(
    foreign_project: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project, secret = foreign_project
    before = files_below(tmp_path)
    out = tmp_path / "out"
    with opened_files() as opened:
        refused = run_cli(
            capsys, "export", project, out, "--format", "imagefolder", "--link", "copy"
        )
    line = one_line_error(refused)
    assert str(secret) in line and "nothing was exported" in line
    assert not out.exists()
    assert files_below(tmp_path) == before  # no staging folder or stray copy left anywhere
    assert holding_bytes(tmp_path, secret.read_bytes()) == [secret]
    assert never_opened(opened, secret)


def test_embed_and_train_leave_those_rows_out_and_say_so(
    foreign_project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, secret = foreign_project
    with opened_files() as opened:
        embedded = run_cli(capsys, "embed", project)
        trained = run_cli(
            capsys, "train", project, "--backbone", "cnn", "--epochs", "1", "--batch-size", "4"
        )
    assert embedded.code == 0, embedded.err
    assert "13 of 16 images embedded" in embedded.out
    assert "3 could not be read" in embedded.out
    assert trained.code == 0, trained.err
    assert "3 images could not be read and were left out" in trained.out
    assert never_opened(opened, secret)
