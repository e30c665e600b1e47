"""The one door to dataset files (core.data.access): what it lets through and what it refuses,
and a guard that no module opens, copies or links an image any other way."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pandas as pd
import pytest

import debias_studio.core.data.access as access
from debias_studio.core.data.access import (
    DatasetPath,
    open_dataset_file,
    place_dataset_file,
    stored_path_problems,
)
from debias_studio.core.data.dataset import open_folder
from debias_studio.core.data.imageio import ImageReadError, check_image, open_image
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.jobs import run_quiet
from tests.core.dataset_files import write_classes, write_image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dataset_and_secret(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "data"
    write_classes(root, {"a": 2, "b": 2})
    return root, write_image(tmp_path / "secret.png", seed=99)


def _refusal(root: Path, relative: str) -> ImageReadError:
    with pytest.raises(ImageReadError) as caught:
        open_dataset_file(root, relative).close()
    return caught.value


def test_plain_files_and_links_inside_the_root_open(dataset_and_secret) -> None:
    root, _ = dataset_and_secret
    (root / "b" / "alias.png").symlink_to(root / "a" / "0.png")
    (root / "c").symlink_to(root / "a", target_is_directory=True)
    for relative in ("a/0.png", "b/alias.png", "c/1.png"):
        with open_dataset_file(root, relative) as opened:
            assert opened.handle.read(8) == b"\x89PNG\r\n\x1a\n"
            assert Path(opened.real_path).parent == (root / "a").resolve()


@pytest.mark.parametrize(
    ("relative", "problem", "words"),
    [
        ("/etc/passwd", "outside_root", "is absolute"),
        ("../secret.png", "outside_root", "leads outside the dataset folder"),
        ("a/../../secret.png", "outside_root", "leads outside the dataset folder"),
        ("a/0\x00.png", "unreadable", "NUL byte"),
        ("", "missing", "no path given"),
        ("a/none.png", "missing", "file not found"),
        ("a", "not_an_image", "is a folder"),
    ],
)
def test_paths_that_are_not_plain_files_below_the_root_are_refused(
    dataset_and_secret, relative: str, problem: str, words: str
) -> None:
    root, _ = dataset_and_secret
    refused = _refusal(root, relative)
    assert refused.problem == problem and words in refused.detail


def test_a_file_swapped_for_a_link_out_after_the_scan_is_refused_everywhere(
    dataset_and_secret, tmp_path: Path
) -> None:
    root, secret = dataset_and_secret
    dataset = run_quiet(open_folder(root))
    assert len(dataset) == 4
    (root / "a" / "0.png").unlink()
    (root / "a" / "0.png").symlink_to(secret)
    (root / "b").rename(tmp_path / "elsewhere")
    (root / "b").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for relative in ("a/0.png", "b/0.png"):
        assert _refusal(root, relative).problem == "outside_root"
        with pytest.raises(ImageReadError, match="outside the dataset folder"):
            open_image(root, relative)
        with pytest.raises(ImageReadError, match="outside the dataset folder"):
            check_image(root, relative, decode=False)
        for mode in ("copy", "hardlink", "symlink"):
            dest = tmp_path / f"out-{mode}.png"
            with pytest.raises(ImageReadError, match="outside the dataset folder"):
                place_dataset_file(DatasetPath(DatasetRoot.of(root), relative), dest, mode)
            assert not dest.exists() and not dest.is_symlink()


def test_a_link_swapped_in_between_the_check_and_the_open_is_caught_on_the_descriptor(
    dataset_and_secret, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, secret = dataset_and_secret
    base = DatasetRoot.of(root)
    (root / "a" / "0.png").unlink()
    (root / "a" / "0.png").symlink_to(secret)
    # The first look (realpath) still saw the plain file; the open then met the link.
    monkeypatch.setattr(access.os.path, "realpath", lambda path, **_: os.path.abspath(path))
    refused = _refusal(base, "a/0.png")  # type: ignore[arg-type]
    assert refused.problem == "outside_root" and str(secret.resolve()) in refused.detail


def test_a_fifo_is_refused_without_hanging(dataset_and_secret) -> None:
    root, _ = dataset_and_secret
    os.mkfifo(root / "a" / "pipe.png")
    refused = _refusal(root, "a/pipe.png")
    assert refused.problem == "not_an_image" and "not a regular file" in refused.detail


def test_the_whole_file_system_is_no_dataset_folder() -> None:
    refused = _refusal(Path("/"), "etc/passwd")
    assert refused.problem == "outside_root" and "whole file system" in refused.detail


def test_placing_copies_links_and_hard_links_the_checked_file(
    dataset_and_secret, tmp_path: Path
) -> None:
    root, _ = dataset_and_secret
    source = DatasetPath(DatasetRoot.of(root), "a/1.png")
    data = (root / "a" / "1.png").read_bytes()
    for mode in ("copy", "hardlink", "symlink"):
        dest = tmp_path / f"placed-{mode}.png"
        place_dataset_file(source, dest, mode)
        assert dest.read_bytes() == data
    assert not (tmp_path / "placed-copy.png").is_symlink()
    assert (tmp_path / "placed-hardlink.png").stat().st_nlink == 2
    assert os.readlink(tmp_path / "placed-symlink.png") == str((root / "a" / "1.png").resolve())


def test_stored_paths_that_lead_out_are_problems() -> None:
    table = pd.DataFrame(
        {
            "path": ["a/0.png", "/etc/passwd", "../../x.png", "a/1.png"],
            "mask": ["", "", "", "../m.png"],
        }
    )
    problems = stored_path_problems(table)
    assert [(p.path, p.problem) for p in problems] == [
        ("/etc/passwd", "outside_root"),
        ("../../x.png", "outside_root"),
        ("../m.png", "outside_root"),
    ]
    assert "lists this mask" in problems[2].detail and "never read" in problems[2].detail


# ---- the guard: one door ------------------------------------------------------------------------
DOOR = {"core/data/access.py": {"os.link", "os.symlink", "shutil.copyfileobj"}}
DECODER = {"core/data/imageio.py": {"Image.open"}}
WATCHED = {
    "Image.open",
    "PIL.Image.open",
    "shutil.copy",
    "shutil.copyfile",
    "shutil.copy2",
    "shutil.copyfileobj",
    "os.link",
    "os.symlink",
    "open_dataset_file",
    "image_path",
    "mask_path",
}
"""Calls that read, copy or link a file (or name a dataset file by a bare path). Outside the
door and the decoder, none may appear in the engine, the GUI or the CLI."""
ALLOWED_ELSEWHERE = {
    "core/data/imageio.py": {"open_dataset_file"},
    "core/data/dataset.py": set(),
}


def _called_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                inner = func.value
                prefix = inner.id if isinstance(inner, ast.Name) else ""
                names.add(f"{prefix}.{func.attr}" if prefix else func.attr)
                names.add(func.attr)
            elif isinstance(func, ast.Name):
                names.add(func.id)
    return names


def test_every_read_copy_and_link_of_a_dataset_file_goes_through_the_door() -> None:
    offenders = []
    for folder in ("core", "gui", "cli"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            allowed = DOOR.get(relative, set()) | DECODER.get(relative, set())
            allowed |= ALLOWED_ELSEWHERE.get(relative, set())
            calls = _called_names(ast.parse(path.read_text(encoding="utf-8")))
            if relative == "core/data/access.py":
                continue  # the door itself
            bad = (calls & WATCHED) - allowed
            if bad:
                offenders.append(f"{relative}: {sorted(bad)}")
    assert offenders == []
