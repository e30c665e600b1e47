"""Opening CSV and Parquet manifests: our columns, their aliases, Waterbirds' metadata.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import run_quiet
from tests.core.dataset_files import write_classes, write_csv, write_image


def test_csv_manifest_with_split_mask_and_attributes(tmp_path: Path) -> None:
    write_classes(tmp_path, {"cat": 2, "dog": 2})
    write_image(tmp_path / "masks" / "cat0.png")
    rows = [
        ["cat/0.png", "cat", "train", "masks/cat0.png", "red", "7"],
        ["cat/1.png", "cat", "val", "", "blue", "8"],
        ["dog/0.png", "dog", "test", "", "red", "9"],
        ["dog/1.png", "dog", "train", "", "green", "10"],
    ]
    manifest = write_csv(
        tmp_path / "manifest.csv", ["path", "label", "split", "mask", "color", "img_id"], rows
    )
    dataset = run_quiet(open_manifest(manifest))

    assert dataset.table["path"].tolist() == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png"]
    assert dataset.table["split"].tolist() == ["train", "val", "test", "train"]
    assert dataset.table["mask"].tolist() == ["masks/cat0.png", "", "", ""]
    assert dataset.mask_path(0) == tmp_path.resolve() / "masks" / "cat0.png"
    assert dataset.attributes == ["color"]  # an id column is kept but is no attribute
    assert list(dataset.table.columns) == [
        "path",
        "label",
        "split",
        "mask",
        "size",
        "mtime_ns",
        "color",
        "img_id",
    ]
    assert dataset.table["color"].tolist() == ["red", "blue", "red", "green"]
    assert dataset.root == tmp_path.resolve()
    assert dataset.problems == []


def test_root_defaults_to_the_manifest_folder_and_can_be_given(tmp_path: Path) -> None:
    write_classes(tmp_path / "images", {"a": 1})
    elsewhere = write_csv(tmp_path / "meta" / "m.csv", ["path", "label"], [["a/0.png", "a"]])
    with pytest.raises(DatasetError, match="No usable image"):
        run_quiet(open_manifest(elsewhere))  # a/0.png is not next to the manifest
    dataset = run_quiet(open_manifest(elsewhere, root=tmp_path / "images"))
    assert dataset.image_path(0) == (tmp_path / "images" / "a" / "0.png").resolve()
    assert dataset.spec.options["root_given"] is True


def test_absolute_paths_inside_the_root_are_stored_relative(tmp_path: Path) -> None:
    image = write_image(tmp_path / "a" / "x.png")
    manifest = write_csv(tmp_path / "m.csv", ["path", "label"], [[str(image), "a"]])
    dataset = run_quiet(open_manifest(manifest))
    assert dataset.table["path"].tolist() == ["a/x.png"]


def test_windows_separators_and_dot_segments_are_normalised(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "x.png")
    write_image(tmp_path / "a" / "y.png", seed=1)
    manifest = write_csv(
        tmp_path / "m.csv", ["path", "label"], [["a\\x.png", "a"], ["./a/b/../y.png", "a"]]
    )
    dataset = run_quiet(open_manifest(manifest))
    assert dataset.table["path"].tolist() == ["a/x.png", "a/y.png"]


def test_waterbirds_metadata_csv_opens_as_is(tmp_path: Path) -> None:
    root = tmp_path / "waterbird_complete95_forest2water2"
    rows = []
    species = {"001.Black_footed_Albatross": 1, "017.Cardinal": 0}
    for i, (folder, y) in enumerate([(f, y) for f, y in species.items() for _ in range(6)]):
        name = f"{folder}/{folder.split('.')[1]}_{i:04d}.jpg"
        write_image(root / name, seed=i, fmt="JPEG")
        place = i % 2
        scene = "/o/ocean/00001.jpg" if place else "/b/bamboo_forest/00002.jpg"
        rows.append([i + 1, name, y, i % 3, place, scene])
    header = ["img_id", "img_filename", "y", "split", "place", "place_filename"]
    dataset = run_quiet(open_manifest(write_csv(root / "metadata.csv", header, rows)))

    assert len(dataset) == 12
    assert dataset.classes == ["0", "1"]
    assert dataset.table["label"].tolist() == ["1"] * 6 + ["0"] * 6
    assert dataset.table["split"].tolist()[:3] == ["train", "val", "test"]
    assert dataset.attributes == ["place"]
    assert dataset.table["place"].tolist()[:2] == ["0", "1"]
    assert {"img_id", "place_filename"} <= set(dataset.table.columns)
    assert dataset.problems == []


def test_parquet_manifest_keeps_numeric_labels_as_text(tmp_path: Path) -> None:
    write_classes(tmp_path, {"c": 4})
    frame = pd.DataFrame(
        {
            "image_path": [f"c/{i}.png" for i in range(4)],
            "target": [3, 3, 3, 3],
            "split": ["train", None, "test", None],
            "group": [1.0, None, 2.0, 1.0],
        }
    )
    frame.to_parquet(tmp_path / "m.parquet")
    dataset = run_quiet(open_manifest(tmp_path / "m.parquet"))
    assert dataset.table["label"].tolist() == ["3"] * 4
    assert dataset.classes == ["3"]
    assert dataset.table["split"].iat[0] == "train"
    assert dataset.table["split"].iat[2] == "test"
    assert set(dataset.table["split"]) <= {"train", "val", "test"}
    assert dataset.table["group"].tolist() == ["1", "", "2", "1"]
    assert dataset.attributes == ["group"]


@pytest.mark.parametrize(
    ("path_column", "label_column"),
    [
        ("filepath", "class"),
        ("file", "y"),
        ("image", "target"),
        ("Image_Path", "Label"),
        ("filename", "class_name"),
    ],
)
def test_column_aliases_are_recognised(tmp_path: Path, path_column: str, label_column: str) -> None:
    write_classes(tmp_path, {"a": 1})
    manifest = write_csv(tmp_path / "m.csv", [path_column, label_column], [["a/0.png", "a"]])
    dataset = run_quiet(open_manifest(manifest))
    assert dataset.table["path"].tolist() == ["a/0.png"]
    assert dataset.classes == ["a"]


def test_split_words_and_codes_are_understood(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 6})
    words = ["Train", "validation", "TEST", "0", "1", "2"]
    rows = [[f"a/{i}.png", "a", w] for i, w in enumerate(words)]
    dataset = run_quiet(
        open_manifest(write_csv(tmp_path / "m.csv", ["path", "label", "split"], rows))
    )
    assert dataset.table["split"].tolist() == ["train", "val", "test", "train", "val", "test"]


def test_a_missing_required_column_names_what_was_found(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path / "m.csv", ["filepath", "colour"], [["a/0.png", "red"]])
    with pytest.raises(DatasetError, match=r"has no 'label' column.*found: filepath, colour"):
        run_quiet(open_manifest(manifest))
    manifest = write_csv(tmp_path / "n.csv", ["name", "label"], [["a/0.png", "a"]])
    with pytest.raises(DatasetError, match=r"has no 'path' column.*found: name, label"):
        run_quiet(open_manifest(manifest))


def test_unknown_split_values_are_a_clear_error(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2})
    rows = [["a/0.png", "a", "train"], ["a/1.png", "a", "holdout"]]
    manifest = write_csv(tmp_path / "m.csv", ["path", "label", "split"], rows)
    with pytest.raises(DatasetError, match="'holdout'"):
        run_quiet(open_manifest(manifest))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "is empty"),
        ("header.csv", "path,label\n", "lists no images"),
        ("m.txt", "path,label\n", "not a CSV or Parquet"),
        ("bad.parquet", "not parquet", "Cannot read the manifest"),
        ("latin.csv", b"path,label\nx\xe9.png,a\n", "not UTF-8"),
    ],
)
def test_unusable_manifest_files_are_clear_errors(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        run_quiet(open_manifest(path))


def test_a_manifest_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        run_quiet(open_manifest(tmp_path / "nope.csv"))
