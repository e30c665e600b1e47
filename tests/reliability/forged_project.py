"""Forging a project file the way someone handing it over could have: raw SQL on project.sqlite,
below the store's owner modules on purpose (tests/core/test_store_owners.py lets this module do
so; every other test goes through the owners)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def set_stored_paths(project: Path, paths: dict[int, str]) -> None:
    """Edit project.sqlite as someone handing the project over could have done."""
    with contextlib.closing(sqlite3.connect(project / "project.sqlite")) as db:
        db.executemany(
            "UPDATE images SET path=? WHERE image_id=?", [(p, i) for i, p in paths.items()]
        )
        db.commit()
