"""Property: whatever file lies where an image should - odd colour modes, any format, EXIF
orientations valid or not, damaged bytes, random bytes - every reader either gets 8-bit RGB
pixels of the size it was told, or a ``StudioError`` (``ImageReadError``) naming the problem;
and a folder of such files opens with each bad one reported, never with a crash."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from debias_studio.core.data.dataset import open_folder
from debias_studio.core.data.imageio import check_image, open_alpha, open_image, open_mask
from debias_studio.core.data.problems import PROBLEM_KINDS, ImageReadError
from debias_studio.core.data.rootpaths import is_within
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet
from tests.core.hostile_files import image_bytes


@given(file=image_bytes(), min_side=st.sampled_from([None, 4, 32]))
def test_every_reader_gets_rgb_of_the_told_size_or_an_image_read_error(
    file: tuple[bytes, str], min_side: int | None
) -> None:
    content, suffix = file
    with tempfile.TemporaryDirectory() as folder:
        name = f"x{suffix}"
        (Path(folder) / name).write_bytes(content)
        try:
            info = check_image(folder, name)
        except ImageReadError as exc:
            assert exc.problem in PROBLEM_KINDS and exc.detail
            return
        assert isinstance(info.width, int) and info.width >= 1 and info.height >= 1
        try:
            image = open_image(folder, name, min_side=min_side)
            mask = open_mask(folder, name)
            open_alpha(folder, name)
        except ImageReadError as exc:  # a decoder may object to a full decode only
            assert exc.problem in PROBLEM_KINDS
            return
        assert image.mode == "RGB" and mask.mode == "L"
        assert mask.size == (info.width, info.height)
        if min_side is None:
            assert image.size == (info.width, info.height)


@settings(max_examples=40)
@given(files=st.lists(image_bytes(), min_size=1, max_size=6), decode=st.booleans())
def test_a_folder_of_such_files_opens_or_fails_as_a_studio_error(
    files: list[tuple[bytes, str]], decode: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for i, (content, suffix) in enumerate(files):
            target = Path(folder) / ("a" if i % 2 else "b") / f"{i}{suffix}"
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(content)
        try:
            dataset = run_quiet(open_folder(folder, decode_check=decode))
        except StudioError:
            return
        assert len(dataset) + len(dataset.problems) == len(files)
        assert all(p.problem in PROBLEM_KINDS for p in dataset.problems)


ENTRY_KINDS = ["image", "link_out", "link_in", "dir_link_out", "broken_link", "fifo", "folder"]
NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=6,
).filter(lambda n: n not in (".", ".."))


def _plant(folder: Path, outside: Path, at: Path, kind: str, content: bytes) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if kind == "image":
        at.write_bytes(content)
    elif kind == "link_out":
        at.symlink_to(outside / "secret.png")
    elif kind == "link_in":
        at.symlink_to(folder / "a" / "inside-good.png")  # longer than any drawn name
    elif kind == "dir_link_out":
        at.symlink_to(outside, target_is_directory=True)
    elif kind == "broken_link":
        at.symlink_to(folder / "gone.png")
    elif kind == "fifo" and hasattr(os, "mkfifo"):
        os.mkfifo(at)
    elif kind == "folder":
        at.mkdir()


@settings(max_examples=60)
@given(
    entries=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "ü ñ"]),
            NAMES,
            st.sampled_from([".png", ".jpg", ".tif", ""]),
            st.sampled_from(ENTRY_KINDS),
            image_bytes(),
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda e: (e[0], e[1] + e[2]),
    ),
    decode=st.booleans(),
)
def test_a_folder_scan_never_lists_a_file_outside_the_folder(
    entries: list[tuple[str, str, str, str, tuple[bytes, str]]], decode: bool
) -> None:
    """Links out (to a file or a folder), broken links, FIFOs and odd unicode names among the
    images: the scan lists only files whose real path lies in the dataset folder, never blocks
    on a FIFO, and fails (if at all) with a ``StudioError``."""
    with tempfile.TemporaryDirectory() as base:
        folder, outside = Path(base) / "data", Path(base) / "outside"
        outside.mkdir()
        secret = np.full((8, 8, 3), (0, 255, 0), dtype=np.uint8)
        Image.fromarray(secret).save(outside / "secret.png")
        Image.fromarray(secret[..., ::-1]).save(outside / "other.png")
        good = folder / "a" / "inside-good.png"
        good.parent.mkdir(parents=True)
        Image.fromarray(secret[..., ::-1].copy()).save(good)
        for cls, name, suffix, kind, (content, _) in entries:
            _plant(folder, outside, folder / cls / f"{name}{suffix}", kind, content)
        try:
            dataset = run_quiet(open_folder(folder, decode_check=decode))
        except StudioError:
            return
        real_root = os.path.realpath(folder)
        for relative in dataset.table["path"].tolist():
            assert is_within(os.path.realpath(folder / relative), real_root), relative
            check_image(folder, relative, decode=False)  # and the door opens it
        assert all(p.problem in PROBLEM_KINDS for p in dataset.problems)
