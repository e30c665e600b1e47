"""Drawn splits: stratified by class, deterministic by seed, classes seen in training first."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from debias_studio.core.data.dataset import open_folder, open_manifest
from debias_studio.core.data.natural import natural_sorted
from debias_studio.core.data.splits import assign_splits, split_sizes
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import run_quiet
from tests.core.dataset_files import write_classes, write_csv


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, (0, 0, 0)),
        (1, (1, 0, 0)),
        (2, (2, 0, 0)),
        (3, (2, 1, 0)),
        (5, (3, 1, 1)),
        (20, (14, 3, 3)),
        (100, (70, 15, 15)),
        (101, (71, 15, 15)),
    ],
)
def test_split_sizes_add_up_and_train_comes_first(n: int, expected: tuple[int, int, int]) -> None:
    assert split_sizes(n) == expected


def test_a_tiny_class_gets_its_training_image_even_with_odd_fractions() -> None:
    assert split_sizes(1, (0.1, 0.45, 0.45)) == (1, 0, 0)
    assert split_sizes(10, (0.5, 0.5, 0.0)) == (5, 5, 0)
    with pytest.raises(DatasetError, match="three non-negative"):
        split_sizes(10, (0.5, -0.5, 1.0))
    with pytest.raises(DatasetError, match="all be zero"):
        split_sizes(10, (0, 0, 0))


def make_labels(counts: dict[str, int]) -> tuple[list[str], list[str]]:
    labels = [name for name, n in counts.items() for _ in range(n)]
    paths = [f"{name}/{i:03d}.png" for name, n in counts.items() for i in range(n)]
    return labels, paths


def test_drawn_splits_are_stratified_per_class() -> None:
    counts = {"cat": 200, "dog": 60, "eel": 1, "fox": 3}
    labels, paths = make_labels(counts)
    splits = assign_splits(labels, paths, [""] * len(labels), seed=1)
    per = Counter(zip(labels, splits, strict=True))
    for name, n in counts.items():
        assert tuple(per[(name, s)] for s in ("train", "val", "test")) == split_sizes(n)
    assert per[("eel", "train")] == 1


def test_drawn_splits_are_deterministic_by_seed_and_ignore_row_order() -> None:
    labels, paths = make_labels({"a": 50, "b": 50})
    empty = [""] * len(labels)
    first = assign_splits(labels, paths, empty, seed=7)
    assert assign_splits(labels, paths, empty, seed=7) == first
    assert assign_splits(labels, paths, empty, seed=8) != first
    reverse = assign_splits(labels[::-1], paths[::-1], empty, seed=7)
    assert dict(zip(paths[::-1], reverse, strict=True)) == dict(zip(paths, first, strict=True))


def test_given_splits_are_kept_and_only_empty_ones_drawn() -> None:
    labels, paths = make_labels({"a": 20})
    given = ["test"] * 5 + [""] * 15
    splits = assign_splits(labels, paths, given, seed=0)
    assert splits[:5] == ["test"] * 5
    assert Counter(splits[5:]) == {"train": 11, "val": 2, "test": 2}  # split_sizes(15)


def test_a_folder_dataset_gets_the_same_split_when_reopened(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 10, "b": 10})
    first = run_quiet(open_folder(tmp_path, seed=3))
    again = run_quiet(open_folder(tmp_path, seed=3))
    other = run_quiet(open_folder(tmp_path, seed=4))
    assert first.table["split"].tolist() == again.table["split"].tolist()
    assert first.table["split"].tolist() != other.table["split"].tolist()
    for name in ("a", "b"):
        assert Counter(first.table.loc[first.table["label"] == name, "split"]) == {
            "train": 7,
            "val": 2,
            "test": 1,
        }  # split_sizes(10) == (7, 2, 1)


def test_manifest_rows_without_a_split_get_one(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 8})
    rows = [[f"a/{i}.png", "a", "val" if i == 0 else ""] for i in range(8)]
    manifest = write_csv(tmp_path / "m.csv", ["path", "label", "split"], rows)
    dataset = run_quiet(open_manifest(manifest, fractions=(0.5, 0.25, 0.25)))
    assert dataset.table["split"].iat[0] == "val"
    assert Counter(dataset.table["split"].iloc[1:]) == {"train": 3, "val": 2, "test": 2}
    assert dataset.spec.options["fractions"] == [0.5, 0.25, 0.25]


def test_natural_sort_puts_numbers_in_numeric_order() -> None:
    names = ["class10", "Class2", "class1", "b", "a10", "a9", "10", "9"]
    assert natural_sorted(names) == ["9", "10", "a9", "a10", "b", "class1", "Class2", "class10"]
