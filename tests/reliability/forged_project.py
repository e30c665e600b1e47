"""Forging a project file the way someone handing it over could have: raw SQL on project.sqlite,
below the store's owner modules on purpose (tests/core/test_store_owners.py lets this module do
so; every other test goes through the owners)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any


def set_stored_paths(project: Path, paths: dict[int, str]) -> None:
    """Edit project.sqlite as someone handing the project over could have done."""
    with contextlib.closing(sqlite3.connect(project / "project.sqlite")) as db:
        db.executemany(
            "UPDATE images SET path=? WHERE image_id=?", [(p, i) for i, p in paths.items()]
        )
        db.commit()


DAMAGES = {
    "no confounders table": "DROP TABLE confounders",
    "no runs table": "DROP TABLE runs",
    "dataset description not JSON": "UPDATE meta SET value='{bad' WHERE key='dataset_spec'",
    "dataset description with an unknown key": (
        "UPDATE meta SET value=json_set(value, '$.bogus', 1) WHERE key='dataset_spec'"
    ),
    "classes not JSON": "UPDATE meta SET value='[1' WHERE key='classes'",
    "confounder not JSON": "UPDATE confounders SET params='{bad'",
    "run setting unknown, run failed": (
        "UPDATE runs SET config=json_set(config, '$.bogus', 1), status='failed'"
    ),
    "run metrics not JSON": "UPDATE runs SET metrics='nope'",
}
"""Damage a crash, a disk error or a hand edit could have done to project.sqlite, by name."""


def damage(project: Path, name: str) -> None:
    """Apply ``DAMAGES[name]`` to the project's database, below the store on purpose."""
    with contextlib.closing(sqlite3.connect(project / "project.sqlite")) as db:
        db.execute(DAMAGES[name])
        db.commit()


def filling_up(connect: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
    """``connect`` whose connections cannot grow the database file: SQLite's own "database or
    disk is full" (SQLITE_FULL) for any write that needs a new page, as on a full disk."""

    def full(path: Path, **options: Any) -> sqlite3.Connection:
        db = connect(path, **options)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")
        return db

    return full
