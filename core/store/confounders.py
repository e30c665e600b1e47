"""Confounder rows and their per-image overrides: the one owner of the ``confounders`` and
``overrides`` tables.

A row is a dict (``name``, ``kind``, ``source``, ``params``, ``created``) whose ``params`` the
store keeps as JSON without reading it; core.annotate decides what goes in. An override is an
(image id, value name) pair that wins over the value the confounder's source gives. Writes join
the caller's ``Project.transaction()``, so that a change and its history entry commit together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from debias_studio.core.store.project import Project, stored_json

_COLUMNS = "name, kind, source, params, created"


def read_row(project: Project, name: str) -> dict[str, Any] | None:
    """The row of confounder ``name``, or None when there is none."""
    rows = project._rows(f"SELECT {_COLUMNS} FROM confounders WHERE name=?", (name,))
    return _row_dict(rows[0]) if rows else None


def read_rows(project: Project) -> list[dict[str, Any]]:
    """Every confounder row, oldest first."""
    rows = project._rows(f"SELECT {_COLUMNS} FROM confounders ORDER BY created, name")
    return [_row_dict(r) for r in rows]


def write_row(project: Project, row: dict[str, Any]) -> None:
    """Create or replace the row named ``row["name"]`` (its overrides stay)."""
    with project._write() as db:
        db.execute(
            f"INSERT OR REPLACE INTO confounders({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (row["name"], row["kind"], row["source"], json.dumps(row["params"]), row["created"]),
        )


def set_kind(project: Project, name: str, kind: str) -> None:
    with project._write() as db:
        db.execute("UPDATE confounders SET kind=? WHERE name=?", (kind, name))


def delete(project: Project, name: str) -> None:
    """Remove confounder ``name`` and its overrides."""
    with project._write() as db:
        db.execute("DELETE FROM overrides WHERE confounder=?", (name,))
        db.execute("DELETE FROM confounders WHERE name=?", (name,))


def overrides_of(project: Project, name: str) -> list[tuple[int, str]]:
    """(image id, value name) of every override of confounder ``name``, by image id."""
    rows = project._rows(
        "SELECT image_id, value FROM overrides WHERE confounder=? ORDER BY image_id", (name,)
    )
    return [(int(i), str(v)) for i, v in rows]


def put_overrides(project: Project, name: str, pairs: Iterable[tuple[int, str | None]]) -> None:
    """Set the override of each (image id, value name); a value of None removes the image's
    override, so the source's value applies again."""
    pairs = [(int(i), v) for i, v in pairs]
    with project._write() as db:
        db.executemany(
            "DELETE FROM overrides WHERE confounder=? AND image_id=?",
            [(name, i) for i, v in pairs if v is None],
        )
        db.executemany(
            "INSERT OR REPLACE INTO overrides(confounder, image_id, value) VALUES (?, ?, ?)",
            [(name, i, v) for i, v in pairs if v is not None],
        )


def _row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    name, kind, source, params, created = row
    return {
        "name": name,
        "kind": kind,
        "source": source,
        "params": stored_json(params, f"confounder '{name}'"),
        "created": float(created),
    }
