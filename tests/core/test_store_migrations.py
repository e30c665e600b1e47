"""Schema versions: every step recorded, old projects upgraded, newer ones refused, a failing
step leaves the project as it was; a project copied elsewhere with its data still opens."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import debias_studio.core.store.project as store
from debias_studio.core.errors import ProjectError
from debias_studio.core.store.project import DB_NAME, MIGRATIONS, SCHEMA_VERSION, Project
from tests.core.test_store import tiny_dataset


def _version(folder: Path) -> int:
    with sqlite3.connect(folder / DB_NAME) as db:
        return int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])


def test_migrations_are_numbered_one_step_each() -> None:
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


def test_a_database_without_schema_is_brought_up_to_date(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    sqlite3.connect(folder / DB_NAME).close()  # version 0: an empty database
    Project.open(folder).close()
    with sqlite3.connect(folder / DB_NAME) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"confounders", "overrides", "exclusions", "history", "discoveries", "runs"} <= tables
    assert _version(folder) == SCHEMA_VERSION


def test_a_new_step_runs_once_and_keeps_the_data(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "proj"
    Project.create(folder, tiny_dataset(folder / "data")).close()
    calls = []

    def add_notes(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("CREATE TABLE notes (image_id INTEGER PRIMARY KEY, text TEXT NOT NULL)")

    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION + 1, add_notes)
    for _ in range(2):
        with Project.open(folder) as project:
            assert project.dataset.table["path"].tolist() == ["a/1.png", "b/2.png"]
        with sqlite3.connect(folder / DB_NAME) as db:
            db.execute("SELECT * FROM notes")
    assert calls == [1]
    assert _version(folder) == SCHEMA_VERSION + 1


def test_a_failing_step_is_a_clear_error_and_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "proj"
    Project.create(folder, tiny_dataset(folder / "data")).close()

    def broken(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN seed INTEGER")
        db.execute("ALTER TABLE no_such_table ADD COLUMN x INTEGER")

    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION + 1, broken)
    with pytest.raises(ProjectError, match=f"upgrade .* schema {SCHEMA_VERSION + 1}"):
        Project.open(folder)
    assert _version(folder) == SCHEMA_VERSION
    with sqlite3.connect(folder / DB_NAME) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    assert "seed" not in columns  # the half-done step was rolled back
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION)
    with Project.open(folder) as project:  # and the project still opens
        assert project.dataset.classes == ["a", "b"]


def test_a_newer_project_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    Project.create(folder, tiny_dataset(folder / "data")).close()
    with sqlite3.connect(folder / DB_NAME) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 5),))
    with pytest.raises(ProjectError, match="newer Debias Studio"):
        Project.open(folder)


@pytest.mark.parametrize("inside", [True, False])
def test_a_project_copied_with_its_data_opens_there(tmp_path: Path, inside: bool) -> None:
    first = tmp_path / "first"
    data = first / ("proj/data" if inside else "data")
    for name in ("a/1.png", "b/2.png"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(b"image")
    Project.create(first / "proj", tiny_dataset(data)).close()
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(first, moved)
    shutil.rmtree(first)  # the original place is gone
    with Project.open(moved / "proj") as project:
        expected = moved / ("proj/data" if inside else "data")
        assert project.dataset.root == expected.resolve()
        assert project.dataset.image_path(0) == expected.resolve() / "a/1.png"
