from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from debias_studio.core.data.dataset import Dataset, DatasetSpec, ImageProblem
from debias_studio.core.errors import ProjectError
from debias_studio.core.store.project import DB_NAME, SCHEMA_VERSION, Project


def tiny_dataset(root: Path) -> Dataset:
    table = pd.DataFrame(
        {
            "path": ["a/1.png", "b/2.png"],
            "label": ["a", "b"],
            "split": ["train", "test"],
            "mask": ["", "masks/2.png"],
            "place": ["land", "water"],
        }
    )
    return Dataset(
        root=root,
        table=table,
        classes=["a", "b"],
        attributes=["place"],
        problems=[ImageProblem("c/3.png", "truncated", "cannot decode")],
        spec=DatasetSpec(kind="manifest", source=str(root / "m.csv"), root=str(root), seed=3),
    )


def test_create_then_open_round_trips_the_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    dataset = tiny_dataset(folder / "data")
    Project.create(folder, dataset).close()
    with Project.open(folder) as project:
        loaded = project.dataset
        pd.testing.assert_frame_equal(loaded.table, dataset.table)
        assert loaded.classes == ["a", "b"]
        assert loaded.attributes == ["place"]
        assert loaded.problems == dataset.problems
        assert loaded.root == (folder / "data").resolve()
        assert loaded.spec.seed == 3
        assert loaded.mask_path(1) == loaded.root / "masks/2.png"
        assert loaded.mask_path(0) is None
        assert project.get_meta("schema_version") == SCHEMA_VERSION


def test_project_moved_to_another_path_still_finds_its_data(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    Project.create(folder, tiny_dataset(folder / "data")).close()
    moved = tmp_path / "elsewhere" / "proj"
    moved.parent.mkdir()
    folder.rename(moved)
    with Project.open(moved) as project:
        assert project.dataset.root == (moved / "data").resolve()


def test_database_is_in_wal_mode_and_commits_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    with Project.create(folder, tiny_dataset(folder / "data")) as project:
        project.set_meta("model", "demo")
        other = sqlite3.connect(folder / DB_NAME)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT value FROM meta WHERE key='model'").fetchone()[0] == '"demo"'
        other.close()


def test_opening_something_that_is_not_a_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a Debias Studio project"):
        Project.open(tmp_path)


def test_a_project_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    with Project.create(folder, tiny_dataset(folder / "data")) as project:
        project.set_meta("schema_version", SCHEMA_VERSION + 1)
    with pytest.raises(ProjectError, match="newer Debias Studio"):
        Project.open(folder)


def test_creating_over_an_existing_project_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    Project.create(folder, tiny_dataset(folder / "data")).close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(folder, tiny_dataset(folder / "data"))
