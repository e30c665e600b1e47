"""Every kind of bad input is reported per file, and the good images stay usable."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from PIL import Image

from debias_studio.core.data.dataset import Dataset, open_folder, open_manifest
from debias_studio.core.data.imageio import MAX_PIXELS, ImageReadError, check_image
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.data.validate import check_files, inspect_file
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import run_quiet
from tests.core.dataset_files import (
    write_classes,
    write_csv,
    write_image,
    write_png_header,
    write_truncated,
)


def problems_by_path(dataset: Dataset) -> dict[str, str]:
    return {p.path: p.problem for p in dataset.problems}


def test_broken_files_are_reported_and_good_ones_kept(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "a" / "zero.png").write_bytes(b"")
    (tmp_path / "a" / "text.jpg").write_text("hello, not a JPEG")
    write_truncated(tmp_path / "b" / "cut.jpg", "JPEG")
    write_truncated(tmp_path / "b" / "cut.png", "PNG")
    write_png_header(tmp_path / "b" / "bomb.png", 100_000, 100_000)

    dataset = run_quiet(open_folder(tmp_path))

    assert dataset.table["path"].tolist() == ["a/0.png", "a/1.png", "b/0.png", "b/1.png"]
    assert problems_by_path(dataset) == {
        "a/text.jpg": "not_an_image",
        "a/zero.png": "empty",
        "b/bomb.png": "too_large",
        "b/cut.jpg": "truncated",
        "b/cut.png": "truncated",
    }
    assert all(p.detail for p in dataset.problems)


def test_images_above_our_pixel_cap_are_refused_before_decoding(tmp_path: Path) -> None:
    # 11000 x 10000 is above our cap but below PIL's own error threshold (2 x 89.5 M).
    bomb = write_png_header(tmp_path / "big.png", 11_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageReadError) as caught:
            check_image(tmp_path, bomb.name)
    assert caught.value.problem == "too_large"
    assert f"{MAX_PIXELS:,}" in caught.value.detail
    small = write_image(tmp_path / "small.png", size=40)
    with pytest.raises(ImageReadError, match="above the limit"):
        check_image(tmp_path, small.name, max_pixels=1000)


def test_header_only_check_is_available_for_speed(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 1})
    write_truncated(tmp_path / "a" / "cut.jpg")
    (tmp_path / "a" / "zero.jpg").write_bytes(b"")
    dataset = run_quiet(open_folder(tmp_path, decode_check=False))
    assert "a/cut.jpg" in dataset.table["path"].tolist()  # only a full decode finds it
    assert problems_by_path(dataset) == {"a/zero.jpg": "empty"}


def test_missing_unreadable_and_non_image_manifest_entries(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2})
    (tmp_path / "a" / "folder.png").mkdir()
    rows = [
        ["a/0.png", "a"],
        ["a/gone.png", "a"],
        ["a/0.png/inside.png", "a"],  # a file used as a folder: cannot be read
        ["a/folder.png", "a"],
        ["", "a"],
        ["a/1.png", "a"],
    ]
    dataset = run_quiet(open_manifest(write_csv(tmp_path / "m.csv", ["path", "label"], rows)))
    assert dataset.table["path"].tolist() == ["a/0.png", "a/1.png"]
    assert problems_by_path(dataset) == {
        "a/gone.png": "missing",
        "a/0.png/inside.png": "unreadable",
        "a/folder.png": "not_an_image",
        "(m.csv row 6)": "missing",
    }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_unreadable(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2})
    locked = tmp_path / "a" / "1.png"
    locked.chmod(0)
    try:
        dataset = run_quiet(open_folder(tmp_path))
    finally:
        locked.chmod(0o644)
    assert problems_by_path(dataset) == {"a/1.png": "unreadable"}


def test_a_decoder_crash_is_one_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_classes(tmp_path, {"a": 1})

    def crash(root: object, relative: str, **kwargs: object) -> None:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr("debias_studio.core.data.validate.check_image", crash)
    check = inspect_file("a/0.png", DatasetRoot.of(tmp_path))
    assert (check.problem, check.ok) == ("unreadable", False)
    assert "decoder bug" in check.detail


def test_paths_that_escape_the_root_are_never_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_classes(root, {"a": 2})
    outside = write_image(tmp_path / "secret.png")
    rows = [
        ["a/0.png", "a"],
        ["../secret.png", "a"],
        [str(outside), "a"],
        ["a/../../secret.png", "a"],
        ["a/1.png", "a"],
    ]
    dataset = run_quiet(open_manifest(write_csv(root / "m.csv", ["path", "label"], rows)))
    assert dataset.table["path"].tolist() == ["a/0.png", "a/1.png"]
    assert problems_by_path(dataset) == {
        "../secret.png": "outside_root",
        str(outside): "outside_root",
        "a/../../secret.png": "outside_root",
    }


def test_symlinks_leading_out_of_the_root_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_classes(root, {"a": 1, "b": 1})
    write_classes(tmp_path / "elsewhere", {"c": 2})
    os.symlink(tmp_path / "elsewhere" / "c" / "0.png", root / "a" / "link.png")
    os.symlink(tmp_path / "elsewhere" / "c", root / "linked_class")
    os.symlink(tmp_path / "elsewhere" / "c", root / "b" / "linked_sub")
    os.symlink(root / "a", root / "b" / "loop")  # inside the root, already listed: walked once
    os.symlink(root / "a" / "0.png", root / "b" / "inner.png")  # stays inside: fine

    dataset = run_quiet(open_folder(root))

    assert dataset.table["path"].tolist() == ["a/0.png", "b/0.png", "b/inner.png"]
    assert problems_by_path(dataset) == {
        "a/link.png": "outside_root",
        "linked_class": "outside_root",
        "b/linked_sub": "outside_root",
    }
    manifest = write_csv(root / "m.csv", ["path", "label"], [["a/link.png", "a"], ["a/0.png", "a"]])
    listed = run_quiet(open_manifest(manifest))
    assert problems_by_path(listed) == {"a/link.png": "outside_root"}


def test_duplicate_paths_keep_the_first_entry(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2})
    rows = [
        ["a/0.png", "a", "test"],
        ["a/1.png", "a", "train"],
        ["./a/0.png", "a", "train"],
        ["a/0.png", "b", "train"],
    ]
    manifest = write_csv(tmp_path / "m.csv", ["path", "label", "split"], rows)
    dataset = run_quiet(open_manifest(manifest))
    assert dataset.table["path"].tolist() == ["a/0.png", "a/1.png"]
    assert dataset.table["split"].tolist() == ["test", "train"]
    assert [p.problem for p in dataset.problems] == ["duplicate", "duplicate"]
    assert "m.csv row 2" in dataset.problems[0].detail
    assert "'a' instead of 'b'" in dataset.problems[1].detail


def test_empty_and_unknown_labels_are_reported(tmp_path: Path) -> None:
    write_classes(tmp_path, {"cat": 2, "dog": 1, "eel": 1})
    rows = [["cat/0.png", "cat"], ["cat/1.png", ""], ["dog/0.png", "dog"], ["eel/0.png", "eel"]]
    manifest = write_csv(tmp_path / "m.csv", ["path", "label"], rows)
    dataset = run_quiet(open_manifest(manifest, classes=["cat", "dog"]))
    assert dataset.classes == ["cat", "dog"]
    assert problems_by_path(dataset) == {"cat/1.png": "no_label", "eel/0.png": "unknown_label"}


def test_a_bad_mask_is_reported_but_its_image_is_kept(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 3})
    write_image(tmp_path / "masks" / "0.png")
    (tmp_path / "masks" / "1.png").write_bytes(b"")
    rows = [
        ["a/0.png", "a", "masks/0.png"],
        ["a/1.png", "a", "masks/1.png"],
        ["a/2.png", "a", "../mask.png"],
    ]
    dataset = run_quiet(
        open_manifest(write_csv(tmp_path / "m.csv", ["path", "label", "mask"], rows))
    )
    assert len(dataset) == 3
    assert dataset.table["mask"].tolist() == ["masks/0.png", "", ""]
    assert problems_by_path(dataset) == {"masks/1.png": "empty", "../mask.png": "outside_root"}
    assert "mask of a/1.png" in dataset.problems[0].detail


def test_an_empty_dataset_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        run_quiet(open_folder(tmp_path / "empty"))
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "a" / "x.png").write_bytes(b"")
    (tmp_path / "bad" / "a" / "y.png").write_text("no")
    with pytest.raises(DatasetError, match=r"No usable image.*2 files could not be used"):
        run_quiet(open_folder(tmp_path / "bad"))
    with pytest.raises(DatasetError, match="does not exist"):
        run_quiet(open_folder(tmp_path / "nowhere"))
    file = write_image(tmp_path / "file.png")
    with pytest.raises(DatasetError, match="is not a folder"):
        run_quiet(open_folder(file))


def test_parallel_check_keeps_the_order_of_its_input(tmp_path: Path) -> None:
    names = []
    for i in range(40):
        if i % 3 == 0:
            (tmp_path / f"{i}.png").write_bytes(b"")
        else:
            write_image(tmp_path / f"{i}.png", seed=i, size=8)
        names.append(f"{i}.png")
    checks = run_quiet(check_files(names, DatasetRoot.of(tmp_path), workers=4))
    assert [c.ok for c in checks] == [i % 3 != 0 for i in range(40)]
    assert all(
        c.size == (tmp_path / n).stat().st_size for c, n in zip(checks, names, strict=True) if c.ok
    )
