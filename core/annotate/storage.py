"""Confounder rows, computed value arrays and the change history in the project store.

A confounder is one row of ``confounders``: ``params`` holds the user's parameters plus two
private keys, ``_values`` (the value names) and ``_array`` (for concept-derived confounders, the
file under ``confounders/`` with each image's computed value). Arrays are content-addressed and
never overwritten, so a history entry that restores an old row restores its values too. Every
change and its history entry are written in one transaction.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from debias_studio.core.annotate.model import Confounder
from debias_studio.core.errors import StudioError

ARRAY_FOLDER = "confounders"
PRIVATE = ("_values", "_array")


def read_row(project: Any, name: str) -> dict[str, Any] | None:
    rows = project.query(
        "SELECT name, kind, source, params, created FROM confounders WHERE name=?", (name,)
    )
    return _row_dict(rows[0]) if rows else None


def read_rows(project: Any) -> list[dict[str, Any]]:
    rows = project.query(
        "SELECT name, kind, source, params, created FROM confounders ORDER BY created, name"
    )
    return [_row_dict(r) for r in rows]


def require_row(project: Any, name: str) -> dict[str, Any]:
    row = read_row(project, name)
    if row is None:
        raise StudioError(f"There is no confounder named '{name}' in this project.")
    return row


def to_confounder(row: dict[str, Any]) -> Confounder:
    params = {k: v for k, v in row["params"].items() if k not in PRIVATE}
    return Confounder(
        row["name"], row["kind"], row["source"], params, list(row["params"]["_values"])
    )


def write_row(db: sqlite3.Connection, row: dict[str, Any]) -> None:
    db.execute(
        "INSERT OR REPLACE INTO confounders(name, kind, source, params, created) "
        "VALUES (?, ?, ?, ?, ?)",
        (row["name"], row["kind"], row["source"], json.dumps(row["params"]), row["created"]),
    )


def delete_row(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM confounders WHERE name=?", (name,))


def record(db: sqlite3.Connection, action: str, payload: dict[str, Any]) -> None:
    db.execute(
        "INSERT INTO history(action, payload, created) VALUES (?, ?, ?)",
        (action, json.dumps(payload), time.time()),
    )


def save_array(project: Any, values: np.ndarray) -> str:
    """Store an int16 value array under a name derived from its content; returns the name."""
    data = np.ascontiguousarray(values, dtype=np.int16)
    buffer = io.BytesIO()
    np.save(buffer, data, allow_pickle=False)
    blob = buffer.getvalue()
    name = hashlib.sha256(blob).hexdigest()[:32] + ".npy"
    folder = Path(project.folder) / ARRAY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.is_file():
        tmp = path.with_name(name + ".tmp")
        tmp.write_bytes(blob)
        tmp.replace(path)
    return name


def load_array(project: Any, name: str, n: int) -> np.ndarray:
    path = Path(project.folder) / ARRAY_FOLDER / name
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StudioError(f"The stored values of a confounder are missing ({path}).") from exc
    if values.shape != (n,):
        raise StudioError("The stored values of a confounder do not match the dataset.")
    return values.astype(np.int64)


def overrides_of(project: Any, name: str) -> list[tuple[int, str]]:
    return [
        (int(i), str(v))
        for i, v in project.query(
            "SELECT image_id, value FROM overrides WHERE confounder=? ORDER BY image_id", (name,)
        )
    ]


def _row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    name, kind, source, params, created = row
    return {
        "name": name,
        "kind": kind,
        "source": source,
        "params": json.loads(params),
        "created": float(created),
    }
