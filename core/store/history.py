"""The change history: the one owner of the ``history`` table.

An entry is an action name and a JSON payload saying what the change replaced, written in the
same ``Project.transaction()`` as the change itself, so that undo (core.annotate.history) can
put it back. The store does not read payloads; their meaning belongs to whoever writes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from debias_studio.core.store.project import Project, stored_json


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    action: str
    payload: Any
    created: float


def record(project: Project, action: str, payload: Any) -> None:
    """Append an entry (inside the caller's transaction, when one is open)."""
    with project._write() as db:
        db.execute(
            "INSERT INTO history(action, payload, created) VALUES (?, ?, ?)",
            (action, json.dumps(payload), time.time()),
        )


def latest(project: Project, actions: Sequence[str]) -> HistoryEntry | None:
    """The newest entry whose action is one of ``actions``, or None."""
    if not actions:
        return None
    placeholders = ",".join("?" * len(actions))
    rows = project._rows(
        f"SELECT id, action, payload, created FROM history WHERE action IN ({placeholders}) "
        "ORDER BY id DESC LIMIT 1",
        tuple(actions),
    )
    return _entry(rows[0]) if rows else None


def entries(project: Project) -> list[HistoryEntry]:
    """Every entry, oldest first."""
    rows = project._rows("SELECT id, action, payload, created FROM history ORDER BY id")
    return [_entry(r) for r in rows]


def forget(project: Project, entry_id: int) -> None:
    """Delete an entry (its change was undone)."""
    with project._write() as db:
        db.execute("DELETE FROM history WHERE id=?", (entry_id,))


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    entry_id, action, payload, created = row
    payload = stored_json(payload, "undo history")
    return HistoryEntry(int(entry_id), str(action), payload, float(created))
