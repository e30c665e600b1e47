"""Issue 12, item 3: an image replaced, after the scan, by a symbolic link out of the dataset is
never followed - not by an export (copy, hard link or symbolic link), not by embedding - and the
user is told which file it is."""

from __future__ import annotations

from pathlib import Path

import pytest

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
def swapped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, Path]:
    images = tiny_dataset(tmp_path / "data")
    secret = secret_image(tmp_path / "secret.png")
    project = tmp_path / "project"
    assert run_cli(capsys, "new", project, "--images", tmp_path / "data").code == 0
    victim = images[0]
    victim.unlink()
    victim.symlink_to(secret)
    return project, secret, victim


@pytest.mark.parametrize("link", ["copy", "hardlink", "symlink"])
def test_export_refuses_the_link_and_writes_nothing(
    swapped: tuple[Path, Path, Path],
    link: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    project, secret, _victim = swapped
    before = files_below(tmp_path)
    out = tmp_path / "out"
    with opened_files() as opened:
        refused = run_cli(capsys, "export", project, out, "--format", "imagefolder", "--link", link)
    line = one_line_error(refused)
    assert "'a/00.png'" in line and f"is a link to {secret}, outside the dataset folder" in line
    assert not out.exists()
    assert files_below(tmp_path) == before
    assert holding_bytes(tmp_path, secret.read_bytes()) == sorted([secret, _victim])  # the link
    assert never_opened(opened, secret)


def test_embedding_reports_the_link_and_embeds_the_rest(
    swapped: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, secret, _victim = swapped
    with opened_files() as opened:
        embedded = run_cli(capsys, "embed", project)
    assert embedded.code == 0, embedded.err
    assert "15 of 16 images embedded" in embedded.out
    assert "a/00.png: is a link to" in embedded.out
    assert never_opened(opened, secret)
