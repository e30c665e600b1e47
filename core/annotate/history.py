"""Undo of the last annotation change, from the ``history`` table.

Each change wrote, in its own transaction, what it replaced; undo restores that and deletes the
history entry, in one transaction. Repeated undo walks back through all changes.
"""

from __future__ import annotations

import json
from typing import Any

from debias_studio.core.annotate import storage

UNDOABLE = ("add_confounder", "set_values", "set_kind", "remove_confounder")


def undo(project: Any) -> str | None:
    """Revert the last change; returns what was undone in words, or None if nothing was left."""
    placeholders = ",".join("?" * len(UNDOABLE))
    rows = project.query(
        f"SELECT id, action, payload FROM history WHERE action IN ({placeholders}) "
        "ORDER BY id DESC LIMIT 1",
        UNDOABLE,
    )
    if not rows:
        return None
    entry_id, action, payload_text = rows[0]
    payload = json.loads(payload_text)
    with project.transaction() as db:
        message = _REVERT[action](db, payload)
        db.execute("DELETE FROM history WHERE id=?", (entry_id,))
    return message


def _revert_add(db: Any, payload: dict[str, Any]) -> str:
    name, previous = payload["name"], payload["previous"]
    if previous is None:
        db.execute("DELETE FROM overrides WHERE confounder=?", (name,))
        storage.delete_row(db, name)
        return f"created confounder '{name}'"
    storage.write_row(db, previous)
    return f"changed confounder '{name}'"


def _revert_set_values(db: Any, payload: dict[str, Any]) -> str:
    name = payload["name"]
    for image_id, value in payload["previous"]:
        if value is None:
            db.execute("DELETE FROM overrides WHERE confounder=? AND image_id=?", (name, image_id))
        else:
            db.execute(
                "INSERT OR REPLACE INTO overrides(confounder, image_id, value) VALUES (?, ?, ?)",
                (name, image_id, value),
            )
    row = db.execute(
        "SELECT name, kind, source, params, created FROM confounders WHERE name=?", (name,)
    ).fetchone()
    if row is not None:
        restored = storage._row_dict(row)
        restored["params"]["_values"] = payload["values_before"]
        storage.write_row(db, restored)
    return f"set values of {len(payload['previous'])} image(s) in '{name}'"


def _revert_set_kind(db: Any, payload: dict[str, Any]) -> str:
    db.execute("UPDATE confounders SET kind=? WHERE name=?", (payload["previous"], payload["name"]))
    return f"changed the kind of '{payload['name']}'"


def _revert_remove(db: Any, payload: dict[str, Any]) -> str:
    row = payload["row"]
    storage.write_row(db, row)
    db.executemany(
        "INSERT OR REPLACE INTO overrides(confounder, image_id, value) VALUES (?, ?, ?)",
        [(row["name"], int(i), v) for i, v in payload["overrides"]],
    )
    return f"removed confounder '{row['name']}'"


_REVERT = {
    "add_confounder": _revert_add,
    "set_values": _revert_set_values,
    "set_kind": _revert_set_kind,
    "remove_confounder": _revert_remove,
}
