"""What makes a folder a project: its database file. Nothing heavy is imported here, so a client
can tell a project from any other folder in milliseconds (the CLI does before it loads the
engine; ``core.store.project`` opens the database itself)."""

from __future__ import annotations

from pathlib import Path

DB_NAME = "project.sqlite"


def is_project_folder(folder: Path | str) -> bool:
    return (Path(folder) / DB_NAME).is_file()
