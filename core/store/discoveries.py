"""Stored discovery results: the one owner of the ``discoveries`` table.

Each discovery is kept whole (the result's JSON, as core.concepts writes it), with the model whose
embeddings it used and its parameters; the newest one is what the GUI shows on opening a project
and what the report draws.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from debias_studio.core.store.project import Project, stored_json


@dataclass(frozen=True)
class StoredDiscovery:
    id: int
    created: float
    model_id: str
    params: dict[str, Any]
    result: Any  # the JSON core.concepts wrote (a dict with "rows"; a list in old projects)


def save_discovery(
    project: Project, model_id: str, params: dict[str, Any], result: dict[str, Any]
) -> int:
    """Store a discovery; returns its id."""
    with project._write() as db:
        cursor = db.execute(
            "INSERT INTO discoveries(created, model_id, params, result) VALUES (?, ?, ?, ?)",
            (time.time(), model_id, json.dumps(params), json.dumps(result)),
        )
    return int(cursor.lastrowid or 0)


def latest_discovery(project: Project) -> StoredDiscovery | None:
    """The newest stored discovery, or None when the project has none."""
    rows = project._rows(
        "SELECT id, created, model_id, params, result FROM discoveries ORDER BY id DESC LIMIT 1"
    )
    if not rows:
        return None
    entry_id, created, model_id, params, result = rows[0]
    return StoredDiscovery(
        int(entry_id),
        float(created),
        str(model_id),
        stored_json(params, "discovery"),
        stored_json(result, "discovery"),
    )
